//! The spawn choke point: argv, environment, exit status, timeout kills, output bounds, secrets.

use std::time::{Duration, Instant};

use dc_adapters::Error;
use dc_adapters::process::{CommandSpec, KILL_GRACE, run};

use crate::fixture_command;

#[test]
fn arguments_are_passed_verbatim_without_a_shell() {
    let spec = CommandSpec::new(fixture_command("echo-args"))
        .args(["-s", "school; rm -rf /", "$(id)", "two words"])
        .env("LINBO_TEST_VALUE", "from env");
    let output = run(&spec).expect("echo-args runs");
    assert!(output.success(), "{output:?}");
    assert_eq!(
        output.stdout,
        "-s\nschool; rm -rf /\n$(id)\ntwo words\nenv:from env\n"
    );
    assert_eq!(output.stderr, "to stderr\n");
    assert!(!output.truncated);
}

#[test]
fn exit_status_is_reported_not_an_error() {
    let spec = CommandSpec::new(fixture_command("echo-args")).env("LINBO_TEST_EXIT", "88");
    let output = run(&spec).expect("a failing command is still an output");
    assert_eq!(output.code, Some(88));
    assert!(!output.success());
    assert_eq!(output.status_text(), "exit code 88");
}

#[test]
fn missing_program_is_a_spawn_error() {
    let error = run(&CommandSpec::new("/nonexistent/linuxmuster-import-devices")).unwrap_err();
    assert!(matches!(error, Error::Spawn { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("could not start `/nonexistent/linuxmuster-import-devices`:"),
        "{error}"
    );
}

#[test]
fn timeout_kills_a_child_that_ignores_sigterm() {
    let start = Instant::now();
    let spec = CommandSpec::new(fixture_command("ignore-term")).timeout(Duration::from_millis(300));
    let error = run(&spec).unwrap_err();
    let Error::Timeout {
        output, timeout, ..
    } = &error
    else {
        panic!("expected a timeout, got {error:?}");
    };
    assert_eq!(*timeout, Duration::from_millis(300));
    assert_eq!(output.stdout, "started\n");
    assert_eq!(
        output.signal,
        Some(9),
        "SIGTERM is ignored, SIGKILL ends it"
    );
    // Timeout, grace period, then the kill: bounded, not the script's forever.
    assert!(
        start.elapsed() < Duration::from_millis(300) + KILL_GRACE * 3,
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn huge_output_is_bounded() {
    let spec = CommandSpec::new(fixture_command("flood")).max_output(64 * 1024);
    let output = run(&spec).expect("flood runs");
    assert_eq!(output.code, Some(3));
    assert_eq!(output.stdout.len(), 64 * 1024);
    assert!(output.truncated);
    assert_eq!(output.stderr, "flooded\n");
}

#[test]
fn a_daemon_holding_the_pipes_does_not_hang_the_caller() {
    let start = Instant::now();
    let output = run(&CommandSpec::new(fixture_command("leave-daemon"))).expect("runs");
    assert!(output.success());
    assert_eq!(output.stdout, "parent done\n");
    assert!(start.elapsed() < KILL_GRACE * 3, "{:?}", start.elapsed());
}

#[test]
fn secrets_are_redacted_from_the_command_line_and_output() {
    let spec = CommandSpec::new(fixture_command("echo-args"))
        .arg("--password=Geheim123")
        .secret("Geheim123");
    assert!(!spec.display().contains("Geheim123"), "{}", spec.display());
    assert!(spec.display().ends_with("echo-args --password=***"));
    let output = run(&spec).expect("runs");
    assert_eq!(output.stdout.lines().next(), Some("--password=***"));
}
