//! The real Samba AD DC of the test kit: provisioned, answering on its own loopback address, with
//! the linuxmuster layout, and objects written the way sophomorix writes them.

use dc_testkit::samba::{DNS_DOMAIN, REVERSE_ZONES};
use dc_testkit::{SambaDc, SandboxDc};

#[test]
fn the_shared_dc_answers_ldap_and_dns_on_its_own_loopback_address() {
    let dc = SambaDc::shared();
    let address = dc.address();
    assert_eq!(address.octets()[..3], [127, 0, 0], "{address}");
    assert_ne!(address.octets()[3], 1, "127.0.0.1 is never used");
    // The DC's own account and its A record, as a fresh provision has them.
    assert!(
        dc.computers().contains(&"server".to_owned()),
        "{:?}",
        dc.computers()
    );
    assert_eq!(dc.a_records("server"), [address.to_string()]);
    // The reverse zones of the test subnets exist.
    let zones = dc.samba_tool_ok(&["dns", "zonelist", &address.to_string()]);
    for zone in REVERSE_ZONES {
        assert!(zones.contains(zone), "{zone} missing in:\n{zones}");
    }
    // The password file is private.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dc.password_file())
            .expect("password file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn computers_are_written_like_sophomorix_writes_them() {
    let dc = SambaDc::shared();
    dc.add_computer("default-school", "r901", "kit-pc01");
    dc.add_computer("gym", "r902", "kit-pc02");
    assert!(dc.has_computer("kit-pc01"));
    assert!(dc.has_computer("gym-kit-pc02"));
    assert_eq!(
        dc.computer_dn("kit-pc01").as_deref(),
        Some("CN=KIT-PC01,OU=r901,OU=Devices,OU=default-school,OU=SCHOOLS,DC=linuxmuster,DC=lan")
    );
    let shown = dc.samba_tool_ok(&["computer", "show", "gym-kit-pc02"]);
    for line in [
        "sAMAccountName: GYM-KIT-PC02$",
        "dNSHostName: GYM-KIT-PC02.linuxmuster.lan",
        "userAccountControl: 4096",
        "servicePrincipalName: HOST/GYM-KIT-PC02.linuxmuster.lan",
    ] {
        assert!(shown.contains(line), "{line} missing in:\n{shown}");
    }
}

#[test]
fn dns_records_are_added_and_read_back() {
    let dc = SambaDc::shared();
    dc.add_a("kit-pc03", "10.0.100.203");
    dc.add_ptr("10.0.100.203", &format!("kit-pc03.{DNS_DOMAIN}"));
    assert_eq!(dc.a_records("kit-pc03"), ["10.0.100.203"]);
    assert_eq!(dc.ptr_records("10.0.100.203"), ["kit-pc03.linuxmuster.lan"]);
    assert!(dc.a_records("kit-nothing").is_empty());
    assert!(dc.ptr_records("10.0.100.254").is_empty());
}

#[test]
fn a_dc_of_its_own_gets_another_address_and_stops_on_drop() {
    let shared = SambaDc::shared();
    let own = SambaDc::start();
    assert_ne!(own.address(), shared.address());
    let dir = own.dir().to_owned();
    let pid_file = dir.join("run/samba.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("samba writes its pid file")
        .trim()
        .parse()
        .expect("a pid");
    drop(own);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "samba {pid} still runs after drop"
    );
    // The shared DC is untouched.
    assert!(shared.computers().contains(&"server".to_owned()));
}

/// Runs the sandbox's launcher `program` with `args`: its exit code and both streams.
fn run(sandbox: &SandboxDc, program: &str, args: &[&str]) -> (i32, String) {
    let run = crate::sandbox::run(sandbox, program, args);
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

#[test]
fn a_sandbox_wired_to_the_dc_imports_into_real_ad_and_dns() {
    let dc = SambaDc::shared();
    let sandbox = SandboxDc::with_samba(dc);
    let neighbour = SandboxDc::with_samba(dc);
    neighbour.write_master(
        "default-school",
        "r903;kit-nb01;win11;00:1A:2B:3C:90:31;10.0.100.231;;;;;;1;;;;\n",
    );
    let (code, output) = run(
        &neighbour,
        "/usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );
    assert_eq!(code, 0, "{output}");

    sandbox.write_master(
        "default-school",
        "r903;kit-pc11;win11;00:1A:2B:3C:90:11;10.0.100.211;;;;;;1;;;;\n\
         r903;kit-sw11;nopxe;00:1A:2B:3C:90:12;10.0.100.212;;;;switch;;0;;;;\n",
    );
    sandbox.write_master(
        "gym",
        "r904;kit-pc12;win11;00:1A:2B:3C:90:13;10.0.100.213;;;;;;1;;;;\n",
    );
    for school in ["default-school", "gym"] {
        let (code, output) = run(
            &sandbox,
            "/usr/sbin/linuxmuster-import-devices",
            &["-s", school],
        );
        assert_eq!(code, 0, "{output}");
    }
    assert!(dc.has_computer("kit-pc11"));
    assert!(
        !dc.has_computer("kit-sw11"),
        "a switch has no computer account"
    );
    assert!(dc.has_computer("gym-kit-pc12"));
    assert_eq!(dc.a_records("kit-pc11"), ["10.0.100.211"]);
    assert_eq!(dc.a_records("kit-sw11"), ["10.0.100.212"]);
    assert_eq!(dc.a_records("gym-kit-pc12"), ["10.0.100.213"]);
    assert_eq!(
        dc.ptr_records("10.0.100.213"),
        ["gym-kit-pc12.linuxmuster.lan"]
    );

    // The sandbox's samba-tool is the real one, asking this DC, and its DNS server is the DC's.
    let (code, output) = run(&sandbox, "/usr/bin/samba-tool", &["computer", "list"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("KIT-PC11$") && output.contains("SERVER$"),
        "{output}"
    );
    assert_eq!(sandbox.dns_server(), dc.dns_server());
    assert!(
        sandbox
            .calls()
            .contains(&"samba-tool computer list".to_owned()),
        "{:?}",
        sandbox.calls()
    );

    // A host leaves the file: its object and records go; the neighbour's stay.
    sandbox.write_master(
        "default-school",
        "r903;kit-sw11;nopxe;00:1A:2B:3C:90:12;10.0.100.212;;;;switch;;0;;;;\n",
    );
    let (code, output) = run(
        &sandbox,
        "/usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );
    assert_eq!(code, 0, "{output}");
    assert!(!dc.has_computer("kit-pc11"));
    assert!(dc.a_records("kit-pc11").is_empty());
    assert!(dc.ptr_records("10.0.100.211").is_empty());
    assert_eq!(dc.a_records("kit-sw11"), ["10.0.100.212"]);
    assert!(
        dc.has_computer("gym-kit-pc12"),
        "another school's host stays"
    );
    assert!(dc.has_computer("kit-nb01"), "another sandbox's host stays");
    assert_eq!(dc.a_records("kit-nb01"), ["10.0.100.231"]);

    // The file-based readers refuse to answer for a real DC.
    let panic = std::panic::catch_unwind(|| sandbox.ad_objects()).expect_err("must panic");
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("ask the SambaDc"), "{message}");
}
