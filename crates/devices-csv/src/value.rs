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

/// The shared shape of the name-like columns: no line-breaking characters, surrounding white
/// space ignored, not empty, every character `allowed` (else `rule`).
fn word(value: &str, allowed: fn(char) -> bool, rule: Rule) -> Result<&str, Rule> {
    check_characters(value)?;
    let word = value.trim_ascii();
    if word.is_empty() {
        return Err(Rule::Required);
    }
    if !word.chars().all(allowed) {
        return Err(rule);
    }
    Ok(word)
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
        let name = word(value, is_name_char, Rule::Hostname)?;
        if name.len() > 15 || name.starts_with('-') || name.ends_with('-') {
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

/// A room: one or more characters of `[A-Za-z0-9-]`, the first a letter or digit, kept as written.
///
/// linuxmuster-import-devices skips every line whose room does not start with a letter or digit
/// (base7 7.3 `lib/functions.py` `getDevicesArray`), while sophomorix-device still creates the
/// host's AD and DNS entries: such a host would get no DHCP block and no LINBO links.
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
        let room = word(value, is_name_char, Rule::Room)?;
        if !room.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Rule::RoomStart);
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
        let allowed = |c: char| is_name_char(c) || c == '_';
        word(value, allowed, Rule::Group).map(|group| Group(group.to_owned()))
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
        let text = value.trim_ascii();
        if text.is_empty() {
            return Err(Rule::Required);
        }
        // Hex digit pairs sit at byte offsets 0, 3, 6, ... with one separator between pairs, or
        // at 0, 2, 4, ... without; no allocation, as the merge parses one MAC per master line.
        let bytes = text.as_bytes();
        let stride = match bytes.len() {
            12 => 2,
            17 => {
                let separator = bytes[2];
                let separators_ok = (separator == b':' || separator == b'-')
                    && (1..6).all(|pair| bytes[pair * 3 - 1] == separator);
                if !separators_ok {
                    return Err(Rule::Mac);
                }
                3
            }
            _ => return Err(Rule::Mac),
        };
        let mut octets = [0u8; 6];
        for (pair, octet) in octets.iter_mut().enumerate() {
            let high = hex_value(bytes[pair * stride]).ok_or(Rule::Mac)?;
            let low = hex_value(bytes[pair * stride + 1]).ok_or(Rule::Mac)?;
            *octet = high << 4 | low;
        }
        Ok(Mac(octets))
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

impl Mac {
    /// Appends `AA:BB:CC:DD:EE:FF` to `out` (hand-written: the merge writes thousands per batch).
    pub(crate) fn write_to(self, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for (index, octet) in self.0.into_iter().enumerate() {
            if index > 0 {
                out.push(':');
            }
            out.push(char::from(HEX[usize::from(octet >> 4)]));
            out.push(char::from(HEX[usize::from(octet & 0xf)]));
        }
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(17);
        self.write_to(&mut text);
        f.write_str(&text)
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
        let text = value.trim_ascii();
        if text.is_empty() || text.eq_ignore_ascii_case("dhcp") {
            return Ok(Ip::Dhcp);
        }
        // Byte by byte: every master line's IP is parsed on every batch.
        let mut octets = [0u8; 4];
        let mut parts = text.as_bytes().split(|&b| b == b'.');
        for octet in &mut octets {
            let part = parts.next().ok_or(Rule::Ip)?;
            let well_formed = (1..=3).contains(&part.len())
                && part.iter().all(u8::is_ascii_digit)
                && !(part.len() > 1 && part[0] == b'0');
            if !well_formed {
                return Err(Rule::Ip);
            }
            let number = part
                .iter()
                .fold(0u16, |number, digit| number * 10 + u16::from(digit - b'0'));
            *octet = u8::try_from(number).map_err(|_| Rule::Ip)?;
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

impl Ip {
    /// Appends `DHCP` or the dotted quad to `out`.
    pub(crate) fn write_to(self, out: &mut String) {
        match self {
            Ip::Dhcp => out.push_str("DHCP"),
            Ip::Fixed(address) => {
                for (index, octet) in address.octets().into_iter().enumerate() {
                    if index > 0 {
                        out.push('.');
                    }
                    if octet >= 100 {
                        out.push(char::from(b'0' + octet / 100));
                    }
                    if octet >= 10 {
                        out.push(char::from(b'0' + octet / 10 % 10));
                    }
                    out.push(char::from(b'0' + octet % 10));
                }
            }
        }
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
        let text = value.trim_ascii();
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
        let text = value.trim_ascii();
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
