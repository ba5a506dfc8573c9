//! The tests' fixture (a private redis-server whose stream has the group, and consumers started
//! on it), the test job type, a recording handler and polling helpers.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dc_testkit::RedisServer;
use job_stream::{
    Batch, Consumer, DeadLetter, Delivery, Handler, Invalid, Job, Lane, Outcome, Settings,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) const STREAM: &str = "jobs";
pub(crate) const GROUP: &str = "workers";
/// The dead-letter stream and the attempts hash `Settings::new` derives from [`STREAM`].
pub(crate) const DLQ: &str = "jobs:dlq";
pub(crate) const ATTEMPTS: &str = "jobs:attempts";
pub(crate) const CONSUMER: &str = "host-test";

/// How long a test waits for something that normally takes well under a second.
pub(crate) const LONG: Duration = Duration::from_secs(20);

/// A job as the worker would decode it: `provision` entries batch per school, `repair` entries run
/// concurrently.
#[derive(Debug, Clone)]
pub(crate) struct TestJob {
    pub(crate) operation_id: String,
    pub(crate) concurrent: bool,
    /// The batching key: the entry's `school`, `school-a` when absent.
    pub(crate) school: String,
}

impl TestJob {
    fn decode(fields: &HashMap<String, String>) -> Result<Self, Invalid> {
        let kind = fields.get("type").map(String::as_str);
        if !matches!(kind, Some("provision" | "repair")) {
            return Err(Invalid::new(format!("unknown type {kind:?}")));
        }
        let operation_id = fields.get("operation_id").cloned().unwrap_or_default();
        let valid = !operation_id.is_empty()
            && operation_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(Invalid::new(format!(
                "invalid operation_id {operation_id:?}"
            )));
        }
        Ok(Self {
            operation_id,
            concurrent: kind == Some("repair"),
            school: fields
                .get("school")
                .cloned()
                .unwrap_or_else(|| "school-a".to_owned()),
        })
    }
}

impl Job for TestJob {
    fn lane(&self) -> Lane {
        if self.concurrent {
            Lane::Concurrent
        } else {
            Lane::Batched(self.school.clone())
        }
    }
}

/// What the recording handler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Acknowledge everything.
    Ack,
    /// Never return from a batch (until abandoned).
    BlockForever,
    /// Wait for the shutdown token, then acknowledge (a cooperative handler).
    AckAtShutdown,
    /// Leave everything pending.
    Retry,
    /// Batches take this long, then acknowledge; concurrent jobs acknowledge at once.
    SlowBatch(Duration),
    /// Ask for a retry after this delay on the first delivery, acknowledge later ones.
    RetryOnceAfter(Duration),
    /// Batches: defer each entry this many times with this delay, then acknowledge.
    DeferTimes(usize, Duration),
    /// Never return, and never begin (a handler waiting before its first command).
    WaitUnbegun,
    /// Batches: defer each entry of an operation `create-…` once with this delay (before
    /// beginning it), and every later entry of its batch with it; acknowledge everything else.
    DeferFirstOnce(Duration),
}

/// A handled entry.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) entry_id: String,
    pub(crate) operation_id: String,
    pub(crate) school: String,
    pub(crate) attempts: u64,
    pub(crate) at: Instant,
}

#[derive(Debug)]
pub(crate) struct Recorder {
    mode: Mode,
    pub(crate) batches: Mutex<Vec<Vec<Seen>>>,
    pub(crate) batches_finished: Mutex<Vec<Instant>>,
    pub(crate) singles: Mutex<Vec<Seen>>,
    pub(crate) dead: Mutex<Vec<DeadLetter>>,
    /// The pending sets of [`Handler::replayed`], in order.
    pub(crate) replayed: Mutex<Vec<std::collections::HashSet<String>>>,
}

impl Recorder {
    pub(crate) fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode,
            batches: Mutex::default(),
            batches_finished: Mutex::default(),
            singles: Mutex::default(),
            dead: Mutex::default(),
            replayed: Mutex::default(),
        })
    }

    pub(crate) fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }

    /// Every entry handled so far, batches and singles.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        let mut seen: Vec<Seen> = self
            .batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect();
        seen.extend(self.singles.lock().unwrap().iter().cloned());
        seen
    }

    pub(crate) fn n_seen(&self) -> usize {
        self.seen().len()
    }

    fn record(delivery: &Delivery<TestJob>) -> Seen {
        Seen {
            entry_id: delivery.id.clone(),
            operation_id: delivery.job.operation_id.clone(),
            school: delivery.job.school.clone(),
            attempts: delivery.attempts,
            at: Instant::now(),
        }
    }
}

impl Handler for Recorder {
    type Job = TestJob;

    fn decode(&self, _id: &str, fields: &HashMap<String, String>) -> Result<TestJob, Invalid> {
        TestJob::decode(fields)
    }

    async fn handle_batch(&self, batch: Batch<TestJob>) -> Vec<Outcome> {
        let seen = batch.deliveries.iter().map(Self::record).collect();
        self.batches.lock().unwrap().push(seen);
        match self.mode {
            Mode::DeferTimes(..) => {}
            Mode::WaitUnbegun => std::future::pending().await,
            Mode::DeferFirstOnce(delay) => {
                let first_time = |operation: &str| {
                    self.seen()
                        .iter()
                        .filter(|seen| seen.operation_id == operation)
                        .count()
                        == 1
                };
                let first = batch.deliveries.iter().position(|delivery| {
                    delivery.job.operation_id.starts_with("create")
                        && first_time(&delivery.job.operation_id)
                });
                if let Some(first) = first {
                    // Everything from the first entry on waits with it.
                    return (0..batch.deliveries.len())
                        .map(|index| {
                            if index < first {
                                Outcome::Ack
                            } else {
                                Outcome::Defer(delay)
                            }
                        })
                        .collect();
                }
            }
            _ => assert!(batch.begin(0..batch.deliveries.len()).await),
        }
        let outcome = match self.mode {
            Mode::Ack => Outcome::Ack,
            Mode::BlockForever => std::future::pending().await,
            Mode::AckAtShutdown => {
                batch.shutdown.cancelled().await;
                Outcome::Ack
            }
            Mode::Retry => Outcome::Retry,
            Mode::WaitUnbegun | Mode::DeferFirstOnce(_) => Outcome::Ack,
            Mode::SlowBatch(duration) => {
                tokio::time::sleep(duration).await;
                Outcome::Ack
            }
            Mode::RetryOnceAfter(delay) => return retry_once(&batch.deliveries, delay),
            Mode::DeferTimes(times, delay) => {
                return defer_times(
                    &self.batches.lock().unwrap(),
                    &batch.deliveries,
                    times,
                    delay,
                );
            }
        };
        self.batches_finished.lock().unwrap().push(Instant::now());
        vec![outcome; batch.deliveries.len()]
    }

    async fn handle(&self, delivery: Delivery<TestJob>, _shutdown: CancellationToken) -> Outcome {
        self.singles.lock().unwrap().push(Self::record(&delivery));
        assert!(delivery.begin().await);
        match self.mode {
            Mode::Retry => Outcome::Retry,
            Mode::RetryOnceAfter(delay) => {
                retry_once(std::slice::from_ref(&delivery), delay).remove(0)
            }
            _ => Outcome::Ack,
        }
    }

    async fn dead_lettered(&self, letter: &DeadLetter) {
        self.dead.lock().unwrap().push(letter.clone());
    }

    async fn replayed(&self, pending: &std::collections::HashSet<String>) {
        self.replayed.lock().unwrap().push(pending.clone());
    }
}

/// Defers each entry until it has been seen `times` times, then acknowledges it.
fn defer_times(
    seen: &[Vec<Seen>],
    deliveries: &[Delivery<TestJob>],
    times: usize,
    delay: Duration,
) -> Vec<Outcome> {
    deliveries
        .iter()
        .map(|delivery| {
            let operation = &delivery.job.operation_id;
            let n = seen
                .iter()
                .flatten()
                .filter(|seen| &seen.operation_id == operation)
                .count();
            if n <= times {
                Outcome::Defer(delay)
            } else {
                Outcome::Ack
            }
        })
        .collect()
}

fn retry_once(deliveries: &[Delivery<TestJob>], delay: Duration) -> Vec<Outcome> {
    deliveries
        .iter()
        .map(|delivery| {
            if delivery.attempts == 0 {
                Outcome::RetryAfter(delay)
            } else {
                Outcome::Ack
            }
        })
        .collect()
}

/// Settings for fast tests: short blocking, backoff and grace; no claiming unless a test sets it.
pub(crate) fn fast_settings() -> Settings {
    let mut settings = Settings::new(STREAM, GROUP, CONSUMER);
    settings.block_timeout = Duration::from_secs(1);
    settings.batch_window = Duration::from_millis(300);
    settings.claim_interval = Duration::from_secs(60);
    settings.backoff_base = Duration::from_millis(50);
    settings.backoff_cap = Duration::from_millis(500);
    settings.shutdown_grace = Duration::from_secs(1);
    settings
}

/// A running consumer and its shutdown token.
pub(crate) struct Running {
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: JoinHandle<job_stream::Result<()>>,
}

impl Running {
    /// Cancels and waits (bounded); returns how long `run` took to return.
    pub(crate) async fn stop(self) -> Duration {
        let start = Instant::now();
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run() returned within 10 s of shutdown")
            .expect("the consumer task did not panic")
            .expect("run() returned Ok");
        start.elapsed()
    }
}

/// One test's Redis: a private redis-server whose [`STREAM`] has the group [`GROUP`] (created at
/// `$`, as the runtime does), and what the tests do with it. Everything of [`RedisServer`] is
/// there too (`Deref`).
pub(crate) struct Fixture {
    server: RedisServer,
}

impl Fixture {
    /// A fresh redis-server without persistence, with the group.
    pub(crate) fn new() -> Fixture {
        Fixture::with_group(RedisServer::start())
    }

    /// A redis-server that keeps its data across [`RedisServer::stop`] and
    /// [`RedisServer::start_again`], with the group.
    pub(crate) fn persistent() -> Fixture {
        Fixture::with_group(RedisServer::start_persistent())
    }

    fn with_group(server: RedisServer) -> Fixture {
        server.create_group(STREAM, GROUP);
        Fixture { server }
    }

    /// Runs a consumer with `settings` and `handler` until [`Running::stop`].
    pub(crate) fn start_consumer(&self, settings: Settings, handler: Arc<Recorder>) -> Running {
        init_tracing();
        let shutdown = CancellationToken::new();
        let consumer = Consumer::with_shared_handler(self.server.client(), settings, handler);
        let task = tokio::spawn(consumer.run(shutdown.clone()));
        Running { shutdown, task }
    }

    /// Adds `n` provision entries with operation ids `<prefix>-0`, `<prefix>-1`, ...
    pub(crate) fn add_provisions(&self, prefix: &str, n: usize) -> Vec<String> {
        let entries: Vec<_> = (0..n)
            .map(|i| job_fields("provision", &format!("{prefix}-{i}")))
            .collect();
        self.server.xadd_many(STREAM, &entries)
    }

    /// Entries pending in the group, of any consumer.
    pub(crate) fn pending_count(&self) -> u64 {
        self.server.pending_summary(STREAM, GROUP).count
    }

    /// Waits until `consumer` has issued its first read (it then shows up in `XINFO CONSUMERS`).
    pub(crate) async fn wait_for_reader(&self, consumer: &str) {
        wait_until("the consumer reads", Duration::from_secs(10), || {
            let rows: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(STREAM)
                .arg(GROUP)
                .query(&mut self.server.connection());
            let is_consumer = |row: &HashMap<String, redis::Value>| match row.get("name") {
                Some(redis::Value::BulkString(name)) => name == consumer.as_bytes(),
                _ => false,
            };
            rows.is_ok_and(|rows| rows.iter().any(is_consumer))
        })
        .await;
    }
}

impl Deref for Fixture {
    type Target = RedisServer;

    fn deref(&self) -> &RedisServer {
        &self.server
    }
}

impl DerefMut for Fixture {
    fn deref_mut(&mut self) -> &mut RedisServer {
        &mut self.server
    }
}

/// Sends the runtime's logs to the test's captured output (shown when a test fails); `RUST_LOG`
/// overrides the default `job_stream=debug`.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("job_stream=debug"));
    // Several tests share the process; only the first installation succeeds, which is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after `limit`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fields of a `provision` (batched) or `repair` (concurrent) entry.
pub(crate) fn job_fields(kind: &str, operation_id: &str) -> Vec<(String, String)> {
    vec![
        ("type".to_owned(), kind.to_owned()),
        ("operation_id".to_owned(), operation_id.to_owned()),
        ("school".to_owned(), "school-a".to_owned()),
    ]
}

/// Asserts that `text` is RFC 3339 UTC with milliseconds, as the runtime writes its timestamps.
#[track_caller]
pub(crate) fn assert_rfc3339_utc(text: &str) {
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
