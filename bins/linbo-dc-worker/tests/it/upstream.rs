//! The worker against linuxmuster and the LINBO Docker API as they really are (UPSTREAM.md §A):
//! the API's error classes and cancels, sophomorix's lock and failures per linuxmuster version,
//! the import run again on restored files, school-prefixed DHCP blocks and names.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{
    DLQ, GROUP, Harness, LINBO_DOCKER_IP, STREAM, create, delete, next_server, wait_until,
};

/// A committed test command from `fixtures/commands/`.
fn fixture_command(name: &str) -> PathBuf {
    std::fs::canonicalize(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/commands")
            .join(name),
    )
    .expect("a committed fixture command")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_of_the_api_keeps_entries_pending_without_counting_deliveries() {
    // The real API answers 400 DATABASE_ERROR for any database hiccup (index.js:330-338).
    let mut harness = Harness::new("MAX_DELIVERIES=2").await;
    harness.api.database_error_always();
    let id = harness.provision(
        "default-school",
        create("r200-pc50", "00:1a:2b:3c:20:50", ""),
    );
    harness.start_worker();
    // Longer than two counted retries (5 s each) would take.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(harness.redis.stream_len(DLQ), 0, "{}", harness.logs());
    assert_eq!(harness.operation(&id)["status"], "pending");
    harness.api.clear_failures();
    harness.completed(&[&id]).await;
    harness.drained().await;
    assert_eq!(harness.redis.stream_len(DLQ), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_request_that_meets_a_database_error_is_made_again() {
    let mut harness = Harness::new("").await;
    harness.api.forward_retries_to(&harness.redis.url());
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "fail")]);
    harness.start_worker();
    let id = harness.macct("r100-pc01", "default-school");
    wait_until(&harness, "no retrying report", || {
        harness.statuses(&id).contains(&"retrying".to_owned())
    })
    .await;
    // The next request belongs to the retry protocol (the look-up before the POST …/retry).
    harness.api.database_error_next(1);
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "updated")]);
    let done = harness.completed(&[&id]).await;
    assert_eq!(done[0]["attempt"], 1, "{:#}", done[0]);
    assert_eq!(
        harness.statuses(&id),
        ["running", "retrying", "running", "completed"],
        "a database error is no refused retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_cancelled_during_its_retry_wait_is_not_retried() {
    let mut harness = Harness::new("MACCT_RETRY_BACKOFF_SEC=2").await;
    harness.api.forward_retries_to(&harness.redis.url());
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "fail")]);
    harness.start_worker();
    let id = harness.macct("r100-pc01", "default-school");
    wait_until(&harness, "no retrying report", || {
        harness.statuses(&id).contains(&"retrying".to_owned())
    })
    .await;
    harness.api.cancel(&id);
    harness.drained().await;
    let operation = harness.operation(&id);
    assert_eq!(operation["status"], "cancelled", "{operation:#}");
    assert_eq!(operation["attempt"], 0, "no retry was requested");
    assert!(
        !harness
            .api
            .requests()
            .iter()
            .any(|request| request.method == "POST"),
        "no POST …/retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_url_stops_the_worker_with_exit_78_and_keeps_every_entry() {
    let mut harness = Harness::new("MAX_DELIVERIES=1").await;
    let wrong = format!("API_URL=http://{}/api/v2", harness.api.address());
    harness.dc.write_worker_config(&format!(
        "{}{wrong}\n",
        harness.dc.read("/etc/macct-worker.conf")
    ));
    let provision = harness.provision(
        "default-school",
        create("r200-pc51", "00:1a:2b:3c:20:51", ""),
    );
    let repair = harness.macct("r100-pc01", "default-school");
    harness.start_worker();
    let status = harness.wait_for_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(78), "{}", harness.logs());
    let logs = harness.logs();
    assert!(logs.contains("API_URL is wrong"), "{logs}");
    assert!(
        logs.contains("Route GET /api/v2/internal/operations/"),
        "{logs}"
    );
    // Nothing was run, reported, acknowledged or dead-lettered.
    assert_eq!(harness.redis.pending_summary(STREAM, GROUP).count, 2);
    assert_eq!(harness.redis.stream_len(DLQ), 0);
    assert!(harness.dc.import_calls().is_empty());
    for id in [&provision, &repair] {
        assert_eq!(harness.operation(id)["status"], "pending");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_operations_are_acknowledged_without_running() {
    let mut harness = Harness::new("").await;
    let provision = harness.provision(
        "default-school",
        create("r200-pc52", "00:1a:2b:3c:20:52", ""),
    );
    let repair = harness.macct("r100-pc01", "default-school");
    // The administrator cancels both in the web UI before the worker gets to them.
    harness.api.cancel(&provision);
    harness.api.cancel(&repair);
    let fine = harness.provision(
        "default-school",
        create("r200-pc53", "00:1a:2b:3c:20:53", ""),
    );
    harness.start_worker();
    harness.completed(&[&fine]).await;
    harness.drained().await;
    for id in [&provision, &repair] {
        assert_eq!(harness.operation(id)["status"], "cancelled");
        assert!(harness.statuses(id).is_empty(), "no report for {id}");
    }
    let master = harness.dc.master("default-school");
    assert!(
        !master.contains("r200-pc52") && master.contains("r200-pc53"),
        "{master}"
    );
    assert!(
        !harness
            .dc
            .calls()
            .iter()
            .any(|call| call.starts_with("repair_macct.py")),
        "{:?}",
        harness.dc.calls()
    );
}

/// Writes the sophomorix lock as `sophomorix-add` holds it; this test process stands in for it,
/// so the holder is alive.
fn hold_sophomorix_lock(harness: &Harness) {
    harness.dc.write(
        "/var/lib/sophomorix/lock/sophomorix.lock",
        &format!(
            "lock::2026-11-30 08:14:02::creator::/usr/sbin/sophomorix-add --info::{}::\n",
            std::process::id()
        ),
    );
}

fn release_sophomorix_lock(harness: &Harness) {
    std::fs::remove_file(harness.dc.path("/var/lib/sophomorix/lock/sophomorix.lock"))
        .expect("releasing the sophomorix lock");
}

fn sophomorix_checks(harness: &Harness) -> usize {
    harness
        .dc
        .calls()
        .iter()
        .filter(|call| call.as_str() == "sophomorix-device --dry-run")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sophomorix_lock_keeps_the_batch_waiting_until_it_is_released() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_SOPHOMORIX_LOCK_WAIT", "0")]);
    hold_sophomorix_lock(&harness);
    let id = harness.provision(
        "default-school",
        create("r200-pc54", "00:1a:2b:3c:20:54", ""),
    );
    harness.start_worker();
    wait_until(&harness, "a second sophomorix check", || {
        sophomorix_checks(&harness) >= 2
    })
    .await;
    assert_eq!(
        harness.statuses(&id),
        ["running"],
        "reported running once, not failed while waiting"
    );
    assert!(harness.dc.import_calls().is_empty());
    release_sophomorix_lock(&harness);
    harness.completed(&[&id]).await;
    assert!(harness.dc.master("default-school").contains("r200-pc54"));
    assert_eq!(harness.dc.import_calls().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waiting_for_sophomorix_is_not_overtaken_by_a_later_one() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_SOPHOMORIX_LOCK_WAIT", "0")]);
    hold_sophomorix_lock(&harness);
    harness.start_worker();
    let created = harness.provision(
        "default-school",
        create("r200-pc60", "00:1a:2b:3c:20:60", "10.0.200.60"),
    );
    // The create's batch is waiting for sophomorix; the delete comes in a batch of its own.
    wait_until(&harness, "the create's batch checking sophomorix", || {
        sophomorix_checks(&harness) >= 1
    })
    .await;
    let deleted = harness.provision("default-school", delete("r200-pc60"));
    tokio::time::sleep(Duration::from_secs(8)).await;
    release_sophomorix_lock(&harness);
    let done = harness.completed(&[&created, &deleted]).await;
    assert_eq!(done[1]["result"]["change"], "deleted", "{:#}", done[1]);
    assert!(
        !harness.dc.master("default-school").contains("r200-pc60"),
        "the later delete won: {}",
        harness.dc.master("default-school")
    );
    assert!(!harness.dc.ad_objects().contains(&"r200-pc60".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_linuxmuster_7_4_a_failed_import_brings_sophomorixs_lines_from_its_log() {
    let mut harness = Harness::new("SOPHOMORIX_PRECHECK=false").await;
    harness.dc.knobs(&[
        ("FAKE_LINUXMUSTER_VERSION", "7.4"),
        ("FAKE_SOPHOMORIX_EXIT", "1"),
    ]);
    harness.start_worker();
    let id = harness.provision(
        "default-school",
        create("r200-pc55", "00:1a:2b:3c:20:55", ""),
    );
    let error = harness.failure(&id).await;
    assert!(
        error.contains("sophomorix-device --dry-run failed with return code 1"),
        "{error}"
    );
    assert!(
        error.contains("/var/log/linuxmuster/import-devices.log: ")
            && error.contains("(Field:1) contains invalid characters"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_import_the_restored_files_are_imported_again() {
    let mut harness = Harness::new("").await;
    std::os::unix::fs::symlink(
        fixture_command("hook-fails-for-host"),
        harness
            .dc
            .path("/var/lib/linuxmuster/hooks/device-import.post.d/60-refuses-r200-pc56"),
    )
    .expect("installing a second hook");
    harness.dc.knobs(&[("HOOK_FAILS_FOR_HOST", "r200-pc56")]);
    harness.start_worker();
    let id = harness.provision(
        "default-school",
        create("r200-pc56", "00:1a:2b:3c:20:56", ""),
    );
    let error = harness.failure(&id).await;
    assert!(
        error.contains("r200-pc56 is in devices.csv, refusing"),
        "the hook's stderr reaches the job: {error}"
    );
    assert!(
        error.contains(
            "devices.csv and the delta file were restored; the restored files were imported \
             again, so AD, DNS and DHCP match them"
        ),
        "{error}"
    );
    assert_eq!(harness.dc.import_calls().len(), 2);
    assert!(!harness.dc.master("default-school").contains("r200-pc56"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_repair_script_fails_its_job_at_once() {
    let mut harness =
        Harness::new("REPAIR_SCRIPT=/usr/share/linuxmuster/linbo/no-such-repair.py").await;
    harness.start_worker();
    let id = harness.macct("r100-pc01", "default-school");
    let error = harness.failure(&id).await;
    assert!(
        error.contains("REPAIR_SCRIPT") && error.contains("no-such-repair.py does not exist"),
        "{error}"
    );
    assert_eq!(harness.statuses(&id), ["failed"], "no retries");
    assert!(
        harness.logs().contains("REPAIR_SCRIPT does not exist"),
        "a warning at start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_of_another_school_gets_its_prefixed_dhcp_block_patched() {
    let mut harness = Harness::new("").await;
    harness.dc.write_master("gym", "");
    harness.start_worker();
    let id = harness.provision(
        "gym",
        create("g100-pc57", "00:1a:2b:3c:20:57", "10.1.100.57"),
    );
    let done = harness.completed(&[&id]).await;
    assert_eq!(
        done[0]["result"]["verify"]["dhcp_configured"], true,
        "{:#}",
        done[0]
    );
    let dhcp = harness.dc.read("/etc/dhcp/devices/gym.conf");
    assert_eq!(
        next_server(&dhcp, "gym-g100-pc57").as_deref(),
        Some(LINBO_DOCKER_IP),
        "{dhcp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_another_school_has_in_ad_and_dns_is_refused() {
    let mut harness = Harness::new("").await;
    harness.dc.write_master(
        "gym",
        "g100;pc58;win11;00:1A:2B:3C:20:58;10.1.100.58;;;;;;1;;;;\n",
    );
    harness.start_worker();
    // default-school's `gym-pc58` is gym's `pc58` in AD and DNS (sophomorix-device:1662-1669).
    let id = harness.provision(
        "default-school",
        create("gym-pc58", "00:1a:2b:3c:20:59", ""),
    );
    let error = harness.failure(&id).await;
    assert!(
        error.contains("gym-pc58") && error.contains("pc58") && error.contains("school gym"),
        "{error}"
    );
    assert!(!harness.dc.master("default-school").contains("gym-pc58"));
}
