//! Integration tests of dc-adapters against committed fake executables in `fixtures/commands/`
//! and `fixtures/fake-dc/`, recorded output in `fixtures/cmd-output/`, temporary directories,
//! and a real Samba AD DC (`dc_testkit::SambaDc`) for samba-tool and `host`.

mod atomic;
mod dhcpd;
mod dns;
mod import_devices;
mod lock;
mod process;
mod repair_macct;
mod samba_tool;
mod sandbox;
mod sophomorix_device;

use std::path::PathBuf;
use std::time::Duration;

use dc_adapters::process::Output;

/// A fake executable from `fixtures/commands/`.
pub(crate) fn fixture_command(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/commands")
        .join(name)
}

/// Recorded output of a real command from `fixtures/cmd-output/`.
pub(crate) fn recorded_output(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cmd-output")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The recorded run `case` of `fixtures/cmd-output/` (`NAME.stdout` and `NAME.stderr`, bytes
/// from `../shared/recorded/samba/raw/`) with the exit code it had.
pub(crate) fn recorded_run(case: &str, code: i32) -> Output {
    output(
        Some(code),
        &recorded_output(&format!("{case}.stdout")),
        &recorded_output(&format!("{case}.stderr")),
    )
}

/// An [`Output`] as a command would have produced it, for the pure parsers.
pub(crate) fn output(code: Option<i32>, stdout: &str, stderr: &str) -> Output {
    Output {
        code,
        signal: None,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        truncated: false,
        duration: Duration::ZERO,
    }
}
