//! The provisioning pipeline for one batch of one school (SPEC §5); see the module docs of
//! [`crate::worker`] for the steps.
//!
//! * `mod.rs` — the pipeline: fetch the operations, wait for the lock (and for sophomorix),
//!   the journal step, `running`, the attempt, the merge rounds, the final reports.
//! * [`apply`] — one round under the lock: read, merge, journal, commit, import, verify.
//! * [`lock`] — the provisioning lock and the waits for sophomorix's lock.
//! * [`files`] — reading the device files, writing them, the sophomorix check, the import and the
//!   rollback after a failure.
//! * [`operations`] — the operations fetched from the API, planned into merge jobs, and the
//!   reports sent.
//! * [`resume`] — going on from the journal of an interrupted batch.
//! * [`result`] — the `result` object of the final reports.
//! * [`error`] — [`ProvisionError`], and what a rollback did.
//! * [`rollback`], [`journal`] — the files under `STATE_DIR/backup/<school>/`.
//! * [`schools`] — the other schools' devices.csv, indexed once per version of each file.

mod apply;
mod error;
mod files;
mod journal;
mod lock;
mod operations;
mod result;
mod resume;
mod rollback;
mod schools;
mod timings;

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devices_csv::Job;
use job_stream::{Batch, Outcome};

use crate::paths::School;
use crate::worker::api::{OperationId, StatusUpdate};
use crate::worker::verify::Expect;
use crate::worker::{Context, Task};
use apply::{Flow, import_and_verify, merge_and_import};
use error::MAX_REMERGES;
pub(crate) use error::ProvisionError;
pub(crate) use journal::remove_settled as remove_settled_journals;
use lock::locked;
use operations::{fetch_all, plan, report_all};
use resume::{Journaled, from_journal};
pub(crate) use schools::OtherSchools;
use timings::{Step, Timings};

/// Delay before an entry whose operation the API does not give (404, garbage) comes back; these
/// retries count towards `MAX_DELIVERIES`.
const DEFER_UNKNOWN: Duration = Duration::from_secs(5);
/// One attempt at a batch.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    /// The first attempt reports `running`; one after waiting for sophomorix does not again.
    first: bool,
    /// The batch waited (for its turn, the lock, or sophomorix): look for cancels again.
    waited: bool,
}

/// One job of the batch that reached the merge.
#[derive(Debug, Clone)]
struct Planned {
    /// Index in the batch.
    slot: usize,
    id: OperationId,
    job: Job,
}

/// A job applied for real (not a dry run), on its way through import and verification.
#[derive(Debug)]
struct Live {
    slot: usize,
    id: OperationId,
    /// `change` of the result object.
    change: String,
    expect: Expect,
}

/// Why a job has no final report.
#[derive(Debug, Clone)]
enum Left {
    /// The worker is stopping; nothing was written for it.
    Stopped,
    /// A report could not even be stored; try again later.
    Deferred,
    /// Another sophomorix command holds the sophomorix lock: the files are restored and the
    /// whole batch is tried again.
    SophomorixLocked,
    /// An administrator cancelled the operation while the batch waited: acknowledged unrun.
    Cancelled,
    /// An interrupted batch goes on first; this job comes back right behind it.
    Later,
    /// Something outside the batch failed (the lock file): every job comes back with this.
    Wait(Outcome),
}

/// What every step of one batch works with.
#[derive(Clone, Copy)]
struct Round<'a> {
    context: &'a Arc<Context>,
    batch: &'a Batch<Task>,
    /// The school of every task of the batch (its lane).
    school: &'a School,
    timings: &'a Arc<Timings>,
}

/// One job's result: its final report, or why it is left pending.
type JobResult = (usize, OperationId, Result<StatusUpdate, Left>);

/// A job of the batch on its way to a result.
trait Slotted: Sized {
    /// Its index in the batch and its operation.
    fn slot(self) -> (usize, OperationId);

    /// No final report, for `why`.
    fn left(self, why: Left) -> JobResult {
        let (slot, id) = self.slot();
        (slot, id, Err(why))
    }
}

impl Slotted for Planned {
    fn slot(self) -> (usize, OperationId) {
        (self.slot, self.id)
    }
}

impl Slotted for Live {
    fn slot(self) -> (usize, OperationId) {
        (self.slot, self.id)
    }
}

/// Every job of `jobs` fails with `problem`.
fn fail_each(
    results: &mut Vec<JobResult>,
    jobs: impl IntoIterator<Item = impl Slotted>,
    problem: &impl Display,
) {
    results.extend(jobs.into_iter().map(|job| {
        let (slot, id) = job.slot();
        (slot, id, Ok(StatusUpdate::failed(problem.to_string())))
    }));
}

pub(crate) async fn run(context: &Arc<Context>, batch: Batch<Task>) -> Vec<Outcome> {
    let started = Instant::now();
    // The lane is the school: every task of the batch has the same.
    let school = batch.deliveries[0].job.school().clone();
    let timings = Arc::new(Timings::default());
    let round = Round {
        context,
        batch: &batch,
        school: &school,
        timings: &timings,
    };
    let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.deliveries.len()];

    // 1. The operations. Stream order matters within a school (create then delete), so once an
    // entry has to wait for the API, every later entry of the batch waits with it.
    let ids = batch
        .deliveries
        .iter()
        .map(|delivery| delivery.job.operation_id().clone());
    let fetched = timings.time(Step::Fetch, fetch_all(context, ids)).await;
    let mut planned = Vec::new();
    let mut refused = Vec::new();
    let mut waiting: Option<Outcome> = None;
    for (slot, (delivery, fetched)) in batch.deliveries.iter().zip(fetched).enumerate() {
        let id = delivery.job.operation_id().clone();
        match fetched {
            Err(error) if waiting.is_none() && error.is_retryable() => {
                tracing::warn!(operation_id = %id, %error, "cannot fetch the operation; the entry and the later ones of the batch stay pending");
                let outcome = context.defer(&delivery.id);
                outcomes[slot] = Some(outcome.clone());
                waiting = Some(outcome);
            }
            // The same delay for all, so they come back together and in order.
            _ if waiting.is_some() => outcomes[slot] = waiting.clone(),
            Ok(operation) if operation.is_cancelled() => {
                // An administrator cancelled it: not run, and not reported (a report would
                // overwrite the cancel).
                tracing::info!(operation_id = %id, "the operation was cancelled; acknowledged without running");
                outcomes[slot] = Some(Outcome::Ack);
            }
            Ok(operation) => match plan(&operation, &delivery.job) {
                Ok(job) => planned.push(Planned { slot, id, job }),
                Err(problem) => {
                    tracing::warn!(operation_id = %id, %problem, "job refused before the merge");
                    refused.push((slot, id, problem));
                }
            },
            Err(error) => {
                // 404 "Operation not found" or an answer that is not the API's: counted retries,
                // so the entry is dead-lettered after MAX_DELIVERIES. (A wrong API_URL is a
                // retryable configuration error, handled above: the worker stops.)
                tracing::error!(operation_id = %id, %error, attempts = delivery.attempts, "the API does not give the operation");
                outcomes[slot] = Some(Outcome::RetryAfter(DEFER_UNKNOWN));
            }
        }
    }

    // 2. Under the lock, as often as sophomorix makes the batch wait.
    let mut finals = Vec::new();
    for (slot, id, result) in locked(round, planned).await {
        match result {
            Ok(update) => finals.push((slot, id, update)),
            Err(why) => outcomes[slot] = Some(pending(context, &batch, slot, why)),
        }
    }

    // 3. Final reports (refused jobs are reported running first, like every job), then
    // acknowledgements.
    let running = refused
        .iter()
        .map(|(_, id, _)| (id.clone(), StatusUpdate::running()));
    timings
        .time(Step::Report, report_all(context, running.collect()))
        .await;
    finals.extend(
        refused
            .into_iter()
            .map(|(slot, id, problem)| (slot, id, StatusUpdate::failed(problem.to_string()))),
    );
    let reports = finals
        .iter()
        .map(|(_, id, update)| (id.clone(), update.clone()));
    let recorded = timings
        .time(Step::Report, report_all(context, reports.collect()))
        .await;
    for ((slot, id, update), recorded) in finals.into_iter().zip(recorded) {
        tracing::info!(operation_id = %id, status = ?update.status, error = update.error.as_deref().unwrap_or(""), "job finished");
        outcomes[slot] = Some(if recorded {
            Outcome::Ack
        } else {
            context.defer(&batch.deliveries[slot].id)
        });
    }
    let ms = |step| timings.of(step).as_millis();
    tracing::info!(
        %school,
        jobs = batch.deliveries.len(),
        elapsed_ms = started.elapsed().as_millis(),
        fetch_ms = ms(Step::Fetch),
        lock_ms = ms(Step::Lock),
        merge_ms = ms(Step::Merge),
        write_ms = ms(Step::Write),
        import_ms = ms(Step::Import),
        verify_ms = ms(Step::Verify),
        report_ms = ms(Step::Report),
        "batch done"
    );
    let outcomes = outcomes.into_iter().zip(&batch.deliveries);
    outcomes
        .map(|(outcome, delivery)| {
            let outcome = outcome.unwrap_or(Outcome::Retry);
            if matches!(outcome, Outcome::Ack | Outcome::DeadLetter(_)) {
                context.settled(&delivery.id);
            }
            outcome
        })
        .collect()
}

/// The outcome of a job left without a final report.
fn pending(context: &Context, batch: &Batch<Task>, slot: usize, why: Left) -> Outcome {
    match why {
        Left::Stopped | Left::SophomorixLocked => Outcome::Retry,
        Left::Deferred => context.defer(&batch.deliveries[slot].id),
        Left::Cancelled => Outcome::Ack,
        Left::Later => Outcome::Defer(Duration::ZERO),
        Left::Wait(outcome) => outcome,
    }
}

/// Steps 3 to 5 under the lock. Returns per planned job its final report, or why it stays
/// pending. The lock moves into the commit-and-import step and is released when that step ends,
/// even if this future is abandoned meanwhile.
async fn provision(
    round: Round<'_>,
    planned: Vec<Planned>,
    mut lock: dc_adapters::lock::ProvisionLock,
    attempt: Attempt,
) -> Vec<JobResult> {
    let Round {
        context,
        batch,
        timings,
        ..
    } = round;
    let mut results = Vec::new();
    let planned = if attempt.waited {
        // An operation an administrator cancelled while the batch waited is left alone (a failed
        // look-up keeps the job: the API being slow is no cancel).
        let ids = planned.iter().map(|job| job.id.clone());
        let statuses = timings.time(Step::Fetch, fetch_all(context, ids)).await;
        let mut wanted = Vec::new();
        for (job, status) in planned.into_iter().zip(statuses) {
            match status {
                Ok(operation) if operation.is_cancelled() => {
                    tracing::info!(operation_id = %job.id, "the operation was cancelled while the batch waited; acknowledged without running");
                    results.push(job.left(Left::Cancelled));
                }
                _ => wanted.push(job),
            }
        }
        wanted
    } else {
        planned
    };
    // A batch merged and written before the worker stopped goes on from its journal.
    let planned = match from_journal(round, planned, &mut results) {
        Journaled::Proceed(planned) => planned,
        Journaled::Resume(journal, journaled) => {
            return resume::resume(round, journal, journaled, lock, results).await;
        }
        Journaled::Done => return results,
    };
    let running = if attempt.first {
        let reports = planned
            .iter()
            .map(|job| (job.id.clone(), StatusUpdate::running()));
        let running = report_all(context, reports.collect());
        timings.time(Step::Report, running).await
    } else {
        vec![true; planned.len()]
    };
    let mut jobs = Vec::new();
    for (job, reported) in planned.into_iter().zip(running) {
        if reported {
            jobs.push(job);
        } else {
            // Not even the outbox took the report: leave the entry for later.
            results.push(job.left(Left::Deferred));
        }
    }
    if jobs.is_empty() {
        return results;
    }
    // Handling starts here, before the files are read and written: one attempt per job towards
    // MAX_DELIVERIES (waiting for the lock, the API or a restart before this point counts none).
    if !batch.begin(jobs.iter().map(|job| job.slot)).await {
        results.extend(jobs.into_iter().map(|job| job.left(Left::Stopped)));
        return results;
    }
    // An administrator who edits devices.csv while the batch is written wins: the batch reads
    // and merges again on top of their version.
    for pass in 1..=MAX_REMERGES {
        let merged = merge_and_import(round, jobs.clone(), lock, results.clone());
        match merged.await {
            Flow::Done(results) => return results,
            Flow::FilesChanged(again) => {
                tracing::warn!(
                    round = pass,
                    "devices.csv changed while the batch was being written; merging again on top of the new version"
                );
                lock = again;
            }
        }
    }
    fail_each(&mut results, jobs, &ProvisionError::KeepsChanging);
    results
}
