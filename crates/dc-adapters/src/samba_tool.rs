//! `samba-tool computer show|list|delete` and `samba-tool dns delete`: AD computer objects and
//! DNS records on the DC, for provisioning's verification and delete clean-up (SPEC §5.6).
//!
//! Credentials go through an authentication file (`-A FILE`): either the administrator's own
//! (`SAMBA_TOOL_AUTH_FILE`) or a private 0600 temporary file written from `user%password`
//! (`SAMBA_TOOL_AUTH`) and deleted after the call. The password never reaches argv, logs or
//! errors.

use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
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
/// (SPEC §4), lowercase.
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

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The contents of a samba authentication file for these credentials.
    fn file_text(&self) -> String {
        let mut text = format!("username={}\npassword={}\n", self.username, self.password);
        if let Some(domain) = &self.domain {
            text.push_str(&format!("domain={domain}\n"));
        }
        text
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

/// How samba-tool authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials: local reads as root work; deletes are refused.
    None,
    /// An existing samba authentication file, passed as `-A FILE`.
    File(PathBuf),
    /// Credentials written to a private temporary authentication file per call.
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

    /// Writes temporary authentication files into `dir` (default: [`std::env::temp_dir`], which
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
        if !output.success() {
            return Err(failed(&spec.display(), &output));
        }
        Ok(parse_computer_list(&output.stdout))
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

    /// Runs samba-tool with `words` and the authentication; `needs_auth` refuses to run without.
    fn call(&self, words: &[&str], needs_auth: bool) -> Result<(CommandSpec, Output)> {
        let mut spec = CommandSpec::new(&self.binary)
            .args(words.iter().copied())
            .timeout(self.timeout);
        // Held until the command finished; dropping it deletes the file.
        let mut temp_auth_file = None;
        match &self.auth {
            Auth::None if needs_auth => {
                return Err(Error::MissingCredentials {
                    operation: operation(words),
                });
            }
            Auth::None => {}
            Auth::File(path) => spec = spec.arg("-A").arg(path),
            Auth::Credentials(credentials) => {
                let file = self.write_auth_file(credentials)?;
                spec = spec
                    .arg("-A")
                    .arg(file.path())
                    .secret(credentials.password.clone());
                temp_auth_file = Some(file);
            }
        }
        let output = run(&spec);
        drop(temp_auth_file);
        Ok((spec, output?))
    }

    /// A 0600 file (tempfile's default mode) holding the credentials.
    fn write_auth_file(&self, credentials: &Credentials) -> Result<NamedTempFile> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("linbo-dc-samba-auth-");
        let dir = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let mut file = builder
            .tempfile_in(&dir)
            .map_err(Error::file("creating a samba authentication file in", &dir))?;
        let path = file.path().to_owned();
        file.write_all(credentials.file_text().as_bytes())
            .and_then(|()| file.flush())
            .map_err(Error::file("writing", path))?;
        Ok(file)
    }
}

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

/// The verdict of `computer show` (pure): exit 0 = present; "Unable to find computer" = absent;
/// anything else is [`Error::CommandFailed`].
pub fn show_verdict(command: &str, output: &Output) -> Result<Presence> {
    if output.success() {
        Ok(Presence::Present)
    } else if mentions_absence(output) {
        Ok(Presence::Absent)
    } else {
        Err(failed(command, output))
    }
}

/// The verdict of `computer delete` / `dns delete` (pure): exit 0 = deleted; "Unable to find" or
/// "does not exist" = already absent; anything else is [`Error::CommandFailed`].
pub fn delete_verdict(command: &str, output: &Output) -> Result<Deletion> {
    if output.success() {
        Ok(Deletion::Deleted)
    } else if mentions_absence(output) {
        Ok(Deletion::AlreadyAbsent)
    } else {
        Err(failed(command, output))
    }
}

fn mentions_absence(output: &Output) -> bool {
    [&output.stdout, &output.stderr]
        .iter()
        .any(|text| text.contains("Unable to find computer") || text.contains("does not exist"))
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
