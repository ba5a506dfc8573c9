//! `host -t A|PTR` (`dc_adapters::dns::host`): verdicts on output recorded from a real Samba DC,
//! and the adapter asking a live Samba DC's DNS server (and the fake `host` for what a live server
//! cannot be made to do).

use std::net::Ipv4Addr;

use dc_adapters::Error;
use dc_adapters::dns::Answer;
use dc_adapters::dns::host::{RecordType, assess, lookup_a, lookup_ptr};
use dc_testkit::{SambaDc, SandboxDc};

use crate::{GENEROUS, SHORT, recorded_run};

/// `case` of `fixtures/cmd-output/host/` (recorded with bind9-host 9.18 against samba 4.17's
/// DNS server) exited with `code`; `expect` is the answer, or a part of the error message.
#[track_caller]
fn check(record_type: RecordType, case: &str, code: i32, expect: Result<&[&str], &str>) {
    let run = recorded_run(&format!("host/{case}"), code);
    match (assess("host", record_type, &run), expect) {
        (Ok(Answer::Found(got)), Ok(expect)) if !expect.is_empty() => assert_eq!(got, expect),
        (Ok(Answer::NotFound), Ok([])) => {}
        (Err(error), Err(part)) => {
            let message = error.to_string();
            assert!(message.contains(part), "{case}: {message:?} lacks {part:?}");
        }
        (got, expect) => panic!("{case}: got {got:?}, expected {expect:?}"),
    }
}

const ABSENT: Result<&[&str], &str> = Ok(&[]);

#[test]
fn answers_from_recorded_output() {
    use RecordType::{A, Ptr};
    check(A, "t_A_existing", 0, Ok(&["10.0.0.5"]));
    check(A, "t_A_existing_uppercase_query", 0, Ok(&["10.0.0.5"]));
    check(A, "t_A_existing_server_arg", 0, Ok(&["10.0.0.5"]));
    check(A, "A_existing_server_arg", 0, Ok(&["10.0.0.5"]));
    check(A, "t_A_prefixed_gym-pc01", 0, Ok(&["10.0.0.6"]));
    check(A, "t_A_two_addresses", 0, Ok(&["10.0.0.7", "10.0.0.8"]));
    // An alias: the address of its target.
    check(A, "t_A_cname_alias", 0, Ok(&["10.0.0.5"]));
    check(A, "t_A_nxdomain", 1, ABSENT);
    check(A, "A_missing_server_arg", 1, ABSENT);
    check(A, "t_A_after_computer_delete", 1, ABSENT);
    check(A, "t_A_gym-pc01_after_computer_delete", 1, ABSENT);
    check(A, "t_A_in_zone_missing_forwarder_unreachable", 1, ABSENT);
    check(A, "t_A_outside_zones_no_forwarder", 1, ABSENT);
    // The name exists with other records only: exit 0, `has no A record` = absent.
    check(A, "t_A_name_with_only_TXT", 0, ABSENT);
    check(A, "t_A_name_with_only_AAAA", 0, ABSENT);
    check(
        A,
        "t_A_outside_zones_forwarder_unreachable",
        1,
        Err("`host` failed (exit code 1): Host example.org not found: 2(SERVFAIL)"),
    );
    check(
        A,
        "t_A_no_server_listening",
        1,
        Err("connection refused | ;; no servers could be reached"),
    );
    check(
        A,
        "t_A_server_never_answers",
        1,
        Err(";; communications error to 127.0.0.3#53: timed out"),
    );
    check(Ptr, "t_PTR_existing", 0, Ok(&["r100-pc01.linuxmuster.lan"]));
    check(
        Ptr,
        "PTR_existing_server_arg",
        0,
        Ok(&["r100-pc01.linuxmuster.lan"]),
    );
    check(
        Ptr,
        "t_PTR_after_computer_delete",
        0,
        Ok(&["r100-pc01.linuxmuster.lan"]),
    );
    check(Ptr, "t_PTR_missing_in_zone", 1, ABSENT);
    check(Ptr, "PTR_missing_server_arg", 1, ABSENT);
    check(Ptr, "t_PTR_no_reverse_zone_no_forwarder", 1, ABSENT);
    check(
        Ptr,
        "t_PTR_no_reverse_zone_forwarder_unreachable",
        1,
        Err("Host 9.9.9.10.in-addr.arpa not found: 2(SERVFAIL)"),
    );
}

/// The sandbox's `host`, wired to the DC at `address`: the real `host` asking that server.
fn host_asking(sandbox: &SandboxDc, address: &str) -> std::path::PathBuf {
    sandbox.launcher("host", &[("FAKE_DC_SAMBA_ADDRESS", address)])
}

#[test]
fn lookups_against_a_live_samba_dns_server() {
    let dc = SambaDc::shared();
    dc.add_a("dns-pc01", "10.0.100.211");
    dc.add_ptr("10.0.100.211", "dns-pc01.linuxmuster.lan");
    dc.add_a("dns-pc02", "10.0.100.212");
    dc.add_a("dns-pc02", "10.0.100.213");
    dc.samba_tool_ok(&[
        "dns",
        "add",
        &dc.address().to_string(),
        "linuxmuster.lan",
        "dns-txt01",
        "TXT",
        "only text",
    ]);
    let sandbox = SandboxDc::new();
    let host = host_asking(&sandbox, &dc.address().to_string());
    let a = |name: &str| lookup_a(&host, name, GENEROUS).expect("lookup");
    let found = |data: &[&str]| Answer::Found(data.iter().map(|d| (*d).to_owned()).collect());
    assert_eq!(a("dns-pc01.linuxmuster.lan"), found(&["10.0.100.211"]));
    assert_eq!(a("DNS-PC01.LINUXMUSTER.LAN"), found(&["10.0.100.211"]));
    let mut two = match a("dns-pc02.linuxmuster.lan") {
        Answer::Found(addresses) => addresses,
        other => panic!("{other:?}"),
    };
    two.sort();
    assert_eq!(two, ["10.0.100.212", "10.0.100.213"]);
    assert_eq!(a("dns-nothing.linuxmuster.lan"), Answer::NotFound);
    assert_eq!(a("dns-txt01.linuxmuster.lan"), Answer::NotFound);
    let ptr = |ip: [u8; 4]| lookup_ptr(&host, Ipv4Addr::from(ip), GENEROUS).expect("lookup");
    assert_eq!(ptr([10, 0, 100, 211]), found(&["dns-pc01.linuxmuster.lan"]));
    // In a reverse zone without the record, and in no reverse zone at all.
    assert_eq!(ptr([10, 0, 100, 219]), Answer::NotFound);
    assert_eq!(ptr([10, 9, 9, 9]), Answer::NotFound);
    assert!(
        sandbox.call_log().contains("host -t PTR 10.9.9.9\n"),
        "{}",
        sandbox.call_log()
    );
}

#[test]
fn a_dns_server_that_does_not_answer_is_an_error_not_an_absent_record() {
    let sandbox = SandboxDc::new();
    // Nothing listens on 127.0.0.2:53: the port is closed.
    let host = host_asking(&sandbox, "127.0.0.2");
    let error = lookup_a(&host, "pc01.linuxmuster.lan", GENEROUS).unwrap_err();
    assert!(
        matches!(&error, Error::CommandFailed { lines, .. }
            if lines.iter().any(|line| line.contains("no servers could be reached"))),
        "{error:?}"
    );
}

#[test]
fn fake_host_failures() {
    let sandbox = SandboxDc::new();
    let servfail = sandbox.launcher("host", &[("FAKE_HOST_SERVFAIL", "1")]);
    let error = lookup_a(&servfail, "pc01.linuxmuster.lan", GENEROUS).unwrap_err();
    assert!(matches!(error, Error::CommandFailed { .. }), "{error:?}");
    let slow = sandbox.launcher("host", &[("FAKE_HOST_SLEEP", "30")]);
    let error = lookup_a(&slow, "pc01.linuxmuster.lan", SHORT).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    let error = lookup_a(&slow, "-v", SHORT).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
}
