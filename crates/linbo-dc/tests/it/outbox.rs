//! The durable outbox: outages, restarts, torn lines, permanent rejections, ordering.

use std::fs;
use std::io::Write;
use std::path::Path;

use dc_testkit::FakeApi;
use linbo_dc::worker::api::{ApiError, StatusUpdate};
use linbo_dc::worker::outbox::{Delivery, Outbox, QueuedCount, count_queued, deliver_or_store};
use serde_json::{Value, json};

use crate::api::{ID, KEY, OTHER_ID, client, id};

fn operation(id: &str) -> Value {
    json!({"id": id, "type": "macct_repair", "status": "pending", "attempt": 0})
}

fn result(stdout_lines: u64) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("processed".into(), json!(true));
    map.insert("stdout_lines".into(), json!(stdout_lines));
    map
}

fn queue_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("outbox dir exists")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|name| name.ends_with(".jsonl"))
        .collect();
    names.sort();
    names
}

fn to_json(updates: &[StatusUpdate]) -> Vec<Value> {
    updates
        .iter()
        .map(|update| serde_json::to_value(update).expect("encodes"))
        .collect()
}

#[tokio::test]
async fn outage_loses_nothing_and_delivers_in_order_when_back() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    api.insert_operation(operation(OTHER_ID));
    let client = client(&api);
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = std::sync::Arc::new(Outbox::open(dir.path().join("outbox")).expect("opens"));
    api.go_down().await;

    let first = [
        StatusUpdate::running(),
        StatusUpdate::retrying("repair failed", 1),
        StatusUpdate::completed(result(4)),
    ];
    let second = [
        StatusUpdate::running(),
        StatusUpdate::failed("no such host"),
    ];
    for (index, update) in first.iter().enumerate() {
        let delivery = deliver_or_store(&client, &outbox, &id(ID), update.clone())
            .await
            .expect("stored durably");
        match (index, delivery) {
            (0, Delivery::Stored(Some(error))) => assert!(error.is_unreachable(), "{error:?}"),
            (_, Delivery::Stored(None)) if index > 0 => {}
            (_, other) => panic!("update {index}: {other:?}"),
        }
    }
    for update in &second {
        let delivery = deliver_or_store(&client, &outbox, &id(OTHER_ID), update.clone())
            .await
            .expect("stored durably");
        assert!(matches!(delivery, Delivery::Stored(_)), "{delivery:?}");
    }
    assert_eq!(outbox.pending(), 5);
    assert_eq!(outbox.queued(&id(ID)), first);

    let report = outbox.flush(&client).await;
    assert!(report.unreachable, "{report:?}");
    assert_eq!(report.delivered, 0);
    assert_eq!(report.remaining, 5);

    api.come_back().await;
    let report = outbox.flush(&client).await;
    assert_eq!(report.delivered, 5, "{report:?}");
    assert!(report.dropped.is_empty() && report.deferred.is_empty());
    assert_eq!(report.remaining, 0);
    assert_eq!(outbox.pending(), 0);
    assert_eq!(api.status_bodies(ID), to_json(&first));
    assert_eq!(api.status_bodies(OTHER_ID), to_json(&second));
    assert_eq!(api.operation(ID).expect("exists")["status"], "completed");
    assert!(queue_files(outbox.dir()).is_empty());
}

#[tokio::test]
async fn pending_reports_survive_a_restart() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    api.insert_operation(operation(OTHER_ID));
    let dir = tempfile::tempdir().expect("temp dir");
    let updates = [
        StatusUpdate::running(),
        StatusUpdate::retrying("timeout", 2),
        StatusUpdate::failed("Max retries (3) exceeded: timeout"),
    ];
    {
        let outbox = Outbox::open(dir.path()).expect("opens");
        for update in &updates {
            outbox.push(&id(ID), update.clone()).expect("pushed");
        }
        outbox
            .push(&id(OTHER_ID), StatusUpdate::running())
            .expect("pushed");
    }
    assert_eq!(
        queue_files(dir.path()),
        [format!("{ID}.jsonl"), format!("{OTHER_ID}.jsonl")]
    );

    let outbox = Outbox::open(dir.path()).expect("reopens");
    assert_eq!(outbox.recovery().entries, 4);
    assert_eq!(outbox.pending(), 4);
    assert_eq!(outbox.queued(&id(ID)), updates);

    let report = outbox.flush(&client(&api)).await;
    assert_eq!(report.delivered, 4, "{report:?}");
    assert_eq!(api.status_bodies(ID), to_json(&updates));
    assert_eq!(api.status_bodies(OTHER_ID), [json!({"status": "running"})]);

    drop(outbox);
    let outbox = Outbox::open(dir.path()).expect("reopens");
    assert_eq!(outbox.pending(), 0, "delivered reports are gone from disk");
}

#[tokio::test]
async fn a_failed_flush_keeps_everything_across_a_restart() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    let client = client(&api);
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(dir.path()).expect("opens");
    let updates = [
        StatusUpdate::running(),
        StatusUpdate::retrying("x", 1),
        StatusUpdate::completed(result(1)),
    ];
    for update in &updates {
        outbox.push(&id(ID), update.clone()).expect("pushed");
    }
    api.fail_always();
    let report = outbox.flush(&client).await;
    assert_eq!(report.delivered, 0);
    assert_eq!(report.deferred.len(), 1, "{report:?}");
    assert!(matches!(report.deferred[0].1, ApiError::Server { .. }));
    assert!(!report.unreachable);
    assert_eq!(report.remaining, 3);
    assert_eq!(api.requests().len(), 1, "stopped at the first failure");

    api.clear_failures();
    api.clear_requests();
    drop(outbox);
    let outbox = Outbox::open(dir.path()).expect("reopens");
    assert_eq!(outbox.queued(&id(ID)), updates);
    let report = outbox.flush(&client).await;
    assert_eq!(report.delivered, 3, "{report:?}");
    assert_eq!(api.status_bodies(ID), to_json(&updates));
}

#[tokio::test]
async fn a_torn_last_line_is_set_aside() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let outbox = Outbox::open(dir.path()).expect("opens");
        outbox
            .push(&id(ID), StatusUpdate::running())
            .expect("pushed");
        outbox
            .push(&id(ID), StatusUpdate::retrying("x", 1))
            .expect("pushed");
    }
    // A crash in the middle of the third append.
    let path = dir.path().join(format!("{ID}.jsonl"));
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("queue file exists");
    file.write_all(br#"{"status":"compl"#).expect("append");
    drop(file);

    let outbox = Outbox::open(dir.path()).expect("a torn line is no reason to fail");
    assert_eq!(outbox.recovery().torn_lines, 1);
    assert_eq!(outbox.recovery().corrupt_lines, 0);
    assert_eq!(
        outbox.queued(&id(ID)),
        [StatusUpdate::running(), StatusUpdate::retrying("x", 1)]
    );
    let quarantined: Vec<_> = fs::read_dir(dir.path().join("quarantine"))
        .expect("quarantine exists")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        fs::read(&quarantined[0]).expect("readable"),
        br#"{"status":"compl"#
    );

    // The file was cut back to its last complete line, so the next push starts a clean line.
    outbox
        .push(&id(ID), StatusUpdate::completed(result(2)))
        .expect("pushed");
    drop(outbox);
    let outbox = Outbox::open(dir.path()).expect("reopens");
    assert_eq!(outbox.recovery().torn_lines, 0);
    assert_eq!(outbox.pending(), 3);
    let report = outbox.flush(&client(&api)).await;
    assert_eq!(report.delivered, 3, "{report:?}");
    assert_eq!(api.operation(ID).expect("exists")["status"], "completed");
}

#[test]
fn count_queued_reads_what_open_would_recover_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(
        count_queued(&dir.path().join("missing")).expect("a missing outbox holds nothing"),
        QueuedCount::default()
    );
    let files = [
        (
            format!("{ID}.jsonl"),
            "{\"status\":\"running\"}\nnot json at all\n{\"status\":\"failed\",\"error\":\"e\"}\n{\"sta",
        ),
        (format!("{OTHER_ID}.jsonl"), "{\"status\":\"completed\"}\n"),
        (
            format!("{OTHER_ID}.jsonl.tmp"),
            "{\"status\":\"completed\"}\n",
        ),
        ("README".to_owned(), "{\"status\":\"completed\"}\n"),
        ("quarantine/x.1.torn".to_owned(), "{\"sta"),
    ];
    for (name, text) in &files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().expect("in the directory")).expect("mkdir");
        fs::write(path, text).expect("write");
    }
    assert_eq!(
        count_queued(dir.path()).expect("readable"),
        QueuedCount {
            reports: 3,
            operations: 2,
            quarantined: 1
        }
    );
    for (name, text) in &files {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).expect("still there"),
            *text,
            "{name} untouched"
        );
    }
    let outbox = Outbox::open(dir.path()).expect("opens");
    assert_eq!(outbox.pending(), 3, "the same count as open");
}

#[test]
fn corrupt_lines_temp_files_and_foreign_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = dir.path().join(format!("{ID}.jsonl"));
    fs::write(
        &queue,
        "{\"status\":\"running\"}\nnot json at all\n{\"status\":\"bogus\"}\n{\"status\":\"failed\",\"error\":\"e\"}\n",
    )
    .expect("write");
    fs::write(dir.path().join(format!("{OTHER_ID}.jsonl.tmp")), "half").expect("write");
    fs::write(dir.path().join("README"), "not ours").expect("write");
    let outbox = Outbox::open(dir.path()).expect("opens");
    let recovery = outbox.recovery();
    assert_eq!(recovery.corrupt_lines, 2);
    assert_eq!(recovery.temp_files_removed, 1);
    assert_eq!(recovery.foreign_files, [dir.path().join("README")]);
    assert_eq!(
        outbox.queued(&id(ID)),
        [StatusUpdate::running(), StatusUpdate::failed("e")]
    );
    assert!(!dir.path().join(format!("{OTHER_ID}.jsonl.tmp")).exists());
    assert_eq!(
        fs::read_to_string(&queue).expect("rewritten"),
        "{\"status\":\"running\"}\n{\"status\":\"failed\",\"error\":\"e\"}\n"
    );
}

#[tokio::test]
async fn permanent_rejections_are_dropped_without_blocking_others() {
    let api = FakeApi::start(KEY).await;
    // OTHER_ID is unknown to the API: 404 for each of its reports.
    api.insert_operation(operation(ID));
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(dir.path()).expect("opens");
    outbox
        .push(&id(OTHER_ID), StatusUpdate::running())
        .expect("pushed");
    outbox
        .push(&id(OTHER_ID), StatusUpdate::failed("gone"))
        .expect("pushed");
    outbox
        .push(&id(ID), StatusUpdate::running())
        .expect("pushed");
    outbox
        .push(&id(ID), StatusUpdate::completed(result(0)))
        .expect("pushed");

    let report = outbox.flush(&client(&api)).await;
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(report.dropped.len(), 2);
    for dropped in &report.dropped {
        assert_eq!(dropped.id, id(OTHER_ID));
        assert!(matches!(dropped.error, ApiError::NotFound { .. }));
    }
    assert_eq!(report.dropped[1].update, StatusUpdate::failed("gone"));
    assert_eq!(report.remaining, 0);
    assert_eq!(api.operation(ID).expect("exists")["status"], "completed");
    assert!(queue_files(dir.path()).is_empty());
}

#[tokio::test]
async fn a_failing_operation_does_not_hold_back_the_others() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    api.insert_operation(operation(OTHER_ID));
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(dir.path()).expect("opens");
    outbox
        .push(&id(ID), StatusUpdate::running())
        .expect("pushed");
    outbox
        .push(&id(ID), StatusUpdate::failed("x"))
        .expect("pushed");
    outbox
        .push(&id(OTHER_ID), StatusUpdate::running())
        .expect("pushed");
    // Operations flush in id order: ID's first report meets the 500.
    api.fail_next(1);
    let report = outbox.flush(&client(&api)).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(report.deferred.len(), 1);
    assert_eq!(report.deferred[0].0, id(ID));
    assert!(!report.unreachable);
    assert_eq!(
        outbox.pending_for(&id(ID)),
        2,
        "stopped at the failure, in order"
    );
    assert_eq!(outbox.pending_for(&id(OTHER_ID)), 0);

    api.clear_requests();
    let report = outbox.flush(&client(&api)).await;
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(
        api.status_bodies(ID),
        [
            json!({"status": "running"}),
            json!({"status": "failed", "error": "x"})
        ]
    );
}

#[tokio::test]
async fn a_new_update_never_overtakes_queued_ones() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    let client = client(&api);
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = std::sync::Arc::new(Outbox::open(dir.path()).expect("opens"));

    api.fail_always();
    let delivery = deliver_or_store(&client, &outbox, &id(ID), StatusUpdate::running())
        .await
        .expect("stored");
    assert!(
        matches!(delivery, Delivery::Stored(Some(ApiError::Server { .. }))),
        "{delivery:?}"
    );
    api.clear_failures();
    api.clear_requests();

    // The API works again, but `running` is still queued: `completed` must go behind it.
    let delivery = deliver_or_store(
        &client,
        &outbox,
        &id(ID),
        StatusUpdate::completed(result(7)),
    )
    .await
    .expect("stored");
    assert!(matches!(delivery, Delivery::Stored(None)), "{delivery:?}");
    assert!(api.requests().is_empty(), "no send attempt");
    assert_eq!(outbox.pending_for(&id(ID)), 2);

    let report = outbox.flush(&client).await;
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(
        api.status_bodies(ID),
        [
            json!({"status": "running"}),
            json!({"status": "completed", "result": {"processed": true, "stdout_lines": 7}})
        ]
    );

    // With the queue empty, the next report goes out directly.
    let delivery = deliver_or_store(&client, &outbox, &id(ID), StatusUpdate::running())
        .await
        .expect("sent");
    assert!(matches!(delivery, Delivery::Delivered), "{delivery:?}");
}

#[tokio::test]
async fn a_refused_report_is_not_stored() {
    let api = FakeApi::start(KEY).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = std::sync::Arc::new(Outbox::open(dir.path()).expect("opens"));
    let delivery = deliver_or_store(&client(&api), &outbox, &id(ID), StatusUpdate::running())
        .await
        .expect("recorded");
    assert!(
        matches!(delivery, Delivery::Rejected(ApiError::NotFound { .. })),
        "{delivery:?}"
    );
    assert_eq!(outbox.pending(), 0);
}

#[tokio::test]
async fn a_report_the_api_database_refused_is_kept_and_sent_later() {
    // 400 DATABASE_ERROR is the API's answer to any database hiccup: the report is not lost.
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = std::sync::Arc::new(Outbox::open(dir.path()).expect("opens"));
    let client = client(&api);
    api.database_error_next(1);
    let completed = StatusUpdate::completed(result(2));
    let delivery = deliver_or_store(&client, &outbox, &id(ID), completed.clone())
        .await
        .expect("recorded");
    assert!(
        matches!(delivery, Delivery::Stored(Some(ApiError::Database { .. }))),
        "{delivery:?}"
    );
    assert_eq!(outbox.pending(), 1);
    let report = outbox.flush(&client).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(outbox.pending(), 0);
    assert_eq!(api.operation(ID).expect("exists")["status"], "completed");
}

#[tokio::test]
async fn a_hanging_api_stops_the_flush_after_one_timeout() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    api.insert_operation(operation(OTHER_ID));
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(dir.path()).expect("opens");
    outbox
        .push(&id(ID), StatusUpdate::running())
        .expect("pushed");
    outbox
        .push(&id(OTHER_ID), StatusUpdate::running())
        .expect("pushed");
    api.hang();
    let client = linbo_dc::worker::api::ApiClient::new(&crate::api::settings(
        api.base_url(),
        std::time::Duration::from_millis(200),
    ))
    .expect("valid");
    let report = outbox.flush(&client).await;
    assert!(report.unreachable, "{report:?}");
    assert!(
        matches!(report.deferred[..], [(_, ApiError::Timeout { .. })]),
        "{report:?}"
    );
    assert_eq!(
        api.requests().len(),
        1,
        "one timeout, not one per operation"
    );
    assert_eq!(report.remaining, 2);
}

#[tokio::test]
async fn pushes_during_a_flush_are_kept_and_sent_behind() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(operation(ID));
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = std::sync::Arc::new(Outbox::open(dir.path()).expect("opens"));
    outbox
        .push(&id(ID), StatusUpdate::running())
        .expect("pushed");
    // Each answer takes a while, so the push below lands while the flush is sending.
    api.delay(std::time::Duration::from_millis(500));
    let flusher = {
        let outbox = std::sync::Arc::clone(&outbox);
        let client = client(&api);
        tokio::spawn(async move { outbox.flush(&client).await })
    };
    api.wait_for_requests(1, std::time::Duration::from_secs(5))
        .await;
    let completed = StatusUpdate::completed(result(3));
    let delivery = deliver_or_store(&client(&api), &outbox, &id(ID), completed.clone())
        .await
        .expect("stored");
    assert!(matches!(delivery, Delivery::Stored(None)), "{delivery:?}");
    let report = flusher.await.expect("flush task");
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(
        api.status_bodies(ID),
        to_json(&[StatusUpdate::running(), completed])
    );
    assert!(queue_files(dir.path()).is_empty());
}
