//! The API side of a batch: its operations fetched, planned into merge jobs, and reports sent,
//! a few at a time.

use std::sync::Arc;

use devices_csv::{HostSpec, Job};

use crate::worker::api::{ApiError, Operation, OperationId, ProvisionAction, StatusUpdate};
use crate::worker::provision::ProvisionError;
use crate::worker::{Context, Task, bounded};

/// Operations fetched from the API at the same time.
const FETCH_CONCURRENCY: usize = 8;
/// Reports sent to the API at the same time.
const REPORT_CONCURRENCY: usize = 8;

/// The merge job of an operation, or why it cannot be one.
pub(super) fn plan(operation: &Operation, task: &Task) -> Result<Job, ProvisionError> {
    if operation.kind != "provision_host" {
        return Err(ProvisionError::NotProvisioning {
            id: operation.id.to_string(),
            kind: operation.kind.clone(),
        });
    }
    let options = operation
        .provision_options()
        .map_err(|source| ProvisionError::Options {
            id: operation.id.to_string(),
            source,
        })?;
    if let Task::Provision { action, .. } = task
        && *action != options.action
    {
        tracing::warn!(
            entry = ?action,
            options = ?options.action,
            "the stream entry and the operation disagree on the action; the operation wins"
        );
    }
    let job = match options.action {
        ProvisionAction::Delete => Job::delete(options.hostname),
        ProvisionAction::Create | ProvisionAction::Update => Job::upsert(HostSpec {
            hostname: options.hostname,
            old_hostname: options.old_hostname,
            room: options.csv_col0,
            group: options.config_name,
            mac: options.mac,
            ip: options.ip,
            role: options.role.unwrap_or_default(),
            pxe_flag: options.pxe_flag,
        }),
    };
    Ok(if options.dry_run { job.dry_run() } else { job })
}

pub(super) async fn fetch_all(
    context: &Arc<Context>,
    ids: impl Iterator<Item = OperationId>,
) -> Vec<Result<Operation, ApiError>> {
    let fetches = ids.map(|id| {
        let context = Arc::clone(context);
        async move { context.reporter.operation(&id).await }
    });
    let fetched = bounded(FETCH_CONCURRENCY, fetches, None).await;
    fetched
        .into_iter()
        .map(|result| {
            // A fetch task that panicked counts as a timeout: the entry is retried.
            result.unwrap_or_else(|| {
                Err(ApiError::Timeout {
                    method: reqwest::Method::GET,
                    url: String::new(),
                })
            })
        })
        .collect()
}

/// Reports concurrently (one report per operation); `true` per report that is recorded.
pub(super) async fn report_all(
    context: &Arc<Context>,
    reports: Vec<(OperationId, StatusUpdate)>,
) -> Vec<bool> {
    let sends = reports.into_iter().map(|(id, update)| {
        let context = Arc::clone(context);
        async move { context.reporter.report(&id, update).await }
    });
    let recorded = bounded(REPORT_CONCURRENCY, sends, None).await;
    recorded
        .into_iter()
        .map(|recorded| recorded == Some(true))
        .collect()
}
