//! Typed column values with the union of the sophomorix, linuxmuster-import-devices and web UI
//! rules (SPEC §4). Each type parses leniently where linuxmuster does (MAC separators, surrounding
//! spaces) and writes the one canonical form.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::Rule;

/// Refuses characters that would split or corrupt a `;`-separated line. Checked before any
/// trimming, so a trailing line feed cannot hide behind whitespace handling.
pub(crate) fn check_characters(value: &str) -> Result<(), Rule> {
    match value
        .chars()
        .find(|c| matches!(c, ';' | '\r' | '\n' | '\0'))
    {
        Some(c) => Err(Rule::ForbiddenCharacter(c)),
        None => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// A host name: 1–15 characters of `[A-Za-z0-9-]`, not starting or ending with `-`; stored and
/// written lowercase, so equality is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(String);

impl Hostname {
    /// The lowercase name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Hostname {
    type Err = Rule;

    fn from_str(value: &str) -> Result<Hostname, Rule> {
        check_characters(value)?;
        let name = value.trim();
        if name.is_empty() {
            return Err(Rule::Required);
        }
        let valid = name.len() <= 15
            && name.chars().all(is_name_char)
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            return Err(Rule::Hostname);
        }
        Ok(Hostname(name.to_ascii_lowercase()))
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room: one or more characters of `[A-Za-z0-9-]`, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Room(String);

impl Room {
    /// The room as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Room {
    type Err = Rule;

    fn from_str(value: &str) -> Result<Room, Rule> {
        check_characters(value)?;
        let room = value.trim();
        if room.is_empty() {
            return Err(Rule::Required);
        }
        if !room.chars().all(is_name_char) {
            return Err(Rule::Room);
        }
        Ok(Room(room.to_owned()))
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device group (LINBO config): one or more characters of `[A-Za-z0-9_-]`; `nopxe` means none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group(String);

impl Group {
    /// The group linuxmuster uses for "no LINBO config".
    pub fn nopxe() -> Group {
        Group("nopxe".to_owned())
    }

    /// The group as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Group {
    type Err = Rule;

    fn from_str(value: &str) -> Result<Group, Rule> {
        check_characters(value)?;
        let group = value.trim();
        if group.is_empty() {
            return Err(Rule::Required);
        }
        if !group.chars().all(|c| is_name_char(c) || c == '_') {
            return Err(Rule::Group);
        }
        Ok(Group(group.to_owned()))
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A MAC address. Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and `aabbccddeeff` in any case;
/// writes `AA:BB:CC:DD:EE:FF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

impl Mac {
    /// The six bytes.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl From<[u8; 6]> for Mac {
    fn from(octets: [u8; 6]) -> Mac {
        Mac(octets)
    }
}

impl FromStr for Mac {
    type Err = Rule;

    fn from_str(value: &str) -> Result<Mac, Rule> {
        check_characters(value)?;
        let text = value.trim();
        if text.is_empty() {
            return Err(Rule::Required);
        }
        let digits: Vec<u8> = match text.len() {
            12 => text.bytes().collect(),
            17 => {
                let separator = text.as_bytes()[2];
                if separator != b':' && separator != b'-' {
                    return Err(Rule::Mac);
                }
                let mut digits = Vec::with_capacity(12);
                for (index, byte) in text.bytes().enumerate() {
                    if index % 3 == 2 {
                        if byte != separator {
                            return Err(Rule::Mac);
                        }
                    } else {
                        digits.push(byte);
                    }
                }
                digits
            }
            _ => return Err(Rule::Mac),
        };
        let mut octets = [0u8; 6];
        for (octet, pair) in octets.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or(Rule::Mac)?;
            let low = hex_value(pair[1]).ok_or(Rule::Mac)?;
            *octet = high << 4 | low;
        }
        Ok(Mac(octets))
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|digit| digit as u8)
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// Column 4: dynamic (`DHCP`) or a fixed IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ip {
    /// Address from the DHCP range; written `DHCP`. Never conflicts.
    Dhcp,
    /// A fixed address: strict dotted quad, first and last octet 1–254.
    Fixed(Ipv4Addr),
}

impl Ip {
    /// The fixed address, if any.
    pub fn fixed(self) -> Option<Ipv4Addr> {
        match self {
            Ip::Dhcp => None,
            Ip::Fixed(address) => Some(address),
        }
    }
}

impl FromStr for Ip {
    type Err = Rule;

    /// Empty and `DHCP` (any case) mean dynamic. Anything else must be four decimal octets without
    /// signs, spaces or leading zeros (`010` is ambiguous: octal to some tools, decimal to others).
    fn from_str(value: &str) -> Result<Ip, Rule> {
        check_characters(value)?;
        let text = value.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("dhcp") {
            return Ok(Ip::Dhcp);
        }
        let mut octets = [0u8; 4];
        let mut parts = text.split('.');
        for octet in &mut octets {
            let part = parts.next().ok_or(Rule::Ip)?;
            let well_formed = !part.is_empty()
                && part.len() <= 3
                && part.bytes().all(|b| b.is_ascii_digit())
                && !(part.len() > 1 && part.starts_with('0'));
            if !well_formed {
                return Err(Rule::Ip);
            }
            *octet = part.parse().map_err(|_| Rule::Ip)?;
        }
        if parts.next().is_some() {
            return Err(Rule::Ip);
        }
        let first_and_last_ok = (1..=254).contains(&octets[0]) && (1..=254).contains(&octets[3]);
        if !first_and_last_ok {
            return Err(Rule::Ip);
        }
        Ok(Ip::Fixed(Ipv4Addr::from(octets)))
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ip::Dhcp => f.write_str("DHCP"),
            Ip::Fixed(address) => address.fmt(f),
        }
    }
}

macro_rules! roles {
    ($($variant:ident => $name:literal, $account:literal;)*) => {
        /// A sophomorix device role (column 8). An empty column means the sophomorix default,
        /// `classroom-studentcomputer`; that is modelled as `Option<Role>::None`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Role {
            $($variant,)*
        }

        impl Role {
            /// Every role, in the order sophomorix documents them.
            pub const ALL: [Role; [$($name),*].len()] = [$(Role::$variant),*];

            /// The role as written in devices.csv.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Role::$variant => $name,)*
                }
            }

            /// Whether sophomorix creates an AD computer account for this role; verification
            /// checks AD only for these.
            pub fn has_computer_account(self) -> bool {
                match self {
                    $(Role::$variant => $account,)*
                }
            }
        }
    };
}

roles! {
    ClassroomStudentComputer => "classroom-studentcomputer", true;
    ClassroomTeacherComputer => "classroom-teachercomputer", true;
    FacultyTeacherComputer => "faculty-teachercomputer", true;
    StaffComputer => "staffcomputer", true;
    Server => "server", true;
    Addc => "addc", true;
    Printer => "printer", true;
    Mobile => "mobile", true;
    IpOnly => "iponly", false;
    ThinClient => "thinclient", false;
    Voip => "voip", false;
    Byod => "byod", false;
    Router => "router", false;
    Wlan => "wlan", false;
    Switch => "switch", false;
}

impl FromStr for Role {
    type Err = Rule;

    fn from_str(value: &str) -> Result<Role, Rule> {
        check_characters(value)?;
        let text = value.trim();
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or(Rule::Role)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Column 10, mandatory for the import: which network boot the host gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum PxeFlag {
    /// 0: no PXE boot.
    None,
    /// 1: LINBO (the default for jobs without a flag).
    #[default]
    Linbo,
    /// 2: LINBO and OPSI.
    LinboOpsi,
    /// 3: OPSI only.
    Opsi,
}

impl PxeFlag {
    /// The flag as its number 0–3.
    pub fn as_number(self) -> u8 {
        match self {
            PxeFlag::None => 0,
            PxeFlag::Linbo => 1,
            PxeFlag::LinboOpsi => 2,
            PxeFlag::Opsi => 3,
        }
    }

    /// The flag for a number, if it is 0–3.
    pub fn from_number(number: i64) -> Option<PxeFlag> {
        match number {
            0 => Some(PxeFlag::None),
            1 => Some(PxeFlag::Linbo),
            2 => Some(PxeFlag::LinboOpsi),
            3 => Some(PxeFlag::Opsi),
            _ => None,
        }
    }
}

impl FromStr for PxeFlag {
    type Err = Rule;

    fn from_str(value: &str) -> Result<PxeFlag, Rule> {
        check_characters(value)?;
        let text = value.trim();
        if text.is_empty() {
            return Err(Rule::Required);
        }
        if text.len() != 1 {
            return Err(Rule::PxeFlag);
        }
        text.parse::<i64>()
            .ok()
            .and_then(PxeFlag::from_number)
            .ok_or(Rule::PxeFlag)
    }
}

impl fmt::Display for PxeFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_number())
    }
}
