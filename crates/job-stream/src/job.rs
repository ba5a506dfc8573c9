//! What the application plugs in: the job type an entry decodes into, and the handler that
//! decodes entries and runs the lanes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

/// A job decoded from the fields of one stream entry (by [`Handler::decode`]).
pub trait Job: Send + 'static {
    /// The lane this job runs in.
    fn lane(&self) -> Lane;
}

/// Where a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Batched with other jobs of the same key (for example one tenant's jobs): at most
    /// [`batch_size`](crate::Settings::batch_size) entries collected within
    /// [`batch_window`](crate::Settings::batch_window) of the first, one batch per key at a time,
    /// in stream order. An entry of the lane that must wait ([`Outcome::RetryAfter`],
    /// [`Outcome::Defer`], [`Outcome::Retry`]) holds the lane: after its delay it comes back
    /// first, followed by the later entries, so no entry overtakes an earlier one of its key.
    Batched(String),
    /// Run on its own as soon as one of [`concurrent_limit`](crate::Settings::concurrent_limit)
    /// slots is free, never behind a batch.
    Concurrent,
}

/// Why an entry could not be decoded (unknown type, missing or malformed field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    reason: String,
}

impl Invalid {
    /// An invalid entry with a reason for humans; it becomes the dead-letter entry's `last_error`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The reason given to [`new`](Self::new).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl std::error::Error for Invalid {}

/// One decoded entry handed to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery<J> {
    /// Stream entry id.
    pub id: String,
    /// The decoded job.
    pub job: J,
    /// How many times handling of this entry started before ([`begin`](Self::begin)); 0 the
    /// first time. Replays, claims and deferrals do not count.
    pub attempts: u64,
    pub(crate) start: Start,
}

impl<J> Delivery<J> {
    /// A delivery without a start marker; the runtime gives it one ([`with_start`]), tests of a
    /// handler use [`Delivery::detached`] (feature `test-support`).
    ///
    /// [`with_start`]: Self::with_start
    pub(crate) fn new(id: impl Into<String>, job: J, attempts: u64) -> Self {
        Self {
            id: id.into(),
            job,
            attempts,
            start: Start::default(),
        }
    }

    pub(crate) fn with_start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Records, durably in Redis, that handling of this entry starts: call it before the first
    /// command or file write the entry causes. It counts towards
    /// [`max_deliveries`](crate::Settings::max_deliveries) once per handling, however often it is
    /// called. `false` when it could not be recorded because the consumer is stopping: then do not
    /// start (return any outcome; the entry stays pending).
    pub async fn begin(&self) -> bool {
        Start::record([&self.start]).await
    }

    /// Whether [`begin`](Self::begin) was called for this handling.
    pub fn begun(&self) -> bool {
        self.start.begun()
    }
}

/// The start marker of one handling of an entry, shared between its [`Delivery`] and the
/// runtime's record of it.
#[derive(Clone, Default)]
pub(crate) struct Start {
    pub(crate) id: String,
    pub(crate) begun: Arc<AtomicBool>,
    pub(crate) recorder: Option<Arc<dyn Recorder>>,
}

/// Durably counts attempts (the runtime's Redis hash; in tests, a detached delivery's
/// [`BeginLog`](crate::BeginLog)).
pub(crate) trait Recorder: Send + Sync {
    /// Records one attempt for each of `ids`; `false` when it could not (stopping).
    fn record<'a>(&'a self, ids: Vec<String>) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

    /// The in-memory log, when this is one.
    #[cfg(any(test, feature = "test-support"))]
    fn begin_log(&self) -> Option<crate::BeginLog> {
        None
    }
}

impl Start {
    pub(crate) fn begun(&self) -> bool {
        self.begun.load(Ordering::SeqCst)
    }

    /// Records the not yet begun ones of `starts` in one round trip and marks them begun.
    async fn record<'a>(starts: impl IntoIterator<Item = &'a Start>) -> bool {
        let fresh: Vec<&Start> = starts.into_iter().filter(|start| !start.begun()).collect();
        let Some(recorder) = fresh.iter().find_map(|start| start.recorder.clone()) else {
            // No recorder: a start marker the runtime has not set yet; nothing to record.
            fresh
                .iter()
                .for_each(|start| start.begun.store(true, Ordering::SeqCst));
            return true;
        };
        if fresh.is_empty() {
            return true;
        }
        let ids = fresh.iter().map(|start| start.id.clone()).collect();
        if !recorder.record(ids).await {
            return false;
        }
        fresh
            .iter()
            .for_each(|start| start.begun.store(true, Ordering::SeqCst));
        true
    }
}

impl fmt::Debug for Start {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Start")
            .field("begun", &self.begun())
            .finish_non_exhaustive()
    }
}

/// Start markers carry no data of the delivery: two deliveries compare by id, job and attempts.
impl PartialEq for Start {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Start {}

/// A batch of one batching lane, in stream order.
#[derive(Debug)]
#[non_exhaustive]
pub struct Batch<J> {
    /// The lane key all entries share.
    pub key: String,
    /// The entries; [`Handler::handle_batch`] returns one [`Outcome`] per entry, in this order.
    pub deliveries: Vec<Delivery<J>>,
    /// Cancelled when the consumer is asked to stop: finish or abandon the current step at a safe
    /// point and return. Entries without [`Outcome::Ack`] stay pending and are replayed later.
    pub shutdown: CancellationToken,
}

impl<J> Batch<J> {
    /// [`Delivery::begin`] for the deliveries at `indices`, in one round trip.
    pub async fn begin(&self, indices: impl IntoIterator<Item = usize>) -> bool {
        let starts: Vec<&Start> = indices
            .into_iter()
            .filter_map(|index| self.deliveries.get(index))
            .map(|delivery| &delivery.start)
            .collect();
        Start::record(starts).await
    }
}

/// What to do with an entry after its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done: acknowledge (`XACK`) the entry.
    Ack,
    /// Not done: leave it pending. In a batching lane the entry holds its lane and comes back
    /// after [`claim_interval`](crate::Settings::claim_interval) (like `RetryAfter` with that
    /// delay); in the concurrent lane it comes back when it has been idle for
    /// [`claim_min_idle`](crate::Settings::claim_min_idle), or when this consumer restarts. Counts
    /// as an attempt (when the handler did not [`begin`](Delivery::begin) it already), except when
    /// the consumer is stopping: return it then for entries not begun.
    Retry,
    /// Not done: keep it pending and hand it to the handler again after the delay; counts as an
    /// attempt towards [`max_deliveries`](crate::Settings::max_deliveries) (when the handler did
    /// not [`begin`](Delivery::begin) it already). In a batching lane the entry holds its lane:
    /// no later entry of the lane runs before it (see [`Lane::Batched`]). The wait blocks nothing
    /// else; the delay is kept in memory and does not depend on Redis (a dropped connection does
    /// not delay it); if the consumer stops meanwhile, the entry stays pending for the next start.
    RetryAfter(std::time::Duration),
    /// Not done, and not the entry's fault (a service it needs is down, a lock is held): like
    /// `RetryAfter`, but counts no attempt of its own (an attempt the handler already began
    /// stays counted). An entry may be deferred any number of times; use it only for conditions
    /// outside the entry. Entries of one handler call come back together, in stream order.
    Defer(std::time::Duration),
    /// Give up: move it to the dead-letter stream with this reason as `last_error`.
    DeadLetter(String),
}

/// An entry moved to the dead-letter stream, as reported to [`Handler::dead_lettered`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The entry's id in the consumed stream (`original_id` in the dead-letter entry).
    pub original_id: String,
    /// The entry's fields (values that are not UTF-8 are shown lossily here; the dead-letter entry
    /// keeps the original bytes).
    pub fields: HashMap<String, String>,
    /// Why it was dead-lettered (`last_error`).
    pub reason: String,
    /// How many times its handling had started (`deliveries` in the dead-letter entry).
    pub deliveries: u64,
    /// When, RFC 3339 UTC (`failed_at`).
    pub failed_at: String,
}

/// The application's side of the runtime: one method per lane and a dead-letter notification.
///
/// The runtime calls the methods from spawned tasks, so they take `&self` and return `Send`
/// futures; keep shared state behind `Arc`/locks inside the handler. A handler that panics leaves
/// its entries pending (they come back after [`claim_min_idle`](crate::Settings::claim_min_idle)).
pub trait Handler: Send + Sync + 'static {
    /// The job type entries decode into.
    type Job: Job;

    /// Decodes entry `id` with `fields` (all values are strings; an entry with a value that is
    /// not UTF-8 is dead-lettered before this is called). This is the only place where untrusted
    /// stream fields become typed data, and it has the handler's configuration at hand (for
    /// example a default for a missing field). An error dead-letters the entry at once with
    /// [`Invalid::reason`] as its `last_error`.
    fn decode(&self, id: &str, fields: &HashMap<String, String>) -> Result<Self::Job, Invalid>;

    /// Handles one batch of a [`Lane::Batched`] lane; returns one outcome per entry, in order.
    /// Missing outcomes count as [`Outcome::Retry`].
    fn handle_batch(&self, batch: Batch<Self::Job>) -> impl Future<Output = Vec<Outcome>> + Send;

    /// Handles one entry of the [`Lane::Concurrent`] lane. `shutdown` is cancelled when the consumer
    /// is asked to stop.
    fn handle(
        &self,
        delivery: Delivery<Self::Job>,
        shutdown: CancellationToken,
    ) -> impl Future<Output = Outcome> + Send;

    /// Called before an entry is written to the dead-letter stream (invalid entry, too many
    /// deliveries, or [`Outcome::DeadLetter`]), so the application can record that the operation
    /// failed. It may be called more than once for the same entry if the dead-letter write has to be
    /// repeated after a crash, so it must be idempotent. The default does nothing.
    fn dead_lettered(&self, letter: &DeadLetter) -> impl Future<Output = ()> + Send {
        let _ = letter;
        async {}
    }

    /// Called after this consumer's pending entries were read again (at start and after every
    /// reconnect) with their ids: every entry of this consumer not yet acknowledged. State the
    /// application keeps for entries that are not among them (acknowledged meanwhile) can go.
    /// The default does nothing.
    fn replayed(&self, pending: &HashSet<String>) -> impl Future<Output = ()> + Send {
        let _ = pending;
        async {}
    }
}

/// Watches the consumer's own loop, for a service manager (systemd's `READY=1` and watchdog).
pub trait Observer: Send + Sync + 'static {
    /// The consumer is ready: Redis answered, its name is its own, the group exists and its own
    /// pending entries were read again. Called once per run.
    fn ready(&self) {}

    /// The reading loop went round (a read returned, a reconnect was tried, or it waited for
    /// room in the in-flight set): called at least every
    /// [`block_timeout`](crate::Settings::block_timeout) plus
    /// [`backoff_cap`](crate::Settings::backoff_cap) while the loop is not stuck. Called often;
    /// rate-limit what it does.
    fn alive(&self) {}
}
