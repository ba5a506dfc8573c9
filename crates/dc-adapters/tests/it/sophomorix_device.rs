//! `sophomorix-device --dry-run`: exit codes to error variants on its output (reconstructed from
//! sophomorix4's source by the fake, `fixtures/cmd-output/sophomorix-device/`), and against the
//! fake reading real device files.

use dc_adapters::Error;
use dc_adapters::sophomorix_device::{DeviceFailure, assess, dry_run};
use dc_testkit::SandboxDc;

use crate::{GENEROUS, SHORT, output, recorded_run};

/// `case` exited with `code`: `expect` is the failure and lines its message must contain.
#[track_caller]
fn check(case: &str, code: i32, expect: Option<(DeviceFailure, &[&str])>) {
    let run = recorded_run(&format!("sophomorix-device/{case}"), code);
    match (assess(&run), expect) {
        (Ok(()), None) => {}
        (Err(Error::SophomorixDevice { failure, lines }), Some((expect_failure, expect_lines))) => {
            assert_eq!(failure, expect_failure, "{case}");
            for line in expect_lines {
                assert!(
                    lines.contains(&(*line).to_owned()),
                    "{case}: {line:?} not in {lines:#?}"
                );
            }
        }
        (verdict, expect) => panic!("{case}: got {verdict:?}, expected {expect:?}"),
    }
}

#[test]
fn exit_codes_on_recorded_output() {
    check(
        "collected-1",
        1,
        Some((
            DeviceFailure::Collected,
            &[
                "Device Name (Field2) is double: r100-pc01",
                "ERROR   -1: r_100 (Field:1) contains invalid characters in LINE:1 of /etc/linuxmuster/sophomorix/default-school/devices.csv",
                "ERROR   -1: devices.csv (Line: 3): Device Name (Field2) is double: r100-pc01",
                "ERROR   -1: ERROR parsing device files: 2 errors.",
            ],
        )),
    );
    check(
        "fatal-88",
        88,
        Some((
            DeviceFailure::Fatal,
            &["  ERROR: MAC >00:1A:2B:3C:10:01< is double in devices.csv!"],
        )),
    );
    // The lock is exit 88 too, but a reason to wait, not a fault of the files.
    check(
        "locked-88",
        88,
        Some((
            DeviceFailure::Locked,
            &["#### sophomorix locked (/usr/sbin/sophomorix-add --info, PID: 1)              ####"],
        )),
    );
    check(
        "unparsable-mac-255",
        255,
        Some((
            DeviceFailure::UnparsableMac,
            &[
                "ERROR: Invalid MAC address 00:1A:2B:3C:ZZ:01 at /usr/sbin/sophomorix-device line 1834.",
            ],
        )),
    );
    assert!(assess(&output(Some(0), "", "")).is_ok());
    let killed = assess(&output(None, "", "")).unwrap_err();
    assert!(
        matches!(
            killed,
            Error::SophomorixDevice {
                failure: DeviceFailure::Unexpected(None),
                ..
            }
        ),
        "{killed:?}"
    );
}

#[test]
fn messages_explain_the_exit_code() {
    let error = assess(&output(Some(88), "ERROR: IP 10.0.0.30 is double!\n", "")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "sophomorix-device check failed: fatal device error (bad host/group characters, duplicate \
         MAC or IP across schools, bad IP, unknown role, empty PXE flag; exit 88): ERROR: IP \
         10.0.0.30 is double!"
    );
    let locked = assess(&recorded_run("sophomorix-device/locked-88", 88)).unwrap_err();
    assert!(
        locked.to_string().starts_with(
            "sophomorix-device check failed: another sophomorix command holds the sophomorix lock"
        ),
        "{locked}"
    );
    assert_eq!(
        DeviceFailure::from_code(Some(7)).map(|failure| failure.to_string()),
        Some("unexpected exit code 7".to_owned())
    );
}

#[test]
fn fake_dry_run_verdicts() {
    let sandbox = SandboxDc::new();
    for (code, expect) in [
        ("0", None),
        ("1", Some(DeviceFailure::Collected)),
        ("88", Some(DeviceFailure::Fatal)),
        ("255", Some(DeviceFailure::UnparsableMac)),
        ("3", Some(DeviceFailure::Unexpected(Some(3)))),
    ] {
        let program = sandbox.launcher("sophomorix-device", &[("FAKE_SOPHOMORIX_EXIT", code)]);
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
            .iter()
            .all(|line| line == "sophomorix-device --dry-run")
    );
}

#[test]
fn the_fake_checks_every_schools_file_as_sophomorix_does() {
    let sandbox = SandboxDc::new();
    let program = sandbox.launcher("sophomorix-device", &[]);
    sandbox.write_master(
        "default-school",
        "r100;r100-pc01;win11;00:1A:2B:3C:10:01;10.0.100.1;;;;;;1;;;;\n",
    );
    sandbox.write_master(
        "school2",
        "r1;pc01;win11;00:1a:2b:3c:10:01;10.1.0.1;;;;;;1;;;;\n",
    );
    // One MAC in two schools' files: fatal, exit 88.
    let error = dry_run(&program, GENEROUS).unwrap_err();
    assert!(
        matches!(&error, Error::SophomorixDevice { failure: DeviceFailure::Fatal, lines }
            if lines.iter().any(|line| line.contains("MAC >00:1A:2B:3C:10:01< is double in school2.devices.csv"))),
        "{error:?}"
    );
    // default-school's `school2-pc01` is school2's `pc01` in AD and DNS: collected, exit 1.
    sandbox.write_master(
        "default-school",
        "r100;school2-pc01;win11;00:1A:2B:3C:10:02;10.0.100.2;;;;;;1;;;;\n",
    );
    let error = dry_run(&program, GENEROUS).unwrap_err();
    assert!(
        matches!(&error, Error::SophomorixDevice { failure: DeviceFailure::Collected, lines }
            if lines.iter().any(|line| line.contains("Device Name (Field2) is double: school2-pc01"))),
        "{error:?}"
    );
    sandbox.write_master(
        "default-school",
        "r100;r100-pc01;win11;00:1A:2B:3C:10:02;10.0.100.2;;;;;;1;;;;\n",
    );
    dry_run(&program, GENEROUS).expect("consistent files");
}

#[test]
fn a_held_sophomorix_lock_is_locked_and_a_dead_holders_lock_is_taken_over() {
    let sandbox = SandboxDc::new();
    sandbox.write_master(
        "default-school",
        "r100;r100-pc01;win11;00:1A:2B:3C:10:01;10.0.100.1;;;;;;1;;;;\n",
    );
    let program = sandbox.launcher("sophomorix-device", &[("FAKE_SOPHOMORIX_LOCK_WAIT", "0")]);
    // PID 1 always runs: the lock is held.
    sandbox.write(
        "var/lib/sophomorix/lock/sophomorix.lock",
        "lock::2026-11-30 08:14:02::creator::/usr/sbin/sophomorix-add --info::1::\n",
    );
    let error = dry_run(&program, GENEROUS).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::SophomorixDevice {
                failure: DeviceFailure::Locked,
                ..
            }
        ),
        "{error:?}"
    );
    // A holder that is gone: sophomorix takes the lock over and goes on.
    sandbox.write(
        "var/lib/sophomorix/lock/sophomorix.lock",
        "lock::2026-11-30 08:14:02::creator::/usr/sbin/sophomorix-add --info::999999999::\n",
    );
    dry_run(&program, GENEROUS).expect("a stale lock is taken over");
}

#[test]
fn fake_dry_run_timeout() {
    let sandbox = SandboxDc::new();
    let program = sandbox.launcher("sophomorix-device", &[("FAKE_SOPHOMORIX_SLEEP", "30")]);
    let error = dry_run(&program, SHORT).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
}
