//! Delta operations: what one provisioning job asks the merge to do, and its validation.
//!
//! Job values arrive as untrusted strings (from the LINBO API); [`Job::validate`] turns them into
//! typed values or a [`FieldError`] naming the field, the value and the rule.

use crate::device::Device;
use crate::error::{Field, FieldError, Rule};
use crate::value::{Group, Hostname, Ip, Mac, PxeFlag, Role, Room, check_characters};

/// The first line of every delta file the worker writes.
pub const DELTA_HEADER: &str = "# managed-by: linbo-docker — DO NOT EDIT MANUALLY";

/// The prefix by which a header line of any version is recognised.
pub(crate) const DELTA_HEADER_PREFIX: &str = "# managed-by: linbo-docker";

/// One provisioning job, in stream order within a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// What to do.
    pub action: Action,
    /// Evaluate and report, never write (SPEC §5.3); applies to this job only.
    pub dry_run: bool,
}

/// The delta operation of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `create` and `update`: insert or replace the managed host (a rename when
    /// [`HostSpec::old_hostname`] names another host).
    Upsert(HostSpec),
    /// `delete`: remove the host from delta and master.
    Delete {
        /// The host to delete, as given.
        hostname: String,
    },
}

/// The values of a create/update job, as received. Empty strings mean "not given".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostSpec {
    /// `hostname`.
    pub hostname: String,
    /// `oldHostname`: the host's previous name for a rename.
    pub old_hostname: Option<String>,
    /// `csvCol0`; empty → the merge's default room.
    pub room: String,
    /// `configName`; empty → `nopxe`.
    pub group: String,
    /// `mac` in any accepted notation.
    pub mac: String,
    /// `ip`; empty or `DHCP` → dynamic.
    pub ip: String,
    /// `role`; empty keeps the master's role.
    pub role: String,
    /// `pxeFlag`; absent → 1.
    pub pxe_flag: Option<i64>,
}

impl Job {
    /// A create/update job.
    pub fn upsert(spec: HostSpec) -> Job {
        Job {
            action: Action::Upsert(spec),
            dry_run: false,
        }
    }

    /// A delete job.
    pub fn delete(hostname: impl Into<String>) -> Job {
        Job {
            action: Action::Delete {
                hostname: hostname.into(),
            },
            dry_run: false,
        }
    }

    /// The same job as a dry run.
    pub fn dry_run(mut self) -> Job {
        self.dry_run = true;
        self
    }

    /// Checks every value against SPEC §4 and returns the typed operation. `default_room` stands
    /// in for an empty room.
    pub fn validate(&self, default_room: &Room) -> Result<Operation, FieldError> {
        match &self.action {
            Action::Delete { hostname } => Ok(Operation::Delete {
                hostname: field(Field::Hostname, hostname)?,
            }),
            Action::Upsert(spec) => spec.validate(default_room),
        }
    }
}

/// A validated delta operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Insert or replace `device`; rename from `old_hostname` when it differs.
    Upsert {
        /// The managed columns, canonical; other columns empty.
        device: Box<Device>,
        /// The previous name, for a rename.
        old_hostname: Option<Hostname>,
    },
    /// Remove the host.
    Delete {
        /// The host to remove.
        hostname: Hostname,
    },
}

fn field<T: std::str::FromStr<Err = Rule>>(field: Field, value: &str) -> Result<T, FieldError> {
    value
        .parse()
        .map_err(|rule| FieldError::new(field, value, rule))
}

/// An optional value: forbidden characters are refused even in an otherwise ignored value, then
/// empty (after trimming) means `None`.
fn optional<T: std::str::FromStr<Err = Rule>>(
    name: Field,
    value: &str,
) -> Result<Option<T>, FieldError> {
    check_characters(value).map_err(|rule| FieldError::new(name, value, rule))?;
    if value.trim_ascii().is_empty() {
        Ok(None)
    } else {
        field(name, value).map(Some)
    }
}

/// Most characters of a room: the web UI's limit (linuxmuster-webui7 `validation.coffee`,
/// UPSTREAM.md §A.16); sophomorix and the import set none.
pub const MAX_ROOM_LEN: usize = 15;

/// Most characters of a device group (LINBO config name): linuxmuster sets no bound; this one is
/// far above any real group name and keeps a hostile job from writing kilobytes into
/// devices.csv.
pub const MAX_GROUP_LEN: usize = 64;

/// Refuses `value` (surrounding white space ignored) longer than `limit` characters.
fn within(name: Field, value: &str, limit: usize) -> Result<(), FieldError> {
    // A character that would corrupt the line is the more important message.
    check_characters(value).map_err(|rule| FieldError::new(name, value, rule))?;
    let found = value.trim_ascii().chars().count();
    if found > limit {
        return Err(FieldError::new(name, value, Rule::TooLong { limit, found }));
    }
    Ok(())
}

impl HostSpec {
    fn validate(&self, default_room: &Room) -> Result<Operation, FieldError> {
        within(Field::Room, &self.room, MAX_ROOM_LEN)?;
        within(Field::Group, &self.group, MAX_GROUP_LEN)?;
        let hostname: Hostname = field(Field::Hostname, &self.hostname)?;
        let old_hostname = match &self.old_hostname {
            Some(old) => optional(Field::OldHostname, old)?,
            None => None,
        };
        let room = optional(Field::Room, &self.room)?.unwrap_or_else(|| default_room.clone());
        let group = optional(Field::Group, &self.group)?.unwrap_or_else(Group::nopxe);
        let mac: Mac = field(Field::Mac, &self.mac)?;
        let ip: Ip = field(Field::Ip, &self.ip)?;
        let role: Option<Role> = optional(Field::Role, &self.role)?;
        let pxe_flag = match self.pxe_flag {
            None => PxeFlag::default(),
            Some(number) => PxeFlag::from_number(number).ok_or_else(|| {
                FieldError::new(Field::PxeFlag, &number.to_string(), Rule::PxeFlag)
            })?,
        };
        let mut device = Device::new(room, hostname, group, mac, ip);
        device.role = role;
        device.pxe_flag = pxe_flag;
        let old_hostname = old_hostname.filter(|old| *old != device.hostname);
        Ok(Operation::Upsert {
            device: Box::new(device),
            old_hostname,
        })
    }
}
