//! `linbo-dc-worker doctor`: all ok on a working setup, and the failing line with its hint for a
//! wrong API_URL, a wrong key, a stopped Redis and a missing hook.

use std::process::Output;

use crate::support::Harness;

/// Runs `doctor` with the harness's root and configuration and `env` overriding the file.
fn doctor(harness: &Harness, env: &[(&str, &str)]) -> (Output, String) {
    let output = harness.run_cli(&["doctor"], env);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// The line of check `name`.
fn line<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line[5..].starts_with(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_setup_is_all_ok() {
    let harness = Harness::new("").await;
    let (output, stdout) = doctor(&harness, &[]);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in [
        "config",
        "redis",
        "api",
        "import",
        "repair script",
        "samba-tool",
        "dns",
        "sophomorix-device",
        "hook",
        "devices.csv",
        "lock file",
        "state dir",
        "outbox",
    ] {
        let line = line(&stdout, name);
        assert!(line.starts_with("ok   "), "{line}\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_part_is_a_failing_line_with_its_hint() {
    let mut harness = Harness::new("").await;
    let api = harness.api.base_url();
    let wrong_url = api.trim_end_matches("/api/v1").to_owned() + "/api";
    let (output, stdout) = doctor(&harness, &[("API_URL", &wrong_url)]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        line(&stdout, "api").starts_with("FAIL api: ")
            && line(&stdout, "api")
                .contains("API_URL must be the API's base including the version"),
        "{stdout}"
    );

    let (output, stdout) = doctor(&harness, &[("API_KEY", "not-the-key")]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        line(&stdout, "api").contains("refused the key")
            && line(&stdout, "api").contains("INTERNAL_API_KEY"),
        "{stdout}"
    );

    // Nothing answers DNS on the port of a server that was dropped.
    let silent = dc_testkit::FakeDns::start(harness.dc.path("/var/lib/fake-dc"));
    let closed = silent.address().to_string();
    drop(silent);
    let (output, stdout) = doctor(&harness, &[("DNS_SERVER", &closed)]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        line(&stdout, "dns").starts_with(&format!("FAIL dns: {closed}"))
            && line(&stdout, "dns").contains("set DNS_SERVER to the DC's address"),
        "{stdout}"
    );

    std::fs::remove_file(harness.dc.path(linbo_dc::doctor::HOOK_PATH)).expect("hook removed");
    let (output, stdout) = doctor(&harness, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        line(&stdout, "hook").starts_with("FAIL hook: ")
            && line(&stdout, "hook").contains("install it: ln -s /usr/sbin/linbo-dc-dhcp-hook"),
        "{stdout}"
    );

    harness.redis.stop();
    let (output, stdout) = doctor(&harness, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        line(&stdout, "redis").starts_with("FAIL redis: ")
            && line(&stdout, "redis").contains("is redis-server running on the Docker host"),
        "{stdout}"
    );
}
