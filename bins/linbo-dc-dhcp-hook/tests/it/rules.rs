//! SPEC §7, rule by rule, and the predecessor's hook defects of SPEC §9.

use std::os::unix::fs::MetadataExt;

use dc_testkit::SandboxDc;
use dc_testkit::sandbox::HOOK_CONFIG;

use crate::support::{
    Case, REAL_DHCPD, delta_file, delta_line, fake_dhcpd, hook_dc, host_block, messages,
    require_real_dhcpd, run_hook, run_hook_with_env,
};

/// The school of the rules' sandboxes.
const SCHOOL: &str = "default-school";

/// The case most rules are shown on: `fixtures/hook/managed_pxe_hosts_get_next_server/` (its
/// README says what each host shows).
fn case() -> Case {
    Case::load("managed_pxe_hosts_get_next_server")
}

/// A sandbox with the case's devices file and delta, the hook configured with `extra_config` too.
fn case_dc(case: &Case, extra_config: &str) -> SandboxDc {
    hook_dc(SCHOOL, &case.devices, &case.delta, extra_config)
}

#[test]
fn managed_pxe_hosts_get_exactly_one_next_server_and_dhcpd_accepts_it() {
    require_real_dhcpd();
    let case = case();
    let sandbox = case_dc(&case, "");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
    assert_eq!(run.stderr, "", "a run that succeeds says nothing on stderr");
    let lines = messages(&run.stdout);
    assert_eq!(
        lines,
        [
            "[linbo-docker-dhcp] next-server 10.0.0.13 set for: r100-pc01, r100-pc02",
            "[linbo-docker-dhcp] managed hosts without a host block in /etc/dhcp/devices/default-school.conf: r100-gone",
            "[linbo-docker-dhcp] dhcpd -t accepts /etc/dhcp/dhcpd.conf with the patched /etc/dhcp/devices/default-school.conf",
            "[linbo-docker-dhcp] Done: 2 patched, 0 already correct, 1 not found in /etc/dhcp/devices/default-school.conf",
        ]
    );
    // The same lines, with timestamps, in the log file.
    let log = sandbox.read("var/log/linuxmuster/linbo-docker-dhcp.log");
    assert_eq!(messages(&log), lines);
    assert!(
        log.lines()
            .all(|line| line.starts_with('[') && line.contains("Z] [linbo-docker-dhcp] ")),
        "{log}"
    );
    assert_eq!(sandbox.list("etc/dhcp/devices"), ["default-school.conf"]);
}

#[test]
fn second_run_reports_nothing_to_patch_and_writes_nothing() {
    let case = case();
    let sandbox = case_dc(&case, "");
    assert_eq!(run_hook(&sandbox, &["-s", "default-school"]).code, 0);
    let before = std::fs::metadata(sandbox.dhcp_devices_path(SCHOOL)).expect("metadata");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        messages(&run.stdout).last().map(String::as_str),
        Some(
            "[linbo-docker-dhcp] Done: 0 patched, 2 already correct, 1 not found in /etc/dhcp/devices/default-school.conf"
        )
    );
    let after = std::fs::metadata(sandbox.dhcp_devices_path(SCHOOL)).expect("metadata");
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec()),
        "the file was rewritten"
    );
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
}

#[test]
fn blocks_of_hosts_not_managed_stay_as_they_are() {
    // The import rewrites the devices file before every hook run and copies column 7 verbatim,
    // so a `next-server` in a block the delta does not name can only be the administrator's own
    // statement (UPSTREAM §A.17), even when it names LINBO_DOCKER_IP: the case's r100-laptop.
    let case = case();
    let sandbox = case_dc(&case, "");
    assert_eq!(run_hook(&sandbox, &["-s", "default-school"]).code, 0);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
    // A host dropped from the delta keeps its block too (only a standalone run sees this: after
    // an import the block is linuxmuster's again).
    sandbox.write_delta(SCHOOL, &delta_line("r100-pc01", 1));
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
    assert_eq!(
        messages(&run.stdout),
        [
            "[linbo-docker-dhcp] Done: 0 patched, 1 already correct, 0 not found in /etc/dhcp/devices/default-school.conf"
        ]
    );
}

#[test]
fn a_prefix_of_the_address_is_not_the_address() {
    // Predecessor: a substring match took `next-server 10.0.0.130` for 10.0.0.13.
    let case = case();
    let sandbox = case_dc(&case, "");
    assert_eq!(run_hook(&sandbox, &["-s", "default-school"]).code, 0);
    let devices = sandbox.dhcp_devices(SCHOOL);
    assert!(!devices.contains("10.0.0.130"), "{devices}");
    let block = devices.split("host r100-pc02").nth(1).expect("pc02 block");
    assert_eq!(
        block
            .split('}')
            .next()
            .expect("block body")
            .matches("next-server")
            .count(),
        1
    );
}

#[test]
fn one_line_host_blocks_patch_the_right_host() {
    let devices = "host r100-pc01 { hardware ethernet 00:1A:2B:3C:4D:01; fixed-address 10.0.100.1; }\nhost r100-pc02 { hardware ethernet 00:1A:2B:3C:4D:02; }\n";
    let sandbox = hook_dc(
        SCHOOL,
        devices,
        &delta_file(&delta_line("r100-pc02", 1)),
        "",
    );
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let patched = sandbox.dhcp_devices(SCHOOL);
    let mut lines = patched.lines();
    assert_eq!(
        lines.next(),
        Some("host r100-pc01 { hardware ethernet 00:1A:2B:3C:4D:01; fixed-address 10.0.100.1; }")
    );
    let pc02 = lines.next().expect("pc02 line");
    assert!(
        pc02.starts_with("host r100-pc02 {") && pc02.contains("next-server 10.0.0.13;"),
        "{patched}"
    );
}

#[test]
fn an_unclosed_last_block_is_an_error_and_nothing_is_written() {
    // Predecessor: awk deleted the unclosed block.
    let devices = format!(
        "{}host r100-pc02 {{\n  hardware ethernet 00:1A:2B:3C:4D:02;\n",
        host_block("r100-pc01", 1, true)
    );
    let sandbox = hook_dc(SCHOOL, &devices, &case().delta, "");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 1);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), devices);
    let message = messages(&run.stdout).join("\n");
    assert!(
        message.starts_with("[linbo-docker-dhcp] failed: cannot parse /etc/dhcp/devices/default-school.conf: line 10, column 1: expected `}` to close the block `host r100-pc02` opened at line 8, column 1"),
        "{message}"
    );
    assert!(message.ends_with("; left unchanged"), "{message}");
}

#[test]
fn dash_s_wins_over_school_in_the_configuration() {
    let case = case();
    let sandbox = case_dc(&case, "SCHOOL=gymnasium\n");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
    // Without -s the configured school is used: its files do not exist, so nothing happens.
    let run = run_hook(&sandbox, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        messages(&run.stdout),
        [
            "[linbo-docker-dhcp] Nothing to do: /etc/dhcp/devices/gymnasium.conf does not exist (school gymnasium)"
        ]
    );
}

#[test]
fn missing_configuration_means_not_configured() {
    let case = case();
    let sandbox = case_dc(&case, "");
    std::fs::remove_file(sandbox.path(HOOK_CONFIG)).expect("remove config");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.devices);
}

#[test]
fn the_configuration_is_parsed_never_executed() {
    let case = case();
    let sandbox = case_dc(&case, "");
    let marker = sandbox.path("executed");
    sandbox.write(
        HOOK_CONFIG,
        &format!(
            "LINBO_DOCKER_IP=10.0.0.13\nLOGFILE=$(touch {})\n",
            marker.display()
        ),
    );
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 78);
    assert!(!marker.exists());
    // The message names the file as the DC names it (not the sandbox path).
    assert_eq!(
        run.stdout,
        format!(
            "[linbo-docker-dhcp] invalid configuration: {HOOK_CONFIG}, line 2, LOGFILE: shell expansion is not supported: the file is parsed, never executed; write the value literally\n",
        )
    );
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.devices);
}

#[test]
fn invalid_address_and_bad_school_are_configuration_errors() {
    let case = case();
    let sandbox = case_dc(&case, "");
    sandbox.write(HOOK_CONFIG, "LINBO_DOCKER_IP=10.0.0.300\n");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 78);
    assert!(run.stdout.ends_with("line 1, LINBO_DOCKER_IP: expected an IPv4 address like 10.0.0.13, found \"10.0.0.300\"\n"), "{}", run.stdout);
    sandbox.write(HOOK_CONFIG, "LINBO_DOCKER_IP=10.0.0.13\n");
    let run = run_hook(&sandbox, &["-s", "../../etc"]);
    assert_eq!(run.code, 78);
    assert!(
        run.stdout
            .contains("-s: expected a school name of letters, digits, '-' and '_'"),
        "{}",
        run.stdout
    );
}

/// Runs the hook in `sandbox` with the environment `env` and expects it to fail: exit 1, the
/// devices file as it was, and exactly the lines `expect` (without timestamps) on stderr, each of
/// them also on stdout. linuxmuster runs hooks with `subprocess.check_output`, which drops the
/// hook's stdout when it exits non-zero (UPSTREAM §A.5): stderr is all the worker gets to see.
#[track_caller]
fn check_failure(sandbox: &SandboxDc, env: &[(&str, &str)], expect: &[&str]) {
    let devices_path = sandbox.dhcp_devices_path(SCHOOL);
    let before = std::fs::read(&devices_path).expect("reading the devices file");
    let run = run_hook_with_env(sandbox, &["-s", "default-school"], env);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(messages(&run.stderr), expect, "stderr:\n{}", run.stderr);
    let stdout: Vec<&str> = run.stdout.lines().collect();
    for line in run.stderr.lines() {
        assert!(
            stdout.contains(&line),
            "{line:?} not on stdout:\n{}",
            run.stdout
        );
    }
    assert_eq!(
        std::fs::read(&devices_path).expect("reading the devices file"),
        before,
        "the devices file changed"
    );
}

#[test]
fn a_devices_file_that_cannot_be_parsed_is_reported_on_stderr() {
    check_failure(
        &hook_dc(SCHOOL, "host r100-pc01 {\n", &case().delta, ""),
        &[],
        &[
            "[linbo-docker-dhcp] failed: cannot parse /etc/dhcp/devices/default-school.conf: line 2, column 1: expected `}` to close the block `host r100-pc01` opened at line 1, column 1; left unchanged",
        ],
    );
}

#[test]
fn a_devices_file_that_is_not_text_is_reported_on_stderr() {
    let sandbox = hook_dc(SCHOOL, "", &case().delta, "");
    std::fs::write(
        sandbox.dhcp_devices_path(SCHOOL),
        b"host r100-pc01 { hardware ethernet 00:1A:2B:3C:4D:01; } # \xff\n",
    )
    .expect("writing the devices file");
    check_failure(
        &sandbox,
        &[],
        &[
            "[linbo-docker-dhcp] failed: /etc/dhcp/devices/default-school.conf is not UTF-8 text; left unchanged",
        ],
    );
}

#[test]
fn a_delta_that_cannot_be_read_is_reported_on_stderr() {
    let sandbox = hook_dc(SCHOOL, &case().devices, &delta_file(""), "");
    let delta = sandbox.delta_path(SCHOOL);
    std::fs::remove_file(&delta).expect("removing the delta");
    std::fs::create_dir(&delta).expect("a directory where the delta should be");
    check_failure(
        &sandbox,
        &[],
        &[
            "[linbo-docker-dhcp] failed: cannot read /etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv: Is a directory (os error 21)",
        ],
    );
}

#[test]
fn dhcpd_rejecting_our_change_restores_the_original_and_says_why_on_stderr() {
    // A devices file without any `next-server 10.0.0.13`, and a dhcpd that rejects exactly that
    // statement: the original passes, the patched file fails.
    let case = case();
    let clean = case.devices.replace("  next-server 10.0.0.13;\n", "");
    let sandbox = hook_dc(
        SCHOOL,
        &clean,
        &case.delta,
        &format!("DHCPD={}\n", fake_dhcpd().display()),
    );
    let devices_path = sandbox.dhcp_devices_path(SCHOOL).display().to_string();
    check_failure(
        &sandbox,
        &[
            ("FAKE_DHCPD_MODE", "reject-pattern"),
            ("FAKE_DHCPD_PATTERN", "next-server 10.0.0.13;"),
            ("FAKE_DHCPD_FILE", &devices_path),
        ],
        &[
            "[linbo-docker-dhcp] failed: dhcpd -t rejects the patched /etc/dhcp/devices/default-school.conf; original restored:",
            &format!(
                "[linbo-docker-dhcp]   dhcpd: {devices_path} line 3: pretend error about next-server 10.0.0.13;."
            ),
            "[linbo-docker-dhcp]   dhcpd: Configuration file errors encountered -- exiting",
        ],
    );
    assert_eq!(
        sandbox.dhcp_devices(SCHOOL),
        clean,
        "original bytes restored"
    );
    assert_eq!(sandbox.list("etc/dhcp/devices"), ["default-school.conf"]);
}

#[test]
fn a_configuration_dhcpd_rejects_already_is_left_unpatched() {
    let case = case();
    let sandbox = case_dc(&case, &format!("DHCPD={}\n", fake_dhcpd().display()));
    let run = run_hook_with_env(
        &sandbox,
        &["-s", "default-school"],
        &[("FAKE_DHCPD_MODE", "always-fail")],
    );
    assert_eq!(
        run.code, 0,
        "not our fault: warn, do not abort the import: {}",
        run.stdout
    );
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.devices);
    assert!(
        run.stdout.contains("warning: dhcpd -t fails even without our change; /etc/dhcp/devices/default-school.conf left unpatched:"),
        "{}",
        run.stdout
    );
    assert_eq!(sandbox.list("etc/dhcp/devices"), ["default-school.conf"]);
}

#[test]
fn dhcpd_missing_or_not_including_the_file_skips_the_check() {
    let case = case();
    let sandbox = case_dc(&case, "DHCPD=/nonexistent/dhcpd\n");
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .contains("dhcpd -t check skipped: /nonexistent/dhcpd is not installed"),
        "{}",
        run.stdout
    );
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);

    let sandbox = case_dc(&case, &format!("DHCPD={}\n", fake_dhcpd().display()));
    sandbox.write("etc/dhcp/devices.conf", "# nothing included\n");
    let run = run_hook_with_env(
        &sandbox,
        &["-s", "default-school"],
        &[("FAKE_DHCPD_MODE", "always-fail")],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("dhcpd -t check skipped: /etc/dhcp/dhcpd.conf does not include /etc/dhcp/devices/default-school.conf"), "{}", run.stdout);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
}

#[test]
fn large_school_authority_is_patched_correctly() {
    // Predecessor: at ~4,500 managed hosts the awk program no longer fit on the command line.
    let mut devices = String::from("# subnet 10.0.0.0/8\n");
    let mut delta = String::new();
    for number in 0..20_000 {
        let name = format!("h{number:05}");
        devices.push_str(&host_block(&name, number, number % 3 != 0));
        if number % 4 == 0 {
            delta.push_str(&delta_line(&name, 1));
        }
    }
    let sandbox = hook_dc(
        SCHOOL,
        &devices,
        &delta_file(&delta),
        &format!("DHCPD={}\n", fake_dhcpd().display()),
    );
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Done: 5000 patched, 0 already correct, 0 not found"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("h00076 and 4980 more"),
        "names are listed up to 20: {}",
        run.stdout
    );
    let patched = sandbox.dhcp_devices(SCHOOL);
    for (index, block) in patched.split("host ").skip(1).enumerate() {
        let expected = usize::from(index % 4 == 0);
        assert_eq!(
            block.matches("next-server 10.0.0.13;").count(),
            expected,
            "host {block}"
        );
    }
}

#[test]
fn real_dhcpd_validates_a_large_patched_file() {
    require_real_dhcpd();
    let mut devices = String::new();
    let mut delta = String::new();
    for number in 0..500 {
        let name = format!("pc{number:04}");
        devices.push_str(&host_block(&name, number, true));
        if number % 2 == 0 {
            delta.push_str(&delta_line(&name, 1));
        }
    }
    let sandbox = hook_dc(
        SCHOOL,
        &devices,
        &delta_file(&delta),
        &format!("DHCPD={REAL_DHCPD}\n"),
    );
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("dhcpd -t accepts /etc/dhcp/dhcpd.conf"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_shipped_example_configuration_is_valid() {
    let example = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/linbo-docker-dhcp.conf"),
    )
    .expect("config/linbo-docker-dhcp.conf");
    let case = case();
    let sandbox = case_dc(&case, "");
    sandbox.write(HOOK_CONFIG, &example);
    let run = run_hook(&sandbox, &["-s", "default-school"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(sandbox.dhcp_devices(SCHOOL), case.patched);
}
