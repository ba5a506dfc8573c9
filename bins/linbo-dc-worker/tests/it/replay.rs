//! Issue 12: a restart, a crash or a fault changes when a job runs, never whether or in which
//! order. Real redis-server, the fake API and the sandbox DC; the worker binary is killed and
//! restarted as an operator (or the OOM killer) would.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{DLQ, Harness, MASTER, PATIENCE, create, delete, hosts, wait_until};

/// Jobs of one batch that depend on each other: merged a second time against the files that
/// already hold them, they would conflict with their own effects.
fn chains() -> Vec<Value> {
    let rename = |from: &str, to: &str, mac: &str, ip: &str| {
        let mut options = create(to, mac, ip);
        options["action"] = json!("update");
        options["oldHostname"] = json!(from);
        options
    };
    let update = |host: &str, mac: &str, ip: &str| {
        let mut options = create(host, mac, ip);
        options["action"] = json!("update");
        options
    };
    vec![
        // Create, rename, and create the old name again (another device).
        create("r200-pc80", "00:1a:2b:3c:20:80", "10.0.200.80"),
        rename("r200-pc80", "r200-pc81", "00:1a:2b:3c:20:80", "10.0.200.80"),
        create("r200-pc80", "00:1a:2b:3c:20:82", "10.0.200.82"),
        // An IP handed from one host to another.
        create("r200-pc83", "00:1a:2b:3c:20:83", "10.0.200.83"),
        update("r200-pc83", "00:1a:2b:3c:20:83", "10.0.200.84"),
        create("r200-pc85", "00:1a:2b:3c:20:85", "10.0.200.83"),
        // A MAC handed from one host to another.
        create("r200-pc86", "00:1a:2b:3c:20:86", ""),
        delete("r200-pc86"),
        create("r200-pc87", "00:1a:2b:3c:20:86", ""),
    ]
}

/// The hosts of default-school after the chains, with or without a kill.
const CHAIN_HOSTS: [&str; 7] = [
    "r100-pc01",
    "r100-pr01",
    "r200-pc81",
    "r200-pc80",
    "r200-pc83",
    "r200-pc85",
    "r200-pc87",
];

/// Starts the worker with a slow import and kills it with -9 once the import runs (the batch's
/// files are written then).
async fn kill_during_the_import(harness: &mut Harness) {
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "30")]);
    harness.start_worker();
    wait_until(harness, "the import to start", || {
        !harness.dc.import_calls().is_empty()
    })
    .await;
    harness.kill_worker();
}

/// Runs the chains as one batch, killing the worker with -9 during the import when `kill`;
/// returns each job's terminal statuses and the final devices.csv.
async fn run_chains(kill: bool) -> (Vec<Vec<String>>, String) {
    let mut harness = Harness::new("PROVISION_DEBOUNCE_SEC=2").await;
    let ids: Vec<String> = chains()
        .into_iter()
        .map(|options| harness.provision("default-school", options))
        .collect();
    if kill {
        kill_during_the_import(&mut harness).await;
        harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "0")]);
    }
    harness.start_worker();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.finished(&refs).await;
    harness.drained().await;
    assert_eq!(harness.redis.stream_len(DLQ), 0, "{}", harness.logs());
    if kill {
        assert!(
            harness.logs().contains("its recorded outcomes stand"),
            "the replay went on from the journal\n{}",
            harness.logs()
        );
    }
    let terminal = ids
        .iter()
        .map(|id| {
            harness
                .statuses(id)
                .into_iter()
                .filter(|status| status == "completed" || status == "failed")
                .collect()
        })
        .collect();
    (terminal, harness.dc.master("default-school"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_during_its_import_reports_what_an_uninterrupted_run_reports() {
    let (expected, expected_master) = run_chains(false).await;
    assert!(
        expected.iter().all(|statuses| statuses == &["completed"]),
        "every chain job completes: {expected:?}"
    );
    let (statuses, master) = run_chains(true).await;
    assert_eq!(
        statuses, expected,
        "the replay reports the recorded outcomes, once each"
    );
    assert_eq!(master, expected_master);
    assert_eq!(hosts(&master), CHAIN_HOSTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_create_keeps_its_place_before_a_later_delete_of_the_same_host() {
    let mut harness = Harness::new("").await;
    let create_id = harness.provision(
        "default-school",
        create("r200-pc88", "00:1a:2b:3c:20:88", ""),
    );
    // The API cannot give the create's operation for 3 s (a database hiccup).
    harness.api.database_error_for(&create_id);
    harness.start_worker();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let delete_id = harness.provision("default-school", delete("r200-pc88"));
    tokio::time::sleep(Duration::from_millis(1400)).await;
    harness.api.clear_failures();
    harness.completed(&[&create_id, &delete_id]).await;
    harness.drained().await;
    assert!(
        !hosts(&harness.dc.master("default-school")).contains(&"r200-pc88".to_owned()),
        "the delete ran after the create\n{}",
        harness.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_kills_over_a_backlog_dead_letter_nothing_and_run_every_job_once() {
    const JOBS: usize = 300;
    let mut harness = Harness::new("PROVISION_BATCH_SIZE=20").await;
    let ids: Vec<String> = (0..JOBS)
        .map(|n| {
            harness.provision(
                "default-school",
                create(
                    &format!("r300-pc{n:03}"),
                    &format!("00:1a:2b:3d:{:02x}:{:02x}", n / 256, n % 256),
                    "",
                ),
            )
        })
        .collect();
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "0.5")]);
    let finished = |harness: &Harness| -> usize {
        ids.iter()
            .filter(|id| crate::support::is_final(&harness.operation(id)))
            .count()
    };
    harness.start_worker();
    // Five graceful restarts and five kill -9s, alternating, each once a batch more has
    // finished since the last one (a worker killed again and again in the same batch would
    // rightly dead-letter it after MAX_DELIVERIES starts).
    for round in 0..10 {
        let before = finished(&harness);
        wait_until(&harness, "one more batch to finish", || {
            finished(&harness) > before
        })
        .await;
        // Into the next batch: its jobs are running, its import under way.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if round % 2 == 0 {
            harness.kill_worker();
        } else {
            let status = harness.stop_worker();
            assert!(status.success(), "{status:?}\n{}", harness.logs());
        }
        harness.start_worker();
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let done = harness.finished_within(&refs, PATIENCE * 3).await;
    harness.drained().await;
    assert_eq!(
        harness.redis.stream_len(DLQ),
        0,
        "nothing dead-lettered\n{}",
        harness.logs()
    );
    for (id, operation) in ids.iter().zip(&done) {
        assert_eq!(operation["status"], "completed", "{operation:#}");
        let terminal: BTreeSet<String> = harness
            .statuses(id)
            .into_iter()
            .filter(|status| status == "completed" || status == "failed")
            .collect();
        assert_eq!(
            terminal.len(),
            1,
            "{id}: one terminal status, never another"
        );
    }
    let mut expected: Vec<String> = hosts(MASTER);
    expected.extend((0..JOBS).map(|n| format!("r300-pc{n:03}")));
    assert_eq!(
        hosts(&harness.dc.master("default-school")),
        expected,
        "devices.csv as a run without restarts leaves it"
    );
}

/// Runs the first chain (create, rename, create again) until the import, kills the worker,
/// lets `edit` change devices.csv, and restarts it; the harness and the chain's operations.
async fn kill_edit_and_restart(
    edit: impl FnOnce(&str) -> String,
) -> (Harness, Vec<String>, String) {
    let mut harness = Harness::new("").await;
    let ids: Vec<String> = chains()
        .into_iter()
        .take(3)
        .map(|options| harness.provision("default-school", options))
        .collect();
    kill_during_the_import(&mut harness).await;
    let edited = edit(&harness.dc.master("default-school"));
    harness.dc.write_master("default-school", &edited);
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "0")]);
    harness.start_worker();
    (harness, ids, edited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_goes_on_around_an_administrators_new_line() {
    let (harness, ids, edited) = kill_edit_and_restart(|master| {
        format!(
            "{master}r100;r100-pc09;win11;00:1A:2B:3C:4D:09;10.0.100.9;;;;classroom-studentcomputer;;1;;;;\n"
        )
    })
    .await;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.completed(&refs).await;
    harness.drained().await;
    assert_eq!(
        harness.dc.master("default-school"),
        edited,
        "the batch's lines and the administrator's line"
    );
    assert!(
        harness
            .logs()
            .contains("an administrator edited other hosts since: the recorded outcomes stand"),
        "{}",
        harness.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_whose_own_hosts_were_edited_meanwhile_stops_with_a_clear_error() {
    // The administrator changes the group of a host the batch created.
    let (harness, ids, edited) = kill_edit_and_restart(|master| {
        master.replace("r200;r200-pc81;win11;", "r200;r200-pc81;bionic;")
    })
    .await;
    assert!(edited.contains("r200-pc81;bionic"), "{edited}");
    for id in &ids {
        let error = harness.failure(id).await;
        assert!(
            error.contains("changed after an interrupted batch wrote them")
                && error.contains("devices.csv"),
            "{error}"
        );
    }
    harness.drained().await;
    assert_eq!(
        harness.dc.master("default-school"),
        edited,
        "the administrator's version is left as it is"
    );
    assert!(
        !harness
            .dc
            .path("/var/lib/linbo-dc/backup/default-school/import-pending")
            .exists(),
        "no later rollback puts the pre-batch files back over the edit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_of_a_finished_batch_is_removed_at_the_next_start() {
    let mut harness = Harness::new("").await;
    let id = harness.provision(
        "default-school",
        create("r200-pc89", "00:1a:2b:3c:20:89", ""),
    );
    harness.start_worker();
    harness.completed(&[&id]).await;
    harness.drained().await;
    let journal = harness
        .dc
        .path("/var/lib/linbo-dc/backup/default-school/batch.json");
    assert!(
        journal.exists(),
        "kept until the batch is known to be acknowledged"
    );
    let status = harness.stop_worker();
    assert!(status.success());
    harness.start_worker();
    wait_until(&harness, "the settled journal to go", || !journal.exists()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_job_completes_soon_after_the_redis_connections_were_killed() {
    let mut harness = Harness::new("").await;
    let id = harness.provision(
        "default-school",
        create("r200-pc90", "00:1a:2b:3c:20:90", ""),
    );
    harness.api.database_error_for(&id);
    harness.start_worker();
    wait_until(&harness, "the first deferral", || {
        harness.logs().contains("cannot fetch the operation")
    })
    .await;
    // Every client connection goes; the worker reconnects and replays, which resets the waiting
    // entry's idle time in Redis (CLAIM_MIN_IDLE_SEC is 40 min by default).
    let killed: u64 = harness
        .redis
        .query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"));
    assert!(killed >= 2, "the worker's reader and command connections");
    harness.api.clear_failures();
    // The deferral doubles from 2 s: a few of them plus the reconnect, never the idle time.
    harness
        .completed_within(&[&id], Duration::from_secs(20))
        .await;
    harness.drained().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_between_its_two_writes_is_merged_afresh_from_the_saved_files() {
    let mut harness = Harness::new("").await;
    let ids: Vec<String> = chains()
        .into_iter()
        .map(|options| harness.provision("default-school", options))
        .collect();
    kill_during_the_import(&mut harness).await;
    // The state a kill between the delta write and the master write leaves: the delta is the
    // batch's, devices.csv still the one before (the saved copy of the rollback point).
    let saved = std::fs::read_to_string(
        harness
            .dc
            .path("/var/lib/linbo-dc/backup/default-school/devices.csv"),
    )
    .expect("the saved devices.csv");
    assert_eq!(saved, MASTER);
    harness.dc.write_master("default-school", &saved);
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "0")]);
    harness.start_worker();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.completed(&refs).await;
    harness.drained().await;
    assert!(
        harness
            .logs()
            .contains("wrote only the delta file; both files were restored"),
        "{}",
        harness.logs()
    );
    assert_eq!(hosts(&harness.dc.master("default-school")), CHAIN_HOSTS);
}
