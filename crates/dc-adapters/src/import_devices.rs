//! `linuxmuster-import-devices -s SCHOOL`: applies a school's `devices.csv` to AD, DNS and DHCP.
//!
//! What the versions do when sophomorix-device fails (linuxmuster-base7's source, UPSTREAM.md
//! §A.3): 7.2 prints "sophomorix-device finished  errors detected!" and exits 1; 7.3 hides
//! sophomorix's output and exit code and carries on (exit 0: only a sophomorix pre-check can
//! see the failure); 7.4 writes sophomorix's output to `/var/log/linuxmuster/import-devices.log`,
//! prints "sophomorix-device --dry-run failed with return code N!" and exits 1 — so on a failure
//! the lines the import appended to that log are part of the report ([`ImportReport::log_lines`]).
//! A failing post-import hook ends every version with a Python traceback and exit 1; the hook's
//! stdout is lost then, its stderr is in the output. The output is also scanned for error lines
//! (SPEC §5.5), which catches what a hook or the import prints with `ERROR:`.

use std::path::Path;
use std::time::Duration;

use crate::argv::check_value;
use crate::error::{Error, Result};
use crate::lines;
use crate::process::{CommandSpec, Output, run};

/// Where linuxmuster installs the import.
pub const DEFAULT_BINARY: &str = "/usr/sbin/linuxmuster-import-devices";

/// Substrings of an output line that mean the import failed even when it exited 0.
pub const ERROR_MARKERS: [&str; 4] = [
    "ERROR:",
    "errors detected",
    "syntax check failed",
    "failed with return code",
];

/// Where linuxmuster 7.4 logs the import and sophomorix-device's output (`LOGDIR` +
/// `import-devices.log`).
pub const LOG_FILE: &str = "/var/log/linuxmuster/import-devices.log";

/// At most this many lines of the import's log go into a report.
pub const MAX_LOG_LINES: usize = 20;

/// At most this many bytes at the end of what the import appended to its log are read.
const MAX_LOG_BYTES: u64 = 64 * 1024;

/// The output kept for the `importOutput` result field: at most this many bytes (the end of the
/// output, where the errors are, is kept).
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

/// What one import run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The command line that ran.
    pub command: String,
    /// `exit code N` or `killed by signal N`.
    pub status: String,
    /// Exit code 0 and no error line in the output.
    pub success: bool,
    /// The lines that explain a failure (error lines, else the last lines), bounded; empty on
    /// success.
    pub error_lines: Vec<String>,
    /// stdout followed by stderr, at most [`MAX_REPORT_BYTES`] (for `importOutput`).
    pub output: String,
    /// On a failure, the last non-blank lines (at most [`MAX_LOG_LINES`]) the import appended to
    /// its log file during this run (linuxmuster 7.4 puts sophomorix's output there); empty on
    /// success or without a log file.
    pub log_lines: Vec<String>,
}

impl ImportReport {
    /// `Ok(self)` on success, else [`Error::CommandFailed`] with the relevant lines.
    pub fn into_result(self) -> Result<ImportReport> {
        if self.success {
            return Ok(self);
        }
        let lines = self.failure_lines();
        Err(Error::CommandFailed {
            command: self.command,
            status: self.status,
            lines,
        })
    }

    /// The lines that explain a failure: [`error_lines`](Self::error_lines), then, when the
    /// import logged anything during the run, one line `<LOG_FILE>: <log lines joined by | >`.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut lines = self.error_lines.clone();
        if !self.log_lines.is_empty() {
            lines.push(format!("{LOG_FILE}: {}", self.log_lines.join(" | ")));
        }
        lines
    }

    /// Whether the import failed because another sophomorix command held the sophomorix lock
    /// (sophomorix's "try again later", in the output or in what the import logged).
    pub fn sophomorix_locked(&self) -> bool {
        !self.success
            && (crate::sophomorix_device::mentions_lock(&self.output)
                || crate::sophomorix_device::mentions_lock(&self.log_lines.join("\n")))
    }
}

/// Runs `BINARY -s SCHOOL` with `timeout`. A failed import is an `Ok` report with
/// `success == false` (see [`ImportReport::into_result`]); `Err` means it could not run or timed
/// out.
pub fn import(binary: &Path, school: &str, timeout: Duration) -> Result<ImportReport> {
    import_logged(binary, school, timeout, None)
}

/// Like [`import`], and when it fails, reads what the import appended to `log` (linuxmuster
/// 7.4's [`LOG_FILE`], under the DC's root) during the run into [`ImportReport::log_lines`]. A
/// log that does not exist or cannot be read adds nothing.
pub fn import_logged(
    binary: &Path,
    school: &str,
    timeout: Duration,
    log: Option<&Path>,
) -> Result<ImportReport> {
    check_value("school", school)?;
    let spec = CommandSpec::new(binary)
        .arg("-s")
        .arg(school)
        .timeout(timeout);
    let log_start = log.map(|path| std::fs::metadata(path).map_or(0, |metadata| metadata.len()));
    let output = run(&spec)?;
    let mut report = assess(&spec.display(), &output);
    if !report.success
        && let (Some(path), Some(start)) = (log, log_start)
    {
        report.log_lines = appended_lines(path, start);
    }
    Ok(report)
}

/// The last non-blank lines written to `path` after byte `start` (all of it when the file
/// shrank: it was rotated), bounded.
fn appended_lines(path: &Path, start: u64) -> Vec<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let length = file.metadata().map_or(0, |metadata| metadata.len());
    let start = if length < start { 0 } else { start };
    let from = start.max(length.saturating_sub(MAX_LOG_BYTES));
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with("---"))
        .collect();
    lines[lines.len().saturating_sub(MAX_LOG_LINES)..]
        .iter()
        .map(|line| lines::clip(line))
        .collect()
}

/// The verdict on an import's output (pure): failure when the exit code is not 0 or any line
/// contains one of [`ERROR_MARKERS`].
pub fn assess(command: &str, output: &Output) -> ImportReport {
    let error_lines = lines::matching(output, is_error_line);
    let success = output.success() && error_lines.is_empty();
    let error_lines = match (success, error_lines.is_empty()) {
        (true, _) => Vec::new(),
        (false, false) => error_lines,
        (false, true) => lines::tail(output),
    };
    ImportReport {
        command: command.to_owned(),
        status: output.status_text(),
        success,
        error_lines,
        output: report_text(output),
        log_lines: Vec::new(),
    }
}

/// Whether an output line reports an error (one of [`ERROR_MARKERS`]).
pub fn is_error_line(line: &str) -> bool {
    ERROR_MARKERS.iter().any(|marker| line.contains(marker))
}

/// stdout then stderr, cut to the last [`MAX_REPORT_BYTES`] on a character boundary.
fn report_text(output: &Output) -> String {
    let mut text = output.stdout.clone();
    if !output.stderr.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&output.stderr);
    }
    if output.truncated {
        text.push_str("\n[output truncated]\n");
    }
    if text.len() <= MAX_REPORT_BYTES {
        return text;
    }
    let mut start = text.len() - MAX_REPORT_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {start} bytes cut …]\n{}", &text[start..])
}
