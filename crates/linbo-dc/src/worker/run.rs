//! The running worker: the job-stream consumer and the outbox flusher, until a stop is asked
//! for or the API says the configuration is wrong.

use std::sync::Arc;
use std::time::Duration;

use job_stream::{Consumer, Observer};
use tokio_util::sync::CancellationToken;

use crate::worker::Worker;

/// How often the outbox is sent again (sooner after a failure is not useful: the API is down).
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

/// How a worker that ran stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stopped {
    /// A stop was asked for (the `shutdown` token).
    Asked,
    /// The configuration is wrong, as the API or Redis showed (an `API_URL` that reaches no API
    /// route, a consumer name another live worker holds); the text says which key.
    Misconfigured(String),
}

impl Worker {
    /// Consumes the job stream through `client` until `shutdown` is cancelled (or the worker
    /// stops itself on a configuration error), re-sending the outbox every few seconds and once
    /// more at the end. `observer` hears when the consumer is ready and alive (systemd).
    ///
    /// # Errors
    /// The consumer's error when it could not go on (Redis answers that are not Redis's).
    pub async fn run(
        &self,
        client: redis::Client,
        observer: Option<Arc<dyn Observer>>,
        shutdown: CancellationToken,
    ) -> Result<Stopped, job_stream::Error> {
        {
            let (misconfigured, shutdown) = (self.configuration_stop(), shutdown.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = misconfigured.cancelled() => shutdown.cancel(),
                    () = shutdown.cancelled() => {}
                }
            });
        }
        let outbox = {
            let (worker, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move { worker.run_outbox(shutdown).await })
        };
        let mut consumer = Consumer::new(client, self.consumer_settings(), self.clone());
        if let Some(observer) = observer {
            consumer = consumer.with_observer(observer);
        }
        let result = consumer.run(shutdown.clone()).await;
        shutdown.cancel();
        let _ = outbox.await;
        match result {
            Err(error @ job_stream::Error::ConsumerInUse { .. }) => {
                return Ok(Stopped::Misconfigured(format!(
                    "{error} (CONSUMER_NAME, default: the host name)"
                )));
            }
            result => result?,
        }
        if let Some(problem) = self.configuration_error() {
            return Ok(Stopped::Misconfigured(problem));
        }
        Ok(Stopped::Asked)
    }

    /// Re-sends the outbox every [`OUTBOX_INTERVAL`] until `shutdown`, then once more.
    async fn run_outbox(&self, shutdown: CancellationToken) {
        let reporter = self.reporter();
        loop {
            reporter.flush().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(OUTBOX_INTERVAL) => {}
            }
        }
        reporter.flush().await;
    }
}
