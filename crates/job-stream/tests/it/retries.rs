//! Retries: `RetryAfter` brings an entry back after its delay, `Defer` counts no attempt.

use std::time::Duration;

use crate::support::{DLQ, Fixture, LONG, Mode, Recorder, STREAM, fast_settings, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_delivers_again_after_the_delay_in_both_lanes() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::RetryOnceAfter(Duration::from_millis(400)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(50);
    let running = server.start_consumer(settings, recorder.clone());
    server.add_provisions("op", 2);
    server.xadd(STREAM, &[("type", "repair"), ("operation_id", "r-1")]);

    wait_until("every entry is acknowledged", LONG, || {
        recorder.n_seen() == 6 && server.pending_count() == 0
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
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::DeferTimes(4, Duration::from_millis(100)));
    let mut settings = fast_settings();
    settings.batch_window = Duration::from_millis(20);
    settings.max_deliveries = 2;
    let running = server.start_consumer(settings, recorder.clone());
    server.add_provisions("op", 1);

    wait_until("the entry is acknowledged", LONG, || {
        recorder.n_seen() == 5 && server.pending_count() == 0
    })
    .await;
    assert_eq!(server.stream_len(DLQ), 0, "deferring never dead-letters");
    let attempts: Vec<u64> = recorder.seen().iter().map(|seen| seen.attempts).collect();
    assert_eq!(attempts, [0, 0, 0, 0, 0], "deferrals count no attempt");
    running.stop().await;
}
