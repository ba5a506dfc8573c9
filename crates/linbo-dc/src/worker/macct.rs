//! The machine-account lane (SPEC §6): `repair_macct.py` for one host, concurrently with
//! provisioning, with the API's retry protocol.
//!
//! A failed repair at `attempt < 3` is reported `retrying` (with the error and the attempt); the
//! entry then stays pending for `MACCT_RETRY_BACKOFF_SEC × 2^attempt` without holding a slot
//! ([`Outcome::RetryAfter`]), and when it comes back the worker asks the API to retry
//! (`POST …/retry`), which enqueues a new entry with `attempt + 1`, and acknowledges this one. At
//! `attempt >= 3` the job fails with `Max retries (3) exceeded: <error>`. If the worker restarts
//! during the wait, the entry is simply repaired again (a repair is idempotent).
//!
//! Every entry first asks the API for its operation: an entry older than the operation's
//! `attempt` (the API already enqueued the next attempt) or of an operation that already ended
//! (`completed`, `failed`, or `cancelled` by an administrator) is acknowledged without running
//! again and without a report, so a crash between a retry request and the acknowledgement cannot
//! run a repair twice or spend an attempt, and a cancel is never overwritten.
//!
//! Attempts differ from the Python predecessor (UPSTREAM.md §A.13): it reported `attempt + 1`
//! and the API's retry incremented again, so it ran twice and ended with the API's own
//! "Max retries (3) exceeded. Moved to DLQ."; this worker reports the attempt it ran (SPEC §6),
//! so a repair runs at attempts 0, 1, 2 and 3 and the last failure is this worker's
//! `Max retries (3) exceeded: <error>`. The API's retry clears `error` while the next attempt
//! waits, so the UI shows the error only until the retry is requested.
//!
//! A `REPAIR_SCRIPT` that does not exist fails its jobs at once, without retries (linuxmuster
//! ships no public `repair_macct.py`, UPSTREAM.md §A.12; the worker also warns at start).

use std::time::Duration;

use dc_adapters::repair_macct::{self, RepairRequest, RepairResult};
use job_stream::{Delivery, Outcome};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::worker::api::{ApiError, OperationId, StatusUpdate};
use crate::worker::{Context, Task};

/// Attempts after which the API gives up (its own rule; SPEC §2.2).
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// Delay before an entry whose report or retry request could not be made comes back.
const SHORT_RETRY: Duration = Duration::from_secs(5);

pub(crate) async fn run(
    context: &Context,
    delivery: Delivery<Task>,
    shutdown: CancellationToken,
) -> Outcome {
    let Task::MachineAccount {
        operation_id,
        host,
        school,
        attempt,
    } = &delivery.job
    else {
        // The runtime sends only concurrent-lane tasks here; a provisioning entry would be a bug.
        return Outcome::DeadLetter("provisioning entry in the machine-account lane".to_owned());
    };
    let waiting = context
        .awaiting_retry
        .lock()
        .expect("retry map lock")
        .get(&delivery.id)
        .cloned();
    if let Some(error) = waiting {
        return request_retry(context, &delivery.id, operation_id, *attempt, &error).await;
    }
    if shutdown.is_cancelled() {
        return Outcome::Retry;
    }
    match context.reporter.operation(operation_id).await {
        Ok(operation) if operation.attempt > *attempt || operation.has_ended() => {
            tracing::info!(
                entry_attempt = attempt,
                operation_attempt = operation.attempt,
                status = %operation.status,
                "the operation has moved on; this entry is done"
            );
            context.settled(&delivery.id);
            return Outcome::Ack;
        }
        Ok(_) => {}
        Err(error) if error.is_retryable() => {
            tracing::warn!(%error, "cannot fetch the operation; the entry stays pending");
            return context.defer(&delivery.id);
        }
        Err(error) => {
            tracing::error!(%error, attempts = delivery.attempts, "the API does not give the operation");
            return Outcome::RetryAfter(SHORT_RETRY);
        }
    }
    let settings = &context.settings;
    if !settings.repair_script.is_file() {
        let problem = format!(
            "REPAIR_SCRIPT {} does not exist: set REPAIR_SCRIPT in the worker's configuration to \
             the machine-account repair script; no repair ran",
            settings.repair_script.display()
        );
        tracing::error!(host = %host, "{problem}");
        return settle(
            context,
            &delivery.id,
            operation_id,
            StatusUpdate::failed(problem),
        )
        .await;
    }
    if !context
        .reporter
        .report(operation_id, StatusUpdate::running())
        .await
    {
        return context.defer(&delivery.id);
    }
    let log_dir = settings.log_dir.clone();
    let python = context.programs.python.clone();
    let script = settings.repair_script.clone();
    let (host_name, school_name, id) = (
        host.as_str().to_owned(),
        school.to_string(),
        operation_id.to_string(),
    );
    let timeout = settings.command_timeout;
    // The repair starts here: recorded before the script runs, so a repair that kills the worker
    // is dead-lettered after MAX_DELIVERIES starts.
    if !delivery.begin().await {
        return Outcome::Retry;
    }
    let repaired = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&log_dir)
            .map_err(|error| format!("cannot create LOG_DIR {}: {error}", log_dir.display()))?;
        repair_macct::repair(&RepairRequest {
            python: &python,
            script: &script,
            host: &host_name,
            school: &school_name,
            log_dir: &log_dir,
            operation_id: &id,
            timeout,
        })
        .map_err(|error| error.to_string())
    })
    .await
    .unwrap_or_else(|panic| Err(format!("the repair task failed: {panic}")));

    let update = match repaired {
        Ok(result) => {
            tracing::info!(host = %host, "machine account repaired");
            StatusUpdate::completed(result_object(&result))
        }
        Err(error) if *attempt < MAX_ATTEMPTS => {
            tracing::warn!(host = %host, attempt, %error, "machine-account repair failed; will retry");
            if !context
                .reporter
                .report(operation_id, StatusUpdate::retrying(&error, *attempt))
                .await
            {
                return context.defer(&delivery.id);
            }
            context
                .awaiting_retry
                .lock()
                .expect("retry map lock")
                .insert(delivery.id.clone(), error);
            // Waiting for the backoff is not a failed delivery.
            return Outcome::Defer(backoff(settings.macct_retry_backoff, *attempt));
        }
        Err(error) => {
            tracing::error!(host = %host, attempt, %error, "machine-account repair failed for good");
            StatusUpdate::failed(max_retries(&error))
        }
    };
    settle(context, &delivery.id, operation_id, update).await
}

/// Reports the final `update` of entry `entry`'s operation: acknowledged once it is delivered or
/// in the outbox, else deferred.
async fn settle(
    context: &Context,
    entry: &str,
    operation_id: &OperationId,
    update: StatusUpdate,
) -> Outcome {
    if context.reporter.report(operation_id, update).await {
        context.settled(entry);
        Outcome::Ack
    } else {
        context.defer(entry)
    }
}

/// The entry came back after its backoff: ask the API to retry, then acknowledge.
async fn request_retry(
    context: &Context,
    entry: &str,
    operation_id: &OperationId,
    attempt: u32,
    error: &str,
) -> Outcome {
    let forget = || {
        context
            .awaiting_retry
            .lock()
            .expect("retry map lock")
            .remove(entry);
    };
    let done = || {
        forget();
        context.settled(entry);
        Outcome::Ack
    };
    // An administrator may have cancelled the repair during the backoff: the API's retry would
    // not look (retryJob, macct.service.js:190-225) and run it again.
    match context.reporter.operation(operation_id).await {
        Ok(operation) if operation.has_ended() => {
            tracing::info!(status = %operation.status, "the operation ended during the backoff; no retry");
            return done();
        }
        Ok(_) => {}
        Err(error) if error.is_retryable() => {
            tracing::warn!(%error, "cannot fetch the operation before the retry request; trying again later");
            return context.defer(entry);
        }
        Err(error) => {
            tracing::warn!(%error, "cannot fetch the operation before the retry request; asking for the retry anyway");
        }
    }
    let final_failure = match context.reporter.retry(operation_id).await {
        Ok(()) => {
            tracing::info!(
                attempt,
                "retry requested; the API enqueues the next attempt"
            );
            return done();
        }
        Err(ApiError::RetryLimitReached { .. }) => max_retries(error),
        Err(api_error) if api_error.is_retryable() => {
            tracing::warn!(%api_error, "retry request failed; trying again later");
            return context.defer(entry);
        }
        Err(api_error) => {
            tracing::error!(%api_error, "the API refused the retry request");
            format!("{error} (the API refused the retry request: {api_error})")
        }
    };
    let outcome = settle(
        context,
        entry,
        operation_id,
        StatusUpdate::failed(final_failure),
    )
    .await;
    if matches!(outcome, Outcome::Ack) {
        forget();
    }
    outcome
}

/// `base × 2^attempt`, at most one day.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1_u32 << attempt.min(16))
        .min(Duration::from_secs(86_400))
}

fn max_retries(error: &str) -> String {
    format!("Max retries ({MAX_ATTEMPTS}) exceeded: {error}")
}

/// The result object of SPEC §2.2; the optional flags only when true.
fn result_object(result: &RepairResult) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("processed".to_owned(), json!(result.processed));
    object.insert("stdout_lines".to_owned(), json!(result.stdout_lines));
    for (key, set) in [
        ("unicodePwd_updated", result.unicode_pwd_updated),
        ("pwdLastSet_fixed", result.pwd_last_set_fixed),
        ("skipped", result.skipped),
        ("no_changes", result.no_changes),
    ] {
        if set {
            object.insert(key.to_owned(), json!(true));
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_each_attempt() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 0), Duration::from_secs(10));
        assert_eq!(backoff(base, 1), Duration::from_secs(20));
        assert_eq!(backoff(base, 2), Duration::from_secs(40));
        assert_eq!(backoff(base, 40), Duration::from_secs(86_400));
    }

    #[test]
    fn the_result_object_carries_only_the_flags_that_are_set() {
        let object = result_object(&repair_macct::parse("unicodePwd updated\nok\n"));
        assert_eq!(
            Value::Object(object),
            json!({"processed": true, "stdout_lines": 2, "unicodePwd_updated": true})
        );
    }
}
