//! Status reports: sent at once, or kept in the durable outbox while the API cannot take them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::worker::api::{ApiClient, ApiError, Operation, OperationId, StatusUpdate};
use crate::worker::outbox::{self, Outbox};

/// The API client and the outbox together.
///
/// Once a report finds the API unreachable, later reports go straight to the outbox (no request,
/// no timeout per job) until a flush of the outbox gets through again; a batch of fifty jobs
/// during an outage costs one timeout, not fifty. Otherwise it is [`outbox::deliver_or_store`].
///
/// An answer that says the configuration is wrong ([`ApiError::is_configuration`]: `API_URL`
/// reaches no API route) is kept as [`configuration_error`](Self::configuration_error) and
/// cancels [`stop`](Self::stop), so the worker stops consuming instead of failing or
/// dead-lettering its entries one by one.
#[derive(Debug)]
pub struct Reporter {
    api: ApiClient,
    outbox: Arc<Outbox>,
    api_down: AtomicBool,
    configuration_error: Mutex<Option<String>>,
    stop: CancellationToken,
}

impl Reporter {
    /// A reporter sending with `api` and storing in `outbox`.
    pub fn new(api: ApiClient, outbox: Arc<Outbox>) -> Reporter {
        Reporter {
            api,
            outbox,
            api_down: AtomicBool::new(false),
            configuration_error: Mutex::new(None),
            stop: CancellationToken::new(),
        }
    }

    /// The first answer that showed the configuration is wrong, if any.
    pub fn configuration_error(&self) -> Option<String> {
        self.configuration_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Cancelled when an answer showed the configuration is wrong.
    pub fn stop(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// `POST …/retry` for `id`, noting what the answer says about the API.
    pub async fn retry(&self, id: &OperationId) -> Result<(), ApiError> {
        let result = self.api.post_retry(id).await;
        if let Err(error) = &result {
            self.note(Some(error));
        }
        result
    }

    /// The API client.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Fetches an operation, noting an unreachable API.
    pub async fn operation(&self, id: &OperationId) -> Result<Operation, ApiError> {
        let result = self.api.get_operation(id).await;
        match &result {
            Ok(_) => self.api_down.store(false, Ordering::Relaxed),
            Err(error) => self.note(Some(error)),
        }
        result
    }

    /// Reports `update` for `id`: delivered, or durably stored in the outbox. `true` when the
    /// outcome is recorded one way or the other (the entry may be acknowledged), `false` when
    /// even the outbox failed (keep the entry pending).
    pub async fn report(&self, id: &OperationId, update: StatusUpdate) -> bool {
        tracing::debug!(operation_id = %id, status = ?update.status, "reporting");
        let recorded = if self.api_down.load(Ordering::Relaxed) {
            self.outbox.store(id, update).await.map(|()| None)
        } else {
            outbox::deliver_or_store(&self.api, &self.outbox, id, update)
                .await
                .map(|delivery| match delivery {
                    outbox::Delivery::Stored(error) => error,
                    _ => None,
                })
        };
        match recorded {
            Ok(error) => {
                self.note(error.as_ref());
                true
            }
            Err(error) => {
                tracing::error!(operation_id = %id, %error, "cannot store a status report");
                false
            }
        }
    }

    /// Whether the last attempt to reach the API failed (reports go to the outbox meanwhile).
    pub fn api_down(&self) -> bool {
        self.api_down.load(Ordering::Relaxed)
    }

    /// Re-sends what the outbox holds; clears the "API down" state when the API answered.
    pub async fn flush(&self) {
        if self.outbox.pending() == 0 {
            self.api_down.store(false, Ordering::Relaxed);
            return;
        }
        let report = self.outbox.flush(&self.api).await;
        for (_, error) in &report.deferred {
            self.note(Some(error));
        }
        if report.unreachable {
            self.api_down.store(true, Ordering::Relaxed);
        } else {
            self.api_down.store(false, Ordering::Relaxed);
        }
        if report.delivered > 0 || !report.dropped.is_empty() {
            tracing::info!(
                delivered = report.delivered,
                dropped = report.dropped.len(),
                remaining = report.remaining,
                "outbox flushed"
            );
        }
        for dropped in &report.dropped {
            tracing::error!(
                operation_id = %dropped.id,
                error = %dropped.error,
                "the API refused a stored status report for good; dropped"
            );
        }
        if let Some(error) = &report.storage_error {
            tracing::error!(%error, "outbox storage error");
        }
    }

    fn note(&self, error: Option<&ApiError>) {
        let Some(error) = error else { return };
        if error.is_unreachable() {
            self.api_down.store(true, Ordering::Relaxed);
        }
        if error.is_configuration() {
            let mut slot = self
                .configuration_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.is_none() {
                tracing::error!(%error, "THE API ANSWERS THAT THE CONFIGURATION IS WRONG; stopping: fix API_URL and restart the worker");
                *slot = Some(error.to_string());
            }
            self.stop.cancel();
        }
    }
}
