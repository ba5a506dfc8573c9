//! Retention against a real redis-server: old acknowledged entries go, whatever a group still
//! needs stays, and the dead-letter stream is capped exactly.

use std::num::NonZeroU64;
use std::time::Duration;

use dc_testkit::RedisServer;
use job_stream::Settings;
use job_stream::retention::{StreamId, TrimReport, trim};

use crate::support::{
    CONSUMER, DLQ, Fixture, GROUP, Mode, Recorder, STREAM, fast_settings, wait_until,
};

/// Entries with explicit ids from 1970 (`<ms>-0`): far older than any retention.
fn add_ancient(server: &RedisServer, ms: &[u64]) -> Vec<String> {
    ms.iter()
        .map(|ms| {
            let id = format!("{ms}-0");
            let added: String = server.query(
                redis::cmd("XADD")
                    .arg(STREAM)
                    .arg(&id)
                    .arg("type")
                    .arg("provision")
                    .arg("operation_id")
                    .arg(format!("old-{ms}")),
            );
            assert_eq!(added, id);
            added
        })
        .collect()
}

fn ack(server: &RedisServer, group: &str, ids: &[&str]) {
    let acked: u64 = server.query(redis::cmd("XACK").arg(STREAM).arg(group).arg(ids));
    assert_eq!(acked, ids.len() as u64);
}

/// `XGROUP CREATE stream group 0`: a group that has read nothing yet.
fn create_group_at_start(server: &RedisServer, group: &str) {
    server.query::<()>(
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(STREAM)
            .arg(group)
            .arg("0"),
    );
}

fn ids(server: &RedisServer, stream: &str) -> Vec<String> {
    server
        .range(stream)
        .into_iter()
        .map(|entry| entry.id)
        .collect()
}

fn retention_settings() -> Settings {
    let mut settings = Settings::new(STREAM, GROUP, CONSUMER);
    settings.stream_retention = Some(Duration::from_secs(3600));
    settings
}

async fn trim_once(server: &RedisServer, settings: &Settings) -> TrimReport {
    let mut connection = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to the test redis-server");
    trim(&mut connection, settings).await.expect("trimming")
}

#[tokio::test]
async fn a_lagging_second_group_keeps_its_pending_and_undelivered_entries() {
    let server = Fixture::new();
    let old = add_ancient(&server, &[1000, 1001, 1002, 1003, 1004, 1005]);
    let recent = vec![
        server.xadd(STREAM, &[("type", "provision"), ("operation_id", "new-1")]),
        server.xadd(STREAM, &[("type", "provision"), ("operation_id", "new-2")]),
    ];
    // The workers' group has read and acknowledged everything.
    assert_eq!(server.read_as(STREAM, GROUP, CONSUMER, 100).len(), 8);
    let all: Vec<&str> = old.iter().chain(&recent).map(String::as_str).collect();
    ack(&server, GROUP, &all);
    // A second group lags behind: it read three, acknowledged two, and never saw the rest.
    create_group_at_start(&server, "audit");
    assert_eq!(server.read_as(STREAM, "audit", "auditor", 3), old[..3]);
    ack(&server, "audit", &["1000-0", "1001-0"]);

    let report = trim_once(&server, &retention_settings()).await;
    assert_eq!(report.min_id, Some(StreamId { ms: 1002, seq: 0 }));
    assert_eq!(report.stream_trimmed, 2);
    let kept: Vec<String> = old[2..].iter().chain(&recent).cloned().collect();
    assert_eq!(
        ids(&server, STREAM),
        kept,
        "1002 is pending in audit, 1003.. are not delivered to it"
    );

    // Once the second group has caught up, everything beyond the retention goes; the recent
    // entries stay.
    assert_eq!(server.read_as(STREAM, "audit", "auditor", 100).len(), 5);
    let rest: Vec<&str> = kept.iter().map(String::as_str).collect();
    ack(&server, "audit", &rest);
    let report = trim_once(&server, &retention_settings()).await;
    assert_eq!(report.stream_trimmed, 4);
    assert_eq!(ids(&server, STREAM), recent);
    assert_eq!(server.pending_summary(STREAM, "audit").count, 0);
}

#[tokio::test]
async fn an_old_entry_pending_in_the_workers_group_stays_with_everything_after_it() {
    let server = Fixture::new();
    let old = add_ancient(&server, &[1000, 1001, 1002, 1003]);
    server.read_as(STREAM, GROUP, "crashed-dc", 100);
    ack(&server, GROUP, &["1000-0", "1002-0", "1003-0"]);

    let report = trim_once(&server, &retention_settings()).await;
    assert_eq!(report.stream_trimmed, 1);
    assert_eq!(ids(&server, STREAM), old[1..]);
    let pending = server.pending_entries(STREAM, GROUP, None);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "1001-0", "still pending, still readable");
}

#[tokio::test]
async fn a_stream_without_the_workers_group_is_left_alone() {
    let server = RedisServer::start();
    add_ancient(&server, &[1000, 1001]);
    let report = trim_once(&server, &retention_settings()).await;
    assert_eq!(report.min_id, None);
    assert_eq!(server.stream_len(STREAM), 2);

    // Another group alone says nothing about the workers'.
    create_group_at_start(&server, "audit");
    server.read_as(STREAM, "audit", "auditor", 100);
    ack(&server, "audit", &["1000-0", "1001-0"]);
    trim_once(&server, &retention_settings()).await;
    assert_eq!(server.stream_len(STREAM), 2);
}

#[tokio::test]
async fn retention_off_trims_nothing() {
    let server = Fixture::new();
    add_ancient(&server, &[1000]);
    server.read_as(STREAM, GROUP, CONSUMER, 100);
    ack(&server, GROUP, &["1000-0"]);
    for _ in 0..30 {
        server.xadd(DLQ, &[("type", "provision"), ("last_error", "bad")]);
    }
    let report = trim_once(&server, &Settings::new(STREAM, GROUP, CONSUMER)).await;
    assert_eq!(report, TrimReport::default());
    assert_eq!(server.stream_len(STREAM), 1);
    assert_eq!(server.stream_len(DLQ), 30);
}

#[tokio::test]
async fn the_dead_letter_stream_is_capped_exactly_keeping_the_newest() {
    let server = RedisServer::start();
    let letters: Vec<String> = (0..25)
        .map(|i| {
            server.xadd(
                DLQ,
                &[("operation_id", &format!("op-{i}")), ("last_error", "bad")],
            )
        })
        .collect();
    let mut settings = Settings::new(STREAM, GROUP, CONSUMER);
    settings.dead_letter_max_len = NonZeroU64::new(10);
    let report = trim_once(&server, &settings).await;
    assert_eq!(report.dead_letters_trimmed, 15);
    assert_eq!(ids(&server, DLQ), letters[15..]);

    // A key of another type is not touched (and is no error).
    server.query::<()>(redis::cmd("DEL").arg(DLQ));
    server.query::<()>(redis::cmd("SET").arg(DLQ).arg("not a stream"));
    assert_eq!(trim_once(&server, &settings).await.dead_letters_trimmed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_consumer_trims_at_start() {
    let server = Fixture::new();
    add_ancient(&server, &[1000, 1001, 1002]);
    server.read_as(STREAM, GROUP, CONSUMER, 100);
    ack(&server, GROUP, &["1000-0", "1001-0", "1002-0"]);
    for i in 0..12 {
        server.xadd(DLQ, &[("operation_id", &format!("op-{i}"))]);
    }
    let mut settings = fast_settings();
    settings.stream_retention = Some(Duration::from_secs(3600));
    settings.dead_letter_max_len = NonZeroU64::new(5);
    let running = server.start_consumer(settings, Recorder::new(Mode::Ack));
    wait_until(
        "the stream and the dead letters are trimmed",
        Duration::from_secs(20),
        || server.stream_len(STREAM) == 0 && server.stream_len(DLQ) == 5,
    )
    .await;
    running.stop().await;
}
