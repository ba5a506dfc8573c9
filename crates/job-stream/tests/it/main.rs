//! Integration tests of the job-stream runtime against a real, private redis-server per test.

mod order;
mod retention;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use dc_testkit::RedisServer;
use tokio::time::Instant;

use crate::support::{
    CONSUMER, DLQ, GROUP, Mode, Recorder, STREAM, add_provisions, fast_settings, pending_count,
    start, wait_for_reader, wait_until,
};

const LONG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_entries_with_batch_size_50_make_exactly_four_batches() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    add_provisions(&server, "op", 200);
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_secs(5);
    let started = Instant::now();
    let running = start(&server, settings, recorder.clone());

    wait_until("200 entries are handled", LONG, || recorder.n_seen() == 200).await;
    // A full backlog never waits for the 5 s window.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    wait_until("all entries are acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    assert_eq!(recorder.batch_sizes(), [50, 50, 50, 50]);
    let operations: Vec<String> = recorder
        .seen()
        .into_iter()
        .map(|seen| seen.operation_id)
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("op-{i}")).collect();
    assert_eq!(operations, expected, "batches keep stream order");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_two_schools_are_batched_apart_and_none_is_lost() {
    // Predecessor: a batch for one school ACKed the other school's provisioning entries it had
    // read along the way, and they were never run.
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    for i in 0..30 {
        let school = if i % 3 == 0 {
            "gymnasium"
        } else {
            "default-school"
        };
        let operation = format!("op-{i}");
        server.xadd(
            STREAM,
            &[
                ("type", "provision"),
                ("operation_id", operation.as_str()),
                ("school", school),
            ],
        );
    }
    let recorder = Recorder::new(Mode::Ack);
    let running = start(&server, fast_settings(), recorder.clone());
    wait_until("30 entries are handled", LONG, || recorder.n_seen() == 30).await;
    wait_until("all entries are acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    for batch in recorder.batches.lock().unwrap().iter() {
        let schools: BTreeSet<&str> = batch.iter().map(|seen| seen.school.as_str()).collect();
        assert_eq!(schools.len(), 1, "a batch holds one school: {schools:?}");
    }
    let mut gymnasium: Vec<String> = recorder
        .seen()
        .into_iter()
        .filter(|seen| seen.school == "gymnasium")
        .map(|seen| seen.operation_id)
        .collect();
    gymnasium.sort_by_key(|operation| operation[3..].parse::<u32>().unwrap_or(0));
    let expected: Vec<String> = (0..30).step_by(3).map(|i| format!("op-{i}")).collect();
    assert_eq!(gymnasium, expected);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_entry_waits_no_longer_than_the_window() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_secs(1);
    let running = start(&server, settings, recorder.clone());
    wait_for_reader(&server, CONSUMER).await;

    let added = Instant::now();
    add_provisions(&server, "op", 1);
    wait_until("the entry is handled", LONG, || recorder.n_seen() == 1).await;
    let waited = recorder.seen()[0].at - added;
    assert!(
        waited >= Duration::from_millis(900),
        "handed over before the window: {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(1800),
        "waited longer than the window: {waited:?}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_entry_completes_while_a_slow_batch_runs() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::SlowBatch(Duration::from_secs(4)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(100);
    let running = start(&server, settings, recorder.clone());
    wait_for_reader(&server, CONSUMER).await;

    add_provisions(&server, "op", 3);
    wait_until("the batch starts", LONG, || recorder.batch_sizes() == [3]).await;
    let added = Instant::now();
    server.xadd(
        STREAM,
        &[
            ("type", "repair"),
            ("operation_id", "r-1"),
            ("host", "pc01"),
        ],
    );
    wait_until("the repair is handled", LONG, || {
        !recorder.singles.lock().unwrap().is_empty()
    })
    .await;
    let latency = recorder.singles.lock().unwrap()[0].at - added;
    assert!(
        latency < Duration::from_secs(1),
        "the repair waited {latency:?}"
    );
    assert!(
        recorder.batches_finished.lock().unwrap().is_empty(),
        "the batch was still running"
    );
    wait_until("everything is acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_cancelled_mid_batch_replays_its_entries_on_restart() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let stuck = Recorder::new(Mode::BlockForever);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(100);
    let running = start(&server, settings.clone(), stuck.clone());
    add_provisions(&server, "op", 5);
    wait_until("the batch starts", LONG, || stuck.n_seen() == 5).await;

    let took = running.stop().await;
    // Grace (1 s) plus the unwinding bound (2 s) at most.
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    let summary = server.pending_summary(STREAM, GROUP);
    assert_eq!(summary.per_consumer.get(CONSUMER), Some(&5), "{summary:?}");

    let restarted = Recorder::new(Mode::Ack);
    let running = start(&server, settings, restarted.clone());
    wait_until("the replayed entries are acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    let seen = restarted.seen();
    assert_eq!(seen.len(), 5);
    // The stuck handler began them: one attempt each.
    assert!(seen.iter().all(|seen| seen.attempts == 1), "{seen:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_dropped_mid_batch_stops_and_its_entries_are_replayed() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let stuck = Recorder::new(Mode::BlockForever);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(100);
    let running = start(&server, settings.clone(), stuck.clone());
    add_provisions(&server, "op", 5);
    wait_until("the batch starts", LONG, || stuck.n_seen() == 5).await;

    // Dropping the run future (here: aborting its task) stops every task of the consumer.
    running.task.abort();
    let _ = running.task.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    add_provisions(&server, "later", 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stuck.n_seen(), 5, "the dropped consumer read nothing more");

    let restarted = Recorder::new(Mode::Ack);
    let running = start(&server, settings, restarted.clone());
    wait_until("everything is acknowledged", LONG, || {
        restarted.n_seen() == 7 && pending_count(&server) == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_read_does_not_time_out_on_the_client_side() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    // Four times redis-rs's default response timeout (500 ms).
    settings.block_timeout = Duration::from_secs(2);
    settings.batch_window = Duration::from_millis(50);
    let running = start(&server, settings, recorder.clone());
    wait_for_reader(&server, CONSUMER).await;
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
    add_provisions(&server, "op", 1);
    wait_until("the entry is handled", LONG, || recorder.n_seen() == 1).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_dead_consumer_are_claimed_after_the_idle_threshold() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    add_provisions(&server, "op", 3);
    let held = server.read_as(STREAM, GROUP, "crashed-dc", 10);
    assert_eq!(held.len(), 3);

    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.claim_min_idle = Duration::from_millis(500);
    settings.claim_interval = Duration::from_millis(200);
    let running = start(&server, settings, recorder.clone());

    wait_until("the claimed entries are acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    let seen = recorder.seen();
    let seen_ids: Vec<String> = seen.iter().map(|seen| seen.entry_id.clone()).collect();
    assert_eq!(seen_ids, held);
    // Reading them was no attempt: the crashed consumer never began them.
    assert!(seen.iter().all(|seen| seen.attempts == 0), "{seen:?}");
    assert_eq!(server.pending_summary(STREAM, GROUP).per_consumer.len(), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_left_pending_is_dead_lettered_after_max_attempts() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Retry);
    let mut settings = fast_settings();
    settings.max_deliveries = 3;
    settings.claim_min_idle = Duration::from_millis(100);
    settings.claim_interval = Duration::from_millis(100);
    settings.batch_window = Duration::from_millis(50);
    let running = start(&server, settings, recorder.clone());
    let id = add_provisions(&server, "poison", 1).remove(0);

    wait_until("the entry is dead-lettered", LONG, || {
        server.stream_len(DLQ) == 1
    })
    .await;
    let letters = server.dead_letters(DLQ);
    let fields = &letters[0].fields;
    assert_eq!(fields["type"], "provision");
    assert_eq!(fields["operation_id"], "poison-0");
    assert_eq!(fields["school"], "school-a");
    assert_eq!(fields["original_id"], id);
    assert_eq!(fields["deliveries"], "3");
    assert!(
        fields["last_error"].contains("handling started 3 times"),
        "{fields:?}"
    );
    assert_rfc3339_utc(&fields["failed_at"]);
    wait_until("the original is acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    assert_eq!(recorder.n_seen(), 3, "handled once per attempt");
    let dead = recorder.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].original_id, id);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_entries_are_dead_lettered_at_once_with_their_reason() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let running = start(&server, fast_settings(), recorder.clone());
    let unknown = server.xadd(STREAM, &[("type", "format_disk"), ("operation_id", "op-1")]);
    let bad_id = server.xadd(
        STREAM,
        &[("type", "provision"), ("operation_id", "../../etc")],
    );

    wait_until("both are dead-lettered", LONG, || {
        server.stream_len(DLQ) == 2
    })
    .await;
    wait_until("both are acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    // Dead-letter writes run concurrently; find each letter by its original id.
    let letters = server.dead_letters(DLQ);
    let letter = |id: &str| {
        letters
            .iter()
            .find(|letter| letter.fields["original_id"] == id)
            .unwrap_or_else(|| panic!("no dead letter for {id}: {letters:?}"))
            .fields
            .clone()
    };
    let unknown = letter(&unknown);
    assert_eq!(unknown["last_error"], "unknown type Some(\"format_disk\")");
    assert_eq!(unknown["deliveries"], "0", "never handled");
    let bad_id = letter(&bad_id);
    assert_eq!(bad_id["last_error"], "invalid operation_id \"../../etc\"");
    assert_eq!(bad_id["operation_id"], "../../etc");
    assert_eq!(
        recorder.n_seen(),
        0,
        "invalid entries never reach the handler"
    );
    assert_eq!(recorder.dead.lock().unwrap().len(), 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_key_of_the_wrong_type_keeps_the_entry_pending_until_fixed() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    server.query::<()>(redis::cmd("SET").arg(DLQ).arg("not a stream"));
    let recorder = Recorder::new(Mode::Ack);
    let running = start(&server, fast_settings(), recorder.clone());
    let id = server.xadd(STREAM, &[("type", "bogus"), ("operation_id", "op-1")]);

    wait_until("the consumer has seen the entry", LONG, || {
        !recorder.dead.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = server.pending_entries(STREAM, GROUP, None);
    assert_eq!(
        pending.len(),
        1,
        "not acknowledged while the dead letter cannot be written"
    );
    assert_eq!(pending[0].id, id);

    server.query::<()>(redis::cmd("DEL").arg(DLQ));
    wait_until("the dead letter is written", LONG, || {
        server.stream_len(DLQ) == 1
    })
    .await;
    wait_until("the entry is acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_flushall_the_group_is_recreated_and_later_entries_are_processed() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let running = start(&server, fast_settings(), recorder.clone());
    add_provisions(&server, "before", 2);
    wait_until("the first entries are handled", LONG, || {
        recorder.n_seen() == 2
    })
    .await;

    server.flushall();
    add_provisions(&server, "after", 3);
    wait_until("the later entries are handled", LONG, || {
        recorder.n_seen() == 5
    })
    .await;
    wait_until("they are acknowledged", LONG, || {
        pending_count(&server) == 0
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
    let mut server = RedisServer::start_persistent();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::SlowBatch(Duration::from_millis(50)));
    let mut settings = fast_settings();
    settings.batch_size = 10.try_into().unwrap();
    settings.batch_window = Duration::from_millis(100);
    settings.shutdown_grace = Duration::from_secs(3);
    let running = start(&server, settings, recorder.clone());
    add_provisions(&server, "first", 100);
    wait_until("some entries are handled", LONG, || recorder.n_seen() >= 20).await;

    server.stop();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.start_again();
    add_provisions(&server, "second", 50);

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
        pending_count(&server) == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_cooperative_batch_finish_and_acknowledges_it() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::AckAtShutdown);
    let mut settings = fast_settings();
    settings.shutdown_grace = Duration::from_secs(10);
    settings.batch_window = Duration::from_millis(100);
    let heartbeat_key = settings.heartbeat_key();
    let running = start(&server, settings, recorder.clone());
    add_provisions(&server, "op", 4);
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
        pending_count(&server),
        0,
        "the finished batch was acknowledged"
    );
    assert!(
        server.hgetall(&heartbeat_key).is_empty(),
        "the heartbeat is removed at a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_hash_has_the_spec_fields_and_a_ttl() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.heartbeat.version = "9.9.9".to_owned();
    settings.heartbeat.lanes = vec!["default-school".to_owned(), "gym".to_owned()];
    let key = settings.heartbeat_key();
    assert_eq!(key, format!("jobs:heartbeat:workers:{CONSUMER}"));
    let running = start(&server, settings, recorder);

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
async fn an_entry_deleted_while_pending_is_acknowledged_on_replay() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let ids = add_provisions(&server, "op", 2);
    assert_eq!(server.read_as(STREAM, GROUP, CONSUMER, 10).len(), 2);
    server.query::<u64>(redis::cmd("XDEL").arg(STREAM).arg(&ids[0]));

    let recorder = Recorder::new(Mode::Ack);
    let running = start(&server, fast_settings(), recorder.clone());
    wait_until("both are acknowledged", LONG, || {
        pending_count(&server) == 0
    })
    .await;
    let seen = recorder.seen();
    assert_eq!(
        seen.len(),
        1,
        "only the surviving entry reaches the handler"
    );
    assert_eq!(seen[0].entry_id, ids[1]);
    assert_eq!(server.stream_len(DLQ), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_is_not_utf8_is_dead_lettered_with_its_bytes() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let running = start(&server, fast_settings(), recorder.clone());
    let id: String = server.query(
        redis::cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg("type")
            .arg("provision")
            .arg("host")
            .arg(&[0xffu8, 0xfe][..]),
    );

    wait_until("it is dead-lettered", LONG, || server.stream_len(DLQ) == 1).await;
    // XRANGE rows with raw values: (id, [(field, bytes)]).
    type RawRow = (String, Vec<(String, Vec<u8>)>);
    let raw: Vec<RawRow> = server.query(redis::cmd("XRANGE").arg(DLQ).arg("-").arg("+"));
    let fields: std::collections::HashMap<String, Vec<u8>> = raw[0].1.iter().cloned().collect();
    assert_eq!(fields["host"], [0xff, 0xfe], "the original bytes are kept");
    assert_eq!(fields["original_id"], id.as_bytes());
    assert_eq!(fields["last_error"], b"field \"host\" is not valid UTF-8");
    wait_until("it is acknowledged", LONG, || pending_count(&server) == 0).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_while_redis_is_down() {
    let mut server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(50);
    let running = start(&server, settings, recorder.clone());
    wait_for_reader(&server, CONSUMER).await;
    add_provisions(&server, "op", 3);
    wait_until("the entries are handled", LONG, || recorder.n_seen() == 3).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let took = running.stop().await;
    // Grace 1 s + unwinding 2 s + heartbeat removal 2 s at most.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_delivers_again_after_the_delay_in_both_lanes() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::RetryOnceAfter(Duration::from_millis(400)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(50);
    let running = start(&server, settings, recorder.clone());
    add_provisions(&server, "op", 2);
    server.xadd(STREAM, &[("type", "repair"), ("operation_id", "r-1")]);

    wait_until("every entry is acknowledged", LONG, || {
        recorder.n_seen() == 6 && pending_count(&server) == 0
    })
    .await;
    for operation in ["op-0", "op-1", "r-1"] {
        let seen: Vec<_> = recorder
            .seen()
            .into_iter()
            .filter(|seen| seen.operation_id == operation)
            .collect();
        assert_eq!(seen.len(), 2, "{operation}: {seen:?}");
        assert_eq!((seen[0].attempts, seen[1].attempts), (0, 1), "{operation}");
        let waited = seen[1].at - seen[0].at;
        assert!(
            waited >= Duration::from_millis(400),
            "{operation} came back after {waited:?}"
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferring_does_not_count_towards_max_deliveries() {
    let server = RedisServer::start();
    server.create_group(STREAM, GROUP);
    let recorder = Recorder::new(Mode::DeferTimes(4, Duration::from_millis(100)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(20);
    settings.max_deliveries = 2;
    let running = start(&server, settings, recorder.clone());
    add_provisions(&server, "op", 1);

    wait_until("the entry is acknowledged", LONG, || {
        recorder.n_seen() == 5 && pending_count(&server) == 0
    })
    .await;
    assert_eq!(server.stream_len(DLQ), 0, "deferring never dead-letters");
    let attempts: Vec<u64> = recorder.seen().iter().map(|seen| seen.attempts).collect();
    assert_eq!(attempts, [0, 0, 0, 0, 0], "deferrals count no attempt");
    running.stop().await;
}

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

#[track_caller]
fn assert_rfc3339_utc(text: &str) {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 24
        && text.ends_with('Z')
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            23 => *b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(
        shape_ok,
        "not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS.mmmZ): {text:?}"
    );
}
