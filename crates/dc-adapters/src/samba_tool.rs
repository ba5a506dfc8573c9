//! `samba-tool computer show|list|delete` and `samba-tool dns delete`: AD computer objects and
//! DNS records on the DC, for provisioning's verification and delete clean-up (SPEC §5.6).
//!
//! Reads (`computer show`, `computer list`) run without credentials: as root on the DC samba-tool
//! opens the local `sam.ldb` (recorded: `samba-tool_computer_list_adapter_argv_no_auth.txt`).
//! Deletes authenticate as `-U [DOMAIN\]USER`, the password in a private 0600 file that samba
//! reads through the `PASSWD_FILE` environment variable. That works on every samba-tool from
//! 4.15 to 4.22: `-A/--authentication-file` exists only from Samba 4.18 and samba-tool 4.17
//! (Debian 12) refuses it with exit 2, and 4.22 silently ignores an `-A` file that does not exist
//! (recordings `samba-tool_computer_list_adapter_argv_with_-A.txt`, `samba-4.22/…_-A_nonexistent_file.txt`;
//! `samba-tool_dns_query_A_with_PASSWD_FILE_env.txt` shows 4.17 taking `PASSWD_FILE`). The
//! credentials come from the administrator's samba authentication file (`SAMBA_TOOL_AUTH_FILE`,
//! read at every call) or from `user%password` (`SAMBA_TOOL_AUTH`); the password never reaches
//! argv, logs or errors, and its file is deleted after the call.
//!
//! Verdicts follow the recorded output of samba-tool 4.17 and 4.22: "Unable to find computer" and
//! "Record does not exist" are an absent object; "Zone does not exist" is a configuration error
//! ([`Error::DnsZoneMissing`]), never "already absent".

use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::NamedTempFile;

use crate::argv::check_value;
use crate::error::{Error, Result};
use crate::lines;
use crate::process::{CommandSpec, Output, run};

/// Where Debian's samba installs samba-tool.
pub const DEFAULT_BINARY: &str = "/usr/bin/samba-tool";

/// The school whose names carry no prefix.
pub const DEFAULT_SCHOOL: &str = "default-school";

/// The AD/DNS name of `host` in `school`: `host` in the default school, `school-host` elsewhere
/// (SPEC §4), lowercase. linuxmuster names the host's DHCP block the same way (SPEC §7), with the
/// case of devices.csv.
pub fn school_host_name(school: &str, host: &str) -> String {
    if school == DEFAULT_SCHOOL {
        host.to_lowercase()
    } else {
        format!("{school}-{host}").to_lowercase()
    }
}

/// The reverse zone and the record name of `address` when the zone covers its first
/// `zone_octets` octets (config `REV_DNS_OCTETS`, 1 to 3; other values are clamped):
/// `10.0.100.1` with 3 → (`100.0.10.in-addr.arpa`, `1`), with 2 → (`0.10.in-addr.arpa`, `1.100`).
pub fn reverse_record(address: Ipv4Addr, zone_octets: u8) -> (String, String) {
    let octets = address.octets();
    let split = usize::from(zone_octets.clamp(1, 3));
    let zone: Vec<String> = octets[..split].iter().rev().map(u8::to_string).collect();
    let name: Vec<String> = octets[split..].iter().rev().map(u8::to_string).collect();
    (format!("{}.in-addr.arpa", zone.join(".")), name.join("."))
}

/// `user%password` credentials (optionally `DOMAIN\user%password`). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
    domain: Option<String>,
}

impl Credentials {
    /// Parses samba's `[DOMAIN\]USER%PASSWORD`. Errors never contain the value.
    pub fn parse(value: &str) -> Result<Credentials> {
        let invalid = |reason| Error::InvalidCredentials { reason };
        let (user, password) = value
            .split_once('%')
            .ok_or_else(|| invalid("expected user%password"))?;
        let (domain, username) = match user.split_once(['\\', '/']) {
            Some((domain, username)) => (Some(domain.to_owned()), username),
            None => (None, user),
        };
        if username.is_empty() || password.is_empty() {
            return Err(invalid("user and password must not be empty"));
        }
        if value.contains(['\n', '\r', '\0']) {
            return Err(invalid(
                "a line break or NUL cannot go into an authentication file",
            ));
        }
        Ok(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
            domain: domain.filter(|domain| !domain.is_empty()),
        })
    }

    /// Reads a samba authentication file (the `-A` format: `username = …`, `password = …`,
    /// optionally `domain = …`; keys in any case, blanks around `=` ignored, other lines skipped,
    /// as samba's `cli_credentials_parse_file` reads it). Errors never contain the password.
    pub fn from_auth_file(path: &Path) -> Result<Credentials> {
        let text = std::fs::read_to_string(path)
            .map_err(Error::file("reading the samba authentication file", path))?;
        Credentials::parse_auth_file(&text).map_err(|error| match error {
            Error::InvalidCredentials { reason } => Error::InvalidAuthFile {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })
    }

    /// The pure part of [`from_auth_file`](Self::from_auth_file).
    pub fn parse_auth_file(text: &str) -> Result<Credentials> {
        let invalid = |reason| Error::InvalidCredentials { reason };
        let (mut username, mut password, mut domain) = (None, None, None);
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key: String = key
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_lowercase();
            let value = value.trim_start_matches([' ', '\t']).trim_end_matches('\r');
            match key.as_str() {
                "username" => username = Some(value.to_owned()),
                "password" => password = Some(value.to_owned()),
                "domain" => domain = Some(value.to_owned()),
                _ => {}
            }
        }
        let username = username
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid("no username= line"))?;
        let password = password
            .filter(|password| !password.is_empty())
            .ok_or_else(|| invalid("no password= line"))?;
        if [&username, &password]
            .iter()
            .any(|value| value.contains('\0'))
            || domain
                .as_deref()
                .is_some_and(|domain| domain.contains('\0'))
        {
            return Err(invalid("a NUL cannot be passed to samba-tool"));
        }
        // `username=DOMAIN\user` as samba-tool's -U reads it.
        let (domain, username) = match (
            domain.filter(|d| !d.is_empty()),
            username.split_once(['\\', '/']),
        ) {
            (None, Some((domain, user))) if !domain.is_empty() => {
                (Some(domain.to_owned()), user.to_owned())
            }
            (domain, _) => (domain, username),
        };
        Ok(Credentials {
            username,
            password,
            domain,
        })
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The domain, when one was given.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The value of samba-tool's `-U`: `DOMAIN\user` or `user` (never the password).
    pub fn user_argument(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}\\{}", self.username),
            None => self.username.clone(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .field("domain", &self.domain)
            .finish()
    }
}

/// How samba-tool authenticates its deletes (reads never need credentials on the DC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials: deletes are refused before anything runs.
    None,
    /// The administrator's samba authentication file, read at every delete.
    File(PathBuf),
    /// `user%password` credentials.
    Credentials(Credentials),
}

/// Whether an object exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It exists.
    Present,
    /// It does not exist.
    Absent,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The object existed and was deleted.
    Deleted,
    /// There was nothing to delete.
    AlreadyAbsent,
}

/// A DNS record to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    /// An A record with its address.
    A(Ipv4Addr),
    /// A PTR record with the name it points to (a FQDN).
    Ptr(String),
}

/// samba-tool with its binary, authentication and timeout.
#[derive(Debug, Clone)]
pub struct SambaTool {
    binary: PathBuf,
    auth: Auth,
    timeout: Duration,
    temp_dir: Option<PathBuf>,
}

impl SambaTool {
    /// samba-tool at `binary`, authenticating with `auth`, each call killed after `timeout`.
    pub fn new(binary: impl Into<PathBuf>, auth: Auth, timeout: Duration) -> SambaTool {
        SambaTool {
            binary: binary.into(),
            auth,
            timeout,
            temp_dir: None,
        }
    }

    /// Writes the temporary password files into `dir` (default: [`std::env::temp_dir`], which
    /// honours `TMPDIR`). A directory only the worker's user can read is best.
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> SambaTool {
        self.temp_dir = Some(dir.into());
        self
    }

    /// `computer show NAME`: whether the computer object exists.
    pub fn computer_show(&self, name: &str) -> Result<Presence> {
        check_value("computer name", name)?;
        let (spec, output) = self.call(&["computer", "show", name], false)?;
        show_verdict(&spec.display(), &output)
    }

    /// `computer list`: the computer names, without the trailing `$`.
    pub fn computer_list(&self) -> Result<Vec<String>> {
        let (spec, output) = self.call(&["computer", "list"], false)?;
        list_verdict(&spec.display(), &output)
    }

    /// `computer delete NAME` (needs credentials).
    pub fn computer_delete(&self, name: &str) -> Result<Deletion> {
        check_value("computer name", name)?;
        let (spec, output) = self.call(&["computer", "delete", name], true)?;
        delete_verdict(&spec.display(), &output)
    }

    /// `dns delete SERVER ZONE NAME A|PTR DATA` (needs credentials).
    pub fn dns_delete(
        &self,
        server: &str,
        zone: &str,
        name: &str,
        record: &DnsRecord,
    ) -> Result<Deletion> {
        check_value("DNS server", server)?;
        check_value("DNS zone", zone)?;
        check_value("DNS record name", name)?;
        let (kind, data) = match record {
            DnsRecord::A(address) => ("A", address.to_string()),
            DnsRecord::Ptr(target) => ("PTR", target.clone()),
        };
        check_value("DNS record data", &data)?;
        let (spec, output) =
            self.call(&["dns", "delete", server, zone, name, kind, &data], true)?;
        delete_verdict(&spec.display(), &output)
    }

    /// Runs samba-tool with `words`; with `needs_auth` as `-U USER` and the password in a
    /// temporary 0600 file named by `PASSWD_FILE`, refused without credentials.
    fn call(&self, words: &[&str], needs_auth: bool) -> Result<(CommandSpec, Output)> {
        let mut spec = CommandSpec::new(&self.binary)
            .args(words.iter().copied())
            .timeout(self.timeout);
        // Held until the command finished; dropping it deletes the file.
        let mut password_file = None;
        if needs_auth {
            let credentials = match &self.auth {
                Auth::None => {
                    return Err(Error::MissingCredentials {
                        operation: operation(words),
                    });
                }
                Auth::File(path) => Credentials::from_auth_file(path)?,
                Auth::Credentials(credentials) => credentials.clone(),
            };
            let file = self.write_password_file(&credentials)?;
            spec = spec
                .arg("-U")
                .arg(credentials.user_argument())
                .env("PASSWD_FILE", file.path())
                .secret(credentials.password.clone());
            password_file = Some(file);
        }
        let output = run(&spec);
        drop(password_file);
        Ok((spec, output?))
    }

    /// A 0600 file (tempfile's default mode) holding only the password, as `PASSWD_FILE` wants
    /// it (samba reads it up to the first line break).
    fn write_password_file(&self, credentials: &Credentials) -> Result<NamedTempFile> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(PASSWORD_FILE_PREFIX);
        let dir = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let mut file = builder
            .tempfile_in(&dir)
            .map_err(Error::file("creating a samba password file in", &dir))?;
        let path = file.path().to_owned();
        file.write_all(credentials.password.as_bytes())
            .and_then(|()| file.flush())
            .map_err(Error::file("writing", path))?;
        Ok(file)
    }
}

/// The name prefix of the temporary password files, so a start-up can remove those a killed
/// process left behind.
pub const PASSWORD_FILE_PREFIX: &str = "linbo-dc-samba-auth-";

fn operation(words: &[&str]) -> &'static str {
    match words {
        ["computer", "delete", ..] => "computer delete",
        ["dns", "delete", ..] => "dns delete",
        ["computer", "show", ..] => "computer show",
        _ => "computer list",
    }
}

/// Names from `computer list` output (pure): one `sAMAccountName` per line, the trailing `$` of
/// machine accounts removed, blank lines skipped.
pub fn parse_computer_list(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| line.strip_suffix('$').unwrap_or(line).to_owned())
        .collect()
}

/// The verdict of `computer list` (pure): the names on exit 0, else [`Error::CommandFailed`].
pub fn list_verdict(command: &str, output: &Output) -> Result<Vec<String>> {
    if output.success() {
        Ok(parse_computer_list(&output.stdout))
    } else {
        Err(failed(command, output))
    }
}

/// The verdict of `computer show` (pure): exit 0 = present; "Unable to find computer" = absent;
/// anything else is [`Error::CommandFailed`].
pub fn show_verdict(command: &str, output: &Output) -> Result<Presence> {
    if output.success() {
        Ok(Presence::Present)
    } else if mentions(output, &["Unable to find computer"]) {
        Ok(Presence::Absent)
    } else {
        Err(failed(command, output))
    }
}

/// The verdict of `computer delete` / `dns delete` (pure): exit 0 = deleted; "Unable to find
/// computer" (4.17, 4.22), "Record does not exist" (4.17) or `WERR_DNS_ERROR_RECORD_DOES_NOT_EXIST`
/// (4.22) = already absent; "Zone does not exist" = [`Error::DnsZoneMissing`]; anything else is
/// [`Error::CommandFailed`].
pub fn delete_verdict(command: &str, output: &Output) -> Result<Deletion> {
    if output.success() {
        Ok(Deletion::Deleted)
    } else if mentions(output, &["Zone does not exist"]) {
        Err(Error::DnsZoneMissing {
            command: command.to_owned(),
            zone: zone_named(output).unwrap_or_default(),
        })
    } else if mentions(
        output,
        &[
            "Unable to find computer",
            "Record does not exist",
            "WERR_DNS_ERROR_RECORD_DOES_NOT_EXIST",
        ],
    ) {
        Ok(Deletion::AlreadyAbsent)
    } else {
        Err(failed(command, output))
    }
}

fn mentions(output: &Output, markers: &[&str]) -> bool {
    [&output.stdout, &output.stderr]
        .iter()
        .any(|text| markers.iter().any(|marker| text.contains(marker)))
}

/// The `zone[NAME]` of samba-tool's "Zone does not exist; record could not be deleted.
/// zone[NAME] name[…]".
fn zone_named(output: &Output) -> Option<String> {
    [&output.stdout, &output.stderr].iter().find_map(|text| {
        let start = text.find("zone[")? + "zone[".len();
        let end = text[start..].find(']')?;
        Some(text[start..start + end].to_owned())
    })
}

fn failed(command: &str, output: &Output) -> Error {
    let mut relevant = lines::matching(output, |line| line.contains("ERROR"));
    if relevant.is_empty() {
        relevant = lines::tail(output);
    }
    Error::CommandFailed {
        command: command.to_owned(),
        status: output.status_text(),
        lines: relevant,
    }
}
