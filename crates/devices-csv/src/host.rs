//! What a merged job tells its caller about the hosts it touched: the facts verification needs
//! (AD/DNS name, role, fixed IP, PXE flag), taken from the merge's own view, so nobody has to
//! parse the files again or know their column numbers.

use std::net::Ipv4Addr;

use crate::error::Field;
use crate::file::Record;
use crate::value::{Hostname, PxeFlag, Role};

/// The school whose names carry no prefix in AD and DNS (sophomorix `name_default_school`).
pub(crate) const DEFAULT_SCHOOL: &str = "default-school";

/// One host as a devices.csv line describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostFacts {
    /// The host name (lowercase, as the merge compares it).
    pub name: Hostname,
    /// The name sophomorix gives it in AD and DNS (and linuxmuster its DHCP block):
    /// `<school>-<host>` outside default-school, lowercase.
    pub dns_name: String,
    /// Column 8. `None` is the empty column (sophomorix's default,
    /// `classroom-studentcomputer`) or a role sophomorix does not know.
    pub role: Option<Role>,
    /// Column 4 when it is an address (`None` for `DHCP`, empty or anything else).
    pub ip: Option<Ipv4Addr>,
    /// Column 10, when it is a valid flag.
    pub pxe_flag: Option<PxeFlag>,
}

impl HostFacts {
    /// The facts of `name` as `record` describes it; `prefix` is its school's [`dns_prefix`].
    pub(crate) fn from_record(name: Hostname, prefix: &str, record: &Record<'_>) -> HostFacts {
        HostFacts {
            dns_name: dns_name(prefix, &name),
            name,
            role: record.get(Field::Role).to_ascii_lowercase().parse().ok(),
            ip: record.get(Field::Ip).parse().ok(),
            pxe_flag: record.get(Field::PxeFlag).parse().ok(),
        }
    }

    /// Whether sophomorix gives the host an AD computer account: every role but the
    /// network-only ones (an unknown role counts as having one: verification then looks).
    pub fn has_computer_account(&self) -> bool {
        self.role.is_none_or(Role::has_computer_account)
    }

    /// Whether the host is a server or the DC itself (role `server` or `addc`).
    pub fn is_server(&self) -> bool {
        matches!(self.role, Some(Role::Server | Role::Addc))
    }
}

/// The host a delete removed or a rename renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Previous {
    /// Its name (for a rename, the old one).
    pub name: Hostname,
    /// Its AD/DNS name (see [`HostFacts::dns_name`]).
    pub dns_name: String,
    /// The host as the master (or, when the master has no line for it, the delta) described it
    /// **before the batch**: what the last import gave AD, DNS and DHCP. `None` when neither file
    /// had it (already absent, created by an earlier job of the batch, a rename carried out by
    /// an earlier run).
    pub before: Option<HostFacts>,
}

/// The AD/DNS name of `hostname` in the school whose [`dns_prefix`] is `prefix`.
pub(crate) fn dns_name(prefix: &str, hostname: &Hostname) -> String {
    format!("{prefix}{hostname}")
}

/// What comes before a host name of `school` in AD and DNS: nothing in default-school, else
/// `<school>-`, lowercase (sophomorix `AD_get_name_tokened`; DNS names compare
/// case-insensitively).
pub(crate) fn dns_prefix(school: &str) -> String {
    if school == DEFAULT_SCHOOL {
        String::new()
    } else {
        format!("{}-", school.to_ascii_lowercase())
    }
}
