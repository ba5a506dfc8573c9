//! Outages, crashes, poison entries and stopping: nothing is lost, nothing runs twice in effect.

use dc_testkit::RedisServer;

use crate::support::{CONSUMER, DLQ, Harness, MASTER, STREAM, create, delete, hosts, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_outage_loses_no_status_report() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "2")]);
    let ids: Vec<String> = (0..3)
        .map(|n| {
            harness.provision(
                "default-school",
                create(&format!("r200-pc6{n}"), &format!("00:1a:2b:3c:20:6{n}"), ""),
            )
        })
        .collect();
    harness.start_worker();
    wait_until(&harness, "running reports", || {
        ids.iter().all(|id| harness.statuses(id) == ["running"])
    })
    .await;
    harness.api.go_down().await;
    // The entries are acknowledged once the outcomes are in the outbox.
    harness.drained().await;
    let outbox = harness.dc.list("/var/lib/linbo-dc/outbox");
    assert_eq!(outbox.len(), 3, "one queue per operation: {outbox:?}");
    for id in &ids {
        assert_eq!(
            harness.operation(id)["status"],
            "running",
            "the API has not heard yet"
        );
    }
    harness.api.come_back().await;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.completed(&refs).await;
    for id in &ids {
        assert_eq!(
            harness.statuses(id),
            ["running", "completed"],
            "in order, once"
        );
    }
    wait_until(&harness, "an empty outbox", || {
        harness
            .dc
            .list("/var/lib/linbo-dc/outbox")
            .iter()
            .all(|name| name == "quarantine")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_finishes_every_job_after_its_restart() {
    let mut harness = Harness::with_redis(RedisServer::start(), "").await;
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "5")]);
    let ids: Vec<String> = (0..5)
        .map(|n| {
            harness.provision(
                "default-school",
                create(
                    &format!("r200-pc7{n}"),
                    &format!("00:1a:2b:3c:20:7{n}"),
                    &format!("10.0.200.7{n}"),
                ),
            )
        })
        .collect();
    harness.start_worker();
    wait_until(&harness, "the import to start", || {
        !harness.dc.import_calls().is_empty()
    })
    .await;
    harness.kill_worker();
    let pending = harness.redis.pending_summary(STREAM, "dc-workers").count;
    assert_eq!(pending, 5, "nothing was acknowledged before the outcome");

    harness.dc.knobs(&[]);
    harness.start_worker();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.completed(&refs).await;
    harness.drained().await;
    let master = harness.dc.master("default-school");
    let mut expected = vec!["r100-pc01".to_owned(), "r100-pr01".to_owned()];
    expected.extend((0..5).map(|n| format!("r200-pc7{n}")));
    assert_eq!(
        hosts(&master),
        expected,
        "every host exactly once:\n{master}"
    );
    assert_eq!(hosts(&harness.dc.delta("default-school")), expected[2..]);
    assert_eq!(
        harness
            .dc
            .list("/etc/linuxmuster/sophomorix/default-school"),
        ["devices.csv", "linbo-docker.devices.csv"],
        "no temporary files left behind"
    );
    for id in &ids {
        assert_eq!(
            harness.statuses(id).last().map(String::as_str),
            Some("completed")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_entries_are_dead_lettered_and_the_worker_keeps_running() {
    let mut harness = Harness::new("").await;
    harness.start_worker();
    harness.redis.xadd(
        STREAM,
        &[
            ("type", "macct_repair"),
            ("operation_id", "../../etc/passwd"),
            ("host", "pc1"),
            ("attempt", "0"),
        ],
    );
    harness.redis.xadd(
        STREAM,
        &[
            ("type", "rm -rf /"),
            ("operation_id", "00000000-0000-4000-8000-0000000000ff"),
        ],
    );
    let flagged = "00000000-0000-4000-8000-0000000000fe";
    harness
        .api
        .insert_operation(dc_testkit::fake_api::macct_operation(
            flagged,
            "-rf",
            "default-school",
            0,
        ));
    harness.redis.xadd(
        STREAM,
        &[
            ("type", "macct_repair"),
            ("operation_id", flagged),
            ("host", "-rf"),
            ("attempt", "0"),
        ],
    );
    harness.redis.xadd(
        STREAM,
        &[
            ("type", "macct_repair"),
            ("operation_id", flagged),
            ("host", "pc1"),
            ("attempt", "soon"),
        ],
    );
    let fine = harness.provision(
        "default-school",
        create("r200-pc80", "00:1a:2b:3c:20:80", ""),
    );
    harness.completed(&[&fine]).await;
    harness.drained().await;

    let letters = harness.redis.dead_letters(DLQ);
    assert_eq!(letters.len(), 4, "{letters:#?}");
    // Dead-letter writes run concurrently: look each reason up, not by position.
    let errors: Vec<&str> = letters
        .iter()
        .map(|letter| letter.fields["last_error"].as_str())
        .collect();
    for expected in [
        "field operation_id",
        "unknown type \"rm -rf /\"",
        "field host \"-rf\"",
        "field attempt",
    ] {
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{expected}: {errors:?}"
        );
    }
    assert!(
        letters
            .iter()
            .all(|letter| letter.fields.contains_key("original_id"))
    );
    let flagged_op = harness.operation(flagged);
    assert_eq!(
        flagged_op["status"], "failed",
        "a valid operation id is told: {flagged_op:#}"
    );
    assert!(
        harness.worker_running(),
        "the worker survived\n{}",
        harness.logs()
    );
    assert!(
        !harness.dc.calls().iter().any(|call| call.contains("-rf")),
        "nothing ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_worker_cleanly_and_the_heartbeat_shows_it_alive_before() {
    let mut harness = Harness::new("").await;
    harness.start_worker();
    let key = format!("linbo:workers:{CONSUMER}");
    wait_until(&harness, "the heartbeat", || {
        !harness.redis.hgetall(&key).is_empty()
    })
    .await;
    let beat = harness.redis.hgetall(&key);
    assert!(beat["version"].starts_with("linbo-dc-worker "), "{beat:?}");
    for field in ["started_at", "last_seen", "in_flight", "lanes"] {
        assert!(beat.contains_key(field), "{field} missing: {beat:?}");
    }
    let status = harness.stop_worker();
    assert_eq!(status.code(), Some(0), "{}", harness.logs());
    assert!(
        harness.redis.hgetall(&key).is_empty(),
        "the heartbeat is removed at a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_whose_handling_started_too_often_is_dead_lettered_and_its_operation_failed() {
    let mut harness = Harness::new("MAX_DELIVERIES=5").await;
    let id = harness.provision(
        "default-school",
        create("r200-pc90", "00:1a:2b:3c:20:90", ""),
    );
    // A poison entry earlier workers began five times without finishing it (each one killed
    // during the handling): the runtime's attempt count, not Redis's delivery counter.
    let entries = harness.redis.read_as(STREAM, "dc-workers", CONSUMER, 1);
    let _: () = harness.redis.query(
        redis::cmd("HSET")
            .arg("linbo:jobs:attempts")
            .arg(&entries[0])
            .arg(5),
    );
    harness.start_worker();

    let error = harness.failure(&id).await;
    assert!(
        error.contains("dead-letter") && error.contains("handling started 5 times"),
        "{error}"
    );
    harness.drained().await;
    let letters = harness.redis.dead_letters(DLQ);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].fields["operation_id"], id);
    assert!(
        !harness.dc.master("default-school").contains("r200-pc90"),
        "never provisioned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_during_its_import_is_undone_when_the_replayed_import_fails() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "5")]);
    let id = harness.provision(
        "default-school",
        create("r200-pc95", "00:1a:2b:3c:20:95", ""),
    );
    harness.start_worker();
    wait_until(&harness, "the import to start", || {
        !harness.dc.import_calls().is_empty()
    })
    .await;
    assert!(
        harness.dc.master("default-school").contains("r200-pc95"),
        "written before the import"
    );
    harness.kill_worker();

    // After the restart the job is already in the files; the import fails this time.
    harness.dc.knobs(&[("FAKE_IMPORT_FAIL", "1")]);
    harness.start_worker();
    let done = harness.finished(&[&id]).await;
    assert_eq!(done[0]["status"], "failed", "{:#}", done[0]);
    assert!(
        done[0]["error"].as_str().unwrap_or("").contains("restored"),
        "{:#}",
        done[0]
    );
    assert_eq!(
        harness.dc.master("default-school"),
        MASTER,
        "back to the state before the batch"
    );
    assert!(
        !harness
            .dc
            .exists("/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv")
    );
    assert!(
        !harness
            .dc
            .exists("/var/lib/linbo-dc/backup/default-school/import-pending")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_outage_while_fetching_keeps_the_entries_pending_without_dead_lettering() {
    let mut harness = Harness::new("MAX_DELIVERIES=1").await;
    harness.api.fail_always();
    let first = harness.provision(
        "default-school",
        create("r200-pc96", "00:1a:2b:3c:20:96", ""),
    );
    let second = harness.provision("default-school", delete("r200-pc96"));
    harness.start_worker();
    wait_until(&harness, "several failed fetches", || {
        harness
            .api
            .requests()
            .iter()
            .filter(|request| request.method == "GET")
            .count()
            >= 6
    })
    .await;
    assert_eq!(
        harness.redis.stream_len(DLQ),
        0,
        "waiting for the API is not the entry's fault"
    );
    harness.api.clear_failures();
    harness.completed(&[&first, &second]).await;
    assert!(
        !harness.dc.master("default-school").contains("r200-pc96"),
        "create then delete, in stream order"
    );
    harness.drained().await;
    assert_eq!(harness.redis.stream_len(DLQ), 0);
}
