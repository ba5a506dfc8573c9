//! Redis going away: the blocking read, a lost data set, a restart mid-run and a stop while
//! Redis is down.

use std::collections::BTreeSet;
use std::time::Duration;

use dc_testkit::RedisServer;

use crate::support::{CONSUMER, Fixture, LONG, Mode, Recorder, fast_settings, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_read_does_not_time_out_on_the_client_side() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    // Four times redis-rs's default response timeout (500 ms).
    settings.block_timeout = Duration::from_secs(2);
    settings.batch_window = Duration::from_millis(50);
    let running = server.start_consumer(settings, recorder.clone());
    server.wait_for_reader(CONSUMER).await;
    let connections = |server: &RedisServer| -> u64 {
        let info: String = server.query(redis::cmd("INFO").arg("stats"));
        info.lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("INFO stats has total_connections_received")
    };
    // Each `connections` call opens one connection itself.
    let before = connections(&server);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = connections(&server);
    assert_eq!(after, before + 1, "the consumer reconnected while idle");
    server.add_provisions("op", 1);
    wait_until("the entry is handled", LONG, || recorder.n_seen() == 1).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_flushall_the_group_is_recreated_and_later_entries_are_processed() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(fast_settings(), recorder.clone());
    server.add_provisions("before", 2);
    wait_until("the first entries are handled", LONG, || {
        recorder.n_seen() == 2
    })
    .await;

    server.flushall();
    server.add_provisions("after", 3);
    wait_until("the later entries are handled", LONG, || {
        recorder.n_seen() == 5
    })
    .await;
    wait_until("they are acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    let operations: BTreeSet<String> = recorder
        .seen()
        .into_iter()
        .map(|seen| seen.operation_id)
        .collect();
    assert!(operations.contains("after-0") && operations.contains("after-2"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_loses_nothing() {
    let mut server = Fixture::persistent();
    let recorder = Recorder::new(Mode::SlowBatch(Duration::from_millis(50)));
    let mut settings = fast_settings();
    settings.batch_size = 10.try_into().unwrap();
    settings.batch_window = Duration::from_millis(100);
    settings.shutdown_grace = Duration::from_secs(3);
    let running = server.start_consumer(settings, recorder.clone());
    server.add_provisions("first", 100);
    wait_until("some entries are handled", LONG, || recorder.n_seen() >= 20).await;

    server.stop();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.start_again();
    server.add_provisions("second", 50);

    let expected: BTreeSet<String> = (0..100)
        .map(|i| format!("first-{i}"))
        .chain((0..50).map(|i| format!("second-{i}")))
        .collect();
    wait_until("every entry is handled", LONG, || {
        let seen: BTreeSet<String> = recorder
            .seen()
            .into_iter()
            .map(|seen| seen.operation_id)
            .collect();
        seen == expected
    })
    .await;
    wait_until("every entry is acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_while_redis_is_down() {
    let mut server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(50);
    let running = server.start_consumer(settings, recorder.clone());
    server.wait_for_reader(CONSUMER).await;
    server.add_provisions("op", 3);
    wait_until("the entries are handled", LONG, || recorder.n_seen() == 3).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let took = running.stop().await;
    // Grace 1 s + unwinding 2 s + heartbeat removal 2 s at most.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}
