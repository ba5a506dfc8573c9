//! Issue 13: no job touches the DC's own entries or an administrator's hosts, a missing
//! devices.csv is never created from the delta, and the configured school must exist.

use serde_json::json;

use crate::support::{Harness, create, delete};

/// default-school as linuxmuster sets it up: the server itself, a printer the administrator added
/// by hand, a PC.
const MASTER: &str = "\
server;server;nopxe;00:1A:2B:3C:4D:F0;10.0.0.1;;;;addc;;0;;;;
r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;hand-made
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;classroom-studentcomputer;;1;;;;
";

fn rename(from: &str, to: &str, mac: &str) -> serde_json::Value {
    let mut options = create(to, mac, "");
    options["action"] = json!("update");
    options["oldHostname"] = json!(from);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_would_touch_the_dc_or_an_administrators_host_are_refused_before_the_merge() {
    let mut harness = Harness::new("").await;
    harness.dc.write_master("default-school", MASTER);
    harness.dc.write(
        "/var/lib/linuxmuster/setup.ini",
        "[setup]\nservername = server\ndomainname = linuxmuster.lan\n",
    );
    // Another school, whose pc07 a rename of default-school may not take.
    harness
        .dc
        .write_master("gym", "r1;pc07;win11;00:1A:2B:3C:4E:07;DHCP;;;;;;1;;;;\n");
    let mut huge_room = create("r100-pc70", "00:1a:2b:3c:20:70", "");
    huge_room["csvCol0"] = json!("a".repeat(1 << 20));
    let jobs = [
        (
            "rename from the DC",
            rename("server", "r100-pc60", "00:1A:2B:3C:4D:F0"),
        ),
        (
            "rename into the DC",
            rename("r100-pc01", "server", "00:1A:2B:3C:4D:01"),
        ),
        ("delete the DC", delete("server")),
        (
            "rename a hand-made printer",
            rename("r100-pr01", "r100-pr02", "00:1A:2B:3C:4D:02"),
        ),
        (
            "rename from another school",
            rename("pc07", "r100-pc07", "00:1A:2B:3C:4E:07"),
        ),
        ("a 1 MiB room", huge_room),
    ];
    let ids: Vec<String> = jobs
        .iter()
        .map(|(_, options)| harness.provision("default-school", options.clone()))
        .collect();
    harness.start_worker();
    let expected = [
        "server: the DC's own entries are never changed by jobs (role addc, devices.csv line 1)",
        "server: the DC's own entries are never changed by jobs (role addc, devices.csv line 1)",
        "server: the DC's own entries are never changed by jobs (role addc, devices.csv line 1)",
        "r100-pr01: managed by hand (devices.csv line 2, not created by LINBO Docker): a job may not rename it",
        "pc07: the old hostname of this rename is not a host of school default-school (devices file of school gym, line 1)",
        "room (column 0) \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"… : expected at most 15 characters, found 1048576",
    ];
    for ((what, _), (id, expected)) in jobs.iter().zip(ids.iter().zip(expected)) {
        let error = harness.failure(id).await;
        assert!(error.contains(expected), "{what}: {error}");
        assert!(
            error.len() < 1000,
            "{what}: the error is short: {} bytes",
            error.len()
        );
    }
    harness.drained().await;
    assert_eq!(
        harness.dc.master("default-school"),
        MASTER,
        "nothing changed"
    );
    assert!(
        harness.dc.import_calls().is_empty(),
        "no import ran: {:?}",
        harness.dc.import_calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_devices_csv_is_never_created_from_the_delta() {
    let mut harness = Harness::new("").await;
    harness.dc.write(
        "/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv",
        "# managed-by: linbo-docker — DO NOT EDIT MANUALLY\n\
         r200;r200-pc01;win11;00:1A:2B:3C:20:01;DHCP;;;;;;1;;;;\n",
    );
    let master = harness.dc.master_path("default-school");
    std::fs::remove_file(&master).expect("devices.csv removed");
    // check-config names the file.
    let output = check_config(&harness);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "# warning: school default-school: {} does not exist",
            master.display()
        )),
        "{stdout}"
    );
    let id = harness.provision(
        "default-school",
        create("r200-pc02", "00:1a:2b:3c:20:02", ""),
    );
    harness.start_worker();
    let error = harness.failure(&id).await;
    assert!(
        error.starts_with(&format!(
            "{} does not exist: the worker never creates devices.csv",
            master.display()
        )),
        "{error}"
    );
    harness.drained().await;
    assert!(!master.exists(), "devices.csv was not created");
    assert!(harness.dc.import_calls().is_empty(), "no import ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_school_without_a_directory_is_a_configuration_error() {
    let harness = Harness::new("SCHOOL=gymnasium").await;
    let output = check_config(&harness);
    assert_eq!(output.status.code(), Some(78), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("# error: SCHOOL gymnasium: ")
            && stdout.contains("does not exist; the schools of this DC are: default-school"),
        "{stdout}"
    );
    let output = harness.run_cli(&[], &[]);
    assert_eq!(output.status.code(), Some(78), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid configuration: SCHOOL gymnasium"),
        "{stderr}"
    );
}

fn check_config(harness: &Harness) -> std::process::Output {
    harness.run_cli(&["check-config"], &[])
}

/// An administrator's devices.csv line (a printer), number `n`.
fn admin_line(n: usize) -> String {
    format!(
        "r9;admin{n:03};nopxe;00:1A:2B:9F:{:02X}:{:02X};DHCP;;;;printer;;0;;;;\n",
        n / 256,
        n % 256
    )
}

fn append(path: &std::path::Path, line: &str) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("devices.csv opens for appending");
    file.write_all(line.as_bytes()).expect("appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrators_line_appended_during_a_failed_import_survives_the_rollback() {
    let mut harness = Harness::new("").await;
    harness
        .dc
        .knobs(&[("FAKE_IMPORT_SLEEP", "3"), ("FAKE_IMPORT_FAIL", "1")]);
    let master = harness.dc.master_path("default-school");
    let before = harness.dc.master("default-school");
    let id = harness.provision(
        "default-school",
        create("r200-pc30", "00:1a:2b:3c:20:30", ""),
    );
    harness.start_worker();
    crate::support::wait_until(&harness, "the import to start", || {
        !harness.dc.import_calls().is_empty()
    })
    .await;
    append(&master, &admin_line(1));
    let error = harness.failure(&id).await;
    assert!(
        error.contains("only the batch's changes were taken out, the edit stays"),
        "{error}"
    );
    assert_eq!(
        harness.dc.master("default-school"),
        format!("{before}{}", admin_line(1)),
        "the batch's host is gone, the administrator's line is there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_appended_every_50_ms_while_batches_run_are_all_kept() {
    let mut harness = Harness::new("PROVISION_BATCH_SIZE=5\nPROVISION_DEBOUNCE_SEC=1").await;
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "0.2")]);
    let master = harness.dc.master_path("default-school");
    harness.start_worker();
    let appender = {
        let master = master.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut n = 0;
            while start.elapsed() < std::time::Duration::from_secs(20) {
                append(&master, &admin_line(n));
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            n
        })
    };
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(harness.provision(
            "default-school",
            create(
                &format!("r200-pc{:02}", 40 + n),
                &format!("00:1a:2b:3c:21:{n:02x}"),
                "",
            ),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    let appended = tokio::task::spawn_blocking(move || appender.join().expect("appender"))
        .await
        .expect("joined");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.completed(&refs).await;
    let text = harness.dc.master("default-school");
    let lost: Vec<usize> = (0..appended)
        .filter(|n| !text.contains(&admin_line(*n)))
        .collect();
    assert!(appended > 300, "appended {appended} lines");
    assert!(
        lost.is_empty(),
        "{} of {appended} lines lost: {lost:?}",
        lost.len()
    );
    for n in 0..40 {
        assert!(text.contains(&format!(";r200-pc{:02};", 40 + n)));
    }
}
