//! `host -t A FQDN` and `host -t PTR IP`: DNS lookups for provisioning's verification, one `host`
//! process per lookup. Replaced by the in-process [`Resolver`](super::Resolver); kept until the
//! worker has switched to it.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::Answer;
use crate::argv::check_value;
use crate::error::{Error, Result};
use crate::lines;
use crate::process::{CommandSpec, Output, run};

/// Where Debian's bind9-host installs `host`.
pub const DEFAULT_BINARY: &str = "/usr/bin/host";

/// The record type of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// IPv4 address of a name.
    A,
    /// Name of an IPv4 address (reverse lookup).
    Ptr,
}

/// `host -t A FQDN`.
pub fn lookup_a(binary: &Path, fqdn: &str, timeout: Duration) -> Result<Answer> {
    check_value("DNS name", fqdn)?;
    lookup(binary, RecordType::A, fqdn, timeout)
}

/// `host -t PTR IP`.
pub fn lookup_ptr(binary: &Path, address: Ipv4Addr, timeout: Duration) -> Result<Answer> {
    lookup(binary, RecordType::Ptr, &address.to_string(), timeout)
}

fn lookup(
    binary: &Path,
    record_type: RecordType,
    query: &str,
    timeout: Duration,
) -> Result<Answer> {
    let kind = match record_type {
        RecordType::A => "A",
        RecordType::Ptr => "PTR",
    };
    let spec = CommandSpec::new(binary)
        .args(["-t", kind, query])
        .timeout(timeout);
    let output = run(&spec)?;
    assess(&spec.display(), record_type, &output)
}

/// The verdict on `host`'s output (pure). Records found = [`Answer::Found`] (even if the exit
/// code is not 0); `NXDOMAIN` or "has no A/PTR record" = [`Answer::NotFound`]; anything else
/// (SERVFAIL, REFUSED, timeouts, no servers) is [`Error::CommandFailed`].
pub fn assess(command: &str, record_type: RecordType, output: &Output) -> Result<Answer> {
    let found = parse(record_type, &output.stdout);
    if !found.is_empty() {
        return Ok(Answer::Found(found));
    }
    let text = format!("{}\n{}", output.stdout, output.stderr);
    if text.contains("(NXDOMAIN)")
        || text.contains(" has no A record")
        || text.contains(" has no PTR record")
    {
        return Ok(Answer::NotFound);
    }
    let status = if output.success() {
        "no answer".to_owned()
    } else {
        output.status_text()
    };
    Err(Error::CommandFailed {
        command: command.to_owned(),
        status,
        lines: lines::tail(output),
    })
}

/// The records in `host`'s stdout (pure): `NAME has address IP` lines for A,
/// `ARPA domain name pointer NAME.` lines for PTR. Other lines (aliases) are skipped.
pub fn parse(record_type: RecordType, stdout: &str) -> Vec<String> {
    let marker = match record_type {
        RecordType::A => " has address ",
        RecordType::Ptr => " domain name pointer ",
    };
    stdout
        .lines()
        .filter_map(|line| line.split_once(marker))
        .map(|(_, data)| data.trim().trim_end_matches('.').to_owned())
        .filter(|data| !data.is_empty())
        .collect()
}
