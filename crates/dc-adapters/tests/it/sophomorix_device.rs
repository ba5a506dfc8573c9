//! `sophomorix-device --dry-run`: exit codes to error variants on recorded output and against the
//! fake.

use dc_adapters::Error;
use dc_adapters::sophomorix_device::{DeviceFailure, assess, dry_run};

use crate::output;
use crate::recorded_output;
use crate::sandbox::{GENEROUS, SHORT, Sandbox};

#[track_caller]
fn check(code: Option<i32>, stdout: &str, stderr: &str, expect: Option<(DeviceFailure, &[&str])>) {
    let stdout = if stdout.is_empty() {
        String::new()
    } else {
        recorded_output(stdout)
    };
    let stderr = if stderr.is_empty() {
        String::new()
    } else {
        recorded_output(stderr)
    };
    let verdict = assess(&output(code, &stdout, &stderr));
    match (verdict, expect) {
        (Ok(()), None) => {}
        (Err(Error::SophomorixDevice { failure, lines }), Some((expect_failure, expect_lines))) => {
            assert_eq!(failure, expect_failure);
            assert_eq!(lines, expect_lines);
        }
        (verdict, expect) => panic!("got {verdict:?}, expected {expect:?}"),
    }
}

#[test]
fn exit_codes_on_recorded_output() {
    check(Some(0), "", "", None);
    check(
        Some(1),
        "sophomorix-device/collected-1.stdout",
        "",
        Some((
            DeviceFailure::Collected,
            &[
                "ERROR: Room r1OO of host r100-pc07 contains invalid characters",
                "ERROR: Host r100-pc01 is listed twice",
                "2 errors detected",
            ],
        )),
    );
    check(
        Some(88),
        "sophomorix-device/fatal-88.stdout",
        "",
        Some((
            DeviceFailure::Fatal,
            &[
                "ERROR: MAC 00:1A:2B:3C:10:01 of school2-pc09 is already used by r100-pc01 (default-school)",
            ],
        )),
    );
    check(
        Some(88),
        "sophomorix-device/locked-88.stdout",
        "",
        Some((
            DeviceFailure::Fatal,
            &[
                "##### sophomorix-device --dry-run #####",
                "sophomorix.lock exists: another sophomorix command is running (PID 4711)",
            ],
        )),
    );
    check(
        Some(255),
        "",
        "sophomorix-device/unparsable-mac-255.stderr",
        Some((
            DeviceFailure::UnparsableMac,
            &[
                "Use of uninitialized value $mac in split at /usr/sbin/sophomorix-device line 1234.",
                "Can't use an undefined value as an ARRAY reference at /usr/sbin/sophomorix-device line 1240.",
            ],
        )),
    );
    check(None, "", "", Some((DeviceFailure::Unexpected(None), &[])));
}

#[test]
fn messages_explain_the_exit_code() {
    let error = assess(&output(Some(88), "ERROR: bad IP 10.0.0.300\n", "")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "sophomorix-device check failed: fatal device error (bad host/group characters, duplicate \
         MAC or IP across schools, bad IP, unknown role, empty PXE flag, or the sophomorix lock is \
         held; exit 88): ERROR: bad IP 10.0.0.300"
    );
    assert_eq!(
        DeviceFailure::from_code(Some(7)).map(|failure| failure.to_string()),
        Some("unexpected exit code 7".to_owned())
    );
}

#[test]
fn fake_dry_run_verdicts() {
    let sandbox = Sandbox::new();
    for (code, expect) in [
        ("0", None),
        ("1", Some(DeviceFailure::Collected)),
        ("88", Some(DeviceFailure::Fatal)),
        ("255", Some(DeviceFailure::UnparsableMac)),
        ("3", Some(DeviceFailure::Unexpected(Some(3)))),
    ] {
        let program = sandbox.command("sophomorix-device", &[("FAKE_SOPHOMORIX_EXIT", code)]);
        match (dry_run(&program, GENEROUS), expect) {
            (Ok(()), None) => {}
            (Err(Error::SophomorixDevice { failure, lines }), Some(expect)) => {
                assert_eq!(failure, expect, "exit {code}");
                assert!(!lines.is_empty(), "exit {code}");
            }
            (verdict, expect) => panic!("exit {code}: got {verdict:?}, expected {expect:?}"),
        }
    }
    assert!(
        sandbox
            .calls()
            .lines()
            .all(|line| line == "sophomorix-device --dry-run")
    );
}

#[test]
fn fake_dry_run_timeout() {
    let sandbox = Sandbox::new();
    let program = sandbox.command("sophomorix-device", &[("FAKE_SOPHOMORIX_SLEEP", "30")]);
    let error = dry_run(&program, SHORT).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
}
