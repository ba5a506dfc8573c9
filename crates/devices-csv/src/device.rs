//! The typed 15-column device and its canonical line.

use std::fmt;
use std::str::FromStr;

use crate::error::{Field, FieldError, Rule};
use crate::file::{CANONICAL_FIELDS, MIN_FIELDS};
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
            let role = if role_text.trim_ascii().is_empty() {
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

    /// Whether the merge copies `column` from the delta into the master (SPEC §5): columns 0–4
    /// and 10 always, column 8 only when the device has a role.
    pub(crate) fn is_managed_column(&self, column: usize) -> bool {
        matches!(column, 0..=4 | 10) || (column == 8 && self.role.is_some())
    }

    /// Appends the canonical text of `column` (0–14) to `out`; nothing for other columns.
    pub(crate) fn write_column(&self, column: usize, out: &mut String) {
        match column {
            0 => out.push_str(self.room.as_str()),
            1 => out.push_str(self.hostname.as_str()),
            2 => out.push_str(self.group.as_str()),
            3 => self.mac.write_to(out),
            4 => self.ip.write_to(out),
            5 => out.push_str(&self.office_key),
            6 => out.push_str(&self.windows_key),
            7 => out.push_str(&self.dhcp_options),
            8 => out.push_str(self.role.map_or("", Role::as_str)),
            9 => out.push_str(&self.reserved_9),
            10 => out.push(char::from(b'0' + self.pxe_flag.as_number())),
            11 => out.push_str(&self.reserved_11),
            12 => out.push_str(&self.reserved_12),
            13 => out.push_str(&self.reserved_13),
            14 => out.push_str(&self.comment),
            _ => {}
        }
    }

    /// Appends the canonical 15-field line (no line ending) to `out`.
    pub(crate) fn write_line(&self, out: &mut String) {
        for column in 0..CANONICAL_FIELDS {
            if column > 0 {
                out.push(';');
            }
            self.write_column(column, out);
        }
    }
}

impl fmt::Display for Device {
    /// Writes the canonical 15-field line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::with_capacity(80);
        self.write_line(&mut line);
        f.write_str(&line)
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
