//! The command line: check-config, configuration errors, exit codes.

use std::process::Output;

use dc_testkit::SandboxDc;

use crate::support::run_cli_in;

fn run(dc: &SandboxDc, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_cli_in(dc, args, env)
}

#[test]
fn check_config_prints_the_effective_settings_without_secrets() {
    let dc = SandboxDc::new();
    dc.write(
        "/var/lib/linuxmuster/setup.ini",
        "[setup]\ndomainname = school.example\n",
    );
    dc.write_worker_config(
        "REDIS_PASSWORD='hunter2'\nAPI_KEY=very-secret-key\nLINBO_DOMAIN=auto\nREDIS_PORT=6390\n",
    );
    let output = run(
        &dc,
        &["-c", "/etc/macct-worker.conf", "check-config"],
        &[("REDIS_PORT", "6391")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("REDIS_PASSWORD=***\n"), "{stdout}");
    assert!(stdout.contains("API_KEY=***\n"), "{stdout}");
    assert!(
        stdout.contains("REDIS_PORT=6391\n"),
        "the environment wins: {stdout}"
    );
    assert!(
        stdout.contains("LINBO_DOMAIN=school.example (auto, from"),
        "{stdout}"
    );
    assert!(stdout.contains("MACCT_RETRY_BACKOFF_SEC=10\n"), "{stdout}");
    let everything = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(!everything.contains("hunter2") && !everything.contains("very-secret-key"));
}

#[test]
fn a_bad_value_exits_78_naming_file_line_and_key() {
    let dc = SandboxDc::new();
    dc.write_worker_config("# worker\nSCHOOL=default-school\nREDIS_PORT=sixtythree\n");
    let output = run(&dc, &["-c", "/etc/macct-worker.conf"], &[]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/etc/macct-worker.conf"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("REDIS_PORT"), "{stderr}");
}

#[test]
fn a_samba_authentication_file_that_cannot_be_used_exits_78_at_start() {
    let dc = SandboxDc::new();
    dc.write_worker_config("SAMBA_TOOL_AUTH_FILE=/etc/linbo-dc/samba.auth\n");
    let output = run(&dc, &["-c", "/etc/macct-worker.conf"], &[]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 1, SAMBA_TOOL_AUTH_FILE"), "{stderr}");
    assert!(
        stderr.contains("samba.auth: No such file or directory"),
        "{stderr}"
    );

    dc.write("/etc/linbo-dc/samba.auth", "username=administrator\n");
    let output = run(&dc, &["-c", "/etc/macct-worker.conf", "check-config"], &[]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no password= line"), "{stderr}");
}

#[test]
fn a_missing_config_file_given_with_c_exits_78() {
    let dc = SandboxDc::new();
    let output = run(&dc, &["--config", "/etc/nowhere.conf", "check-config"], &[]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/etc/nowhere.conf"), "{stderr}");
}

#[test]
fn a_missing_default_config_means_defaults_with_a_warning() {
    let dc = SandboxDc::new();
    let output = run(&dc, &["check-config"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("API_URL=http://localhost:3000/api/v1\n"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("public default"),
        "the default API key is a loud warning: {stderr}"
    );
}
