//! Provisioning end to end: devices.csv, import with `-s`, the hook, verification, reports.

use serde_json::json;

use crate::support::{Harness, LINBO_DOCKER_IP, MASTER, create, delete, hosts, next_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_rename_and_delete_reach_ad_dns_and_dhcp() {
    let mut harness = Harness::new("").await;
    harness.start_worker();

    // create: one fixed IP, one dynamic
    let pc01 = harness.provision(
        "default-school",
        create("r200-pc01", "00:1a:2b:3c:20:01", "10.0.200.1"),
    );
    let pc02 = harness.provision(
        "default-school",
        create("r200-pc02", "00:1a:2b:3c:20:02", ""),
    );
    let done = harness.completed(&[&pc01, &pc02]).await;
    assert_eq!(harness.statuses(&pc01), ["running", "completed"]);
    let result = &done[0]["result"];
    assert_eq!(result["verify"]["ad_object_exists"], true, "{result:#}");
    assert_eq!(result["verify"]["dns_a_exists"], true, "{result:#}");
    assert_eq!(result["verify"]["dhcp_configured"], true, "{result:#}");
    assert_eq!(result["mergeStats"]["total_master_lines"], 2, "{result:#}");
    assert_eq!(result["mergeStats"]["total_merged_lines"], 4, "{result:#}");
    assert_eq!(result["mergeStats"]["batch_size"], 2, "{result:#}");
    let import_output = result["importOutput"].as_str().expect("importOutput");
    assert!(
        import_output.contains("Done: 2 patched"),
        "the hook ran: {import_output}"
    );

    let master = harness.dc.master("default-school");
    assert!(
        master.starts_with(MASTER),
        "hand-made lines untouched:\n{master}"
    );
    assert!(
        master.contains("r200;r200-pc01;win11;00:1A:2B:3C:20:01;10.0.200.1;;;;;;1;;;;\n"),
        "{master}"
    );
    assert!(
        master.contains("r200;r200-pc02;win11;00:1A:2B:3C:20:02;DHCP;;;;;;1;;;;\n"),
        "{master}"
    );
    let delta = harness.dc.delta("default-school");
    assert!(delta.starts_with("# managed-by: linbo-docker"), "{delta}");
    assert_eq!(hosts(&delta), ["r200-pc01", "r200-pc02"]);
    assert!(harness.dc.ad_objects().contains(&"r200-pc01".to_owned()));
    assert_eq!(
        harness.dc.dns_names(),
        ["r100-pc01", "r100-pr01", "r200-pc01"]
    );
    let dhcp = harness.dc.read("/etc/dhcp/devices/default-school.conf");
    assert_eq!(
        next_server(&dhcp, "r200-pc01").as_deref(),
        Some(LINBO_DOCKER_IP),
        "{dhcp}"
    );
    assert_eq!(
        next_server(&dhcp, "r100-pc01"),
        None,
        "not managed by LINBO Docker"
    );

    // update the printer's room without a role: its role and extra columns stay (SPEC §9)
    let printer = harness.provision(
        "default-school",
        json!({"action": "update", "hostname": "r100-pr01", "mac": "00:1a:2b:3c:4d:02",
               "ip": "10.0.100.2", "configName": "", "csvCol0": "r101", "pxeFlag": 0,
               "dryRun": false}),
    );
    // rename pc02 to pc03
    let rename = harness.provision(
        "default-school",
        json!({"action": "update", "hostname": "r200-pc03", "oldHostname": "r200-pc02",
               "mac": "00:1a:2b:3c:20:02", "ip": "", "configName": "win11", "csvCol0": "r200",
               "pxeFlag": 1, "dryRun": false}),
    );
    let done = harness.completed(&[&printer, &rename]).await;
    assert_eq!(done[1]["result"]["change"], "renamed from r200-pc02");
    assert_eq!(
        done[1]["result"]["verify"]["old_hostname"]["ad_object_exists"],
        false
    );
    let master = harness.dc.master("default-school");
    assert!(
        master.contains("r101;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;\n"),
        "{master}"
    );
    assert!(!master.contains("r200-pc02"), "{master}");
    assert!(master.contains("r200;r200-pc03;"), "{master}");
    let ad = harness.dc.ad_objects();
    assert!(
        ad.contains(&"r200-pc03".to_owned()) && !ad.contains(&"r200-pc02".to_owned()),
        "{ad:?}"
    );

    // delete
    let gone = harness.provision("default-school", delete("r200-pc01"));
    let done = harness.completed(&[&gone]).await;
    assert_eq!(done[0]["result"]["verify"]["expected_absent"], true);
    assert_eq!(done[0]["result"]["verify"]["ad_object_exists"], false);
    assert_eq!(done[0]["result"]["verify"]["dns_a_exists"], false);
    assert!(!harness.dc.master("default-school").contains("r200-pc01"));
    assert!(!harness.dc.ad_objects().contains(&"r200-pc01".to_owned()));
    assert!(!harness.dc.dns_names().contains(&"r200-pc01".to_owned()));

    harness.drained().await;
    let imports = harness.dc.import_calls();
    assert_eq!(imports.len(), 3, "one import per batch: {imports:?}");
    assert!(
        imports
            .iter()
            .all(|call| call.ends_with("-s default-school")),
        "{imports:?}"
    );
    let leftovers = harness
        .dc
        .list("/etc/linuxmuster/sophomorix/default-school");
    assert_eq!(
        leftovers,
        ["devices.csv", "linbo-docker.devices.csv"],
        "no temporary or backup files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_fails_the_bad_jobs_precisely_and_lands_the_rest() {
    let mut harness = Harness::new("").await;
    let good1 = harness.provision(
        "default-school",
        create("r200-pc10", "00:1a:2b:3c:20:10", "10.0.200.10"),
    );
    let bad_name = harness.provision(
        "default-school",
        create("bad_name!", "00:1a:2b:3c:20:11", ""),
    );
    let mut injection = create("r200-pc12", "00:1a:2b:3c:20:12", "");
    injection["csvCol0"] = json!("r200;evil;x");
    let injection = harness.provision("default-school", injection);
    let mut newline = create("r200-pc13", "00:1a:2b:3c:20:13", "");
    newline["configName"] = json!("win11\nr666;evil2;nopxe;00:1A:2B:3C:66:66;DHCP;;;;;;1");
    let newline = harness.provision("default-school", newline);
    let bad_mac = harness.provision(
        "default-school",
        create("r200-pc14", "00:1a:2b:3c:zz:14", ""),
    );
    let mut pxe = create("r200-pc15", "00:1a:2b:3c:20:15", "");
    pxe["pxeFlag"] = json!(7);
    let pxe = harness.provision("default-school", pxe);
    let dup_mac = harness.provision(
        "default-school",
        create("r200-pc16", "00:1a:2b:3c:4d:01", ""),
    );
    let dup_ip = harness.provision(
        "default-school",
        create("r200-pc17", "00:1a:2b:3c:20:17", "10.0.100.2"),
    );
    let good2 = harness.provision(
        "default-school",
        create("r200-pc18", "00:1a:2b:3c:20:18", ""),
    );
    harness.start_worker();

    let all = [
        &good1, &bad_name, &injection, &newline, &bad_mac, &pxe, &dup_mac, &dup_ip, &good2,
    ];
    let done = harness.finished(&all.map(String::as_str)).await;
    let error = |index: usize| done[index]["error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(done[0]["status"], "completed", "{:#}", done[0]);
    assert_eq!(done[8]["status"], "completed", "{:#}", done[8]);
    for (index, expected) in [
        (1, "hostname"),
        (2, "room"),
        (3, "group"),
        (4, "MAC"),
        (5, "PXE"),
        (6, "r100-pc01"),
        (7, "r100-pr01"),
    ] {
        assert_eq!(done[index]["status"], "failed", "{:#}", done[index]);
        assert!(
            error(index)
                .to_lowercase()
                .contains(&expected.to_lowercase()),
            "job {index}: {:?} should mention {expected:?}",
            error(index)
        );
    }
    let master = harness.dc.master("default-school");
    assert!(!master.contains("evil"), "no injected line: {master}");
    assert!(
        !master.contains("r200-pc16") && !master.contains("r200-pc17"),
        "{master}"
    );
    assert_eq!(
        hosts(&master),
        ["r100-pc01", "r100-pr01", "r200-pc10", "r200-pc18"],
        "only the good jobs landed"
    );
    assert_eq!(harness.dc.import_calls().len(), 1, "one batch, one import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_is_per_job_and_batch_order_is_respected() {
    // r100-pc01 is a hand-made host of MASTER; deleting it needs ADOPT_MANUAL_HOSTS.
    let mut harness = Harness::new("ADOPT_MANUAL_HOSTS=true").await;
    let mut trial = create("r200-pc20", "00:1a:2b:3c:20:20", "");
    trial["dryRun"] = json!(true);
    let trial = harness.provision("default-school", trial);
    let real = harness.provision(
        "default-school",
        create("r200-pc21", "00:1a:2b:3c:20:21", ""),
    );
    // create then delete in one batch: absent; delete then create: present
    let short_lived = harness.provision(
        "default-school",
        create("r200-pc22", "00:1a:2b:3c:20:22", ""),
    );
    let short_lived_delete = harness.provision("default-school", delete("r200-pc22"));
    let recreate_delete = harness.provision("default-school", delete("r100-pc01"));
    let mut recreate = create("r100-pc01", "00:1a:2b:3c:4d:01", "10.0.100.1");
    recreate["csvCol0"] = json!("r100");
    let recreate = harness.provision("default-school", recreate);
    harness.start_worker();

    let done = harness
        .completed(&[
            &trial,
            &real,
            &short_lived,
            &short_lived_delete,
            &recreate_delete,
            &recreate,
        ])
        .await;
    let result = &done[0]["result"];
    assert_eq!(result["dryRun"], true, "{result:#}");
    let diff = result["diff"].as_str().expect("a diff");
    assert!(
        diff.contains("+r200;r200-pc20;win11;00:1A:2B:3C:20:20;DHCP;;;;;;1;;;;"),
        "{diff}"
    );
    assert_eq!(result["mergeStats"]["total_merged_lines"], 3, "{result:#}");
    let master = harness.dc.master("default-school");
    assert!(
        !master.contains("r200-pc20"),
        "a dry run writes nothing: {master}"
    );
    assert!(master.contains("r200-pc21"), "{master}");
    assert!(
        !master.contains("r200-pc22"),
        "created then deleted: {master}"
    );
    assert!(
        master.contains("r100-pc01"),
        "deleted then created: {master}"
    );
    assert!(harness.dc.ad_objects().contains(&"r100-pc01".to_owned()));
    assert_eq!(
        done[2]["result"]["verify"]["superseded_by"], short_lived_delete,
        "the create's host was deleted later in the batch: the delete is verified, not the create"
    );
    assert_eq!(done[3]["result"]["verify"]["expected_absent"], true);
    assert_eq!(done[4]["result"]["verify"]["superseded_by"], recreate);
    assert_eq!(done[5]["result"]["verify"]["ad_object_exists"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schools_go_to_their_own_files_and_conflict_across_schools() {
    let mut harness = Harness::new("").await;
    harness.dc.write_master(
        "gym",
        "g100;g100-pc01;win11;00:1A:2B:3C:99:01;10.1.100.1;;;;;;1;;;;\n",
    );
    let gym = harness.provision(
        "gym",
        create("g100-pc02", "00:1a:2b:3c:99:02", "10.1.100.2"),
    );
    let default = harness.provision(
        "default-school",
        create("r200-pc30", "00:1a:2b:3c:20:30", ""),
    );
    let clash = harness.provision(
        "default-school",
        create("r200-pc31", "00:1a:2b:3c:99:01", ""),
    );
    harness.start_worker();

    let done = harness.finished(&[&gym, &default, &clash]).await;
    assert_eq!(
        done[0]["status"],
        "completed",
        "{:#}\n{}",
        done[0],
        harness.logs()
    );
    assert_eq!(done[1]["status"], "completed", "{:#}", done[1]);
    assert_eq!(done[2]["status"], "failed");
    let error = done[2]["error"].as_str().expect("error");
    assert!(
        error.contains("gym"),
        "the conflict names the other school: {error}"
    );

    let gym_master = harness.dc.master("gym");
    assert!(gym_master.contains("g100-pc02"), "{gym_master}");
    assert!(!harness.dc.master("default-school").contains("g100-pc02"));
    assert!(
        harness
            .dc
            .exists("/etc/linuxmuster/sophomorix/gym/gym.devices.csv")
    );
    assert!(harness.dc.delta("gym").contains("g100-pc02"));
    assert!(
        harness
            .dc
            .ad_objects()
            .contains(&"gym-g100-pc02".to_owned()),
        "{:?}",
        harness.dc.ad_objects()
    );
    assert_eq!(
        done[0]["result"]["verify"]["dns_a_exists"], true,
        "prefixed names are looked up"
    );
    let mut imports = harness.dc.import_calls();
    imports.sort();
    assert_eq!(
        imports,
        [
            "linuxmuster-import-devices -s default-school",
            "linuxmuster-import-devices -s gym"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_restores_both_files_and_the_worker_goes_on() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_IMPORT_FAIL", "1")]);
    harness.start_worker();
    let doomed = harness.provision(
        "default-school",
        create("r200-pc40", "00:1a:2b:3c:20:40", ""),
    );
    let error = harness.failure(&doomed).await;
    assert!(
        error.contains("import failed") && error.contains("FileNotFoundError"),
        "{error}"
    );
    assert!(error.contains("restored"), "{error}");
    // The restored files were imported again (sophomorix may have synced the failed batch);
    // with the import still broken, the job says what that means.
    assert!(
        error.contains("importing the restored files failed too")
            && error
                .contains("AD and DNS may hold the failed batch until the next successful import"),
        "{error}"
    );
    assert_eq!(
        harness.dc.import_calls().len(),
        2,
        "{:?}",
        harness.dc.import_calls()
    );
    assert_eq!(
        harness.dc.master("default-school"),
        MASTER,
        "master restored byte for byte"
    );
    assert!(
        !harness
            .dc
            .exists("/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv"),
        "the delta did not exist before, so it is gone again"
    );

    harness.dc.knobs(&[]);
    let fine = harness.provision(
        "default-school",
        create("r200-pc41", "00:1a:2b:3c:20:41", ""),
    );
    harness.completed(&[&fine]).await;
    let master = harness.dc.master("default-school");
    assert!(
        master.contains("r200-pc41") && !master.contains("r200-pc40"),
        "{master}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_cleans_up_what_the_import_left_behind_without_a_password_on_argv() {
    // r100-pc01 is a hand-made host of MASTER; deleting it needs ADOPT_MANUAL_HOSTS.
    let mut harness = Harness::new(
        "SAMBA_TOOL_AUTH_FILE=\nSAMBA_TOOL_AUTH=administrator%e2e-samba-password\nADOPT_MANUAL_HOSTS=true",
    )
    .await;
    // An AD object the import does not own (no school marker): it survives the import.
    harness.dc.write(
        "/var/lib/fake-dc/ad/r100-pc01",
        "dn: CN=R100-PC01,OU=Devices\nsAMAccountName: R100-PC01$\n",
    );
    harness.start_worker();
    let gone = harness.provision("default-school", delete("r100-pc01"));
    let done = harness.completed(&[&gone]).await;
    let verify = &done[0]["result"]["verify"];
    assert_eq!(verify["ad_object_exists"], false, "{verify:#}");
    assert!(
        verify["cleaned_up"]
            .to_string()
            .contains("AD computer object r100-pc01"),
        "{verify:#}"
    );
    assert!(!harness.dc.ad_objects().contains(&"r100-pc01".to_owned()));
    let calls = harness.dc.calls().join("\n");
    assert!(
        calls.contains(
            "samba-tool computer delete r100-pc01 -U administrator\npasswd-file mode=600"
        ),
        "{calls}"
    );
    assert!(
        !calls.contains("e2e-samba-password"),
        "no password on argv: {calls}"
    );
    assert!(
        !harness.logs().contains("e2e-samba-password"),
        "no password in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_runs_concurrently_within_its_time_limit() {
    // Six fixed-IP hosts: twelve lookups (A and PTR) the DNS server answers after one second
    // each. One after the other they would take twelve seconds, beyond VERIFY_TIMEOUT_SEC;
    // asked at once they take one.
    let mut harness = Harness::new("VERIFY_TIMEOUT_SEC=8\nVERIFY_CONCURRENCY=8").await;
    harness
        .dc
        .dns()
        .set_delay(std::time::Duration::from_secs(1));
    let ids: Vec<String> = (0..6)
        .map(|n| {
            harness.provision(
                "default-school",
                create(
                    &format!("r200-pc8{n}"),
                    &format!("00:1a:2b:3c:20:8{n}"),
                    &format!("10.0.200.8{n}"),
                ),
            )
        })
        .collect();
    harness.start_worker();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let done = harness.completed(&refs).await;
    for operation in &done {
        assert_eq!(
            operation["result"]["verify"]["dns_a_exists"], true,
            "{operation:#}"
        );
        assert_eq!(
            operation["result"]["verify"]["dns_ptr_exists"], true,
            "{operation:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_never_removes_what_the_device_files_did_not_have() {
    let mut harness = Harness::new("").await;
    // The DC's own objects and a host nobody put in devices.csv.
    harness.dc.write(
        "/var/lib/fake-dc/ad/r300-pc01",
        "dn: CN=R300-PC01\nsAMAccountName: R300-PC01$\n",
    );
    harness
        .dc
        .write("/var/lib/fake-dc/dns/r300-pc01", "10.0.30.1\n");
    harness.start_worker();
    let stranger = harness.provision("default-school", delete("r300-pc01"));
    let error = harness.failure(&stranger).await;
    assert!(
        error.contains("not removed because it was not in devices.csv"),
        "{error}"
    );
    assert!(
        harness.dc.ad_objects().contains(&"r300-pc01".to_owned()),
        "left alone"
    );
    assert!(
        harness.dc.dns_names().contains(&"r300-pc01".to_owned()),
        "left alone"
    );
    assert!(
        !harness
            .dc
            .calls()
            .iter()
            .any(|call| call.contains("delete")),
        "no samba-tool delete ran: {:?}",
        harness.dc.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sophomorix_precheck_failure_restores_the_files_and_skips_the_import() {
    let mut harness = Harness::new("SOPHOMORIX_PRECHECK=true").await;
    harness.dc.knobs(&[("FAKE_SOPHOMORIX_EXIT", "88")]);
    harness.start_worker();
    let id = harness.provision(
        "default-school",
        create("r200-pc97", "00:1a:2b:3c:20:97", ""),
    );
    let error = harness.failure(&id).await;
    assert!(
        error.contains("sophomorix") && error.contains("restored"),
        "{error}"
    );
    assert_eq!(harness.dc.master("default-school"), MASTER);
    assert!(
        harness.dc.import_calls().is_empty(),
        "no import after a failed check"
    );
    assert!(
        harness
            .dc
            .calls()
            .iter()
            .any(|call| call.starts_with("sophomorix-device --dry-run")),
        "{:?}",
        harness.dc.calls()
    );
}
