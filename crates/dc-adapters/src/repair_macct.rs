//! `python3 repair_macct.py --only-hosts HOST -s SCHOOL --log-file LOG_DIR/<operation_id>.log`:
//! repairs a host's machine-account password in `sam.ldb` (SPEC §3.1); the result flags come
//! from substrings of its stdout (SPEC §2.2).
//!
//! No public linuxmuster repository has a `repair_macct.py` (UPSTREAM.md §A.12: linbo7 repairs
//! machine accounts inline in `rsync-pre-download.sh` with `ldbmodify`); the script's options,
//! output and exit codes follow the Python predecessor's call and cannot be checked against a
//! source. The path is whatever the installation configures as `REPAIR_SCRIPT`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::argv::check_value;
use crate::error::{Error, Result};
use crate::lines;
use crate::process::{CommandSpec, Output, run};

/// The predecessor's default `REPAIR_SCRIPT` (no linuxmuster package installs a script there).
pub const DEFAULT_SCRIPT: &str = "/usr/share/linuxmuster/linbo/repair_macct.py";

/// The interpreter the script runs with.
pub const DEFAULT_PYTHON: &str = "/usr/bin/python3";

/// One repair: which script, which host, where the per-job log goes.
#[derive(Debug, Clone)]
pub struct RepairRequest<'a> {
    /// The Python interpreter (usually [`DEFAULT_PYTHON`]).
    pub python: &'a Path,
    /// The repair script (config `REPAIR_SCRIPT`).
    pub script: &'a Path,
    /// The host whose machine account is repaired (validated by the caller).
    pub host: &'a str,
    /// The school (`-s`).
    pub school: &'a str,
    /// Directory of the per-job logs (config `LOG_DIR`).
    pub log_dir: &'a Path,
    /// The operation id (a UUID, validated by the caller); names the log file.
    pub operation_id: &'a str,
    /// Kill the script after this long.
    pub timeout: Duration,
}

impl RepairRequest<'_> {
    /// `LOG_DIR/<operation_id>.log`.
    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join(format!("{}.log", self.operation_id))
    }

    /// The command, with every value checked (no leading `-`, no path separators in the id).
    pub fn command(&self) -> Result<CommandSpec> {
        check_value("host name", self.host)?;
        check_value("school", self.school)?;
        check_value("operation id", self.operation_id)?;
        if self.operation_id.contains('/') || self.operation_id.starts_with('.') {
            return Err(Error::InvalidArgument {
                what: "operation id",
                value: self.operation_id.to_owned(),
                reason: "it would leave the log directory",
            });
        }
        Ok(CommandSpec::new(self.python)
            .arg(self.script)
            .arg("--only-hosts")
            .arg(self.host)
            .arg("-s")
            .arg(self.school)
            .arg("--log-file")
            .arg(self.log_file())
            .timeout(self.timeout))
    }
}

/// The result object of a machine-account job (SPEC §2.2); the optional keys are sent when true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairResult {
    /// The script ran to completion (exit code 0).
    pub processed: bool,
    /// Number of stdout lines.
    pub stdout_lines: usize,
    /// stdout mentions `unicodePwd` (`unicodePwd_updated`).
    pub unicode_pwd_updated: bool,
    /// stdout mentions `pwdLastSet` (`pwdLastSet_fixed`).
    pub pwd_last_set_fixed: bool,
    /// stdout mentions `skipped`, in any case (as the predecessor read it: `stdout.lower()`).
    pub skipped: bool,
    /// stdout mentions `no changes`, in any case.
    pub no_changes: bool,
}

/// Runs the repair. Exit code ≠ 0 is [`Error::CommandFailed`] with the script's last lines.
pub fn repair(request: &RepairRequest<'_>) -> Result<RepairResult> {
    let spec = request.command()?;
    let output = run(&spec)?;
    assess(&spec.display(), &output)
}

/// The verdict on the script's output (pure).
pub fn assess(command: &str, output: &Output) -> Result<RepairResult> {
    if !output.success() {
        return Err(Error::CommandFailed {
            command: command.to_owned(),
            status: output.status_text(),
            lines: lines::tail(output),
        });
    }
    Ok(parse(&output.stdout))
}

/// The result flags from the script's stdout (pure).
pub fn parse(stdout: &str) -> RepairResult {
    let lowercase = stdout.to_lowercase();
    RepairResult {
        processed: true,
        stdout_lines: stdout.lines().count(),
        unicode_pwd_updated: stdout.contains("unicodePwd"),
        pwd_last_set_fixed: stdout.contains("pwdLastSet"),
        skipped: lowercase.contains("skipped"),
        no_changes: lowercase.contains("no changes"),
    }
}
