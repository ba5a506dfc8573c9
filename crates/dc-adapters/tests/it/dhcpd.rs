//! `dhcpd -t`: the message parser on recorded output, and the real dhcpd on real files.

use std::path::Path;
use std::time::Duration;

use dc_adapters::dhcpd::{DEFAULT_BINARY, check, messages};

use crate::recorded_output;

#[track_caller]
fn check_messages(recording: &str, expect: &[&str]) {
    assert_eq!(messages(&recorded_output(recording)), expect);
}

#[test]
fn messages_of_recorded_runs() {
    check_messages("dhcpd/valid.stderr", &[]);
    check_messages(
        "dhcpd/syntax-error.stderr",
        &[
            "/tmp/bad.conf line 4: semicolon expected.",
            "}",
            " ^",
            "/tmp/bad.conf line 4: expecting a parameter or declaration",
            "}",
            " ^",
            "/tmp/bad.conf line 4: unexpected end of file",
            "}",
            " ^",
            "Configuration file errors encountered -- exiting",
        ],
    );
    check_messages(
        "dhcpd/missing-file.stderr",
        &["Can't open /tmp/none.conf: No such file or directory"],
    );
}

/// The real ISC dhcpd; the test fails (never skips) when it is not installed.
fn dhcpd() -> &'static Path {
    let binary = Path::new(DEFAULT_BINARY);
    assert!(
        binary.exists(),
        "{DEFAULT_BINARY} not found: install isc-dhcp-server (apt-get install isc-dhcp-server)"
    );
    binary
}

#[test]
fn real_dhcpd_accepts_and_rejects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.conf");
    std::fs::write(
        &good,
        "host pc01 {\n  hardware ethernet 00:11:22:33:44:55;\n  next-server 10.0.0.13;\n}\n",
    )
    .expect("write");
    let verdict = check(dhcpd(), &good, Duration::from_secs(30)).expect("dhcpd runs");
    assert!(verdict.valid, "{verdict:?}");
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "host pc01 {\n  next-server 10.0.0.13\n}\n").expect("write");
    let verdict = check(dhcpd(), &bad, Duration::from_secs(30)).expect("dhcpd runs");
    assert!(!verdict.valid);
    assert_eq!(
        verdict.messages.first().map(String::as_str),
        Some(format!("{} line 3: semicolon expected.", bad.display()).as_str())
    );
}
