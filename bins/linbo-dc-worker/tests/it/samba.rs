//! The worker's AD and DNS side against a real Samba AD DC ([`dc_testkit::SambaDc`]): the import's
//! sophomorix sync writes real computer objects and A/PTR records, the worker verifies them with
//! the real samba-tool and `host`, and cleans up with real deletes.
//!
//! The DC is shared by every test of this process: each test uses host names (`sN-…`) and
//! addresses (`10.0.210.N…`) of its own.

use serde_json::{Value, json};

use crate::support::{Harness, create, delete};

/// A create job in room r210 with `role`.
fn create_with_role(hostname: &str, mac: &str, ip: &str, role: &str) -> Value {
    let mut options = create(hostname, mac, ip);
    options["csvCol0"] = json!("r210");
    options["role"] = json!(role);
    options
}

fn in_room_r210(mut options: Value) -> Value {
    options["csvCol0"] = json!("r210");
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_and_delete_on_a_real_dc() {
    let mut harness = Harness::with_samba("", "").await;
    let dc = harness.samba();
    harness.start_worker();

    let created = harness.provision(
        "default-school",
        in_room_r210(create("s1-pc01", "00:1a:2b:3c:21:01", "10.0.210.11")),
    );
    let done = harness.completed(&[&created]).await;
    let verify = &done[0]["result"]["verify"];
    for key in [
        "ad_object_exists",
        "dns_a_exists",
        "dns_ptr_exists",
        "dhcp_configured",
    ] {
        assert_eq!(verify[key], true, "{key}: {verify:#}");
    }
    assert_eq!(
        dc.computer_dn("s1-pc01").as_deref(),
        Some("CN=S1-PC01,OU=r210,OU=Devices,OU=default-school,OU=SCHOOLS,DC=linuxmuster,DC=lan")
    );
    assert_eq!(dc.a_records("s1-pc01"), ["10.0.210.11"]);
    assert_eq!(dc.ptr_records("10.0.210.11"), ["s1-pc01.linuxmuster.lan"]);

    // A new IP: the old A record is gone, the new one is there.
    let updated = harness.provision(
        "default-school",
        json!({"action": "update", "hostname": "s1-pc01", "mac": "00:1a:2b:3c:21:01",
               "ip": "10.0.210.12", "configName": "win11", "csvCol0": "r210", "pxeFlag": 1,
               "dryRun": false}),
    );
    let done = harness.completed(&[&updated]).await;
    assert_eq!(
        done[0]["result"]["verify"]["dns_a_exists"], true,
        "{:#}",
        done[0]
    );
    assert_eq!(dc.a_records("s1-pc01"), ["10.0.210.12"]);
    assert!(dc.ptr_records("10.0.210.11").is_empty());
    assert!(dc.has_computer("s1-pc01"));

    let gone = harness.provision("default-school", delete("s1-pc01"));
    let done = harness.completed(&[&gone]).await;
    let verify = &done[0]["result"]["verify"];
    assert_eq!(verify["expected_absent"], true, "{verify:#}");
    assert_eq!(verify["ad_object_exists"], false, "{verify:#}");
    assert_eq!(verify["dns_a_exists"], false, "{verify:#}");
    assert_eq!(verify["dns_ptr_exists"], false, "{verify:#}");
    assert!(
        verify.get("cleaned_up").is_none(),
        "the import removed it all: {verify:#}"
    );
    assert!(!dc.has_computer("s1-pc01"));
    assert!(dc.a_records("s1-pc01").is_empty());
    assert!(dc.ptr_records("10.0.210.12").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_on_a_real_dc_removes_the_old_object_and_adds_the_new() {
    let mut harness = Harness::with_samba("", "").await;
    let dc = harness.samba();
    harness.start_worker();
    let created = harness.provision(
        "default-school",
        in_room_r210(create("s2-pc01", "00:1a:2b:3c:22:01", "10.0.210.21")),
    );
    harness.completed(&[&created]).await;
    assert!(dc.has_computer("s2-pc01"));

    let renamed = harness.provision(
        "default-school",
        json!({"action": "update", "hostname": "s2-pc02", "oldHostname": "s2-pc01",
               "mac": "00:1a:2b:3c:22:01", "ip": "10.0.210.21", "configName": "win11",
               "csvCol0": "r210", "pxeFlag": 1, "dryRun": false}),
    );
    let done = harness.completed(&[&renamed]).await;
    let verify = &done[0]["result"]["verify"];
    assert_eq!(verify["ad_object_exists"], true, "{verify:#}");
    assert_eq!(
        verify["old_hostname"]["ad_object_exists"], false,
        "{verify:#}"
    );
    assert_eq!(verify["old_hostname"]["dns_a_exists"], false, "{verify:#}");
    assert!(dc.has_computer("s2-pc02"));
    assert!(!dc.has_computer("s2-pc01"));
    assert_eq!(dc.a_records("s2-pc02"), ["10.0.210.21"]);
    assert!(dc.a_records("s2-pc01").is_empty());
    assert_eq!(dc.ptr_records("10.0.210.21"), ["s2-pc02.linuxmuster.lan"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_cleans_up_on_a_real_dc_with_the_authentication_file() {
    // Two hosts of an earlier import, whose objects this import does not remove: sophomorix
    // failed, linuxmuster 7.3's import hid it, and the administrator turned the pre-check off.
    // One object written by sophomorix (with dNSHostName), one by `samba-tool computer create`
    // (without).
    let master = "r210;s3-pc01;win11;00:1A:2B:3C:23:01;10.0.210.31;;;;;;1;;;;\n\
                  r210;s3-pc02;win11;00:1A:2B:3C:23:02;10.0.210.32;;;;;;1;;;;\n";
    // The lines are in devices.csv only (no delta): the worker may delete them as adopted hosts.
    let mut harness =
        Harness::with_samba(master, "SOPHOMORIX_PRECHECK=false\nADOPT_MANUAL_HOSTS=true").await;
    let dc = harness.samba();
    dc.add_computer("default-school", "r210", "s3-pc01");
    dc.samba_tool_ok(&[
        "computer",
        "create",
        "S3-PC02",
        "--computerou=OU=r210,OU=Devices,OU=default-school,OU=SCHOOLS",
    ]);
    for (name, ip) in [("s3-pc01", "10.0.210.31"), ("s3-pc02", "10.0.210.32")] {
        dc.add_a(name, ip);
        dc.add_ptr(ip, &format!("{name}.linuxmuster.lan"));
    }
    harness.dc.knobs(&[("FAKE_SOPHOMORIX_EXIT", "1")]);
    harness.start_worker();
    let first = harness.provision("default-school", delete("s3-pc01"));
    let second = harness.provision("default-school", delete("s3-pc02"));
    let done = harness.completed(&[&first, &second]).await;

    for (operation, name, ip) in [
        (&done[0], "s3-pc01", "10.0.210.31"),
        (&done[1], "s3-pc02", "10.0.210.32"),
    ] {
        let verify = &operation["result"]["verify"];
        assert_eq!(verify["ad_object_exists"], false, "{verify:#}");
        assert_eq!(verify["dns_a_exists"], false, "{verify:#}");
        assert_eq!(verify["dns_ptr_exists"], false, "{verify:#}");
        assert!(verify.get("warnings").is_none(), "{verify:#}");
        let cleaned = verify["cleaned_up"].to_string();
        assert!(
            cleaned.contains(&format!("AD computer object {name}")),
            "{verify:#}"
        );
        assert!(!dc.has_computer(name), "{name}");
        assert!(dc.a_records(name).is_empty(), "{name}");
        assert!(dc.ptr_records(ip).is_empty(), "{ip}");
    }
    // samba's `computer delete` removed the A record of the object with a dNSHostName itself:
    // no clean-up of it, and nothing reported as failed.
    let cleaned = done[0]["result"]["verify"]["cleaned_up"].to_string();
    assert!(!cleaned.contains("DNS A record"), "{cleaned}");
    // The object without a dNSHostName took no DNS record along: the worker removed both.
    let cleaned = done[1]["result"]["verify"]["cleaned_up"].to_string();
    assert!(
        cleaned.contains("DNS A record s3-pc02.linuxmuster.lan 10.0.210.32"),
        "{cleaned}"
    );
    assert!(
        cleaned.contains("DNS PTR record 10.0.210.32 s3-pc02.linuxmuster.lan"),
        "{cleaned}"
    );

    let calls = harness.dc.calls().join("\n");
    assert!(
        calls.contains(
            "samba-tool computer delete s3-pc01 -U LINUXMUSTER\\administrator\npasswd-file mode=600"
        ),
        "{calls}"
    );
    assert!(
        calls.contains(&format!(
            "samba-tool dns delete {} linuxmuster.lan s3-pc02 A 10.0.210.32 -U LINUXMUSTER\\administrator",
            dc.address()
        )),
        "{calls}"
    );
    assert!(
        !calls.contains(dc.password()),
        "no password on argv: {calls}"
    );
    assert!(
        !harness.logs().contains(dc.password()),
        "no password in the log"
    );
    assert!(
        harness.dc.list("/var/lib/linbo-dc/tmp").is_empty(),
        "no password file left: {:?}",
        harness.dc.list("/var/lib/linbo-dc/tmp")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_of_a_second_school_is_verified_under_its_prefixed_names() {
    let mut harness = Harness::with_samba("", "").await;
    let dc = harness.samba();
    harness.dc.write_master("gym", "");
    harness.start_worker();
    let created = harness.provision(
        "gym",
        in_room_r210(create("s4-pc01", "00:1a:2b:3c:24:01", "10.0.210.41")),
    );
    let done = harness.completed(&[&created]).await;
    let verify = &done[0]["result"]["verify"];
    assert_eq!(verify["ad_object_exists"], true, "{verify:#}");
    assert_eq!(verify["dns_a_exists"], true, "{verify:#}");
    assert_eq!(verify["dns_ptr_exists"], true, "{verify:#}");
    assert_eq!(
        dc.computer_dn("gym-s4-pc01").as_deref(),
        Some("CN=GYM-S4-PC01,OU=r210,OU=Devices,OU=gym,OU=SCHOOLS,DC=linuxmuster,DC=lan")
    );
    assert!(!dc.has_computer("s4-pc01"));
    assert_eq!(dc.a_records("gym-s4-pc01"), ["10.0.210.41"]);
    assert!(dc.a_records("s4-pc01").is_empty());

    let gone = harness.provision("gym", delete("s4-pc01"));
    let done = harness.completed(&[&gone]).await;
    assert_eq!(
        done[0]["result"]["verify"]["ad_object_exists"], false,
        "{:#}",
        done[0]
    );
    assert!(!dc.has_computer("gym-s4-pc01"));
    assert!(dc.a_records("gym-s4-pc01").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_without_a_computer_account_are_not_looked_for_in_ad() {
    let mut harness = Harness::with_samba("", "").await;
    let dc = harness.samba();
    harness.start_worker();
    // sophomorix.ini: iponly has no computer account; printer has one (COMPUTER_ACCOUNT = TRUE).
    let iponly = harness.provision(
        "default-school",
        create_with_role("s5-ip01", "00:1a:2b:3c:25:01", "10.0.210.51", "iponly"),
    );
    let printer = harness.provision(
        "default-school",
        create_with_role("s5-pr01", "00:1a:2b:3c:25:02", "10.0.210.52", "printer"),
    );
    let done = harness.completed(&[&iponly, &printer]).await;
    let verify = &done[0]["result"]["verify"];
    assert_eq!(verify["ad_object_exists"], false, "{verify:#}");
    assert_eq!(verify["dns_a_exists"], true, "{verify:#}");
    assert_eq!(verify["required"], json!(["dns_a_exists"]), "{verify:#}");
    assert!(!dc.has_computer("s5-ip01"));
    assert_eq!(dc.a_records("s5-ip01"), ["10.0.210.51"]);
    let verify = &done[1]["result"]["verify"];
    assert_eq!(verify["ad_object_exists"], true, "{verify:#}");
    assert_eq!(
        verify["required"],
        json!(["ad_object_exists", "dns_a_exists"]),
        "{verify:#}"
    );
    assert!(dc.has_computer("s5-pr01"));
}
