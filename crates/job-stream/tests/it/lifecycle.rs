//! A consumer's life: settings checked before anything, the heartbeat hash, and a clean stop.

use std::time::Duration;

use crate::support::{
    CONSUMER, Fixture, LONG, Mode, Recorder, assert_rfc3339_utc, fast_settings, wait_until,
};

#[tokio::test]
async fn run_rejects_invalid_settings_without_touching_redis() {
    let mut settings = fast_settings();
    settings.max_deliveries = 0;
    // Nothing listens on port 1; the settings are checked before any connection is made.
    let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
    let consumer =
        job_stream::Consumer::with_shared_handler(client, settings, Recorder::new(Mode::Ack));
    let result = tokio::time::timeout(Duration::from_secs(1), consumer.run(Default::default()))
        .await
        .expect("returns at once");
    match result {
        Err(job_stream::Error::InvalidSettings { field, .. }) => {
            assert_eq!(field, "max_deliveries")
        }
        other => panic!("expected InvalidSettings, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_hash_has_the_spec_fields_and_a_ttl() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.heartbeat.version = "9.9.9".to_owned();
    settings.heartbeat.lanes = vec!["default-school".to_owned(), "gym".to_owned()];
    let key = settings.heartbeat_key();
    assert_eq!(key, format!("jobs:heartbeat:workers:{CONSUMER}"));
    let running = server.start_consumer(settings, recorder);

    wait_until("the heartbeat is written", LONG, || {
        !server.hgetall(&key).is_empty()
    })
    .await;
    let hash = server.hgetall(&key);
    assert_eq!(hash["version"], "9.9.9");
    assert_eq!(hash["lanes"], "default-school,gym");
    assert_eq!(hash["in_flight"], "0");
    assert_rfc3339_utc(&hash["started_at"]);
    assert_rfc3339_utc(&hash["last_seen"]);
    let ttl: i64 = server.query(redis::cmd("TTL").arg(&key));
    assert!((1..=30).contains(&ttl), "ttl {ttl}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_cooperative_batch_finish_and_acknowledges_it() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::AckAtShutdown);
    let mut settings = fast_settings();
    settings.shutdown_grace = Duration::from_secs(10);
    settings.batch_window = Duration::from_millis(100);
    let heartbeat_key = settings.heartbeat_key();
    let running = server.start_consumer(settings, recorder.clone());
    server.add_provisions("op", 4);
    wait_until("the batch starts", LONG, || recorder.n_seen() == 4).await;
    wait_until("the heartbeat is written", LONG, || {
        !server.hgetall(&heartbeat_key).is_empty()
    })
    .await;

    let took = running.stop().await;
    assert!(
        took < Duration::from_secs(2),
        "shutdown took {took:?} with a 10 s grace"
    );
    assert_eq!(
        server.pending_count(),
        0,
        "the finished batch was acknowledged"
    );
    assert!(
        server.hgetall(&heartbeat_key).is_empty(),
        "the heartbeat is removed at a clean stop"
    );
}
