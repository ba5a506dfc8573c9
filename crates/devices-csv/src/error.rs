//! The crate's one error type: a field that breaks a devices.csv rule, or a job that collides with
//! another host. Both say where the problem is (line, field, value, rule, other host).

use std::fmt;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a value or a job was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value breaks a devices.csv rule (SPEC §4).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The job's hostname, MAC, IP or AD/DNS name is already used by another host.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The job would change a host that is not the worker's to change.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// A job that would change a host jobs may not touch: the DC's own entries, an administrator's
/// hand-managed host, or a rename from a host that is not in the school.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host}: {reason}")]
pub struct Refusal {
    /// The host the job names (lowercase).
    pub host: String,
    /// Why it is not the job's to change.
    pub reason: RefusalReason,
}

/// Why a job may not change a host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The host is the DC itself or another server: role `server` or `addc`, or the DC's own host
    /// name. No job updates, renames, renames into or deletes it.
    Protected {
        /// Its line, when the school's files have it.
        location: Option<Location>,
        /// Its role, when that is why (`server`, `addc`).
        role: Option<String>,
    },
    /// The administrator manages the host by hand (devices.csv has it, the delta does not), and
    /// the job would delete it, rename it, or take it over for another device.
    HandManaged {
        /// Its line.
        location: Location,
        /// What the job would do to it: `delete`, `rename`, or `update` (another device).
        action: &'static str,
        /// For an update: the MAC of the hand-made line, which the job's differs from.
        mac: Option<String>,
    },
    /// A rename names an old host that is not in this school's files.
    UnknownOldHostname {
        /// The school.
        school: String,
        /// Where the name is instead, when another school has it.
        elsewhere: Option<Location>,
    },
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::Protected { location, role } => {
                f.write_str("the DC's own entries are never changed by jobs (")?;
                match role {
                    Some(role) => write!(f, "role {role}")?,
                    None => f.write_str("the DC's host name")?,
                }
                if let Some(location) = location {
                    write!(f, ", {location}")?;
                }
                f.write_str(")")
            }
            RefusalReason::HandManaged {
                location,
                action,
                mac,
            } => {
                write!(
                    f,
                    "managed by hand ({location}, not created by LINBO Docker): a job may not "
                )?;
                match (*action, mac) {
                    ("update", Some(mac)) => write!(
                        f,
                        "take it over for another device (the line has MAC {mac}; a job adopts a \
                         hand-made host only for the same MAC)"
                    )?,
                    (action, _) => write!(f, "{action} it")?,
                }
                f.write_str("; set ADOPT_MANUAL_HOSTS=true to let jobs adopt hand-made hosts")
            }
            RefusalReason::UnknownOldHostname { school, elsewhere } => {
                write!(
                    f,
                    "the old hostname of this rename is not a host of school {school}"
                )?;
                match elsewhere {
                    Some(location) => write!(f, " ({location}); a rename stays within its school"),
                    None => f.write_str(" (not in its devices.csv or delta file)"),
                }
            }
        }
    }
}

/// A column of devices.csv, or a job input that has no column of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// Column 0: room.
    Room,
    /// Column 1: hostname.
    Hostname,
    /// Column 2: device group (LINBO config).
    Group,
    /// Column 3: MAC address.
    Mac,
    /// Column 4: IPv4 address or `DHCP`.
    Ip,
    /// Column 5: office key.
    OfficeKey,
    /// Column 6: windows key.
    WindowsKey,
    /// Column 7: extra DHCP statements.
    DhcpOptions,
    /// Column 8: sophomorix role.
    Role,
    /// Column 9: reserved.
    Reserved9,
    /// Column 10: PXE flag.
    PxeFlag,
    /// Column 11: reserved.
    Reserved11,
    /// Column 12: reserved.
    Reserved12,
    /// Column 13: reserved.
    Reserved13,
    /// Column 14: comment.
    Comment,
    /// The previous hostname of a rename job (no column).
    OldHostname,
    /// The line as a whole (too few fields).
    Line,
}

impl Field {
    /// All fifteen columns in file order.
    pub const COLUMNS: [Field; 15] = [
        Field::Room,
        Field::Hostname,
        Field::Group,
        Field::Mac,
        Field::Ip,
        Field::OfficeKey,
        Field::WindowsKey,
        Field::DhcpOptions,
        Field::Role,
        Field::Reserved9,
        Field::PxeFlag,
        Field::Reserved11,
        Field::Reserved12,
        Field::Reserved13,
        Field::Comment,
    ];

    /// The 0-based column in devices.csv, if the field is a column.
    pub fn column(self) -> Option<usize> {
        Field::COLUMNS.iter().position(|&field| field == self)
    }

    /// A short human name, used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::Room => "room",
            Field::Hostname => "hostname",
            Field::Group => "device group",
            Field::Mac => "MAC",
            Field::Ip => "IP",
            Field::OfficeKey => "office key",
            Field::WindowsKey => "windows key",
            Field::DhcpOptions => "DHCP options",
            Field::Role => "role",
            Field::Reserved9 => "reserved column 9",
            Field::PxeFlag => "PXE flag",
            Field::Reserved11 => "reserved column 11",
            Field::Reserved12 => "reserved column 12",
            Field::Reserved13 => "reserved column 13",
            Field::Comment => "comment",
            Field::OldHostname => "old hostname",
            Field::Line => "line",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column() {
            Some(column) => write!(f, "{} (column {column})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// The rule a value breaks; its `Display` says what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// `;`, CR, LF or NUL inside a value would split or corrupt the line.
    ForbiddenCharacter(char),
    /// The value may not be empty.
    Required,
    /// Hostname syntax.
    Hostname,
    /// Room syntax.
    Room,
    /// A room must start with a letter or digit: the import skips lines whose room does not.
    RoomStart,
    /// Device group syntax.
    Group,
    /// MAC syntax.
    Mac,
    /// IPv4 syntax and the linuxmuster octet rules.
    Ip,
    /// One of the sophomorix roles.
    Role,
    /// PXE flag 0–3.
    PxeFlag,
    /// A record needs at least 11 fields.
    TooFewFields {
        /// How many fields the line has.
        found: usize,
    },
    /// The value is longer than linuxmuster (or this project, where linuxmuster sets no bound)
    /// allows.
    TooLong {
        /// The most characters allowed.
        limit: usize,
        /// How many the value has.
        found: usize,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::ForbiddenCharacter(c) => {
                let name = match c {
                    ';' => "';'",
                    '\r' => "a carriage return",
                    '\n' => "a line feed",
                    _ => "a NUL byte",
                };
                write!(f, "contains {name}, which would corrupt the devices.csv line")
            }
            Rule::Required => f.write_str("expected a value, found none"),
            Rule::Hostname => f.write_str(
                "expected 1 to 15 characters of A-Z, a-z, 0-9 and '-', not starting or ending with '-'",
            ),
            Rule::Room => f.write_str("expected one or more characters of A-Z, a-z, 0-9 and '-'"),
            Rule::RoomStart => f.write_str(
                "expected a letter or digit as the first character: linuxmuster-import-devices skips lines whose room starts with anything else",
            ),
            Rule::Group => {
                f.write_str("expected one or more characters of A-Z, a-z, 0-9, '_' and '-'")
            }
            Rule::Mac => f.write_str(
                "expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
            ),
            Rule::Ip => f.write_str(
                "expected `DHCP`, empty, or a dotted-quad IPv4 address without leading zeros, first and last octet 1-254",
            ),
            Rule::Role => write!(
                f,
                "expected empty or one of: {}",
                crate::Role::ALL.map(crate::Role::as_str).join(" ")
            ),
            Rule::PxeFlag => f.write_str(
                "expected a PXE flag 0 (none), 1 (LINBO), 2 (LINBO+OPSI) or 3 (OPSI)",
            ),
            Rule::TooFewFields { found } => write!(
                f,
                "expected at least 11 ';'-separated fields, found {found}"
            ),
            Rule::TooLong { limit, found } => {
                write!(f, "expected at most {limit} characters, found {found}")
            }
        }
    }
}

/// A value that breaks a devices.csv rule: which line (if it comes from a file), which field, the
/// value and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// 1-based line number when the value comes from a file; `None` for job input.
    pub line: Option<usize>,
    /// The field that holds the value.
    pub field: Field,
    /// The offending value, exactly as given.
    pub value: String,
    /// The rule it breaks.
    pub rule: Rule,
}

impl FieldError {
    /// A problem with `value` in `field`, not tied to a line yet.
    pub fn new(field: Field, value: &str, rule: Rule) -> FieldError {
        FieldError {
            line: None,
            field,
            value: value.to_owned(),
            rule,
        }
    }

    /// The same problem, located on 1-based `line`.
    pub fn at_line(mut self, line: usize) -> FieldError {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        // A long value (up to a megabyte from a hostile job) is shown by its start.
        const SHOWN: usize = 40;
        if self.value.chars().count() > 2 * SHOWN {
            let start: String = self.value.chars().take(SHOWN).collect();
            return write!(f, "{} {start:?}… : {}", self.field, self.rule);
        }
        write!(f, "{} {:?}: {}", self.field, self.value, self.rule)
    }
}

/// Which value collides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The hostname (compared case-insensitively).
    Hostname,
    /// The MAC (normalised).
    Mac,
    /// The fixed IP address.
    Ip,
    /// The AD/DNS name: the hostname, with a `<school>-` prefix outside default-school.
    DnsName,
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictKind::Hostname => "hostname",
            ConflictKind::Mac => "MAC",
            ConflictKind::Ip => "IP",
            ConflictKind::DnsName => "AD/DNS name",
        })
    }
}

/// Where the host a job collides with comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Location {
    /// A line of this school's devices.csv (1-based).
    Master {
        /// 1-based line number.
        line: usize,
    },
    /// A malformed line of this school's devices.csv (1-based) that names the same host.
    MalformedMaster {
        /// 1-based line number.
        line: usize,
    },
    /// A line of this school's delta file (1-based).
    Delta {
        /// 1-based line number.
        line: usize,
    },
    /// A host created by an earlier job of the same batch (0-based job index).
    Batch {
        /// 0-based index of the job in the batch.
        job: usize,
    },
    /// A line of another school's devices file.
    OtherSchool {
        /// The other school's name.
        school: String,
        /// 1-based line number.
        line: usize,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Master { line } => write!(f, "devices.csv line {line}"),
            Location::MalformedMaster { line } => write!(
                f,
                "devices.csv line {line}, which is malformed: fix or remove that line first"
            ),
            Location::Delta { line } => write!(f, "delta file line {line}"),
            Location::Batch { job } => write!(f, "created by job {} of this batch", job + 1),
            Location::OtherSchool { school, line } => {
                write!(f, "devices file of school {school}, line {line}")
            }
        }
    }
}

/// A job's hostname, MAC, IP or AD/DNS name is already used by another host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value} is already used by host {other_host} ({location})")]
pub struct Conflict {
    /// Which value collides.
    pub kind: ConflictKind,
    /// The colliding value, normalised.
    pub value: String,
    /// The host that already uses it.
    pub other_host: String,
    /// Where that host is.
    pub location: Location,
}
