//! `sophomorix-device --dry-run`: sophomorix's own check of every school's device files, without
//! changing AD. The import runs `sophomorix-device --sync` and (on linuxmuster 7.3) ignores its
//! exit code, so a pre-check turns sophomorix's verdict into a clear error (SPEC §12).
//!
//! From sophomorix4's source (`sophomorix-samba/scripts/sophomorix-device`, UPSTREAM.md §B):
//! `--dry-run` takes no school, reads every school's device file, binds to AD, and exits 0
//! (fine), 1 (errors collected in the files: bad room characters, a device name twice), 88
//! (fatal: bad host or group characters, a MAC or IP twice across all files, a bad IP, an unknown
//! role, a PXE flag without a digit — or the sophomorix lock held by another sophomorix command
//! for 5 tries: "try again later ...", `SophomorixBase.pm` log_script_start) or 255 (Perl died
//! on a MAC it cannot read). The lock is [`DeviceFailure::Locked`]: a reason to wait, not a fault
//! of the files.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::lines;
use crate::process::{CommandSpec, Output, run};

/// Where sophomorix installs the command.
pub const DEFAULT_BINARY: &str = "/usr/sbin/sophomorix-device";

/// What a non-zero exit of sophomorix-device means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceFailure {
    /// Exit 1: errors collected in the files (bad room, duplicate host name).
    Collected,
    /// Exit 88: fatal (bad host/group characters, duplicate MAC or IP across all schools, bad IP,
    /// unknown role, empty PXE flag).
    Fatal,
    /// Exit 88 after "try again later": another sophomorix command holds the sophomorix lock
    /// (it can run for minutes); nothing is wrong with the files.
    Locked,
    /// Exit 255: a MAC address it cannot parse.
    UnparsableMac,
    /// Any other exit code, or killed by a signal (`None`).
    Unexpected(Option<i32>),
}

impl DeviceFailure {
    /// The failure an exit code means; `None` for 0 (fine).
    pub fn from_code(code: Option<i32>) -> Option<DeviceFailure> {
        match code {
            Some(0) => None,
            Some(1) => Some(DeviceFailure::Collected),
            Some(88) => Some(DeviceFailure::Fatal),
            Some(255) => Some(DeviceFailure::UnparsableMac),
            other => Some(DeviceFailure::Unexpected(other)),
        }
    }
}

impl fmt::Display for DeviceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceFailure::Collected => {
                f.write_str("errors in the device files (bad room or duplicate host name, exit 1)")
            }
            DeviceFailure::Fatal => f.write_str(
                "fatal device error (bad host/group characters, duplicate MAC or IP across \
                 schools, bad IP, unknown role, empty PXE flag; exit 88)",
            ),
            DeviceFailure::Locked => f.write_str(
                "another sophomorix command holds the sophomorix lock (\"try again later\", exit \
                 88)",
            ),
            DeviceFailure::UnparsableMac => {
                f.write_str("a MAC address sophomorix cannot parse (exit 255)")
            }
            DeviceFailure::Unexpected(Some(code)) => write!(f, "unexpected exit code {code}"),
            DeviceFailure::Unexpected(None) => f.write_str("killed by a signal"),
        }
    }
}

/// Runs `BINARY --dry-run` with `timeout`: `Ok(())` when sophomorix accepts the device files,
/// [`Error::SophomorixDevice`] when it does not.
pub fn dry_run(binary: &Path, timeout: Duration) -> Result<()> {
    let spec = CommandSpec::new(binary).arg("--dry-run").timeout(timeout);
    let output = run(&spec)?;
    assess(&output)
}

/// The verdict on a dry run's output (pure): the exit code decides, the lines explain.
pub fn assess(output: &Output) -> Result<()> {
    let Some(mut failure) = DeviceFailure::from_code(output.code) else {
        return Ok(());
    };
    if failure == DeviceFailure::Fatal && mentions_lock(&output.stdout) {
        failure = DeviceFailure::Locked;
    }
    let mut relevant = lines::matching(output, is_error_line);
    if relevant.is_empty() {
        relevant = lines::tail(output);
    }
    Err(Error::SophomorixDevice {
        failure,
        lines: relevant,
    })
}

/// Whether sophomorix's output says its lock is held (`try again later ...` after `sophomorix
/// locked (<script>, PID: <pid>)`).
pub fn mentions_lock(text: &str) -> bool {
    text.contains("try again later") && text.contains("sophomorix locked")
}

/// Whether a line of sophomorix's output reports a problem (its messages:
/// `  ERROR: …`, `… (Field:1) contains invalid characters …`, `Device Name (Field2) is double: …`,
/// `sophomorix locked (…)`).
pub fn is_error_line(line: &str) -> bool {
    [
        "ERROR",
        "Error:",
        "errors detected",
        "contains invalid characters",
        "is double",
        "sophomorix locked",
    ]
    .iter()
    .any(|marker| line.contains(marker))
}
