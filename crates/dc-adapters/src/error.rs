//! The crate's error type: which command or file, and what went wrong.

use std::path::PathBuf;
use std::time::Duration;

use crate::process::Output;

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
    /// The lock was held by someone else for longer than the timeout.
    #[error("lock {} is held by another process; gave up after {timeout:?}", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        timeout: Duration,
    },
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
