//! Status reports: sent at once, or kept in the durable outbox while the API cannot take them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::{ApiClient, ApiError, Operation, OperationId, StatusUpdate};
use crate::outbox::{self, Outbox};

/// The API client and the outbox together.
///
/// Once a report finds the API unreachable, later reports go straight to the outbox (no request,
/// no timeout per job) until a flush of the outbox gets through again; a batch of fifty jobs
/// during an outage costs one timeout, not fifty. Otherwise it is [`outbox::deliver_or_store`].
#[derive(Debug)]
pub struct Reporter {
    api: ApiClient,
    outbox: Arc<Outbox>,
    api_down: AtomicBool,
}

impl Reporter {
    /// A reporter sending with `api` and storing in `outbox`.
    pub fn new(api: ApiClient, outbox: Arc<Outbox>) -> Reporter {
        Reporter {
            api,
            outbox,
            api_down: AtomicBool::new(false),
        }
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

    /// Re-sends what the outbox holds; clears the "API down" state when the API answered.
    pub async fn flush(&self) {
        if self.outbox.pending() == 0 {
            self.api_down.store(false, Ordering::Relaxed);
            return;
        }
        let report = self.outbox.flush(&self.api).await;
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
        if let Some(error) = error
            && error.is_unreachable()
        {
            self.api_down.store(true, Ordering::Relaxed);
        }
    }
}
