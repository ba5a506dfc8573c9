//! `samba-tool`: names, credentials, verdicts on output recorded from real samba-tool 4.17 and
//! 4.22, and the adapter against a live Samba AD DC (and against the fake for failures a live DC
//! cannot be made to show) — including that the password reaches neither argv, nor logs, nor
//! errors.

use std::net::Ipv4Addr;

use dc_adapters::Error;
use dc_adapters::samba_tool::{
    Auth, Credentials, Deletion, DnsRecord, Presence, SambaTool, delete_verdict, list_verdict,
    reverse_record, school_host_name, show_verdict,
};
use dc_testkit::{SambaDc, SandboxDc};

use crate::{GENEROUS, SHORT, recorded_run, run_import, two_schools};

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

/// What a recorded samba-tool run (`fixtures/cmd-output/samba-tool/<version>/<case>`, bytes
/// from `../shared/recorded/samba/`) should come to.
#[derive(Debug)]
enum Expect {
    Present,
    Absent,
    Deleted,
    AlreadyAbsent,
    /// [`Error::DnsZoneMissing`] naming this zone.
    ZoneMissing(&'static str),
    /// [`Error::CommandFailed`] whose message contains this.
    Failed(&'static str),
}

#[track_caller]
fn check_show(case: &str, code: i32, expect: Expect) {
    let run = recorded_run(&format!("samba-tool/{case}"), code);
    match (show_verdict("samba-tool computer show x", &run), &expect) {
        (Ok(Presence::Present), Expect::Present) | (Ok(Presence::Absent), Expect::Absent) => {}
        (Err(error @ Error::CommandFailed { .. }), Expect::Failed(part)) => {
            assert!(
                error.to_string().contains(part),
                "{case}: {error} lacks {part:?}"
            );
        }
        (got, expect) => panic!("{case}: got {got:?}, expected {expect:?}"),
    }
}

#[track_caller]
fn check_delete(case: &str, code: i32, expect: Expect) {
    let run = recorded_run(&format!("samba-tool/{case}"), code);
    match (delete_verdict("samba-tool x delete", &run), &expect) {
        (Ok(Deletion::Deleted), Expect::Deleted)
        | (Ok(Deletion::AlreadyAbsent), Expect::AlreadyAbsent) => {}
        (Err(Error::DnsZoneMissing { zone, .. }), Expect::ZoneMissing(expect)) => {
            assert_eq!(zone, *expect, "{case}");
        }
        (Err(error @ Error::CommandFailed { .. }), Expect::Failed(part)) => {
            assert!(
                error.to_string().contains(part),
                "{case}: {error} lacks {part:?}"
            );
        }
        (got, expect) => panic!("{case}: got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn show_verdicts_from_recorded_output() {
    use Expect::{Absent, Failed, Present};
    for case in [
        "computer_show_adapter_argv_no_auth",
        "computer_show_existing_lowercase",
        "computer_show_existing_exact_case",
        "computer_show_existing_with_dollar",
        "computer_show_existing_H_tdb",
        "computer_show_created_by_samba-tool",
        "computer_show_dc_account",
        "computer_show_prefixed_gym-pc01",
        "computer_show_ldap_ok",
    ] {
        check_show(&format!("4.17/{case}"), 0, Present);
    }
    check_show(
        "4.22/computer_show_existing_adapter_argv_with_-A",
        0,
        Present,
    );
    check_show("4.17/computer_show_missing", 255, Absent);
    check_show("4.17/computer_show_missing_with_dollar", 255, Absent);
    check_show("4.17/computer_show_missing_H_tdb", 255, Absent);
    check_show(
        "4.22/computer_show_missing_adapter_argv_no_auth",
        255,
        Absent,
    );
    check_show(
        "4.22/computer_show_missing_adapter_argv_with_-A",
        255,
        Absent,
    );
    // What made every verification fail on Debian 12: samba-tool 4.17 has no -A.
    check_show(
        "4.17/computer_show_adapter_argv_with_-A",
        2,
        Failed(
            "failed (exit code 2): Usage: samba-tool computer show <computername> [options] | samba-tool computer show: error: no such option: -A",
        ),
    );
    check_show(
        "4.17/computer_show_with_--authentication-file",
        2,
        Failed("no such option: --authentication-file"),
    );
    check_show(
        "4.17/computer_show_ldap_wrong_password",
        255,
        Failed("ERROR(ldb): uncaught exception - LDAP error 49 LDAP_INVALID_CREDENTIALS"),
    );
    check_show(
        "4.17/computer_show_default_smb_conf_not_a_dc",
        255,
        Failed("Unable to open tdb '/var/lib/samba/private/sam.ldb': No such file or directory"),
    );
}

#[test]
fn list_verdicts_from_recorded_output() {
    let list = |case: &str, code| {
        list_verdict(
            "samba-tool computer list",
            &recorded_run(&format!("samba-tool/{case}"), code),
        )
    };
    let all = [
        "SERVER",
        "gym-pc02",
        "R100-LEHRER",
        "GYM-PC01",
        "R100-PC01",
        "r100-pc02",
    ];
    assert_eq!(list("4.17/computer_list", 0).expect("list"), all);
    assert_eq!(
        list("4.17/computer_list_adapter_argv_no_auth", 0).expect("list"),
        all
    );
    assert_eq!(
        list("4.17/computer_list_after_deletes", 0).expect("list"),
        ["SERVER", "gym-pc02", "R100-LEHRER"]
    );
    assert_eq!(
        list("4.22/computer_list_adapter_argv_no_auth", 0).expect("list"),
        [
            "SERVER",
            "R100-LEHRER",
            "GYM-PC01",
            "R100-PC01",
            "r100-pc02"
        ]
    );
    let error = list("4.17/computer_list_adapter_argv_with_-A", 2).unwrap_err();
    assert!(error.to_string().contains("no such option: -A"), "{error}");
    let error = list("4.17/computer_list_as_non_root", 255).unwrap_err();
    assert!(error.to_string().contains("Permission denied"), "{error}");
}

#[test]
fn delete_verdicts_from_recorded_output() {
    use Expect::{AlreadyAbsent, Deleted, Failed, ZoneMissing};
    for case in [
        "4.17/computer_delete_existing",
        "4.17/computer_delete_existing_lowercase_with_dns_records",
        "4.17/computer_delete_prefixed_gym-pc01_with_dns_A",
        "4.17/dns_delete_A_existing",
        "4.17/dns_delete_A_fqdn_name_existing",
        "4.17/dns_delete_PTR_existing",
        "4.17/dns_delete_PTR_existing_data_with_trailing_dot",
        "4.22/computer_delete_existing_adapter_argv_with_-A",
        "4.22/dns_delete_A_existing_adapter_argv_with_-A",
        "4.22/dns_delete_PTR_existing_adapter_argv_with_-A",
    ] {
        check_delete(case, 0, Deleted);
    }
    for case in [
        "4.17/computer_delete_missing",
        "4.17/computer_delete_missing_with_dollar",
        "4.17/dns_delete_A_missing_name",
        "4.17/dns_delete_A_missing_record_name_still_exists",
        "4.17/dns_delete_A_wrong_address",
        "4.17/dns_delete_A_after_computer_delete",
        "4.17/dns_delete_A_fqdn_name_missing",
        "4.17/dns_delete_PTR_missing",
        "4.22/computer_delete_missing_adapter_argv_with_-A",
        "4.22/dns_delete_A_missing_adapter_argv_with_-A",
        "4.22/dns_delete_PTR_missing_adapter_argv_with_-A",
        "4.22/dns_delete_A_adapter_argv_-A_spaced_file_with_domain",
    ] {
        check_delete(case, 255, AlreadyAbsent);
    }
    // A zone that does not exist is a configuration error, never "already absent".
    check_delete(
        "4.17/dns_delete_A_missing_zone",
        255,
        ZoneMissing("nosuchzone.lan"),
    );
    check_delete(
        "4.17/dns_delete_PTR_missing_zone",
        255,
        ZoneMissing("0.1.10.in-addr.arpa"),
    );
    check_delete(
        "4.22/dns_delete_PTR_missing_zone_adapter_argv_with_-A",
        255,
        ZoneMissing("0.1.10.in-addr.arpa"),
    );
    check_delete(
        "4.17/computer_delete_dc_account_refused",
        255,
        Failed(
            "ERROR: Failed to remove computer \"server\": Computer is not a workstation - removal denied",
        ),
    );
    check_delete(
        "4.22/computer_delete_dc_account_refused",
        255,
        Failed("Computer is not a workstation"),
    );
    for case in [
        "4.17/dns_delete_A_no_credentials",
        "4.17/dns_delete_A_wrong_password",
        "4.22/dns_delete_A_adapter_argv_-A_wrong_password",
        "4.22/dns_delete_A_adapter_argv_-A_nonexistent_file",
    ] {
        check_delete(case, 255, Failed("The attempted logon is invalid"));
    }
    check_delete(
        "4.17/computer_delete_adapter_argv_with_-A",
        2,
        Failed("no such option: -A"),
    );
    check_delete(
        "4.17/dns_delete_adapter_argv_with_-A",
        2,
        Failed("no such option: -A"),
    );
}

#[test]
fn authentication_files_are_read_like_samba_reads_them() {
    let parse = |text: &str| Credentials::parse_auth_file(text);
    let credentials = parse("username=administrator\npassword=Se cret=1\n").expect("valid");
    assert_eq!(credentials.user_argument(), "administrator");
    // Blanks around `=` (and in the key) and the key's case do not matter; a domain line counts.
    let credentials =
        parse("# LINBO\n Username = global-admin\nPASSWORD =\tpw\r\ndomain = LINUXMUSTER\n")
            .expect("valid");
    assert_eq!(credentials.user_argument(), "LINUXMUSTER\\global-admin");
    assert_eq!(
        format!("{credentials:?}").matches("pw").count(),
        0,
        "{credentials:?}"
    );
    let credentials = parse("username=LINUXMUSTER\\admin\npassword=x\n").expect("valid");
    assert_eq!(credentials.domain(), Some("LINUXMUSTER"));
    assert_eq!(credentials.username(), "admin");
    for (text, reason) in [
        ("password=x\n", "no username= line"),
        ("username=a\n", "no password= line"),
        ("username=a\npassword=\n", "no password= line"),
        ("", "no username= line"),
    ] {
        let error = parse(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("unusable samba credentials: {reason}")
        );
    }
}

fn samba_tool(sandbox: &SandboxDc, auth: Auth, knobs: &[(&str, &str)]) -> SambaTool {
    SambaTool::new(sandbox.launcher("samba-tool", knobs), auth, GENEROUS)
        .temp_dir(sandbox.root().join("tmp"))
}

fn credentials() -> Auth {
    Auth::Credentials(Credentials::parse(&format!("global-admin%{PASSWORD}")).expect("valid"))
}

fn imported() -> SandboxDc {
    let sandbox = two_schools();
    run_import(&sandbox, "default-school");
    run_import(&sandbox, "school2");
    std::fs::create_dir_all(sandbox.root().join("tmp")).expect("tmp dir");
    sandbox
}

/// samba-tool of a sandbox wired to the live DC: the real samba-tool with `SMB_CONF_PATH`.
fn live_tool(sandbox: &SandboxDc, dc: &SambaDc, auth: Auth) -> SambaTool {
    let conf = dc.smb_conf().display().to_string();
    std::fs::create_dir_all(sandbox.root().join("tmp")).expect("tmp dir");
    SambaTool::new(
        sandbox.launcher("samba-tool", &[("FAKE_DC_SAMBA_CONF", &conf)]),
        auth,
        GENEROUS,
    )
    .temp_dir(sandbox.root().join("tmp"))
}

#[test]
fn live_show_and_list_need_no_credentials() {
    let dc = SambaDc::shared();
    dc.add_computer("default-school", "r100", "st-pc01");
    dc.add_computer("gym", "r200", "st-pc02");
    let sandbox = SandboxDc::new();
    let tool = live_tool(&sandbox, dc, Auth::None);
    for name in ["st-pc01", "ST-PC01", "gym-st-pc02", "server"] {
        assert_eq!(
            tool.computer_show(name).expect("show"),
            Presence::Present,
            "{name}"
        );
    }
    assert_eq!(
        tool.computer_show("st-pc99").expect("show"),
        Presence::Absent
    );
    let names = tool.computer_list().expect("list");
    for name in ["SERVER", "ST-PC01", "GYM-ST-PC02"] {
        assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    }
    let calls = sandbox.call_log();
    assert!(
        calls.contains("samba-tool computer show st-pc01\n"),
        "{calls}"
    );
    assert!(calls.contains("samba-tool computer list\n"), "{calls}");
    assert!(
        !calls.contains("-U") && !calls.contains("passwd-file"),
        "{calls}"
    );
}

#[test]
fn live_deletes_authenticate_without_a_password_on_argv() {
    let dc = SambaDc::shared();
    let server = dc.address().to_string();
    dc.add_computer("default-school", "r100", "st-pc03");
    dc.add_a("st-pc03", "10.0.100.231");
    dc.add_ptr("10.0.100.231", "st-pc03.linuxmuster.lan");
    dc.add_a("st-pc04", "10.0.100.232");
    dc.add_ptr("10.0.100.232", "st-pc04.linuxmuster.lan");
    let sandbox = SandboxDc::new();
    sandbox.write("etc/samba.auth", &dc.auth_file_text());
    let from_file = live_tool(
        &sandbox,
        dc,
        Auth::File(sandbox.root().join("etc/samba.auth")),
    );
    assert_eq!(
        from_file.computer_delete("st-pc03").expect("delete"),
        Deletion::Deleted
    );
    assert_eq!(
        from_file.computer_delete("st-pc03").expect("delete"),
        Deletion::AlreadyAbsent
    );
    assert!(!dc.has_computer("st-pc03"));
    // samba removed the A records of the object's dNSHostName itself.
    assert!(
        dc.a_records("st-pc03").is_empty(),
        "{:?}",
        dc.a_records("st-pc03")
    );

    let credentials = Credentials::parse(&format!("{}%{}", "administrator", dc.password()))
        .expect("valid credentials");
    let tool = live_tool(&sandbox, dc, Auth::Credentials(credentials));
    let a = DnsRecord::A(Ipv4Addr::new(10, 0, 100, 232));
    assert_eq!(
        tool.dns_delete(&server, "linuxmuster.lan", "st-pc04", &a)
            .expect("dns delete"),
        Deletion::Deleted
    );
    assert!(dc.a_records("st-pc04").is_empty());
    assert_eq!(
        tool.dns_delete(&server, "linuxmuster.lan", "st-pc04", &a)
            .expect("dns delete"),
        Deletion::AlreadyAbsent
    );
    let ptr = DnsRecord::Ptr("st-pc04.linuxmuster.lan".to_owned());
    assert_eq!(
        tool.dns_delete(&server, "100.0.10.in-addr.arpa", "232", &ptr)
            .expect("dns delete"),
        Deletion::Deleted
    );
    assert!(dc.ptr_records("10.0.100.232").is_empty());
    assert_eq!(
        tool.dns_delete(&server, "100.0.10.in-addr.arpa", "232", &ptr)
            .expect("dns delete"),
        Deletion::AlreadyAbsent
    );
    // A zone the DC does not have is a configuration error, not an absent record.
    let error = tool
        .dns_delete(&server, "nosuchzone.lan", "st-pc04", &a)
        .unwrap_err();
    assert!(
        matches!(&error, Error::DnsZoneMissing { zone, .. } if zone == "nosuchzone.lan"),
        "{error:?}"
    );
    let error = tool
        .dns_delete(&server, "9.9.10.in-addr.arpa", "9", &ptr)
        .unwrap_err();
    assert!(matches!(&error, Error::DnsZoneMissing { .. }), "{error:?}");

    let calls = sandbox.call_log();
    assert!(
        calls.contains("samba-tool computer delete st-pc03 -U LINUXMUSTER\\administrator\npasswd-file mode=600\n"),
        "{calls}"
    );
    assert!(
        calls.contains(&format!(
            "samba-tool dns delete {server} linuxmuster.lan st-pc04 A 10.0.100.232 -U administrator\npasswd-file mode=600\n"
        )),
        "{calls}"
    );
    assert!(!calls.contains(dc.password()), "{calls}");
    assert!(sandbox.list("tmp").is_empty(), "{:?}", sandbox.list("tmp"));
}

#[test]
fn live_wrong_password_fails_without_showing_it() {
    let dc = SambaDc::shared();
    let sandbox = SandboxDc::new();
    let wrong = Credentials::parse("administrator%wrong-S3cret").expect("valid credentials");
    let tool = live_tool(&sandbox, dc, Auth::Credentials(wrong));
    let a = DnsRecord::A(Ipv4Addr::new(10, 0, 100, 233));
    let error = tool
        .dns_delete(&dc.address().to_string(), "linuxmuster.lan", "st-pc05", &a)
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        matches!(&error, Error::CommandFailed { .. })
            && text.contains("The attempted logon is invalid"),
        "{error:?}"
    );
    assert!(!text.contains("S3cret"), "{text}");
    assert!(sandbox.list("tmp").is_empty());
}

#[test]
fn deletes_need_credentials_and_run_nothing_without() {
    let sandbox = imported();
    let before = sandbox.call_log();
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
    assert_eq!(sandbox.call_log(), before);
    assert!(sandbox.exists("var/lib/fake-dc/ad/r100-pc01"));
}

#[test]
fn password_never_reaches_argv_or_errors_and_the_temp_file_is_removed() {
    let sandbox = imported();
    let tool = samba_tool(&sandbox, credentials(), &[]);
    assert_eq!(
        tool.computer_delete("r100-pc01").expect("delete"),
        Deletion::Deleted
    );
    // Like samba's, the fake's `computer delete` took the A record of the name with it.
    assert!(!sandbox.exists("var/lib/fake-dc/dns/r100-pc01"));
    let record = DnsRecord::A(Ipv4Addr::new(10, 0, 100, 99));
    assert_eq!(
        tool.dns_delete("localhost", "linuxmuster.lan", "r100-lehrer", &record)
            .expect("dns delete"),
        Deletion::Deleted
    );
    let calls = sandbox.call_log();
    assert!(
        !calls.contains(PASSWORD) && !calls.contains("S3cret"),
        "{calls}"
    );
    assert_eq!(
        calls
            .matches(" -U global-admin\npasswd-file mode=600\n")
            .count(),
        2,
        "{calls}"
    );
    assert!(
        calls.contains("samba-tool computer delete r100-pc01 -U global-admin\n"),
        "{calls}"
    );
    assert!(sandbox.list("tmp").is_empty(), "{:?}", sandbox.list("tmp"));

    // A tool that prints the password: the error (and so the log) shows `***`.
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
        command.starts_with("/") && command.ends_with(" computer delete r100-pc02 -U global-admin"),
        "{command}"
    );
    assert!(
        lines.contains(&"ERROR: read password ***".to_owned()),
        "{lines:?}"
    );
    assert!(
        !format!("{error} {error:?}").contains("S3cret"),
        "{error:?}"
    );
    assert!(sandbox.list("tmp").is_empty());

    // The same holds when the call times out.
    let slow = SambaTool::new(
        sandbox.launcher("samba-tool", &[("FAKE_SAMBA_SLEEP", "30")]),
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
    let before = sandbox.call_log();
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
    assert_eq!(sandbox.call_log(), before);
}
