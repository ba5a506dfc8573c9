//! `linuxmuster-import-devices`: the verdict on recorded output, and the adapter against the fake
//! import in a sandbox (DHCP file, AD/DNS state, hooks, failures, timeout, bounded output).

use dc_adapters::Error;
use dc_adapters::import_devices::{MAX_REPORT_BYTES, assess, import};

use crate::sandbox::{GENEROUS, SHORT, Sandbox, two_schools};
use crate::{fixture_command, output, recorded_output};

#[track_caller]
fn check(recording: &str, code: i32, expect_success: bool, expect_lines: &[&str]) {
    let report = assess(
        "import",
        &output(Some(code), &recorded_output(recording), ""),
    );
    assert_eq!(report.success, expect_success, "{report:?}");
    assert_eq!(report.error_lines, expect_lines);
    assert_eq!(report.output, recorded_output(recording));
}

#[test]
fn verdicts_on_recorded_output() {
    check("import-devices/success.stdout", 0, true, &[]);
    check(
        "import-devices/sophomorix-errors-exit-0.stdout",
        0,
        false,
        &["2 errors detected in /etc/linuxmuster/sophomorix/default-school/devices.csv"],
    );
    check(
        "import-devices/error-line.stdout",
        0,
        false,
        &[
            "ERROR: MAC 00:1A:2B:3C:10:01 of school2-pc09 is already used by r100-pc01 (default-school)",
        ],
    );
    check(
        "import-devices/syntax-check-failed.stdout",
        0,
        false,
        &["dhcpd.conf syntax check failed, keeping the previous configuration"],
    );
    check(
        "import-devices/error-line.stdout",
        1,
        false,
        &[
            "ERROR: MAC 00:1A:2B:3C:10:01 of school2-pc09 is already used by r100-pc01 (default-school)",
        ],
    );
}

#[test]
fn a_failed_exit_without_error_lines_reports_the_last_lines() {
    let report = assess(
        "import",
        &output(
            Some(1),
            &recorded_output("import-devices/hook-failed.stdout"),
            "",
        ),
    );
    assert!(!report.success);
    assert_eq!(
        report.error_lines.last().map(String::as_str),
        Some(
            "[2026-11-25 21:06:40] [linbo-docker-dhcp] dhcpd -t rejects the patched file, original restored"
        )
    );
    let error = report.into_result().unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("`import` failed (exit code 1): "),
        "{error}"
    );
}

#[test]
fn error_lines_are_bounded_in_number_and_length() {
    let noisy: String = (0..500)
        .map(|n| format!("ERROR: line {n} {}\n", "x".repeat(1000)))
        .collect();
    let report = assess("import", &output(Some(0), &noisy, ""));
    assert_eq!(report.error_lines.len(), 20);
    assert!(
        report
            .error_lines
            .iter()
            .all(|line| line.chars().count() <= 301)
    );
    assert!(
        report.output.len() <= MAX_REPORT_BYTES + 64,
        "{}",
        report.output.len()
    );
    let last_line = format!("ERROR: line 499 {}\n", "x".repeat(1000));
    assert!(report.output.ends_with(&last_line));
}

#[test]
fn fake_import_writes_dhcp_ad_and_dns_for_the_school() {
    let sandbox = two_schools();
    let program = sandbox.command("linuxmuster-import-devices", &[]);
    let report = import(&program, "default-school", GENEROUS).expect("import runs");
    assert!(report.success, "{report:?}");
    assert!(report.output.contains("Done."), "{}", report.output);
    assert_eq!(
        sandbox.read("etc/dhcp/devices/default-school.conf"),
        "# subnet 10.0.0.0/16\n\
         host r100-pc01 {\n  option host-name \"r100-pc01\";\n  hardware ethernet 00:1A:2B:3C:10:01;\n  fixed-address 10.0.100.1;\n  option extensions-path \"win11\";\n  option nis-domain \"win11\";\n}\n\
         host r100-lehrer {\n  option host-name \"r100-lehrer\";\n  hardware ethernet 00:1A:2B:3C:10:99;\n  fixed-address 10.0.100.99;\n  option extensions-path \"win11\";\n  option nis-domain \"win11\";\n}\n\
         host r100-pr01 {\n  option host-name \"r100-pr01\";\n  hardware ethernet 00:1A:2B:3C:10:F1;\n  fixed-address 10.0.100.201;\n}\n\
         # dynamic ip hosts\n\
         host r200-pc01 {\n  option host-name \"r200-pc01\";\n  hardware ethernet 00:1A:2B:3C:20:01;\n  option extensions-path \"ubuntu\";\n  option nis-domain \"ubuntu\";\n  option foo 1;\n  option bar 2;\n}\n"
    );
    assert_eq!(
        sandbox.list("var/lib/fake-dc/ad"),
        ["r100-lehrer", "r100-pc01", "r100-pr01", "r200-pc01"]
    );
    assert_eq!(
        sandbox.list("var/lib/fake-dc/dns"),
        ["r100-lehrer", "r100-pc01", "r100-pr01"]
    );
    assert_eq!(
        sandbox.read("var/lib/fake-dc/dns/r100-pc01").lines().next(),
        Some("10.0.100.1")
    );
    assert_eq!(
        sandbox.calls(),
        "linuxmuster-import-devices -s default-school\n"
    );
}

#[test]
fn fake_import_prefixes_names_outside_the_default_school_and_skips_roles_without_account() {
    let sandbox = two_schools();
    sandbox.import("default-school");
    sandbox.import("school2");
    assert_eq!(
        sandbox.list("var/lib/fake-dc/ad"),
        [
            "r100-lehrer",
            "r100-pc01",
            "r100-pr01",
            "r200-pc01",
            "school2-pc01"
        ]
    );
    assert!(sandbox.exists("var/lib/fake-dc/dns/school2-sw01"));
    assert!(sandbox.exists("etc/dhcp/devices/school2.conf"));
    assert_eq!(
        sandbox.read("etc/dhcp/devices.conf"),
        "include \"/etc/dhcp/devices/default-school.conf\";\ninclude \"/etc/dhcp/devices/school2.conf\";\n"
    );
}

#[test]
fn fake_import_removes_hosts_no_longer_in_the_csv_of_that_school_only() {
    let sandbox = two_schools();
    sandbox.import("default-school");
    sandbox.import("school2");
    sandbox.devices(
        "default-school",
        "r100;r100-pc01;win11;00:1A:2B:3C:10:01;10.0.100.1;;;;;;1;;;;;\n",
    );
    sandbox.import("default-school");
    assert_eq!(
        sandbox.list("var/lib/fake-dc/ad"),
        ["r100-pc01", "school2-pc01"]
    );
    assert_eq!(
        sandbox.list("var/lib/fake-dc/dns"),
        ["r100-pc01", "school2-pc01", "school2-sw01"]
    );
    assert_eq!(
        sandbox.list("var/lib/fake-dc/ptr"),
        ["10.0.100.1", "10.1.0.1", "10.1.0.2"]
    );
}

#[test]
fn fake_import_runs_hooks_with_the_school_and_fails_with_them() {
    let sandbox = two_schools();
    let hooks = sandbox
        .root()
        .join("var/lib/linuxmuster/hooks/device-import.post.d");
    std::fs::create_dir_all(&hooks).expect("hook dir");
    std::os::unix::fs::symlink(fixture_command("echo-args"), hooks.join("50-echo")).expect("hook");
    let report = import(
        &sandbox.command("linuxmuster-import-devices", &[]),
        "school2",
        GENEROUS,
    )
    .expect("import runs");
    assert!(report.success, "{report:?}");
    assert!(
        report
            .output
            .contains("* Running hook 50-echo\n-s\nschool2\nenv:\n"),
        "{}",
        report.output
    );

    let failing = sandbox.command("linuxmuster-import-devices", &[("LINBO_TEST_EXIT", "3")]);
    let report = import(&failing, "school2", GENEROUS).expect("import runs");
    assert!(!report.success);
    assert_eq!(
        report.error_lines,
        ["ERROR: hook 50-echo failed with exit code 3"]
    );
}

#[test]
fn fake_import_failures_are_reported_with_their_lines() {
    let sandbox = two_schools();
    let failing = sandbox.command("linuxmuster-import-devices", &[("FAKE_IMPORT_FAIL", "1")]);
    let error = import(&failing, "default-school", GENEROUS)
        .expect("import runs")
        .into_result()
        .unwrap_err();
    let Error::CommandFailed { status, lines, .. } = &error else {
        panic!("expected CommandFailed, got {error:?}");
    };
    assert_eq!(status, "exit code 1");
    assert_eq!(
        lines,
        &["ERROR: fake import failure requested by FAKE_IMPORT_FAIL"]
    );
    assert!(!sandbox.exists("etc/dhcp/devices/default-school.conf"));

    let sophomorix = sandbox.command(
        "linuxmuster-import-devices",
        &[("FAKE_IMPORT_SOPHOMORIX_ERROR", "1")],
    );
    let report = import(&sophomorix, "default-school", GENEROUS).expect("import runs");
    assert_eq!(report.status, "exit code 0");
    assert!(!report.success);
    assert_eq!(
        report.error_lines,
        [
            "sophomorix-device: 1 errors detected in /etc/linuxmuster/sophomorix/default-school/devices.csv"
        ]
    );
    assert!(sandbox.list("var/lib/fake-dc/ad").is_empty());

    let report = import(
        &sandbox.command("linuxmuster-import-devices", &[]),
        "school9",
        GENEROUS,
    )
    .expect("import runs");
    assert!(!report.success);
    assert_eq!(
        report.error_lines,
        ["ERROR: /etc/linuxmuster/sophomorix/school9/school9.devices.csv not found"]
    );
}

#[test]
fn fake_import_timeout_kills_it() {
    let sandbox = two_schools();
    let slow = sandbox.command("linuxmuster-import-devices", &[("FAKE_IMPORT_SLEEP", "30")]);
    let error = import(&slow, "default-school", SHORT).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(!sandbox.exists("etc/dhcp/devices/default-school.conf"));
}

#[test]
fn huge_import_output_is_bounded() {
    let sandbox = two_schools();
    let chatty = sandbox.command(
        "linuxmuster-import-devices",
        &[("FAKE_IMPORT_OUTPUT_LINES", "200000")],
    );
    let report = import(&chatty, "default-school", GENEROUS).expect("import runs");
    assert!(
        report.output.len() <= MAX_REPORT_BYTES + 64,
        "{}",
        report.output.len()
    );
    assert!(report.output.starts_with("[… "), "{}", &report.output[..80]);
    assert!(report.output.ends_with("[output truncated]\n"));
}

#[test]
fn option_like_school_is_refused_before_running() {
    let sandbox = Sandbox::new();
    let program = sandbox.command("linuxmuster-import-devices", &[]);
    let error = import(&program, "--help", GENEROUS).unwrap_err();
    assert!(
        matches!(error, Error::InvalidArgument { what: "school", .. }),
        "{error:?}"
    );
    assert_eq!(sandbox.calls(), "");
}

#[test]
fn fakes_refuse_to_run_without_a_sandbox_root() {
    use dc_adapters::process::{CommandSpec, run};
    for fake in [
        "linuxmuster-import-devices",
        "samba-tool",
        "host",
        "sophomorix-device",
    ] {
        let spec = CommandSpec::new(crate::sandbox::fake_dc(fake)).env("LINBO_DC_ROOT", "");
        let output = run(&spec).expect("fake runs");
        assert_eq!(output.code, Some(2), "{fake}: {output:?}");
        assert!(
            output.stderr.contains("LINBO_DC_ROOT"),
            "{fake}: {output:?}"
        );
    }
}
