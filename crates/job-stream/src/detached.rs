//! Deliveries and batches that belong to no consumer, for testing a [`Handler`] in process without
//! Redis (cargo feature `test-support`; enable it under `[dev-dependencies]` only).
//!
//! ```
//! use job_stream::{Batch, Delivery};
//!
//! let batch = Batch::detached("tenant-a", vec![Delivery::detached("1-0", "upload a")]);
//! let begun = batch.begin_log().expect("a detached batch has a log");
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // The handler under test would do this before its first command.
//! assert!(batch.begin(0..batch.deliveries.len()).await);
//! # });
//! assert_eq!(begun.ids(), ["1-0"]);
//! ```
//!
//! [`Handler`]: crate::Handler

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::job::{Batch, Delivery, Recorder, Start};

/// The [`begin`](Delivery::begin) calls of detached deliveries, in memory: which entries' handling
/// began, in the order it was recorded. Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct BeginLog {
    ids: Arc<Mutex<Vec<String>>>,
}

impl BeginLog {
    /// The ids whose handling began, in order; each id once per handling (a second `begin` of
    /// the same delivery records nothing, as with the runtime).
    pub fn ids(&self) -> Vec<String> {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Recorder for BeginLog {
    fn record<'a>(&'a self, ids: Vec<String>) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(ids);
        Box::pin(async { true })
    }

    fn begin_log(&self) -> Option<BeginLog> {
        Some(self.clone())
    }
}

impl<J> Delivery<J> {
    /// **For tests only**: entry `id` decoded into `job`, belonging to no consumer, with 0
    /// attempts before (assign [`attempts`](Self::attempts) for another count). Its
    /// [`begin`](Self::begin) records into an in-memory [`BeginLog`]
    /// ([`begin_log`](Self::begin_log)), never into Redis, and always succeeds; nothing
    /// acknowledges, retries or dead-letters it: the test reads the handler's [`Outcome`].
    ///
    /// [`Outcome`]: crate::Outcome
    pub fn detached(id: impl Into<String>, job: J) -> Self {
        let mut delivery = Self::new(id, job, 0);
        delivery.start = Start {
            id: delivery.id.clone(),
            begun: Arc::default(),
            recorder: Some(Arc::new(BeginLog::default())),
        };
        delivery
    }

    /// The log of a [`detached`](Self::detached) delivery's `begin`; `None` for the runtime's
    /// deliveries.
    pub fn begin_log(&self) -> Option<BeginLog> {
        self.start
            .recorder
            .as_ref()
            .and_then(|recorder| recorder.begin_log())
    }
}

impl<J> Batch<J> {
    /// **For tests only**: a batch of lane `key` of [`detached`](Delivery::detached) deliveries,
    /// in this order, with a shutdown token of its own (cancel it to test a stop). Its deliveries
    /// record into one [`BeginLog`] ([`begin_log`](Self::begin_log)), whether the handler begins
    /// them one by one or with [`Batch::begin`].
    pub fn detached(key: impl Into<String>, mut deliveries: Vec<Delivery<J>>) -> Self {
        let log: Arc<dyn Recorder> = Arc::new(BeginLog::default());
        for delivery in &mut deliveries {
            delivery.start.recorder = Some(Arc::clone(&log));
        }
        Self {
            key: key.into(),
            deliveries,
            shutdown: CancellationToken::new(),
        }
    }

    /// The log of a [`detached`](Self::detached) batch's `begin` calls; `None` for an empty
    /// batch and for the runtime's batches.
    pub fn begin_log(&self) -> Option<BeginLog> {
        self.deliveries.first().and_then(Delivery::begin_log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_detached_delivery_logs_its_begin_once() {
        let delivery = Delivery::detached("1-0", ());
        let log = delivery.begin_log().expect("detached");
        assert!(log.ids().is_empty());
        assert!(delivery.begin().await);
        assert!(delivery.begin().await);
        assert!(delivery.begun());
        assert_eq!(log.ids(), ["1-0"], "once per handling");
        assert_eq!(delivery.attempts, 0);
    }

    #[tokio::test]
    async fn a_detached_batch_logs_every_begin_in_one_log() {
        let batch = Batch::detached(
            "tenant-a",
            vec![
                Delivery::detached("1-0", 'a'),
                Delivery::detached("2-0", 'b'),
                Delivery::detached("3-0", 'c'),
            ],
        );
        let log = batch.begin_log().expect("detached");
        assert!(batch.deliveries[2].begin().await);
        assert!(batch.begin([0, 2]).await);
        assert_eq!(log.ids(), ["3-0", "1-0"]);
        assert!(!batch.deliveries[1].begun());
        assert!(!batch.shutdown.is_cancelled());
    }

    #[test]
    fn the_runtimes_deliveries_have_no_log() {
        let delivery = Delivery::new("1-0", (), 0);
        assert!(delivery.begin_log().is_none());
        let empty: Batch<()> = Batch::detached("tenant-a", Vec::new());
        assert!(empty.begin_log().is_none());
    }
}
