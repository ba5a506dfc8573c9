//! `repair_macct.py`: result flags from recorded output, and the adapter against the fake script.

use std::path::Path;
use std::time::Duration;

use dc_adapters::Error;
use dc_adapters::repair_macct::{RepairRequest, RepairResult, parse, repair};

use dc_testkit::SandboxDc;
use dc_testkit::sandbox::fake_dc_file;

use crate::{GENEROUS, SHORT, recorded_output, run_import, two_schools};

#[track_caller]
fn check(recording: &str, expect: RepairResult) {
    assert_eq!(parse(&recorded_output(recording)), expect);
}

#[test]
fn flags_from_recorded_output() {
    check(
        "repair_macct/updated.stdout",
        RepairResult {
            processed: true,
            stdout_lines: 5,
            unicode_pwd_updated: true,
            pwd_last_set_fixed: true,
            skipped: false,
            no_changes: false,
        },
    );
    check(
        "repair_macct/no-changes.stdout",
        RepairResult {
            processed: true,
            stdout_lines: 4,
            no_changes: true,
            ..RepairResult::default()
        },
    );
    check(
        "repair_macct/skipped.stdout",
        RepairResult {
            processed: true,
            stdout_lines: 4,
            skipped: true,
            ..RepairResult::default()
        },
    );
}

#[test]
fn skipped_and_no_changes_are_found_in_any_case() {
    // The predecessor searched `stdout.lower()` (macct-worker.py:1261-1264, UPSTREAM.md §A.11).
    for (stdout, skipped, no_changes) in [
        ("Host r100-pc01: Skipped (no image)\n", true, false),
        ("SKIPPED\n", true, false),
        ("No changes needed\n", false, true),
        ("NO CHANGES\n", false, true),
        ("unicodePwd updated\n", false, false),
    ] {
        let result = parse(stdout);
        assert_eq!(
            (result.skipped, result.no_changes),
            (skipped, no_changes),
            "{stdout:?}"
        );
    }
}

const OPERATION_ID: &str = "3f2b1c9e-8d7a-4e6f-9a0b-1c2d3e4f5a6b";

fn request<'a>(
    python: &'a Path,
    script: &'a Path,
    log_dir: &'a Path,
    host: &'a str,
    school: &'a str,
    timeout: Duration,
) -> RepairRequest<'a> {
    RepairRequest {
        python,
        script,
        host,
        school,
        log_dir,
        operation_id: OPERATION_ID,
        timeout,
    }
}

#[test]
fn fake_repair_updates_an_existing_account_and_logs_per_operation() {
    let sandbox = two_schools();
    run_import(&sandbox, "school2");
    let python = sandbox.launcher("python3", &[]);
    let script = fake_dc_file("repair_macct.py");
    let log_dir = sandbox.root().join("log");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let result = repair(&request(
        &python, &script, &log_dir, "pc01", "school2", GENEROUS,
    ))
    .expect("repair runs");
    assert!(result.processed && result.unicode_pwd_updated && result.pwd_last_set_fixed);
    assert!(!result.skipped && !result.no_changes);
    assert_eq!(result.stdout_lines, 5);
    assert_eq!(
        sandbox.calls().last().cloned(),
        Some(format!(
            "repair_macct.py --only-hosts pc01 -s school2 --log-file {}/{OPERATION_ID}.log",
            log_dir.display()
        ))
    );
    assert!(
        sandbox
            .read(format!("log/{OPERATION_ID}.log"))
            .contains("SCHOOL2-PC01: pwdLastSet fixed")
    );
}

#[test]
fn fake_repair_modes() {
    let sandbox = two_schools();
    let script = fake_dc_file("repair_macct.py");
    let log_dir = sandbox.root().to_owned();
    let skipped = repair(&request(
        &sandbox.launcher("python3", &[]),
        &script,
        &log_dir,
        "r100-pc01",
        "default-school",
        GENEROUS,
    ))
    .expect("repair runs");
    assert!(
        skipped.skipped && !skipped.unicode_pwd_updated,
        "{skipped:?}"
    );
    let unchanged = repair(&request(
        &sandbox.launcher("python3", &[("FAKE_MACCT_MODE", "no-changes")]),
        &script,
        &log_dir,
        "r100-pc01",
        "default-school",
        GENEROUS,
    ))
    .expect("repair runs");
    assert!(unchanged.no_changes && !unchanged.skipped, "{unchanged:?}");
}

#[test]
fn fake_repair_failure_carries_the_traceback() {
    let sandbox = SandboxDc::new();
    let python = sandbox.launcher("python3", &[("FAKE_MACCT_MODE", "fail")]);
    let script = fake_dc_file("repair_macct.py");
    let error = repair(&request(
        &python,
        &script,
        sandbox.root(),
        "pc01",
        "default-school",
        GENEROUS,
    ))
    .unwrap_err();
    let Error::CommandFailed { status, lines, .. } = &error else {
        panic!("expected CommandFailed, got {error:?}");
    };
    assert_eq!(status, "exit code 1");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ldb.LdbError: (1, 'Operations error: sam.ldb is locked')")
    );
}

#[test]
fn fake_repair_timeout_and_huge_output() {
    let sandbox = SandboxDc::new();
    let script = fake_dc_file("repair_macct.py");
    let slow = sandbox.launcher("python3", &[("FAKE_MACCT_SLEEP", "30")]);
    let error = repair(&request(
        &slow,
        &script,
        sandbox.root(),
        "pc01",
        "default-school",
        SHORT,
    ))
    .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");

    let chatty = sandbox.launcher("python3", &[("FAKE_MACCT_LINES", "100000")]);
    let result = repair(&request(
        &chatty,
        &script,
        sandbox.root(),
        "pc01",
        "default-school",
        GENEROUS,
    ))
    .expect("repair runs");
    // 1 MiB of captured stdout at most: fewer lines than printed, but still counted.
    assert!(
        result.stdout_lines > 10_000 && result.stdout_lines < 100_000,
        "{result:?}"
    );
}

#[test]
fn values_that_could_be_options_or_paths_are_refused() {
    let sandbox = SandboxDc::new();
    let python = sandbox.launcher("python3", &[]);
    let script = fake_dc_file("repair_macct.py");
    let base = request(
        &python,
        &script,
        sandbox.root(),
        "pc01",
        "default-school",
        GENEROUS,
    );
    for (request, what) in [
        (
            RepairRequest {
                host: "--help",
                ..base.clone()
            },
            "host name",
        ),
        (
            RepairRequest {
                school: "-s",
                ..base.clone()
            },
            "school",
        ),
        (
            RepairRequest {
                operation_id: "../../etc/passwd",
                ..base.clone()
            },
            "operation id",
        ),
        (
            RepairRequest {
                operation_id: "",
                ..base.clone()
            },
            "operation id",
        ),
    ] {
        let error = repair(&request).unwrap_err();
        assert!(
            matches!(error, Error::InvalidArgument { what: refused, .. } if refused == what),
            "{error:?}"
        );
    }
    assert_eq!(sandbox.call_log(), "");
}
