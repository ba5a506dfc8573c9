//! Batching lanes: batch size and window, one key per batch in stream order, and the concurrent
//! lane beside them.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::support::{CONSUMER, Fixture, LONG, Mode, Recorder, STREAM, fast_settings, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_entries_with_batch_size_50_make_exactly_four_batches() {
    let server = Fixture::new();
    server.add_provisions("op", 200);
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_secs(5);
    let started = Instant::now();
    let running = server.start_consumer(settings, recorder.clone());

    wait_until("200 entries are handled", LONG, || recorder.n_seen() == 200).await;
    // A full backlog never waits for the 5 s window.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    wait_until("all entries are acknowledged", LONG, || {
        server.pending_count() == 0
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
    let server = Fixture::new();
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
    let running = server.start_consumer(fast_settings(), recorder.clone());
    wait_until("30 entries are handled", LONG, || recorder.n_seen() == 30).await;
    wait_until("all entries are acknowledged", LONG, || {
        server.pending_count() == 0
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
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_secs(1);
    let running = server.start_consumer(settings, recorder.clone());
    server.wait_for_reader(CONSUMER).await;

    let added = Instant::now();
    server.add_provisions("op", 1);
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
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::SlowBatch(Duration::from_secs(4)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(100);
    let running = server.start_consumer(settings, recorder.clone());
    server.wait_for_reader(CONSUMER).await;

    server.add_provisions("op", 3);
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
        server.pending_count() == 0
    })
    .await;
    running.stop().await;
}
