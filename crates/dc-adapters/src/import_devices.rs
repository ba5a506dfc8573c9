//! `linuxmuster-import-devices -s SCHOOL`: applies a school's `devices.csv` to AD, DNS and DHCP.
//! Its exit code alone is not enough (linuxmuster 7.3 exits 0 when sophomorix-device failed),
//! so the output is scanned for sophomorix's error lines too (SPEC §5.5).

use std::path::Path;
use std::time::Duration;

use crate::argv::check_value;
use crate::error::{Error, Result};
use crate::lines;
use crate::process::{CommandSpec, Output, run};

/// Where linuxmuster installs the import.
pub const DEFAULT_BINARY: &str = "/usr/sbin/linuxmuster-import-devices";

/// Substrings of an output line that mean the import failed even when it exited 0.
pub const ERROR_MARKERS: [&str; 3] = ["ERROR:", "errors detected", "syntax check failed"];

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
}

impl ImportReport {
    /// `Ok(self)` on success, else [`Error::CommandFailed`] with the relevant lines.
    pub fn into_result(self) -> Result<ImportReport> {
        if self.success {
            return Ok(self);
        }
        Err(Error::CommandFailed {
            command: self.command,
            status: self.status,
            lines: self.error_lines,
        })
    }
}

/// Runs `BINARY -s SCHOOL` with `timeout`. A failed import is an `Ok` report with
/// `success == false` (see [`ImportReport::into_result`]); `Err` means it could not run or timed
/// out.
pub fn import(binary: &Path, school: &str, timeout: Duration) -> Result<ImportReport> {
    check_value("school", school)?;
    let spec = CommandSpec::new(binary)
        .arg("-s")
        .arg(school)
        .timeout(timeout);
    let output = run(&spec)?;
    Ok(assess(&spec.display(), &output))
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
