//! `host -t A|PTR`: answers from recorded output, and the adapter against the fake `host`.

use std::net::Ipv4Addr;

use dc_adapters::Error;
use dc_adapters::dns::{Answer, RecordType, assess, lookup_a, lookup_ptr};

use crate::sandbox::{GENEROUS, SHORT, Sandbox, two_schools};
use crate::{output, recorded_output};

#[track_caller]
fn check(record_type: RecordType, code: i32, recording: &str, expect: Result<Answer, &str>) {
    let stdout = recorded_output(recording);
    match (
        assess("host", record_type, &output(Some(code), &stdout, "")),
        expect,
    ) {
        (Ok(got), Ok(expect)) => assert_eq!(got, expect),
        (Err(error), Err(message)) => assert_eq!(error.to_string(), message),
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

fn found(data: &[&str]) -> Result<Answer, &'static str> {
    Ok(Answer::Found(
        data.iter().map(|d| (*d).to_owned()).collect(),
    ))
}

#[test]
fn answers_from_recorded_output() {
    use RecordType::{A, Ptr};
    check(A, 0, "host/a-found.stdout", found(&["10.0.100.1"]));
    check(
        A,
        0,
        "host/a-alias.stdout",
        found(&["10.0.0.1", "10.0.0.2"]),
    );
    check(A, 1, "host/a-nxdomain.stdout", Ok(Answer::NotFound));
    check(A, 0, "host/a-no-record.stdout", Ok(Answer::NotFound));
    check(
        Ptr,
        0,
        "host/ptr-found.stdout",
        found(&["r100-pc01.linuxmuster.lan"]),
    );
    check(Ptr, 1, "host/ptr-nxdomain.stdout", Ok(Answer::NotFound));
    check(
        A,
        1,
        "host/servfail.stdout",
        Err("`host` failed (exit code 1): Host r100-pc01.linuxmuster.lan not found: 2(SERVFAIL)"),
    );
    check(
        A,
        1,
        "host/timeout.stdout",
        Err(
            "`host` failed (exit code 1): ;; communications error to 10.0.0.1#53: timed out | ;; no servers could be reached",
        ),
    );
}

#[test]
fn fake_host_answers_from_the_imported_state() {
    let sandbox = two_schools();
    sandbox.import("default-school");
    sandbox.import("school2");
    let host = sandbox.command("host", &[]);
    assert_eq!(
        lookup_a(&host, "r100-pc01.linuxmuster.lan", GENEROUS).expect("lookup"),
        Answer::Found(vec!["10.0.100.1".to_owned()])
    );
    assert_eq!(
        lookup_a(&host, "school2-sw01.linuxmuster.lan", GENEROUS).expect("lookup"),
        Answer::Found(vec!["10.1.0.2".to_owned()])
    );
    assert_eq!(
        lookup_a(&host, "r200-pc01.linuxmuster.lan", GENEROUS).expect("lookup"),
        Answer::NotFound
    );
    assert_eq!(
        lookup_ptr(&host, Ipv4Addr::new(10, 1, 0, 1), GENEROUS).expect("lookup"),
        Answer::Found(vec!["school2-pc01.linuxmuster.lan".to_owned()])
    );
    assert_eq!(
        lookup_ptr(&host, Ipv4Addr::new(10, 9, 9, 9), GENEROUS).expect("lookup"),
        Answer::NotFound
    );
    assert!(sandbox.calls().contains("host -t PTR 10.1.0.1\n"));
}

#[test]
fn fake_host_failures() {
    let sandbox = Sandbox::new();
    let servfail = sandbox.command("host", &[("FAKE_HOST_SERVFAIL", "1")]);
    let error = lookup_a(&servfail, "pc01.linuxmuster.lan", GENEROUS).unwrap_err();
    assert!(matches!(error, Error::CommandFailed { .. }), "{error:?}");
    let slow = sandbox.command("host", &[("FAKE_HOST_SLEEP", "30")]);
    let error = lookup_a(&slow, "pc01.linuxmuster.lan", SHORT).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    let error = lookup_a(&slow, "-v", SHORT).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
}
