//! The typed 15-column device and its canonical line.

use std::fmt;
use std::str::FromStr;

use crate::error::{Field, FieldError, Rule};
use crate::file::MIN_FIELDS;
use crate::value::{Group, Hostname, Ip, Mac, PxeFlag, Role, Room, check_characters};

/// One device: the fifteen columns of a devices.csv line, typed and validated.
///
/// The free-text columns (keys, DHCP options, reserved columns, comment) are only checked for
/// characters that would corrupt the line (`;`, CR, LF, NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Column 0.
    pub room: Room,
    /// Column 1.
    pub hostname: Hostname,
    /// Column 2; `nopxe` for none.
    pub group: Group,
    /// Column 3.
    pub mac: Mac,
    /// Column 4.
    pub ip: Ip,
    /// Column 5.
    pub office_key: String,
    /// Column 6.
    pub windows_key: String,
    /// Column 7: comma-separated extra DHCP statements.
    pub dhcp_options: String,
    /// Column 8; `None` is the sophomorix default (`classroom-studentcomputer`).
    pub role: Option<Role>,
    /// Column 9.
    pub reserved_9: String,
    /// Column 10 (mandatory).
    pub pxe_flag: PxeFlag,
    /// Column 11.
    pub reserved_11: String,
    /// Column 12.
    pub reserved_12: String,
    /// Column 13.
    pub reserved_13: String,
    /// Column 14.
    pub comment: String,
}

impl Device {
    /// A device with the five identifying columns, PXE flag 1 and everything else empty.
    pub fn new(room: Room, hostname: Hostname, group: Group, mac: Mac, ip: Ip) -> Device {
        Device {
            room,
            hostname,
            group,
            mac,
            ip,
            office_key: String::new(),
            windows_key: String::new(),
            dhcp_options: String::new(),
            role: None,
            reserved_9: String::new(),
            pxe_flag: PxeFlag::default(),
            reserved_11: String::new(),
            reserved_12: String::new(),
            reserved_13: String::new(),
            comment: String::new(),
        }
    }

    /// Validates the fields of one line. `line` (1-based) is put into the error when given.
    /// Lines may have 11 to any number of fields; fields past 15 are ignored.
    pub fn from_fields(fields: &[&str], line: Option<usize>) -> Result<Device, FieldError> {
        let locate = |error: FieldError| match line {
            Some(line) => error.at_line(line),
            None => error,
        };
        if fields.len() < MIN_FIELDS {
            let joined = fields.join(";");
            let rule = Rule::TooFewFields {
                found: fields.len(),
            };
            return Err(locate(FieldError::new(Field::Line, &joined, rule)));
        }
        let value = |index: usize| fields.get(index).copied().unwrap_or("");
        fn typed<T: FromStr<Err = Rule>>(field: Field, value: &str) -> Result<T, FieldError> {
            value
                .parse()
                .map_err(|rule| FieldError::new(field, value, rule))
        }
        fn text(field: Field, value: &str) -> Result<String, FieldError> {
            check_characters(value).map_err(|rule| FieldError::new(field, value, rule))?;
            Ok(value.to_owned())
        }
        let build = || -> Result<Device, FieldError> {
            let role_text = value(8);
            let role = if role_text.trim().is_empty() {
                None
            } else {
                Some(typed(Field::Role, role_text)?)
            };
            Ok(Device {
                room: typed(Field::Room, value(0))?,
                hostname: typed(Field::Hostname, value(1))?,
                group: typed(Field::Group, value(2))?,
                mac: typed(Field::Mac, value(3))?,
                ip: typed(Field::Ip, value(4))?,
                office_key: text(Field::OfficeKey, value(5))?,
                windows_key: text(Field::WindowsKey, value(6))?,
                dhcp_options: text(Field::DhcpOptions, value(7))?,
                role,
                reserved_9: text(Field::Reserved9, value(9))?,
                pxe_flag: typed(Field::PxeFlag, value(10))?,
                reserved_11: text(Field::Reserved11, value(11))?,
                reserved_12: text(Field::Reserved12, value(12))?,
                reserved_13: text(Field::Reserved13, value(13))?,
                comment: text(Field::Comment, value(14))?,
            })
        };
        build().map_err(locate)
    }

    /// The canonical line: exactly 15 fields, no line ending.
    pub fn to_line(&self) -> String {
        self.to_string()
    }

    /// The columns the merge copies from the delta into the master (SPEC §5), as
    /// `(column, value)` pairs. Column 8 is included only when the device has a role.
    pub(crate) fn managed_columns(&self) -> impl Iterator<Item = (usize, String)> + '_ {
        let role = self.role.map(|role| (8, role.as_str().to_owned()));
        [
            (0, self.room.to_string()),
            (1, self.hostname.to_string()),
            (2, self.group.to_string()),
            (3, self.mac.to_string()),
            (4, self.ip.to_string()),
            (10, self.pxe_flag.to_string()),
        ]
        .into_iter()
        .chain(role)
    }
}

impl fmt::Display for Device {
    /// Writes the canonical 15-field line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = self.role.map_or("", Role::as_str);
        write!(
            f,
            "{};{};{};{};{};{};{};{};{};{};{};{};{};{};{}",
            self.room,
            self.hostname,
            self.group,
            self.mac,
            self.ip,
            self.office_key,
            self.windows_key,
            self.dhcp_options,
            role,
            self.reserved_9,
            self.pxe_flag,
            self.reserved_11,
            self.reserved_12,
            self.reserved_13,
            self.comment,
        )
    }
}

impl FromStr for Device {
    type Err = FieldError;

    /// Parses one line (without line ending).
    fn from_str(line: &str) -> Result<Device, FieldError> {
        let fields: Vec<&str> = line.split(';').collect();
        Device::from_fields(&fields, None)
    }
}
