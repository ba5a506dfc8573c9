//! The crate's error type: which command or file, and what went wrong.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::dns::DnsProblem;
use crate::process::Output;
use crate::sophomorix_device::DeviceFailure;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command or a file operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started (missing, not executable).
    #[error("could not start `{command}`: {source}")]
    Spawn {
        /// The command line, secrets redacted.
        command: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The program ran longer than its timeout; its process group was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The command line, secrets redacted.
        command: String,
        /// The timeout that struck.
        timeout: Duration,
        /// What it printed until then.
        output: Box<Output>,
    },
    /// A file operation failed.
    #[error("{operation} {}: {source}", path.display())]
    File {
        /// What was being done (`writing`, `renaming`, ...).
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file changed between the caller's read and the replacement (someone edited it); it was
    /// left as it is.
    #[error("{} changed while it was being replaced; it was left as it is", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The lock was held by someone else for longer than the timeout.
    #[error("lock {} is held by another process; gave up after {timeout:?}", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        timeout: Duration,
    },
    /// A command ran but reported failure; `lines` are its relevant output lines (bounded).
    #[error("`{command}` failed ({status}): {}", summary(lines))]
    CommandFailed {
        /// The command line, secrets redacted.
        command: String,
        /// `exit code N` or `killed by signal N` (or the reason when the exit code was 0).
        status: String,
        /// The output lines that explain the failure, at most a few dozen.
        lines: Vec<String>,
    },
    /// `sophomorix-device --dry-run` rejected the device files (its exit code says how).
    #[error("sophomorix-device check failed: {failure}: {}", summary(lines))]
    SophomorixDevice {
        /// What the exit code means.
        failure: DeviceFailure,
        /// The output lines that explain the failure, at most a few dozen.
        lines: Vec<String>,
    },
    /// A value meant for a command line was refused before anything ran (e.g. it starts with `-`).
    #[error("refusing {what} {value:?}: {reason}")]
    InvalidArgument {
        /// Which argument (`host name`, `school`, ...).
        what: &'static str,
        /// The refused value.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// samba-tool needs credentials for this operation and none were configured.
    #[error(
        "samba-tool {operation} needs credentials (an authentication file or user%password); none configured"
    )]
    MissingCredentials {
        /// The samba-tool operation (`computer delete`, `dns delete`).
        operation: &'static str,
    },
    /// The samba credentials could not be used; the message never contains the password.
    #[error("unusable samba credentials: {reason}")]
    InvalidCredentials {
        /// Why (never includes the secret).
        reason: &'static str,
    },
    /// A samba authentication file could not be used; the message never contains the password.
    #[error("unusable samba authentication file {}: {reason}", path.display())]
    InvalidAuthFile {
        /// The file.
        path: PathBuf,
        /// Why (never includes the secret).
        reason: &'static str,
    },
    /// `samba-tool dns delete` named a zone the DC does not have: a configuration error (the
    /// DNS domain or the reverse zone is wrong), not an absent record.
    #[error(
        "`{command}`: the DNS zone {zone:?} does not exist on the DC (a configuration error, not \
         an absent record)"
    )]
    DnsZoneMissing {
        /// The command line, secrets redacted.
        command: String,
        /// The zone samba-tool named.
        zone: String,
    },
    /// A DNS query got no verdict: the server failed or refused it, was not reachable, sent
    /// something unusable or nothing in time. An absent record is not an error.
    #[error("DNS query {query} to {server}: {problem}")]
    Dns {
        /// The query as `host` shows it: `A r100-pc01.linuxmuster.lan`, `PTR 1.100.0.10.in-addr.arpa`.
        query: String,
        /// The server asked.
        server: SocketAddr,
        /// What went wrong.
        problem: DnsProblem,
    },
}

/// The lines of a failure joined for one-line messages.
fn summary(lines: &[String]) -> String {
    if lines.is_empty() {
        "no output".to_owned()
    } else {
        lines.join(" | ")
    }
}

impl Error {
    /// A file error, for `map_err`.
    pub(crate) fn file(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File {
            operation,
            path,
            source,
        }
    }
}
