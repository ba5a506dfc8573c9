//! A Redis Streams consumer runtime on tokio: consumer groups, replay, claiming, dead-lettering, lanes.
//!
//! The application names the stream, the group and the consumer ([`Settings::new`]; this crate
//! knows no names of its own) and defines a [`Job`] type (which [`Lane`] a job runs in) and a
//! [`Handler`] (how an entry's string fields decode, and what a batch or a single job does);
//! [`Consumer::run`] does the rest:
//!
//! * **Group**: `XGROUP CREATE stream group $ MKSTREAM` on start (`BUSYGROUP` is fine). When Redis
//!   later answers `NOGROUP` (it lost its data), the group is re-created at id `0` and an error is
//!   logged.
//! * **Replay**: on start and after every reconnect, this consumer's own pending entries are read
//!   again (`XREADGROUP ... 0`) before new ones.
//! * **Reading**: a dedicated connection blocks in `XREADGROUP ... BLOCK` for
//!   [`block_timeout`](Settings::block_timeout) (5 s); its client-side response timeout is longer
//!   than that.
//! * **Claiming**: every [`claim_interval`](Settings::claim_interval) (30 s), entries idle for
//!   [`claim_min_idle`](Settings::claim_min_idle) (10 min) are claimed from any consumer
//!   (`XPENDING ... IDLE` + `XCLAIM`). In the same round the entries this process holds (queued,
//!   waiting for a retry, being handled) have their idle time reset (`XCLAIM ... JUSTID`, only
//!   while they are pending at this consumer), so a long wait never lets another consumer take them.
//! * **Attempts** are counted by the runtime, not by Redis's delivery counter (which every replay
//!   raises): handling *starts* when the handler calls [`Delivery::begin`] or [`Batch::begin`]
//!   (before the first command or file write), which is recorded in the hash
//!   [`attempts_key`](Settings::attempts_key) (`HINCRBY`) before it returns; `Retry` and
//!   `RetryAfter` of an entry not begun count one attempt too. Replays, claims, deferrals and stops
//!   before the handler began count nothing. The field goes with the entry's `XACK`.
//! * **Dead-lettering**: an entry whose handling already started
//!   [`max_deliveries`](Settings::max_deliveries) (5) times, an entry that does not decode
//!   ([`Invalid`]), and an entry the handler gives up on ([`Outcome::DeadLetter`]) are written to
//!   the dead-letter stream with the original fields plus `last_error`, `failed_at` (RFC 3339 UTC),
//!   `original_id` and `deliveries` (the attempts), together with the `XACK` of the original in one
//!   `MULTI`. [`Handler::dead_lettered`] is told first. An entry whose handler kills the process
//!   after `begin` reaches it after that many starts.
//! * **Lanes**: [`Lane::Batched`] entries of one key are collected in stream order (replayed ones
//!   included) until [`batch_size`](Settings::batch_size) (50) or until
//!   [`batch_window`](Settings::batch_window) (5 s) after the first, without waiting when the
//!   backlog fills a batch; one batch per key runs at a time. An entry that must wait
//!   (`RetryAfter`, `Defer`, `Retry`) holds its lane: after the delay it comes back first, with
//!   the later entries of the key behind it, so nothing overtakes it. [`Lane::Concurrent`] entries
//!   run at once, at most [`concurrent_limit`](Settings::concurrent_limit) (2) at a time, never
//!   behind a batch or a held lane.
//! * **Delays** of `RetryAfter` and `Defer` are timers in this process, independent of Redis: a
//!   dropped connection (and the replay after it) does not delay the entry's return.
//! * **Acknowledgement** is explicit: one [`Outcome`] per entry (acknowledge, leave pending, retry
//!   after a delay, defer without counting an attempt, dead-letter); nothing is acknowledged before its handler returned
//!   [`Outcome::Ack`].
//! * **Outages**: connections are re-established with exponential backoff and jitter
//!   ([`backoff_base`](Settings::backoff_base) 250 ms up to [`backoff_cap`](Settings::backoff_cap)
//!   30 s); acknowledgements and dead-letter writes are retried the same way. Nothing crashes.
//! * **Shutdown**: cancel the [`CancellationToken`](tokio_util::sync::CancellationToken) passed to
//!   `run`; reading stops, handlers see the same token, get
//!   [`shutdown_grace`](Settings::shutdown_grace) (10 s) to finish (their outcomes are applied),
//!   and `run` returns within that grace plus at most 4 s.
//! * **Heartbeat**: the hash `<stream>:heartbeat:<group>:<consumer>` (the prefix is
//!   [`HeartbeatSettings::key_prefix`]; fields `version`, `started_at`, `last_seen`, `lanes` (the
//!   batching lane keys seen so far, or [`HeartbeatSettings::lanes`]), `in_flight`, `instance`,
//!   `pid`) is refreshed every 10 s with a 30 s TTL, and removed at a clean stop.
//! * **One consumer per name**: the heartbeat hash is written only while its `instance` is this
//!   consumer's ([`HeartbeatSettings::instance`]). At start, a hash of another instance is watched
//!   until it expires (its holder is gone: taken over) or is refreshed (its holder is alive: `run`
//!   returns [`Error::ConsumerInUse`] without reading anything). A running consumer whose hash was
//!   taken over meanwhile stops with the same error.
//! * **Retention** (off by default): with [`stream_retention`](Settings::stream_retention) set,
//!   acknowledged entries older than that are trimmed (`XTRIM stream MINID`), never one pending
//!   in a group or not yet delivered to every group; with
//!   [`dead_letter_max_len`](Settings::dead_letter_max_len) set, the dead-letter stream is capped
//!   exactly. A round runs at start and every [`retention_interval`](Settings::retention_interval)
//!   (10 min); see [`retention`].
//!
//! # Example
//!
//! ```no_run
//! use std::collections::HashMap;
//! use job_stream::{Batch, Consumer, Delivery, Handler, Invalid, Job, Lane, Outcome, Settings};
//! use tokio_util::sync::CancellationToken;
//!
//! enum Task { Upload { tenant: String }, Ping { host: String } }
//!
//! impl Job for Task {
//!     fn lane(&self) -> Lane {
//!         match self { Task::Upload { tenant } => Lane::Batched(tenant.clone()), Task::Ping { .. } => Lane::Concurrent }
//!     }
//! }
//!
//! struct Worker { default_tenant: String }
//! impl Handler for Worker {
//!     type Job = Task;
//!     fn decode(&self, _id: &str, fields: &HashMap<String, String>) -> Result<Task, Invalid> {
//!         let tenant = fields.get("tenant").cloned().unwrap_or_else(|| self.default_tenant.clone());
//!         match fields.get("type").map(String::as_str) {
//!             Some("upload") => Ok(Task::Upload { tenant }),
//!             Some("ping") => Ok(Task::Ping { host: fields.get("host").cloned().unwrap_or_default() }),
//!             other => Err(Invalid::new(format!("unknown type {other:?}"))),
//!         }
//!     }
//!     async fn handle_batch(&self, batch: Batch<Task>) -> Vec<Outcome> {
//!         batch.deliveries.iter().map(|_| Outcome::Ack).collect() // upload the tenant's files here
//!     }
//!     async fn handle(&self, delivery: Delivery<Task>, _shutdown: CancellationToken) -> Outcome {
//!         // Handling starts here: recorded before the first command, so a ping that kills
//!         // the process is dead-lettered after max_deliveries starts.
//!         if !delivery.begin().await { return Outcome::Retry; }
//!         if let Task::Ping { host } = &delivery.job { println!("pinging {host}"); }
//!         Outcome::Ack
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = redis::Client::open("redis://127.0.0.1:6379/")?;
//!     let shutdown = CancellationToken::new(); // cancel it from a signal handler
//!     let worker = Worker { default_tenant: "main".into() };
//!     Consumer::new(client, Settings::new("jobs", "workers", "host-1"), worker).run(shutdown).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Testing a handler
//!
//! With the cargo feature `test-support` (enable it under `[dev-dependencies]` only, so no
//! production build has it), `Delivery::detached(id, job)` and
//! `Batch::detached(key, deliveries)` build deliveries and batches that belong to no consumer:
//! a test calls the handler's `decode`, `handle_batch` and `handle` in process without Redis,
//! reads the outcomes it returns, and sees its `begin` calls in an in-memory `BeginLog`
//! (`begin_log()`).
//!
//! # Limitations
//!
//! * At-least-once delivery: an entry is handled again after a crash, a lost acknowledgement or a
//!   claim, so handlers (and [`Handler::dead_lettered`]) must be idempotent.
//! * The delay of [`Outcome::RetryAfter`] and [`Outcome::Defer`] is kept in memory, so after a
//!   restart the entry is replayed at once. In the concurrent lane an [`Outcome::Retry`] entry
//!   comes back after [`claim_min_idle`](Settings::claim_min_idle) or at the next start.
//! * Attempts live in Redis: if Redis loses its data, the counts go with the entries.
//! * Re-creating a lost group at id `0` re-delivers every entry still in the stream; if only the
//!   group (not the data) was lost, already handled entries run again.
//! * While [`max_in_flight`](Settings::max_in_flight) entries are queued locally (a large
//!   batching backlog), no new entries are read, concurrent-lane ones included; entries queued
//!   locally longer than `claim_min_idle` may be claimed by another consumer of the group.
//! * Batches of different keys may run at the same time; serialise inside the handler if they must
//!   not.
//! * `MULTI` does not roll back, so the dead-letter key's type is checked (`TYPE`) just before it;
//!   a non-stream value there keeps the entry pending and is logged until someone fixes the key.
//! * Only single Redis servers are supported (no cluster).
//! * Retention cannot see readers outside consumer groups (`XREAD`, `XRANGE`): an entry such a
//!   reader has not read yet is trimmed once it is old enough.
#![deny(missing_docs)]

mod backoff;
mod batch;
mod commands;
mod consumer;
#[cfg(any(test, feature = "test-support"))]
mod detached;
mod job;
pub mod retention;
mod settings;

pub use crate::commands::DEAD_LETTER_FIELDS;
pub use crate::consumer::Consumer;
#[cfg(any(test, feature = "test-support"))]
pub use crate::detached::BeginLog;
pub use crate::job::{Batch, DeadLetter, Delivery, Handler, Invalid, Job, Lane, Observer, Outcome};
pub use crate::settings::{HeartbeatSettings, Settings};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`Settings`] field is out of range; `field` names it.
    #[error("invalid job-stream setting {field}: {reason}")]
    InvalidSettings {
        /// The field's name, e.g. `heartbeat.ttl`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process uses this consumer name: its heartbeat hash names another instance and is
    /// kept fresh.
    #[error(
        "consumer name {consumer:?} is in use by another worker ({holder}); give each worker its own consumer name"
    )]
    ConsumerInUse {
        /// The consumer name.
        consumer: String,
        /// The other holder as its heartbeat hash describes it (instance, pid, last seen).
        holder: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
