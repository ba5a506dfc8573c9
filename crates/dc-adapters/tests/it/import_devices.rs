//! `linuxmuster-import-devices`: the verdict on recorded output, and the adapter against the fake
//! import in a sandbox (DHCP file, AD/DNS state, hooks, failures, timeout, bounded output).

use dc_adapters::Error;
use dc_adapters::import_devices::{MAX_REPORT_BYTES, assess, import, import_logged};

use dc_testkit::SandboxDc;
use dc_testkit::sandbox::fake_dc_file;

use crate::{GENEROUS, SHORT, fixture_command, output, recorded_run, run_import, two_schools};

/// `case` of `fixtures/cmd-output/import-devices/` exited with `code`: success or not, and lines
/// the report's error lines must contain.
#[track_caller]
fn check(case: &str, code: i32, expect_success: bool, expect_lines: &[&str]) {
    let run = recorded_run(&format!("import-devices/{case}"), code);
    let report = assess("import", &run);
    assert_eq!(report.success, expect_success, "{case}: {report:?}");
    for line in expect_lines {
        assert!(
            report.error_lines.contains(&(*line).to_owned()),
            "{case}: {line:?} not in {:#?}",
            report.error_lines
        );
    }
    if expect_success {
        assert!(report.error_lines.is_empty(), "{case}: {report:?}");
    }
}

#[test]
fn verdicts_on_the_versions_output() {
    check("success-7.3", 0, true, &[]);
    check("success-7.4", 0, true, &[]);
    // linuxmuster 7.3 hides a failed sophomorix-device and exits 0: the output cannot tell.
    check("sophomorix-failed-7.3", 0, true, &[]);
    check(
        "sophomorix-failed-7.4",
        1,
        false,
        &["#### sophomorix-device --dry-run failed with return code 88!              ####"],
    );
    check(
        "sophomorix-failed-7.2",
        1,
        false,
        &["#### sophomorix-device finished  errors detected!                         ####"],
    );
    // A failing hook: a traceback, exit 1; the hook's stderr is kept, its stdout is lost.
    check(
        "hook-failed",
        1,
        false,
        &[
            "[2026-11-30T08:15:00Z] [linbo-docker-dhcp] dhcpd -t rejects the patched file, original restored",
            "subprocess.CalledProcessError: Command '['/var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp', '-s', 'default-school']' returned non-zero exit status 1.",
        ],
    );
    let report = assess("import", &recorded_run("import-devices/hook-failed", 1));
    assert!(!report.output.contains("Patching"), "{}", report.output);
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
    let program = sandbox.launcher("linuxmuster-import-devices", &[]);
    let report = import(&program, "default-school", GENEROUS).expect("import runs");
    assert!(report.success, "{report:?}");
    assert!(
        report
            .output
            .contains("#### sophomorix-device finished  OK!"),
        "{}",
        report.output
    );
    // Name and MAC as written in the file; column 7 only for PXE hosts, split on `,`.
    assert_eq!(
        sandbox.read("etc/dhcp/devices/default-school.conf"),
        "# subnet 10.0.0.0/16\n\
         host r100-pc01 {\n  option host-name \"r100-pc01\";\n  hardware ethernet 00:1a:2b:3c:10:01;\n  fixed-address 10.0.100.1;\n  option extensions-path \"win11\";\n  option nis-domain \"win11\";\n}\n\
         host r100-lehrer {\n  option host-name \"r100-lehrer\";\n  hardware ethernet 00:1A:2B:3C:10:99;\n  fixed-address 10.0.100.99;\n  option extensions-path \"win11\";\n  option nis-domain \"win11\";\n}\n\
         host r100-pr01 {\n  option host-name \"r100-pr01\";\n  hardware ethernet 00:1A:2B:3C:10:F1;\n  fixed-address 10.0.100.201;\n}\n\
         # dynamic ip hosts\n\
         host r200-pc01 {\n  option host-name \"r200-pc01\";\n  hardware ethernet 00:1A:2B:3C:20:01;\n  option extensions-path \"ubuntu\";\n  option nis-domain \"ubuntu\";\n  option foo 1;\n  option bar 2;\n}\n"
    );
    // sophomorix-device --sync synced every school's file, not only this one.
    assert_eq!(
        sandbox.ad_objects(),
        [
            "r100-lehrer",
            "r100-pc01",
            "r100-pr01",
            "r200-pc01",
            "school2-pc01"
        ]
    );
    assert_eq!(
        sandbox.dns_names(),
        [
            "r100-lehrer",
            "r100-pc01",
            "r100-pr01",
            "school2-pc01",
            "school2-sw01"
        ]
    );
    assert_eq!(
        sandbox.read("var/lib/fake-dc/dns/r100-pc01").lines().next(),
        Some("10.0.100.1")
    );
    assert_eq!(
        sandbox.call_log(),
        "linuxmuster-import-devices -s default-school\n\
         sophomorix-device --dry-run\n\
         sophomorix-device --sync\n"
    );
}

#[test]
fn fake_import_names_blocks_with_the_school_prefix_outside_the_default_school() {
    let sandbox = two_schools();
    run_import(&sandbox, "default-school");
    run_import(&sandbox, "school2");
    assert_eq!(
        sandbox.read("etc/dhcp/devices/school2.conf"),
        "# subnet 10.1.0.0/16\n\
         host school2-pc01 {\n  option host-name \"school2-pc01\";\n  hardware ethernet 00:1A:2B:3C:30:01;\n  fixed-address 10.1.0.1;\n  option extensions-path \"win11\";\n  option nis-domain \"win11\";\n}\n\
         host school2-sw01 {\n  option host-name \"school2-sw01\";\n  hardware ethernet 00:1A:2B:3C:30:02;\n  fixed-address 10.1.0.2;\n}\n"
    );
    assert_eq!(
        sandbox.read("etc/dhcp/devices.conf"),
        "include \"/etc/dhcp/devices/default-school.conf\";\ninclude \"/etc/dhcp/devices/school2.conf\";\n"
    );
}

#[test]
fn fake_import_skips_rows_the_real_one_skips() {
    let sandbox = SandboxDc::new();
    sandbox.write_master(
        "default-school",
        "# a comment\n\
         -r1;r1-pc01;win11;00:1A:2B:3C:40:01;DHCP;;;;;;1;;;;\n\
         r1;r1-pc02;win11;00:1A:2B:3C:40:02;192.168.1.2;;;;;;1;;;;\n\
         r1;r1-pc03;win11;00:1A:2B:3C:40:03;DHCP;;;abc,option x-long 1;;;1;;;;\n\
         r1;r1-pc04;nopxe;00:1A:2B:3C:40:04;DHCP;;;option x-long 1;;;0;;;;\n",
    );
    run_import(&sandbox, "default-school");
    assert_eq!(
        sandbox.read("etc/dhcp/devices/default-school.conf"),
        // r1-pc01: a room not starting with a letter or digit; r1-pc02: outside every subnet;
        // r1-pc03: column 7 split on `,` untrimmed; r1-pc04: PXE 0, no options.
        "# dynamic ip hosts\n\
         host r1-pc03 {\n  option host-name \"r1-pc03\";\n  hardware ethernet 00:1A:2B:3C:40:03;\n  option extensions-path \"win11\";\n  option nis-domain \"win11\";\n  abc;\n  option x-long 1;\n}\n\
         host r1-pc04 {\n  option host-name \"r1-pc04\";\n  hardware ethernet 00:1A:2B:3C:40:04;\n}\n"
    );
}

#[test]
fn fake_import_removes_hosts_no_longer_in_the_csv() {
    let sandbox = two_schools();
    run_import(&sandbox, "default-school");
    run_import(&sandbox, "school2");
    sandbox.write_master(
        "default-school",
        "r100;r100-pc01;win11;00:1A:2B:3C:10:01;10.0.100.1;;;;;;1;;;;;\n",
    );
    run_import(&sandbox, "default-school");
    assert_eq!(sandbox.ad_objects(), ["r100-pc01", "school2-pc01"]);
    assert_eq!(
        sandbox.dns_names(),
        ["r100-pc01", "school2-pc01", "school2-sw01"]
    );
    assert_eq!(
        sandbox.ptr_records(),
        ["10.0.100.1", "10.1.0.1", "10.1.0.2"]
    );
}

#[test]
fn fake_import_runs_hooks_like_check_output() {
    let sandbox = two_schools();
    let hooks = sandbox
        .root()
        .join("var/lib/linuxmuster/hooks/device-import.post.d");
    std::fs::create_dir_all(&hooks).expect("hook dir");
    std::os::unix::fs::symlink(fixture_command("echo-args"), hooks.join("50-echo")).expect("hook");
    let report = import(
        &sandbox.launcher("linuxmuster-import-devices", &[]),
        "school2",
        GENEROUS,
    )
    .expect("import runs");
    assert!(report.success, "{report:?}");
    assert!(
        report.output.contains("#### * 50-echo -s\nschool2\nenv:\n"),
        "{}",
        report.output
    );
    // The hook's stderr passes through.
    assert!(report.output.contains("to stderr"), "{}", report.output);

    // A failing hook: its stdout is lost, the import ends with a traceback and exit 1.
    let failing = sandbox.launcher("linuxmuster-import-devices", &[("LINBO_TEST_EXIT", "3")]);
    let report = import(&failing, "school2", GENEROUS).expect("import runs");
    assert!(!report.success);
    assert_eq!(report.status, "exit code 1");
    assert!(
        !report.output.contains("school2\nenv:"),
        "{}",
        report.output
    );
    assert!(
        report
            .error_lines
            .iter()
            .any(|line| line.ends_with("returned non-zero exit status 3.")),
        "{:?}",
        report.error_lines
    );
    assert!(
        !report.output.contains("Finally restarting dhcp service"),
        "the DHCP server is not restarted"
    );
}

#[test]
fn fake_import_failures_are_reported_with_their_lines() {
    let sandbox = two_schools();
    let failing = sandbox.launcher("linuxmuster-import-devices", &[("FAKE_IMPORT_FAIL", "1")]);
    let error = import(&failing, "default-school", GENEROUS)
        .expect("import runs")
        .into_result()
        .unwrap_err();
    let Error::CommandFailed { status, lines, .. } = &error else {
        panic!("expected CommandFailed, got {error:?}");
    };
    assert_eq!(status, "exit code 1");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("FileNotFoundError")),
        "{lines:?}"
    );
    assert!(!sandbox.exists("etc/dhcp/devices/default-school.conf"));

    // A school without a file: the real import prints the error and goes on.
    let report = import(
        &sandbox.launcher("linuxmuster-import-devices", &[]),
        "school9",
        GENEROUS,
    )
    .expect("import runs");
    assert!(report.success, "{report:?}");
    assert!(
        report.output.contains("school9.devices.csv"),
        "{}",
        report.output
    );
}

#[test]
fn sophomorix_failures_per_linuxmuster_version() {
    let sandbox = two_schools();
    let log = sandbox
        .root()
        .join("var/log/linuxmuster/import-devices.log");
    sandbox.write("var/log/linuxmuster/import-devices.log", "an earlier run\n");
    // One MAC in both schools' files: sophomorix-device exits 88.
    sandbox.write_master(
        "school2",
        "r1;pc01;win11;00:1a:2b:3c:10:01;10.1.0.1;;;;;;1;;;;\n",
    );
    // 7.3: hidden, exit 0, nothing synced.
    let report = import(
        &sandbox.launcher("linuxmuster-import-devices", &[]),
        "default-school",
        GENEROUS,
    )
    .expect("import runs");
    assert!(report.success, "7.3 cannot tell: {report:?}");
    assert!(sandbox.ad_objects().is_empty());
    // 7.4: exit 1, and sophomorix's lines are in its log.
    let program = sandbox.launcher(
        "linuxmuster-import-devices",
        &[("FAKE_LINUXMUSTER_VERSION", "7.4")],
    );
    let report =
        import_logged(&program, "default-school", GENEROUS, Some(&log)).expect("import runs");
    assert!(!report.success);
    assert!(
        report
            .error_lines
            .iter()
            .any(|line| line.contains("sophomorix-device --dry-run failed with return code 88!")),
        "{report:?}"
    );
    assert!(
        report.log_lines.contains(
            &"  ERROR: MAC >00:1A:2B:3C:10:01< is double in school2.devices.csv!".to_owned()
        ),
        "{:#?}",
        report.log_lines
    );
    assert!(
        !report
            .log_lines
            .iter()
            .any(|line| line.contains("an earlier run")),
        "only this run's lines: {:?}",
        report.log_lines
    );
    assert!(!report.sophomorix_locked());
    let message = report.into_result().unwrap_err().to_string();
    assert!(
        message.contains("is double in school2.devices.csv"),
        "{message}"
    );

    // 7.4 while another sophomorix command holds the lock.
    sandbox.write_master(
        "school2",
        "r1;pc01;win11;00:1A:2B:3C:30:01;10.1.0.1;;;;;;1;;;;\n",
    );
    sandbox.write(
        "var/lib/sophomorix/lock/sophomorix.lock",
        "lock::2026-11-30 08:14:02::creator::/usr/sbin/sophomorix-add --info::1::\n",
    );
    let program = sandbox.launcher(
        "linuxmuster-import-devices",
        &[
            ("FAKE_LINUXMUSTER_VERSION", "7.4"),
            ("FAKE_SOPHOMORIX_LOCK_WAIT", "0"),
        ],
    );
    let report =
        import_logged(&program, "default-school", GENEROUS, Some(&log)).expect("import runs");
    assert!(report.sophomorix_locked(), "{report:?}");
}

#[test]
fn fake_import_timeout_kills_it() {
    let sandbox = two_schools();
    let slow = sandbox.launcher("linuxmuster-import-devices", &[("FAKE_IMPORT_SLEEP", "30")]);
    let error = import(&slow, "default-school", SHORT).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(!sandbox.exists("etc/dhcp/devices/default-school.conf"));
}

#[test]
fn huge_import_output_is_bounded() {
    let sandbox = two_schools();
    let chatty = sandbox.launcher(
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
    let sandbox = SandboxDc::new();
    let program = sandbox.launcher("linuxmuster-import-devices", &[]);
    let error = import(&program, "--help", GENEROUS).unwrap_err();
    assert!(
        matches!(error, Error::InvalidArgument { what: "school", .. }),
        "{error:?}"
    );
    assert_eq!(sandbox.call_log(), "");
}

#[test]
fn fakes_refuse_to_run_without_a_sandbox_root() {
    use dc_adapters::process::{CommandSpec, run};
    for fake in [
        "linuxmuster-import-devices",
        "samba-tool",
        "sophomorix-device",
    ] {
        let spec = CommandSpec::new(fake_dc_file(fake)).env("LINBO_DC_ROOT", "");
        let output = run(&spec).expect("fake runs");
        assert_eq!(output.code, Some(2), "{fake}: {output:?}");
        assert!(
            output.stderr.contains("LINBO_DC_ROOT"),
            "{fake}: {output:?}"
        );
    }
}
