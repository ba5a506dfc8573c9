//! Issue 12: attempts counted by the runtime (not by Redis's delivery counter), per-lane order
//! under deferral, deferrals independent of the connection, and one consumer per name.

use std::time::Duration;

use dc_testkit::RedisServer;

use crate::support::{
    ATTEMPTS, CONSUMER, DLQ, Fixture, GROUP, LONG, Mode, Recorder, STREAM, fast_settings,
    wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_restarts_before_the_handler_began_count_no_attempt() {
    let server = Fixture::new();
    let mut settings = fast_settings();
    settings.max_deliveries = 2;
    settings.batch_window = Duration::from_millis(20);
    server.add_provisions("op", 3);
    // Five starts, each one replaying the entries (Redis counts a delivery every time) and stopping
    // before the handler began them.
    for _ in 0..5 {
        let waiting = Recorder::new(Mode::WaitUnbegun);
        let running = server.start_consumer(settings.clone(), waiting.clone());
        wait_until("the batch is handed over", LONG, || waiting.n_seen() == 3).await;
        running.stop().await;
    }
    let redis_deliveries: Vec<u64> = server
        .pending_entries(STREAM, GROUP, None)
        .iter()
        .map(|entry| entry.deliveries)
        .collect();
    assert_eq!(redis_deliveries, [5, 5, 5], "Redis counted every replay");

    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(settings, recorder.clone());
    wait_until("all are acknowledged", LONG, || server.pending_count() == 0).await;
    assert_eq!(server.stream_len(DLQ), 0, "nothing was dead-lettered");
    let attempts: Vec<u64> = recorder.seen().iter().map(|seen| seen.attempts).collect();
    assert_eq!(attempts, [0, 0, 0]);
    assert!(
        server.hgetall(ATTEMPTS).is_empty(),
        "acknowledging removes the attempt counts"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_whose_handler_never_finishes_is_dead_lettered_after_max_starts() {
    let server = Fixture::new();
    let mut settings = fast_settings();
    settings.max_deliveries = 3;
    settings.batch_window = Duration::from_millis(20);
    let id = server.add_provisions("poison", 1).remove(0);
    // The handler begins and then hangs (as when it kills the process): each start counts.
    for start_number in 1..=3 {
        let stuck = Recorder::new(Mode::BlockForever);
        let running = server.start_consumer(settings.clone(), stuck.clone());
        wait_until("the handler began", LONG, || {
            server.hgetall(ATTEMPTS).get(&id) == Some(&start_number.to_string())
        })
        .await;
        running.stop().await;
    }
    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(settings, recorder.clone());
    wait_until("the entry is dead-lettered", LONG, || {
        server.stream_len(DLQ) == 1 && server.pending_count() == 0
    })
    .await;
    assert_eq!(recorder.n_seen(), 0, "not handled a fourth time");
    let letter = &server.dead_letters(DLQ)[0].fields;
    assert_eq!(letter["deliveries"], "3");
    assert!(
        letter["last_error"].contains("handling started 3 times"),
        "{letter:?}"
    );
    assert!(server.hgetall(ATTEMPTS).is_empty());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_entry_holds_its_lane_so_later_entries_do_not_overtake_it() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::DeferFirstOnce(Duration::from_millis(1500)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(20);
    let running = server.start_consumer(settings, recorder.clone());
    server.add_provisions("create", 1);
    wait_until("the create was deferred", LONG, || recorder.n_seen() == 1).await;
    // The delete arrives while the create waits, and a repair of the concurrent lane too.
    server.add_provisions("delete", 1);
    server.xadd(STREAM, &[("type", "repair"), ("operation_id", "r-1")]);
    wait_until("everything is acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    let batches: Vec<Vec<String>> = recorder
        .batches
        .lock()
        .unwrap()
        .iter()
        .map(|batch| batch.iter().map(|seen| seen.operation_id.clone()).collect())
        .collect();
    assert_eq!(
        batches,
        [
            vec!["create-0".to_owned()],
            vec!["create-0".into(), "delete-0".into()]
        ],
        "the delete waited behind the create and came in the same batch, after it"
    );
    let seen = recorder.seen();
    let repair = seen.iter().find(|seen| seen.operation_id == "r-1").unwrap();
    let create_again = seen
        .iter()
        .filter(|seen| seen.operation_id == "create-0")
        .nth(1)
        .unwrap();
    assert!(
        repair.at < create_again.at,
        "the concurrent lane was not held up by the school's wait"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_entry_comes_back_after_its_delay_although_the_connection_dropped() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::DeferFirstOnce(Duration::from_secs(2)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(20);
    // Far beyond the test: a retry that depended on the entry's idle time would stall.
    settings.claim_min_idle = Duration::from_secs(600);
    let running = server.start_consumer(settings, recorder.clone());
    server.add_provisions("create", 1);
    wait_until("the create was deferred", LONG, || recorder.n_seen() == 1).await;
    let deferred_at = tokio::time::Instant::now();
    // Every client connection is killed; the reader reconnects and replays (resetting the idle
    // time of the waiting entry in Redis).
    let killed: u64 = server.query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"));
    assert!(killed >= 1, "the consumer's connections were killed");
    wait_until("the entry is acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    let waited = deferred_at.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "came back after {waited:?}: the delay (2 s) plus a reconnect, not the idle time"
    );
    assert_eq!(recorder.n_seen(), 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_held_in_a_long_batch_are_not_claimed_by_another_consumer() {
    let server = Fixture::new();
    let slow = Recorder::new(Mode::SlowBatch(Duration::from_secs(3)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(20);
    settings.claim_min_idle = Duration::from_millis(1000);
    settings.claim_interval = Duration::from_millis(250);
    let running = server.start_consumer(settings.clone(), slow.clone());
    server.add_provisions("op", 2);
    wait_until("the slow batch started", LONG, || slow.n_seen() == 2).await;

    let mut other_settings = settings;
    other_settings.consumer = "dc-other".to_owned();
    let other = Recorder::new(Mode::Ack);
    let other_running = server.start_consumer(other_settings, other.clone());
    wait_until("the slow batch is acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    assert_eq!(other.n_seen(), 0, "the other consumer claimed nothing");
    other_running.stop().await;
    running.stop().await;
}

fn named(instance: &str) -> job_stream::Settings {
    let mut settings = fast_settings();
    settings.heartbeat.interval = Duration::from_millis(300);
    settings.heartbeat.ttl = Duration::from_secs(1);
    settings.heartbeat.instance = instance.to_owned();
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_consumer_with_the_same_name_refuses_to_run() {
    let server = Fixture::new();
    let first = Recorder::new(Mode::Ack);
    let running = server.start_consumer(named("host-1 /var/lib/app"), first.clone());
    server.wait_for_reader(CONSUMER).await;

    let second = Recorder::new(Mode::Ack);
    let refused = server.start_consumer(named("clone /var/lib/app"), second.clone());
    let result = tokio::time::timeout(Duration::from_secs(5), refused.task)
        .await
        .expect("the second consumer returns within the heartbeat TTL plus a beat")
        .expect("no panic");
    match result {
        Err(job_stream::Error::ConsumerInUse { consumer, holder }) => {
            assert_eq!(consumer, CONSUMER);
            assert!(holder.contains("host-1 /var/lib/app"), "{holder}");
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("expected ConsumerInUse, got {other:?}"),
    }
    server.add_provisions("op", 2);
    wait_until("the first consumer handles the entries", LONG, || {
        server.pending_count() == 0
    })
    .await;
    assert_eq!((first.n_seen(), second.n_seen()), (2, 0));
    assert_eq!(
        server.hgetall(&format!("jobs:heartbeat:workers:{CONSUMER}"))["instance"],
        "host-1 /var/lib/app",
        "the refused consumer left the holder's hash alone"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_name_left_by_a_crashed_holder_is_taken_over_once_its_hash_expires() {
    let server = Fixture::new();
    let key = format!("jobs:heartbeat:workers:{CONSUMER}");
    // A holder killed with -9: its hash stays until its TTL runs out, and nobody refreshes it.
    let _: () = server.query(
        redis::cmd("HSET")
            .arg(&key)
            .arg("instance")
            .arg("crashed")
            .arg("last_seen")
            .arg("2026-11-30T08:00:00Z"),
    );
    let _: () = server.query(redis::cmd("PEXPIRE").arg(&key).arg(800));
    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(named("new"), recorder.clone());
    server.add_provisions("op", 1);
    wait_until("the entry is handled", LONG, || {
        recorder.n_seen() == 1 && server.pending_count() == 0
    })
    .await;
    assert_eq!(server.hgetall(&key)["instance"], "new");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_learns_which_entries_are_still_pending_after_a_replay() {
    let server = Fixture::new();
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(20);
    let first = Recorder::new(Mode::Ack);
    let running = server.start_consumer(settings.clone(), first.clone());
    wait_until("the first replay", LONG, || {
        !first.replayed.lock().unwrap().is_empty()
    })
    .await;
    assert!(
        first.replayed.lock().unwrap()[0].is_empty(),
        "nothing pending yet"
    );
    running.stop().await;

    let ids = server.add_provisions("op", 2);
    let waiting = Recorder::new(Mode::WaitUnbegun);
    let running = server.start_consumer(settings.clone(), waiting.clone());
    wait_until("the batch is handed over", LONG, || waiting.n_seen() == 2).await;
    running.stop().await;

    let again = Recorder::new(Mode::Ack);
    let running = server.start_consumer(settings, again.clone());
    wait_until("the replay", LONG, || {
        !again.replayed.lock().unwrap().is_empty()
    })
    .await;
    let pending = again.replayed.lock().unwrap()[0].clone();
    assert_eq!(pending, ids.into_iter().collect());
    running.stop().await;
}

/// Counts what the consumer tells a service manager.
#[derive(Default)]
struct Counting {
    ready: std::sync::atomic::AtomicUsize,
    alive: std::sync::atomic::AtomicUsize,
}

impl job_stream::Observer for Counting {
    fn ready(&self) {
        self.ready.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn alive(&self) {
        self.alive.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_hears_ready_once_redis_answers_and_alive_while_the_loop_turns() {
    use std::sync::atomic::Ordering::SeqCst;
    let mut server = RedisServer::start();
    server.stop();
    let observer = std::sync::Arc::new(Counting::default());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let consumer = job_stream::Consumer::with_shared_handler(
        server.client(),
        fast_settings(),
        Recorder::new(Mode::Ack),
    )
    .with_observer(observer.clone());
    let task = tokio::spawn(consumer.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        observer.ready.load(SeqCst),
        0,
        "not ready while Redis is down"
    );
    assert!(
        observer.alive.load(SeqCst) >= 2,
        "the reconnecting loop is alive"
    );
    server.start_again();
    wait_until("ready", LONG, || observer.ready.load(SeqCst) == 1).await;
    let alive = observer.alive.load(SeqCst);
    // An idle loop goes round once per block_timeout (1 s here).
    wait_until("the idle loop goes round", LONG, || {
        observer.alive.load(SeqCst) >= alive + 2
    })
    .await;
    // A reconnect does not make it ready a second time.
    let _: u64 = server.query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(observer.ready.load(SeqCst), 1);
    shutdown.cancel();
    task.await.expect("no panic").expect("Ok");
}
