//! `samba-tool`: names, credentials, verdicts on recorded output, and the adapter against the
//! fake — including that the password reaches neither argv, nor logs, nor errors.

use std::net::Ipv4Addr;

use dc_adapters::Error;
use dc_adapters::samba_tool::{
    Auth, Credentials, Deletion, DnsRecord, Presence, SambaTool, delete_verdict,
    parse_computer_list, reverse_record, school_host_name, show_verdict,
};

use crate::sandbox::{GENEROUS, SHORT, Sandbox, two_schools};
use crate::{output, recorded_output};

const PASSWORD: &str = "S3cret%pass word";

#[track_caller]
fn check_name(school: &str, host: &str, expect: &str) {
    assert_eq!(school_host_name(school, host), expect);
}

#[test]
fn ad_and_dns_names_carry_the_school_prefix_outside_the_default_school() {
    check_name("default-school", "r100-pc01", "r100-pc01");
    check_name("default-school", "R100-PC01", "r100-pc01");
    check_name("school2", "pc01", "school2-pc01");
    check_name("School2", "PC01", "school2-pc01");
}

#[track_caller]
fn check_reverse(address: [u8; 4], zone_octets: u8, expect: (&str, &str)) {
    let (zone, name) = reverse_record(Ipv4Addr::from(address), zone_octets);
    assert_eq!((zone.as_str(), name.as_str()), expect);
}

#[test]
fn reverse_zone_and_name_follow_rev_dns_octets() {
    check_reverse([10, 0, 100, 1], 3, ("100.0.10.in-addr.arpa", "1"));
    check_reverse([10, 0, 100, 1], 2, ("0.10.in-addr.arpa", "1.100"));
    check_reverse([10, 0, 100, 1], 1, ("10.in-addr.arpa", "1.100.0"));
    check_reverse([10, 0, 100, 1], 0, ("10.in-addr.arpa", "1.100.0"));
    check_reverse([192, 168, 1, 254], 9, ("1.168.192.in-addr.arpa", "254"));
}

#[track_caller]
fn check_credentials(value: &str, expect: Result<(&str, &str), &str>) {
    match (Credentials::parse(value), expect) {
        (Ok(credentials), Ok((username, debug))) => {
            assert_eq!(credentials.username(), username);
            assert_eq!(format!("{credentials:?}"), debug);
        }
        (Err(error), Err(message)) => {
            assert_eq!(error.to_string(), message);
            assert!(!error.to_string().contains("secret"));
        }
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn credentials_parse_and_never_show_the_password() {
    check_credentials(
        "administrator%secret",
        Ok((
            "administrator",
            r#"Credentials { username: "administrator", password: "***", domain: None }"#,
        )),
    );
    check_credentials(
        "LINUXMUSTER\\global-admin%se%cret",
        Ok((
            "global-admin",
            r#"Credentials { username: "global-admin", password: "***", domain: Some("LINUXMUSTER") }"#,
        )),
    );
    check_credentials(
        "administrator",
        Err("unusable samba credentials: expected user%password"),
    );
    check_credentials(
        "%secret",
        Err("unusable samba credentials: user and password must not be empty"),
    );
    check_credentials(
        "admin%secret\nusername=root",
        Err(
            "unusable samba credentials: a line break or NUL cannot go into an authentication file",
        ),
    );
}

#[test]
fn computer_list_from_recorded_output() {
    assert_eq!(
        parse_computer_list(&recorded_output("samba-tool/computer-list.stdout")),
        [
            "SERVER",
            "R100-PC01",
            "R100-PC02",
            "r100-lehrer",
            "SCHOOL2-PC01"
        ]
    );
}

#[track_caller]
fn check_show(code: i32, recording: &str, expect: Result<Presence, &str>) {
    let text = recorded_output(recording);
    let (stdout, stderr) = if recording.ends_with(".stderr") {
        ("", text.as_str())
    } else {
        (text.as_str(), "")
    };
    match (
        show_verdict(
            "samba-tool computer show x",
            &output(Some(code), stdout, stderr),
        ),
        expect,
    ) {
        (Ok(got), Ok(expect)) => assert_eq!(got, expect),
        (Err(error), Err(message)) => assert_eq!(error.to_string(), message),
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

#[track_caller]
fn check_delete(code: i32, recording: &str, expect: Result<Deletion, &str>) {
    let text = recorded_output(recording);
    let (stdout, stderr) = if recording.ends_with(".stderr") {
        ("", text.as_str())
    } else {
        (text.as_str(), "")
    };
    match (
        delete_verdict("samba-tool delete", &output(Some(code), stdout, stderr)),
        expect,
    ) {
        (Ok(got), Ok(expect)) => assert_eq!(got, expect),
        (Err(error), Err(message)) => assert_eq!(error.to_string(), message),
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn verdicts_from_recorded_output() {
    check_show(
        0,
        "samba-tool/computer-show-present.stdout",
        Ok(Presence::Present),
    );
    check_show(
        255,
        "samba-tool/computer-show-absent.stderr",
        Ok(Presence::Absent),
    );
    check_show(
        255,
        "samba-tool/ldap-error.stderr",
        Err(
            "`samba-tool computer show x` failed (exit code 255): ERROR(ldb): Connecting to DB \
             failed - LDAP error 49 LDAP_INVALID_CREDENTIALS -  <8009030C: LdapErr: DSID-0C0904DC, \
             comment: AcceptSecurityContext error, data 52e, v1db1> <>",
        ),
    );
    check_delete(
        0,
        "samba-tool/computer-delete-deleted.stdout",
        Ok(Deletion::Deleted),
    );
    check_delete(
        255,
        "samba-tool/computer-delete-absent.stderr",
        Ok(Deletion::AlreadyAbsent),
    );
    check_delete(
        0,
        "samba-tool/dns-delete-deleted.stdout",
        Ok(Deletion::Deleted),
    );
    check_delete(
        255,
        "samba-tool/dns-delete-absent.stderr",
        Ok(Deletion::AlreadyAbsent),
    );
}

fn samba_tool(sandbox: &Sandbox, auth: Auth, knobs: &[(&str, &str)]) -> SambaTool {
    SambaTool::new(sandbox.command("samba-tool", knobs), auth, GENEROUS)
        .temp_dir(sandbox.root().join("tmp"))
}

fn credentials() -> Auth {
    Auth::Credentials(Credentials::parse(&format!("global-admin%{PASSWORD}")).expect("valid"))
}

fn imported() -> Sandbox {
    let sandbox = two_schools();
    sandbox.import("default-school");
    sandbox.import("school2");
    std::fs::create_dir_all(sandbox.root().join("tmp")).expect("tmp dir");
    sandbox
}

#[test]
fn fake_show_and_list_read_without_credentials() {
    let sandbox = imported();
    let tool = samba_tool(&sandbox, Auth::None, &[]);
    assert_eq!(
        tool.computer_show("r100-pc01").expect("show"),
        Presence::Present
    );
    assert_eq!(
        tool.computer_show(&school_host_name("school2", "pc01"))
            .expect("show"),
        Presence::Present
    );
    assert_eq!(
        tool.computer_show("school2-sw01").expect("show"),
        Presence::Absent
    );
    assert_eq!(
        tool.computer_list().expect("list"),
        [
            "R100-LEHRER",
            "R100-PC01",
            "R100-PR01",
            "R200-PC01",
            "SCHOOL2-PC01"
        ]
    );
}

#[test]
fn deletes_need_credentials_and_run_nothing_without() {
    let sandbox = imported();
    let before = sandbox.calls();
    let tool = samba_tool(&sandbox, Auth::None, &[]);
    let error = tool.computer_delete("r100-pc01").unwrap_err();
    assert!(
        matches!(
            error,
            Error::MissingCredentials {
                operation: "computer delete"
            }
        ),
        "{error:?}"
    );
    let record = DnsRecord::A(Ipv4Addr::new(10, 0, 100, 1));
    let error = tool
        .dns_delete("localhost", "linuxmuster.lan", "r100-pc01", &record)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::MissingCredentials {
                operation: "dns delete"
            }
        ),
        "{error:?}"
    );
    assert_eq!(sandbox.calls(), before);
    assert!(sandbox.exists("var/lib/fake-dc/ad/r100-pc01"));
}

#[test]
fn fake_deletes_with_an_authentication_file() {
    let sandbox = imported();
    sandbox.write(
        "etc/samba-auth",
        "username=global-admin\npassword=from-file\n",
    );
    let tool = samba_tool(
        &sandbox,
        Auth::File(sandbox.root().join("etc/samba-auth")),
        &[],
    );
    assert_eq!(
        tool.computer_delete("school2-pc01").expect("delete"),
        Deletion::Deleted
    );
    assert_eq!(
        tool.computer_delete("school2-pc01").expect("delete"),
        Deletion::AlreadyAbsent
    );
    let a = DnsRecord::A(Ipv4Addr::new(10, 1, 0, 1));
    assert_eq!(
        tool.dns_delete("localhost", "linuxmuster.lan", "school2-pc01", &a)
            .expect("dns delete"),
        Deletion::Deleted
    );
    assert_eq!(
        tool.dns_delete("localhost", "linuxmuster.lan", "school2-pc01", &a)
            .expect("dns delete"),
        Deletion::AlreadyAbsent
    );
    let ptr = DnsRecord::Ptr("school2-pc01.linuxmuster.lan".to_owned());
    assert_eq!(
        tool.dns_delete("localhost", "0.1.10.in-addr.arpa", "1", &ptr)
            .expect("dns delete"),
        Deletion::Deleted
    );
    assert!(!sandbox.exists("var/lib/fake-dc/ad/school2-pc01"));
    assert!(!sandbox.exists("var/lib/fake-dc/dns/school2-pc01"));
    assert!(!sandbox.exists("var/lib/fake-dc/ptr/10.1.0.1"));
    assert!(sandbox.exists("var/lib/fake-dc/dns/school2-sw01"));
    let auth = sandbox.root().join("etc/samba-auth");
    assert!(sandbox.calls().contains(&format!(
        "samba-tool computer delete school2-pc01 -A {}\nauth-file mode=",
        auth.display()
    )));
}

#[test]
fn password_never_reaches_argv_or_errors_and_the_temp_file_is_removed() {
    let sandbox = imported();
    let tool = samba_tool(&sandbox, credentials(), &[]);
    assert_eq!(
        tool.computer_delete("r100-pc01").expect("delete"),
        Deletion::Deleted
    );
    let record = DnsRecord::A(Ipv4Addr::new(10, 0, 100, 1));
    assert_eq!(
        tool.dns_delete("localhost", "linuxmuster.lan", "r100-pc01", &record)
            .expect("dns delete"),
        Deletion::Deleted
    );
    let calls = sandbox.calls();
    assert!(
        !calls.contains(PASSWORD) && !calls.contains("S3cret"),
        "{calls}"
    );
    assert_eq!(
        calls
            .matches("auth-file mode=600 user=global-admin\n")
            .count(),
        2,
        "{calls}"
    );
    assert!(
        calls.contains("samba-tool computer delete r100-pc01 -A "),
        "{calls}"
    );
    assert!(sandbox.list("tmp").is_empty(), "{:?}", sandbox.list("tmp"));

    // A tool that prints the authentication file: the error (and so the log) shows `***`.
    let leaky = samba_tool(
        &sandbox,
        credentials(),
        &[("FAKE_SAMBA_FAIL", "1"), ("FAKE_SAMBA_LEAK", "1")],
    );
    let error = leaky.computer_delete("r100-pc02").unwrap_err();
    let Error::CommandFailed { command, lines, .. } = &error else {
        panic!("expected CommandFailed, got {error:?}");
    };
    assert!(
        command.starts_with("/") && command.contains(" computer delete r100-pc02 -A "),
        "{command}"
    );
    assert!(
        lines.contains(&"ERROR: read password=***".to_owned()),
        "{lines:?}"
    );
    assert!(
        !format!("{error} {error:?}").contains("S3cret"),
        "{error:?}"
    );
    assert!(sandbox.list("tmp").is_empty());

    // The same holds when the call times out.
    let slow = SambaTool::new(
        sandbox.command("samba-tool", &[("FAKE_SAMBA_SLEEP", "30")]),
        credentials(),
        SHORT,
    )
    .temp_dir(sandbox.root().join("tmp"));
    let error = slow.computer_delete("r100-pc02").unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(
        !format!("{error} {error:?}").contains("S3cret"),
        "{error:?}"
    );
    assert!(sandbox.list("tmp").is_empty());
}

#[test]
fn option_like_names_are_refused() {
    let sandbox = imported();
    let before = sandbox.calls();
    let tool = samba_tool(&sandbox, credentials(), &[]);
    assert!(matches!(
        tool.computer_show("-H").unwrap_err(),
        Error::InvalidArgument {
            what: "computer name",
            ..
        }
    ));
    assert!(matches!(
        tool.computer_delete("--help").unwrap_err(),
        Error::InvalidArgument {
            what: "computer name",
            ..
        }
    ));
    let ptr = DnsRecord::Ptr("-x".to_owned());
    assert!(matches!(
        tool.dns_delete("localhost", "0.1.10.in-addr.arpa", "1", &ptr)
            .unwrap_err(),
        Error::InvalidArgument {
            what: "DNS record data",
            ..
        }
    ));
    assert_eq!(sandbox.calls(), before);
}
