//! Replay and claiming: what a stopped, dropped or crashed consumer held comes back, and entries
//! deleted meanwhile are settled.

use std::sync::Arc;
use std::time::Duration;

use job_stream::Settings;

use crate::support::{
    CONSUMER, DLQ, Fixture, GROUP, LONG, Mode, Recorder, Running, STREAM, fast_settings, wait_until,
};

fn settings() -> Settings {
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(100);
    settings
}

/// A consumer whose handler never returns from a batch of five entries it has begun.
async fn stuck_in_a_batch_of_five(
    server: &Fixture,
    settings: &Settings,
) -> (Arc<Recorder>, Running) {
    let stuck = Recorder::new(Mode::BlockForever);
    let running = server.start_consumer(settings.clone(), stuck.clone());
    server.add_provisions("op", 5);
    wait_until("the batch starts", LONG, || stuck.n_seen() == 5).await;
    (stuck, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_cancelled_mid_batch_replays_its_entries_on_restart() {
    let server = Fixture::new();
    let settings = settings();
    let (_, running) = stuck_in_a_batch_of_five(&server, &settings).await;

    let took = running.stop().await;
    // Grace (1 s) plus the unwinding bound (2 s) at most.
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    let summary = server.pending_summary(STREAM, GROUP);
    assert_eq!(summary.per_consumer.get(CONSUMER), Some(&5), "{summary:?}");

    let restarted = Recorder::new(Mode::Ack);
    let running = server.start_consumer(settings, restarted.clone());
    wait_until("the replayed entries are acknowledged", LONG, || {
        server.pending_count() == 0
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
    let server = Fixture::new();
    let settings = settings();
    let (stuck, running) = stuck_in_a_batch_of_five(&server, &settings).await;

    // Dropping the run future (here: aborting its task) stops every task of the consumer.
    running.task.abort();
    let _ = running.task.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.add_provisions("later", 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stuck.n_seen(), 5, "the dropped consumer read nothing more");

    let restarted = Recorder::new(Mode::Ack);
    let running = server.start_consumer(settings, restarted.clone());
    wait_until("everything is acknowledged", LONG, || {
        restarted.n_seen() == 7 && server.pending_count() == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_dead_consumer_are_claimed_after_the_idle_threshold() {
    let server = Fixture::new();
    server.add_provisions("op", 3);
    let held = server.read_as(STREAM, GROUP, "crashed-dc", 10);
    assert_eq!(held.len(), 3);

    let recorder = Recorder::new(Mode::Ack);
    let mut settings = fast_settings();
    settings.claim_min_idle = Duration::from_millis(500);
    settings.claim_interval = Duration::from_millis(200);
    let running = server.start_consumer(settings, recorder.clone());

    wait_until("the claimed entries are acknowledged", LONG, || {
        server.pending_count() == 0
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
async fn an_entry_deleted_while_pending_is_acknowledged_on_replay() {
    let server = Fixture::new();
    let ids = server.add_provisions("op", 2);
    assert_eq!(server.read_as(STREAM, GROUP, CONSUMER, 10).len(), 2);
    server.query::<u64>(redis::cmd("XDEL").arg(STREAM).arg(&ids[0]));

    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(fast_settings(), recorder.clone());
    wait_until("both are acknowledged", LONG, || {
        server.pending_count() == 0
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
