//! Integration tests of dc-adapters against committed fake executables in `fixtures/commands/`
//! and `fixtures/fake-dc/` (run in a `dc_testkit::SandboxDc`), recorded output in
//! `fixtures/cmd-output/`, temporary directories, and a real Samba AD DC (`dc_testkit::SambaDc`)
//! for samba-tool, `host` and the DNS resolver (with `dc_testkit::FakeDns` for what a live server
//! cannot be made to do).

mod atomic;
mod dhcpd;
mod dns;
mod import_devices;
mod lock;
mod process;
mod repair_macct;
mod samba_tool;
mod sophomorix_device;

use std::path::PathBuf;
use std::time::Duration;

use dc_adapters::process::Output;
use dc_testkit::SandboxDc;

/// A timeout that no fake reaches unless told to sleep.
pub(crate) const GENEROUS: Duration = Duration::from_secs(30);

/// A timeout short enough for the timeout tests.
pub(crate) const SHORT: Duration = Duration::from_millis(500);

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

/// A sandbox DC with two schools: default-school with a PC, a teacher PC, a printer and a DHCP
/// host; school2 with a PC and a switch (no computer account).
pub(crate) fn two_schools() -> SandboxDc {
    let sandbox = SandboxDc::new();
    sandbox.write_master(
        "default-school",
        "# rooms r100 and r200\n\
         r100;r100-pc01;win11;00:1a:2b:3c:10:01;10.0.100.1;;;;;;1;;;;;\n\
         r100;r100-lehrer;win11;00:1A:2B:3C:10:99;10.0.100.99;;;;classroom-teachercomputer;;2;;;;;\n\
         r100;r100-pr01;nopxe;00:1A:2B:3C:10:F1;10.0.100.201;;;;printer;;0;;;;;\n\
         r200;r200-pc01;ubuntu;00:1A:2B:3C:20:01;DHCP;;;option foo 1,option bar 2;staffcomputer;;1;;;;;\n",
    );
    sandbox.write_master(
        "school2",
        "r1;pc01;win11;00:1A:2B:3C:30:01;10.1.0.1;;;;;;1;;;;;\n\
         r1;sw01;nopxe;00:1A:2B:3C:30:02;10.1.0.2;;;;switch;;0;;;;;\n",
    );
    sandbox
}

/// Runs the sandbox's fake import for `school` through the adapter; it must succeed.
pub(crate) fn run_import(sandbox: &SandboxDc, school: &str) {
    let program = sandbox.launcher("linuxmuster-import-devices", &[]);
    let report =
        dc_adapters::import_devices::import(&program, school, GENEROUS).expect("import runs");
    assert!(report.success, "{report:?}");
}
