//! End-to-end throughput of the job-stream runtime against a real redis-server, with a baseline.
//!
//! For each lane, 10,000 entries are added to a private redis-server before timing starts; the
//! figure is the time until every entry was handled by a no-op handler and acknowledged. The
//! baseline, measured in the same run on the same server, is a bare loop of `XREADGROUP COUNT 50` +
//! `XACK` on one connection. Commands per entry come from `INFO commandstats` deltas (the bench's
//! own `INFO`/`XPENDING` polling is subtracted). Run with `cargo bench -p job-stream --bench throughput`.
#![allow(clippy::print_stdout)] // A benchmark reports its figures on stdout.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dc_testkit::RedisServer;
use job_stream::{Batch, Consumer, Delivery, Handler, Invalid, Job, Lane, Outcome, Settings};
use tokio_util::sync::CancellationToken;

const N_ENTRIES: usize = 10_000;
const READ_COUNT: usize = 50;
const GROUP: &str = "workers";

struct NoopJob {
    concurrent: bool,
}

impl Job for NoopJob {
    fn lane(&self) -> Lane {
        if self.concurrent {
            Lane::Concurrent
        } else {
            Lane::Batched("tenant-a".to_owned())
        }
    }
}

#[derive(Default)]
struct NoopHandler {
    handled: AtomicUsize,
}

impl Handler for NoopHandler {
    type Job = NoopJob;

    fn decode(&self, _id: &str, fields: &HashMap<String, String>) -> Result<NoopJob, Invalid> {
        match fields.get("type").map(String::as_str) {
            Some("batched") => Ok(NoopJob { concurrent: false }),
            Some("concurrent") => Ok(NoopJob { concurrent: true }),
            other => Err(Invalid::new(format!("unknown type {other:?}"))),
        }
    }

    async fn handle_batch(&self, batch: Batch<NoopJob>) -> Vec<Outcome> {
        self.handled
            .fetch_add(batch.deliveries.len(), Ordering::Relaxed);
        vec![Outcome::Ack; batch.deliveries.len()]
    }

    async fn handle(&self, _delivery: Delivery<NoopJob>, _shutdown: CancellationToken) -> Outcome {
        self.handled.fetch_add(1, Ordering::Relaxed);
        Outcome::Ack
    }
}

/// Adds `N_ENTRIES` entries of `kind` to `stream` (not timed).
fn fill(server: &RedisServer, stream: &str, kind: &str) {
    server.create_group(stream, GROUP);
    let entries: Vec<Vec<(String, String)>> = (0..N_ENTRIES)
        .map(|i| {
            vec![
                ("type".to_owned(), kind.to_owned()),
                (
                    "operation_id".to_owned(),
                    format!("00000000-0000-4000-8000-{i:012}"),
                ),
                ("tenant".to_owned(), "tenant-a".to_owned()),
                ("attempt".to_owned(), "0".to_owned()),
            ]
        })
        .collect();
    for chunk in entries.chunks(1000) {
        server.xadd_many(stream, chunk);
    }
}

/// Commands since `before`, minus the bench's own `INFO` calls and `extra_xpending` polls.
fn commands_since(
    server: &RedisServer,
    before: &BTreeMap<String, u64>,
    extra_xpending: u64,
) -> (u64, BTreeMap<String, u64>) {
    let after = server.command_calls();
    let mut delta: BTreeMap<String, u64> = after
        .iter()
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(name, calls)| *calls > 0 && name != "info")
        .collect();
    if let Some(xpending) = delta.get_mut("xpending") {
        *xpending -= extra_xpending.min(*xpending);
    }
    delta.retain(|_, calls| *calls > 0);
    (delta.values().sum(), delta)
}

/// The bare loop: read 50, acknowledge them, until every entry is acknowledged.
async fn baseline(server: &RedisServer, stream: &str) -> Duration {
    let mut connection = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to the bench server");
    let start = Instant::now();
    let mut n_acked = 0;
    while n_acked < N_ENTRIES {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg("baseline")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(&mut connection)
            .await
            .expect("XREADGROUP");
        let ids: Vec<String> = reply
            .keys
            .into_iter()
            .flat_map(|key| key.ids.into_iter().map(|entry| entry.id))
            .collect();
        let _: u64 = redis::cmd("XACK")
            .arg(stream)
            .arg(GROUP)
            .arg(&ids)
            .query_async(&mut connection)
            .await
            .expect("XACK");
        n_acked += ids.len();
    }
    start.elapsed()
}

/// The runtime with a no-op handler; returns the time and the number of `XPENDING` polls the bench
/// itself made.
async fn runtime(server: &RedisServer, stream: &str) -> (Duration, u64) {
    let handler = Arc::new(NoopHandler::default());
    let mut settings = Settings::new(stream, GROUP, "bench");
    settings.batch_window = Duration::from_millis(5);
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let consumer = Consumer::with_shared_handler(server.client(), settings, Arc::clone(&handler));
    let task = tokio::spawn(consumer.run(shutdown.clone()));
    while handler.handled.load(Ordering::Relaxed) < N_ENTRIES {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Handled is not yet acknowledged: poll the pending count until it reaches zero.
    let mut n_polls = 0;
    loop {
        n_polls += 1;
        if server.pending_summary(stream, GROUP).count == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    shutdown.cancel();
    task.await
        .expect("the consumer task did not panic")
        .expect("run() returned Ok");
    (elapsed, n_polls)
}

fn report(label: &str, elapsed: Duration, commands: u64, breakdown: &BTreeMap<String, u64>) {
    let per_second = N_ENTRIES as f64 / elapsed.as_secs_f64();
    println!(
        "{label:<28} {N_ENTRIES} entries in {:>8.1} ms = {per_second:>9.0} entries/s, \
         {:.3} Redis commands/entry {breakdown:?}",
        elapsed.as_secs_f64() * 1000.0,
        commands as f64 / N_ENTRIES as f64,
    );
}

fn main() {
    let runtime_builder = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    runtime_builder.block_on(async {
        let server = RedisServer::start();

        fill(&server, "bench:baseline", "batched");
        let before = server.command_calls();
        let baseline_time = baseline(&server, "bench:baseline").await;
        let (baseline_commands, breakdown) = commands_since(&server, &before, 0);
        report(
            "baseline XREADGROUP+XACK",
            baseline_time,
            baseline_commands,
            &breakdown,
        );

        for (label, stream, kind) in [
            ("job-stream batched lane", "bench:batched", "batched"),
            (
                "job-stream concurrent lane",
                "bench:concurrent",
                "concurrent",
            ),
        ] {
            fill(&server, stream, kind);
            let before = server.command_calls();
            let (elapsed, n_polls) = runtime(&server, stream).await;
            // Shutdown's heartbeat removal (DEL) happens after timing; leave it in the count.
            let (commands, breakdown) = commands_since(&server, &before, n_polls);
            report(label, elapsed, commands, &breakdown);
            println!(
                "{:<28} time ratio to baseline: {:.2}x",
                "",
                elapsed.as_secs_f64() / baseline_time.as_secs_f64()
            );
        }
    });
}
