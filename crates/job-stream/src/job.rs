//! What the application plugs in: the job type decoded from an entry and the handler of its lanes.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use tokio_util::sync::CancellationToken;

/// A job decoded from the fields of one stream entry.
///
/// Decoding is the only place where untrusted stream fields become typed data; an entry that does
/// not decode is dead-lettered at once with [`Invalid::reason`] as its `last_error`.
pub trait Job: Sized + Send + 'static {
    /// Decodes entry `id` with `fields` (all values are strings; an entry with a value that is not
    /// UTF-8 is dead-lettered before this is called).
    fn from_fields(id: &str, fields: &HashMap<String, String>) -> Result<Self, Invalid>;

    /// The lane this job runs in.
    fn lane(&self) -> Lane;
}

/// Where a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Batched with other jobs of the same key (for example a school): at most
    /// [`batch_size`](crate::Settings::batch_size) entries collected within
    /// [`batch_window`](crate::Settings::batch_window) of the first, one batch per key at a time.
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
    /// How many times the entry has been delivered, this delivery included (1 = first time).
    pub deliveries: u64,
}

impl<J> Delivery<J> {
    /// A delivery (the runtime builds these; handy for testing handlers).
    pub fn new(id: impl Into<String>, job: J, deliveries: u64) -> Self {
        Self {
            id: id.into(),
            job,
            deliveries,
        }
    }
}

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
    /// A batch (the runtime builds these; handy for testing handlers).
    pub fn new(
        key: impl Into<String>,
        deliveries: Vec<Delivery<J>>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            key: key.into(),
            deliveries,
            shutdown,
        }
    }
}

/// What to do with an entry after its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done: acknowledge (`XACK`) the entry.
    Ack,
    /// Not done: leave it pending. It is delivered again when it has been idle for
    /// [`claim_min_idle`](crate::Settings::claim_min_idle), or when this consumer restarts, until
    /// [`max_deliveries`](crate::Settings::max_deliveries) is reached.
    Retry,
    /// Not done: keep it pending and deliver it again to this consumer after the delay (claimed
    /// with `XCLAIM`, so it counts as a delivery towards
    /// [`max_deliveries`](crate::Settings::max_deliveries)). The wait blocks nothing else; if the
    /// consumer stops meanwhile, the entry stays pending for the next start.
    RetryAfter(std::time::Duration),
    /// Not done, and not the entry's fault (a service it needs is down, a lock is held): keep it
    /// pending and deliver it again to this consumer after the delay, **without** counting a
    /// delivery towards [`max_deliveries`](crate::Settings::max_deliveries) (the claim keeps the
    /// entry's delivery count with `RETRYCOUNT`). An entry may be deferred any number of times;
    /// use it only for conditions outside the entry. Like `RetryAfter`, the delay is kept in
    /// memory: after a restart the entry is replayed at once. Entries of one handler call
    /// deferred (or retried) with the same delay come back together, in stream order.
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
    /// How many times it had been delivered (`deliveries`).
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

    /// Decodes an entry. The default is [`Job::from_fields`]; a handler overrides it when decoding
    /// needs its configuration (for example a default for a missing field). An error dead-letters
    /// the entry at once.
    fn decode(&self, id: &str, fields: &HashMap<String, String>) -> Result<Self::Job, Invalid> {
        Self::Job::from_fields(id, fields)
    }

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
}
