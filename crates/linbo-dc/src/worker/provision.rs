//! The provisioning pipeline for one batch of one school (SPEC §5); see the module docs of
//! [`crate::worker`] for the steps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dc_adapters::atomic::{self, FileState, ReplaceOptions};
use dc_adapters::lock::ProvisionLock;
use dc_adapters::{Error as AdapterError, import_devices, sophomorix_device};
use devices_csv::{
    Change, DevicesFile, HostSpec, Job, JobOutcome, MergeOptions, MergeOutput, MergeStats,
    OtherSchool, Role,
};
use job_stream::{Batch, Outcome};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, Operation, OperationId, ProvisionAction, StatusUpdate};
use crate::paths::School;
use crate::worker::journal::{Decided, Entry as JournalEntry, Journal, JournalFile, Version};
use crate::worker::rollback::{RollbackPoint, Saved};
use crate::worker::verify::{self, Expect, Target};
use crate::worker::{Context, Task};

/// Operations fetched from the API at the same time.
const FETCH_CONCURRENCY: usize = 8;
/// Reports sent to the API at the same time.
const REPORT_CONCURRENCY: usize = 8;
/// The lock is tried in slices this long, so a stop request is noticed.
const LOCK_SLICE: Duration = Duration::from_secs(1);
/// Delay before an entry whose operation the API does not give (404, garbage) comes back; these
/// retries count towards `MAX_DELIVERIES`.
const DEFER_UNKNOWN: Duration = Duration::from_secs(5);
/// Most of the import's output sent as `importOutput` (its end, where the summary is).
const MAX_IMPORT_OUTPUT: usize = 16 * 1024;
/// First wait after sophomorix answered that another command holds its lock; doubled with each
/// attempt up to [`SOPHOMORIX_WAIT_CAP`].
const SOPHOMORIX_WAIT: Duration = Duration::from_secs(5);
/// Longest wait between two attempts while sophomorix is locked.
const SOPHOMORIX_WAIT_CAP: Duration = Duration::from_secs(60);
/// A batch that waited longer than this for its turn looks its operations up again, since an
/// administrator may have cancelled one meanwhile; a batch that got its turn at once uses what it
/// just fetched.
const RECHECK_AFTER: Duration = Duration::from_secs(2);

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

/// The school's files as read before the merge.
#[derive(Debug)]
struct Files {
    master_path: PathBuf,
    delta_path: PathBuf,
    master: Option<String>,
    /// devices.csv as read: it is replaced only while it is still this file.
    master_state: Option<FileState>,
    delta: Option<String>,
    others: Vec<(String, String)>,
}

impl Files {
    fn master_text(&self) -> &str {
        self.master.as_deref().unwrap_or("")
    }

    fn delta_text(&self) -> &str {
        self.delta.as_deref().unwrap_or("")
    }
}

pub(crate) async fn run(context: &Arc<Context>, batch: Batch<Task>) -> Vec<Outcome> {
    let school: School = match batch.key.parse() {
        Ok(school) => school,
        Err(problem) => {
            // Task::decode only builds valid schools; this is a bug, not bad input.
            let reason = format!("invalid batch key: {problem}");
            return batch
                .deliveries
                .iter()
                .map(|_| Outcome::DeadLetter(reason.clone()))
                .collect();
        }
    };
    let started = Instant::now();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.deliveries.len()];
    let mut finals: Vec<(usize, OperationId, StatusUpdate)> = Vec::new();

    // 1. The operations. Stream order matters within a school (create then delete), so once an
    // entry has to wait for the API, every later entry of the batch waits with it.
    let fetched = fetch_all(
        context,
        batch
            .deliveries
            .iter()
            .map(|delivery| delivery.job.operation_id().clone()),
    )
    .await;
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

    // 2. One batch at a time, under the lock file. While another sophomorix command holds the
    // sophomorix lock the batch waits here, in its school's lane, so no later batch of the school
    // can overtake it (a delete must not run before the create it follows); the device files are
    // restored between attempts, and each attempt merges afresh.
    if !planned.is_empty() {
        let mut attempt = 0_u32;
        loop {
            let asked = Instant::now();
            let serial = context.provisioning.lock().await;
            match wait_for_lock(context, &batch.shutdown).await {
                LockWait::Held(lock) => {
                    let this = Attempt {
                        first: attempt == 0,
                        waited: attempt > 0 || asked.elapsed() > RECHECK_AFTER,
                    };
                    let results = provision(
                        context,
                        &batch,
                        &school,
                        planned.clone(),
                        lock,
                        &batch.shutdown,
                        this,
                    )
                    .await;
                    let locked = results
                        .iter()
                        .any(|(_, _, result)| matches!(result, Err(Left::SophomorixLocked)));
                    if locked {
                        drop(serial);
                        let delay = SOPHOMORIX_WAIT
                            .saturating_mul(1_u32 << attempt.min(8))
                            .min(SOPHOMORIX_WAIT_CAP);
                        attempt += 1;
                        tracing::warn!(
                            attempt,
                            delay_s = delay.as_secs(),
                            "sophomorix is locked by another command; the batch waits in its lane and tries again (its jobs stay running)"
                        );
                        tokio::select! {
                            () = batch.shutdown.cancelled() => {
                                for job in &planned {
                                    outcomes[job.slot] = Some(Outcome::Retry);
                                }
                                break;
                            }
                            () = tokio::time::sleep(delay) => continue,
                        }
                    }
                    for (slot, id, result) in results {
                        match result {
                            Ok(update) => finals.push((slot, id, update)),
                            Err(Left::Stopped | Left::SophomorixLocked) => {
                                outcomes[slot] = Some(Outcome::Retry);
                            }
                            Err(Left::Deferred) => {
                                outcomes[slot] = Some(context.defer(&batch.deliveries[slot].id));
                            }
                            Err(Left::Cancelled) => outcomes[slot] = Some(Outcome::Ack),
                            Err(Left::Later) => {
                                outcomes[slot] = Some(Outcome::Defer(Duration::ZERO));
                            }
                        }
                    }
                }
                LockWait::Stopped => {
                    for job in &planned {
                        outcomes[job.slot] = Some(Outcome::Retry);
                    }
                }
                LockWait::Failed(problem) => {
                    tracing::error!(%problem, "cannot take the provisioning lock; the batch stays pending");
                    // One delay for all, so they come back together and in order.
                    let outcome = context.defer(&batch.deliveries[planned[0].slot].id);
                    for job in &planned {
                        outcomes[job.slot] = Some(outcome.clone());
                    }
                }
            }
            break;
        }
    }

    // 3. Final reports (refused jobs are reported running first, like every job), then
    // acknowledgements.
    report_all(
        context,
        refused
            .iter()
            .map(|(_, id, _)| (id.clone(), StatusUpdate::running()))
            .collect(),
    )
    .await;
    finals.extend(
        refused
            .into_iter()
            .map(|(slot, id, problem)| (slot, id, StatusUpdate::failed(problem))),
    );
    let recorded = report_all(
        context,
        finals
            .iter()
            .map(|(_, id, update)| (id.clone(), update.clone()))
            .collect(),
    )
    .await;
    for ((slot, id, update), recorded) in finals.into_iter().zip(recorded) {
        tracing::info!(operation_id = %id, status = ?update.status, error = update.error.as_deref().unwrap_or(""), "job finished");
        outcomes[slot] = Some(if recorded {
            Outcome::Ack
        } else {
            context.defer(&batch.deliveries[slot].id)
        });
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), "batch done");
    outcomes
        .into_iter()
        .zip(&batch.deliveries)
        .map(|(outcome, delivery)| {
            let outcome = outcome.unwrap_or(Outcome::Retry);
            if matches!(outcome, Outcome::Ack | Outcome::DeadLetter(_)) {
                context.settled(&delivery.id);
            }
            outcome
        })
        .collect()
}

/// Why a job has no final report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// The merge job of an operation, or why it cannot be one.
fn plan(operation: &Operation, task: &Task) -> Result<Job, String> {
    if operation.kind != "provision_host" {
        return Err(format!(
            "operation {} is of type {:?}, but its stream entry says provision_host",
            operation.id, operation.kind
        ));
    }
    let options = operation
        .provision_options()
        .map_err(|error| format!("options of operation {}: {error}", operation.id))?;
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

async fn fetch_all(
    context: &Arc<Context>,
    ids: impl Iterator<Item = OperationId>,
) -> Vec<Result<Operation, ApiError>> {
    let fetches = ids.map(|id| {
        let context = Arc::clone(context);
        async move { context.reporter.operation(&id).await }
    });
    bounded(FETCH_CONCURRENCY, fetches)
        .await
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
async fn report_all(
    context: &Arc<Context>,
    reports: Vec<(OperationId, StatusUpdate)>,
) -> Vec<bool> {
    let sends = reports.into_iter().map(|(id, update)| {
        let context = Arc::clone(context);
        async move { context.reporter.report(&id, update).await }
    });
    bounded(REPORT_CONCURRENCY, sends)
        .await
        .into_iter()
        .map(|recorded| recorded == Some(true))
        .collect()
}

/// Runs `tasks` at most `limit` at a time; their results in the order of `tasks` (`None` for a
/// task that panicked).
async fn bounded<T: Send + 'static>(
    limit: usize,
    tasks: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<Option<T>> {
    let permits = Arc::new(Semaphore::new(limit));
    let mut running = JoinSet::new();
    let mut count = 0;
    for (index, task) in tasks.enumerate() {
        let permits = Arc::clone(&permits);
        running.spawn(async move {
            let _permit = permits.acquire().await;
            (index, task.await)
        });
        count += 1;
    }
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    while let Some(joined) = running.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    results
}

enum LockWait {
    Held(ProvisionLock),
    Stopped,
    Failed(String),
}

/// Waits for the provisioning lock as long as it takes (jobs stay pending, none fails), logging
/// every `LOCK_TIMEOUT_SEC`; gives up only when asked to stop.
async fn wait_for_lock(context: &Context, shutdown: &CancellationToken) -> LockWait {
    let path = context.settings.provision_lock_file.clone();
    let mut waited = Duration::ZERO;
    let mut next_warning = context.settings.lock_timeout;
    loop {
        if shutdown.is_cancelled() {
            return LockWait::Stopped;
        }
        let attempt_path = path.clone();
        let acquired =
            tokio::task::spawn_blocking(move || ProvisionLock::acquire(&attempt_path, LOCK_SLICE))
                .await;
        match acquired {
            Ok(Ok(lock)) => return LockWait::Held(lock),
            Ok(Err(AdapterError::LockTimeout { .. })) => {
                waited += LOCK_SLICE;
                if waited >= next_warning {
                    tracing::warn!(lock = %path.display(), waited_s = waited.as_secs(), "still waiting for the provisioning lock; the jobs stay pending");
                    next_warning += context.settings.lock_timeout;
                }
            }
            Ok(Err(error)) => return LockWait::Failed(error.to_string()),
            Err(error) => return LockWait::Failed(error.to_string()),
        }
    }
}

/// One job's result: its final report, or why it is left pending.
type JobResult = (usize, OperationId, Result<StatusUpdate, Left>);

/// Steps 3 to 5 under the lock. Returns per planned job its final report, or why it stays
/// pending. The lock moves into the commit-and-import step and is released when that step ends,
/// even if this future is abandoned meanwhile.
async fn provision(
    context: &Arc<Context>,
    batch: &Batch<Task>,
    school: &School,
    planned: Vec<Planned>,
    lock: ProvisionLock,
    shutdown: &CancellationToken,
    attempt: Attempt,
) -> Vec<JobResult> {
    let mut results = Vec::new();
    let planned = if attempt.waited {
        // An operation an administrator cancelled while the batch waited is left alone (a failed
        // look-up keeps the job: the API being slow is no cancel).
        let statuses = fetch_all(context, planned.iter().map(|job| job.id.clone())).await;
        let mut wanted = Vec::new();
        for (job, status) in planned.into_iter().zip(statuses) {
            match status {
                Ok(operation) if operation.is_cancelled() => {
                    tracing::info!(operation_id = %job.id, "the operation was cancelled while the batch waited; acknowledged without running");
                    results.push((job.slot, job.id, Err(Left::Cancelled)));
                }
                _ => wanted.push(job),
            }
        }
        wanted
    } else {
        planned
    };
    // A batch merged and written before the worker stopped goes on from its journal.
    let planned = match from_journal(context, batch, school, planned, &mut results) {
        Journaled::Proceed(planned) => planned,
        Journaled::Resume(journal, journaled) => {
            return resume(context, batch, school, journal, journaled, lock, results).await;
        }
        Journaled::Done => return results,
    };
    let running = if attempt.first {
        report_all(
            context,
            planned
                .iter()
                .map(|job| (job.id.clone(), StatusUpdate::running()))
                .collect(),
        )
        .await
    } else {
        vec![true; planned.len()]
    };
    let mut jobs = Vec::new();
    for (job, reported) in planned.into_iter().zip(running) {
        if reported {
            jobs.push(job);
        } else {
            // Not even the outbox took the report: leave the entry for later.
            results.push((job.slot, job.id, Err(Left::Deferred)));
        }
    }
    if jobs.is_empty() {
        return results;
    }
    // Handling starts here, before the files are read and written: one attempt per job towards
    // MAX_DELIVERIES (waiting for the lock, the API or a restart before this point counts none).
    if !batch.begin(jobs.iter().map(|job| job.slot)).await {
        results.extend(
            jobs.into_iter()
                .map(|job| (job.slot, job.id, Err(Left::Stopped))),
        );
        return results;
    }
    // An administrator who edits devices.csv while the batch is written wins: the batch reads
    // and merges again on top of their version.
    let mut lock = lock;
    for round in 1.. {
        match merge_and_import(
            context,
            batch,
            school,
            jobs.clone(),
            lock,
            shutdown,
            results.clone(),
        )
        .await
        {
            Flow::Done(results) => return results,
            Flow::FilesChanged(again) if round < MAX_REMERGES => {
                tracing::warn!(
                    round,
                    "devices.csv changed while the batch was being written; merging again on top of the new version"
                );
                lock = again;
            }
            Flow::FilesChanged(_) => {
                let problem = format!(
                    "devices.csv changed every time the batch was about to write it \
                     ({MAX_REMERGES} times); nothing was written — run the job again when the \
                     file is quiet"
                );
                fail_each(
                    &mut results,
                    jobs.into_iter().map(|job| (job.slot, job.id)),
                    &problem,
                );
                return results;
            }
        }
    }
    unreachable!("the loop returns")
}

/// What became of a merge-and-import round.
enum Flow {
    /// Every job has its result (or why it stays pending).
    Done(Vec<JobResult>),
    /// devices.csv changed between the read and the write: nothing was written; merge again.
    FilesChanged(ProvisionLock),
}

/// How often a batch merges again because devices.csv changed under it before it gives up.
const MAX_REMERGES: u32 = 10;

/// Read, merge, journal, commit, import and verify `jobs`, adding their results to `results`.
async fn merge_and_import(
    context: &Arc<Context>,
    batch: &Batch<Task>,
    school: &School,
    jobs: Vec<Planned>,
    lock: ProvisionLock,
    shutdown: &CancellationToken,
    mut results: Vec<JobResult>,
) -> Flow {
    // Read and merge.
    let files = match read_files_off_thread(context, school).await {
        Ok(files) => Arc::new(files),
        Err(problem) => {
            tracing::error!(%problem, "cannot read the device files");
            fail_each(
                &mut results,
                jobs.into_iter().map(|job| (job.slot, job.id)),
                &problem,
            );
            return Flow::Done(results);
        }
    };
    let merge_jobs: Vec<Job> = jobs.iter().map(|job| job.job.clone()).collect();
    let output = {
        let (files, options) = (
            Arc::clone(&files),
            MergeOptions {
                school: school.to_string(),
                default_room: context.settings.default_room.clone(),
                diff: false,
                file_name: files.master_path.display().to_string(),
                protected_hosts: context
                    .settings
                    .dc_host_name
                    .iter()
                    .map(|(name, _)| name.clone())
                    .collect(),
                adopt_manual_hosts: context.settings.adopt_manual_hosts,
            },
        );
        tokio::task::spawn_blocking(move || {
            let others: Vec<OtherSchool<'_>> = files
                .others
                .iter()
                .map(|(school, devices)| OtherSchool { school, devices })
                .collect();
            devices_csv::merge(
                files.master_text(),
                files.delta_text(),
                &others,
                &merge_jobs,
                &options,
            )
        })
        .await
    };
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            let problem = format!("the merge failed: {error}");
            fail_each(
                &mut results,
                jobs.into_iter().map(|job| (job.slot, job.id)),
                &problem,
            );
            return Flow::Done(results);
        }
    };
    for ignored in &output.ignored_delta_lines {
        tracing::warn!(problem = %ignored, "a delta line is not a valid canonical line; kept as it is, not merged");
    }
    let stats = output.stats;
    let mut live = Vec::new();
    for (job, outcome) in jobs.into_iter().zip(&output.outcomes) {
        match outcome {
            JobOutcome::Rejected(problem) => {
                tracing::warn!(operation_id = %job.id, %problem, "job refused");
                results.push((
                    job.slot,
                    job.id,
                    Ok(StatusUpdate::failed(problem.to_string())),
                ));
            }
            JobOutcome::Applied {
                change,
                dry_run: Some(dry_run),
            } => {
                let mut result = Map::new();
                result.insert("dryRun".to_owned(), json!(true));
                result.insert("mergeStats".to_owned(), merge_stats(&dry_run.stats));
                result.insert("diff".to_owned(), json!(dry_run.diff));
                result.insert("change".to_owned(), json!(change_name(change)));
                results.push((job.slot, job.id, Ok(StatusUpdate::completed(result))));
            }
            JobOutcome::Applied {
                change,
                dry_run: None,
            } => {
                let expect = expectation(
                    &job.job,
                    change,
                    &files,
                    &output,
                    &context.settings.default_room,
                );
                live.push(Live {
                    slot: job.slot,
                    id: job.id,
                    change: change_name(change),
                    expect,
                });
            }
        }
    }
    if live.is_empty() {
        return Flow::Done(results);
    }
    supersede(&mut live);
    if shutdown.is_cancelled() {
        // Nothing written yet: the jobs run again after the restart.
        results.extend(
            live.into_iter()
                .map(|job| (job.slot, job.id, Err(Left::Stopped))),
        );
        return Flow::Done(results);
    }

    // The journal, then commit, import and verify.
    let journal_file = journal_of(context, school);
    let stats = merge_stats(&stats);
    let writes = output.changed(files.master_text(), files.delta_text());
    if writes {
        let decided = |slot: usize| -> Option<Decided> {
            if let Some(job) = live.iter().find(|job| job.slot == slot) {
                return Some(Decided::Live {
                    change: job.change.clone(),
                    expect: job.expect.clone(),
                });
            }
            results.iter().find_map(|(at, _, result)| match result {
                Ok(update) if *at == slot => Some(Decided::Final(update.clone())),
                _ => None,
            })
        };
        let jobs = (0..batch.deliveries.len())
            .filter_map(|slot| {
                Some(JournalEntry {
                    entry: batch.deliveries[slot].id.clone(),
                    operation: batch.deliveries[slot].job.operation_id().to_string(),
                    decided: decided(slot)?,
                })
            })
            .collect();
        let journal = Journal {
            before: Version::of(files.master.as_deref(), files.delta.as_deref()),
            written: Version::of(Some(&output.master), Some(&output.delta)),
            merge_stats: stats.clone(),
            jobs,
            finished: false,
        };
        if let Err(problem) = journal_file.store(&journal) {
            tracing::error!(%problem, "cannot write the batch journal; nothing was written");
            fail_each(
                &mut results,
                live.into_iter().map(|job| (job.slot, job.id)),
                &problem,
            );
            return Flow::Done(results);
        }
    }
    let write = writes.then(|| Arc::new(output));
    import_and_verify(
        context, batch, school, files, write, live, stats, lock, results,
    )
    .await
}

/// Commit (when `write` is set), import and verify `live`; adds their final reports to
/// `results`, and records them in the school's journal when there is one.
#[expect(
    clippy::too_many_arguments,
    reason = "the pipeline's state, passed once"
)]
async fn import_and_verify(
    context: &Arc<Context>,
    batch: &Batch<Task>,
    school: &School,
    files: Arc<Files>,
    write: Option<Arc<MergeOutput>>,
    live: Vec<Live>,
    stats: Value,
    lock: ProvisionLock,
    mut results: Vec<JobResult>,
) -> Flow {
    let journal_file = journal_of(context, school);
    let imported = {
        let (context, school) = (Arc::clone(context), school.clone());
        tokio::task::spawn_blocking(move || {
            commit_and_import(&context, &school, &files, write.as_deref(), lock)
        })
        .await
        .unwrap_or_else(|error| {
            Err(ImportFailure::Failed(format!(
                "the import step failed: {error}"
            )))
        })
    };
    let import_output = match imported {
        Ok(import_output) => Some(import_output),
        Err(ImportFailure::Failed(problem)) => {
            fail_each(
                &mut results,
                live.iter().map(|job| (job.slot, job.id.clone())),
                &problem,
            );
            None
        }
        Err(ImportFailure::Locked(problem)) => {
            tracing::warn!(%problem, "sophomorix is locked by another command");
            // The files are restored: the next attempt merges afresh.
            if let Err(problem) = journal_file.remove() {
                tracing::error!(%problem, "the batch journal stays");
            }
            results.extend(
                live.into_iter()
                    .map(|job| (job.slot, job.id, Err(Left::SophomorixLocked))),
            );
            return Flow::Done(results);
        }
        Err(ImportFailure::Changed(lock)) => {
            // Nothing was written: the journal describes a write that did not happen.
            if let Err(problem) = journal_file.remove() {
                tracing::error!(%problem, "the batch journal stays");
            }
            return Flow::FilesChanged(lock);
        }
    };
    if let Some(import_output) = import_output {
        let expectations = live.iter().map(|job| job.expect.clone()).collect();
        let verdicts = verify::verify_all(context, school, expectations).await;
        for (job, verdict) in live.into_iter().zip(verdicts) {
            let mut result = Map::new();
            result.insert("verify".to_owned(), Value::Object(verdict.verify));
            result.insert("mergeStats".to_owned(), stats.clone());
            result.insert("importOutput".to_owned(), json!(import_output));
            result.insert("change".to_owned(), json!(job.change));
            let update = if verdict.problems.is_empty() {
                StatusUpdate::completed(result)
            } else {
                StatusUpdate::failed(format!(
                    "verification failed: {}",
                    verdict.problems.join("; ")
                ))
                .with_result(result)
            };
            results.push((job.slot, job.id, Ok(update)));
        }
    }
    finish_journal(&journal_file, batch, &results);
    Flow::Done(results)
}

/// The journal of `school`'s batches, next to its rollback point.
fn journal_of(context: &Context, school: &School) -> JournalFile {
    JournalFile::new(RollbackPoint::new(&context.settings.state_dir, school).dir())
}

/// Records the final reports of the journaled jobs, so a replay reports them again instead of
/// running anything.
fn finish_journal(file: &JournalFile, batch: &Batch<Task>, results: &[JobResult]) {
    let mut journal = match file.load() {
        Ok(Some(journal)) => journal,
        Ok(None) => return,
        Err(problem) => {
            tracing::error!(%problem, "cannot record the batch's final reports");
            return;
        }
    };
    let mut finished = true;
    for job in &mut journal.jobs {
        let update = results.iter().find_map(|(slot, _, result)| match result {
            Ok(update) if batch.deliveries[*slot].id == job.entry => Some(update),
            _ => None,
        });
        match (update, &job.decided) {
            (Some(update), _) => job.decided = Decided::Final(update.clone()),
            (None, Decided::Live { .. }) => finished = false,
            (None, Decided::Final(_)) => {}
        }
    }
    journal.finished = finished;
    if let Err(problem) = file.store(&journal) {
        tracing::error!(%problem, "cannot record the batch's final reports");
    }
}

/// What the school's journal says about a batch.
enum Journaled {
    /// No journal applies: merge these jobs.
    Proceed(Vec<Planned>),
    /// These jobs were merged and written before: go on from the journal.
    Resume(Journal, Vec<Planned>),
    /// Every job has its result already.
    Done,
}

/// Looks for the journal of an interrupted batch (see [`crate::worker::journal`]).
fn from_journal(
    context: &Context,
    batch: &Batch<Task>,
    school: &School,
    planned: Vec<Planned>,
    results: &mut Vec<JobResult>,
) -> Journaled {
    let settings = &context.settings;
    let point = RollbackPoint::new(&settings.state_dir, school);
    let file = JournalFile::new(point.dir());
    let journal = match file.load() {
        Ok(None) => return Journaled::Proceed(planned),
        Ok(Some(journal)) => journal,
        Err(problem) => {
            tracing::error!(%problem, "cannot read the batch journal");
            fail_each(
                results,
                planned.into_iter().map(|job| (job.slot, job.id)),
                &problem,
            );
            return Journaled::Done;
        }
    };
    let (journaled, rest): (Vec<Planned>, Vec<Planned>) = planned
        .into_iter()
        .partition(|job| journal.job(&batch.deliveries[job.slot].id).is_some());
    if journaled.is_empty() {
        // Its entries were all acknowledged: it is done.
        if let Err(problem) = file.remove() {
            tracing::error!(%problem, "cannot remove the journal of a finished batch");
        }
        return Journaled::Proceed(rest);
    }
    // Later entries of this batch come back at once, behind the journaled ones.
    results.extend(
        rest.into_iter()
            .map(|job| (job.slot, job.id, Err(Left::Later))),
    );
    if journal.finished {
        return Journaled::Resume(journal, journaled);
    }
    let (master_path, delta_path) = (
        settings.devices_csv_master(school),
        settings.devices_csv_delta(school),
    );
    let current = read_optional(&master_path).and_then(|master| {
        Ok(Version::of(
            master.as_deref(),
            read_optional(&delta_path)?.as_deref(),
        ))
    });
    let restart = |results: &mut Vec<JobResult>, journaled: Vec<Planned>, why: &str| {
        tracing::warn!("{why}; the interrupted batch is merged afresh");
        match file.remove() {
            Ok(()) => Journaled::Proceed(journaled),
            Err(problem) => {
                fail_each(
                    results,
                    journaled.into_iter().map(|job| (job.slot, job.id)),
                    &problem,
                );
                Journaled::Done
            }
        }
    };
    match current {
        Ok(current) if current == journal.written => {
            tracing::warn!(
                jobs = journaled.len(),
                "an interrupted batch wrote its device files: its recorded outcomes stand, the import and verification run again"
            );
            Journaled::Resume(journal, journaled)
        }
        Ok(current) if current == journal.before => restart(
            results,
            journaled,
            "the interrupted batch's device files were not written (or were restored)",
        ),
        Ok(current)
            if current.master == journal.before.master
                && current.delta == journal.written.delta =>
        {
            // Killed between the delta and the master write: back to the files before.
            let saved = point.pending().ok().flatten().filter(|saved| {
                Version::of(saved.master.as_deref(), saved.delta.as_deref()) == journal.before
            });
            match saved.map(|saved| point.restore(&saved, &master_path, &delta_path)) {
                Some(Ok(_)) => restart(
                    results,
                    journaled,
                    "the interrupted batch wrote only the delta file; both files were restored",
                ),
                _ => {
                    let problem = format!(
                        "an interrupted batch wrote only {} and its saved previous version is gone; nothing merged — check the file and run the jobs again",
                        delta_path.display()
                    );
                    give_up(results, &file, journaled, &problem)
                }
            }
        }
        Ok(current)
            if current.delta == journal.written.delta
                && edited_around_the_batch(&point, &journal, &master_path) =>
        {
            tracing::warn!(
                jobs = journaled.len(),
                "an interrupted batch wrote its device files and an administrator edited other hosts since: the recorded outcomes stand, the import and verification run again"
            );
            Journaled::Resume(journal, journaled)
        }
        Ok(_) => {
            let problem = format!(
                "{} or {} changed after an interrupted batch wrote them (they are neither the version before the batch nor the one it wrote): not merged again, so no edit is overwritten — check the files and run the job again",
                master_path.display(),
                delta_path.display()
            );
            // The edited files are the administrator's now: a later failed import must not
            // put the pre-batch version back over them.
            if let Err(problem) = point.clear() {
                tracing::error!(%problem, "the rollback marker stays");
            }
            give_up(results, &file, journaled, &problem)
        }
        Err(problem) => give_up(results, &file, journaled, &problem),
    }
}

/// Whether devices.csv holds what the interrupted batch wrote plus edits of other hosts only (an
/// administrator appended a line during the import): the batch's lines are all there as written.
fn edited_around_the_batch(point: &RollbackPoint, journal: &Journal, master: &Path) -> bool {
    let Ok(Some(saved)) = point.pending() else {
        return false;
    };
    let (Some(old), Some(written)) = (&saved.master, &saved.written_master) else {
        return false;
    };
    if Version::of(Some(written), None).master != journal.written.master {
        return false;
    }
    let Ok(Some(current)) = read_optional(master) else {
        return false;
    };
    devices_csv::undo(old, written, &current).is_ok()
}

/// The journaled jobs fail with `problem`; the journal goes.
fn give_up(
    results: &mut Vec<JobResult>,
    file: &JournalFile,
    journaled: Vec<Planned>,
    problem: &str,
) -> Journaled {
    tracing::error!(%problem, "the interrupted batch cannot go on");
    fail_each(
        results,
        journaled.into_iter().map(|job| (job.slot, job.id)),
        problem,
    );
    if let Err(problem) = file.remove() {
        tracing::error!(%problem, "the batch journal stays");
    }
    Journaled::Done
}

/// Goes on with a batch from its journal: recorded final reports as they are; the applied jobs
/// imported and verified again, unless the journal says they were.
async fn resume(
    context: &Arc<Context>,
    batch: &Batch<Task>,
    school: &School,
    journal: Journal,
    journaled: Vec<Planned>,
    lock: ProvisionLock,
    mut results: Vec<JobResult>,
) -> Vec<JobResult> {
    if !journal.finished && !batch.begin(journaled.iter().map(|job| job.slot)).await {
        results.extend(
            journaled
                .into_iter()
                .map(|job| (job.slot, job.id, Err(Left::Stopped))),
        );
        return results;
    }
    let mut live = Vec::new();
    for job in journaled {
        let decided = journal
            .job(&batch.deliveries[job.slot].id)
            .map(|entry| entry.decided.clone());
        match decided {
            Some(Decided::Final(update)) => results.push((job.slot, job.id, Ok(update))),
            Some(Decided::Live { change, expect }) => live.push(Live {
                slot: job.slot,
                id: job.id,
                change,
                expect,
            }),
            None => results.push((job.slot, job.id, Err(Left::Later))),
        }
    }
    if live.is_empty() {
        return results;
    }
    let files = match read_files_off_thread(context, school).await {
        Ok(files) => Arc::new(files),
        Err(problem) => {
            fail_each(
                &mut results,
                live.into_iter().map(|job| (job.slot, job.id)),
                &problem,
            );
            return results;
        }
    };
    match import_and_verify(
        context,
        batch,
        school,
        files,
        None,
        live,
        journal.merge_stats,
        lock,
        results,
    )
    .await
    {
        Flow::Done(results) => results,
        Flow::FilesChanged(_) => unreachable!("a resumed batch writes nothing"),
    }
}

/// Every job of `jobs` fails with `problem`.
fn fail_each(
    results: &mut Vec<JobResult>,
    jobs: impl Iterator<Item = (usize, OperationId)>,
    problem: &str,
) {
    results.extend(jobs.map(|(slot, id)| (slot, id, Ok(StatusUpdate::failed(problem)))));
}

/// [`read_files`] on the blocking pool.
async fn read_files_off_thread(context: &Arc<Context>, school: &School) -> Result<Files, String> {
    let (context, school) = (Arc::clone(context), school.clone());
    tokio::task::spawn_blocking(move || read_files(&context, &school))
        .await
        .unwrap_or_else(|error| Err(format!("reading the device files failed: {error}")))
}

fn read_files(context: &Context, school: &School) -> Result<Files, String> {
    let settings = &context.settings;
    let master_path = settings.devices_csv_master(school);
    let delta_path = settings.devices_csv_delta(school);
    let directory = master_path.parent().unwrap_or(Path::new("/"));
    if !directory.is_dir() {
        return Err(format!(
            "unknown school {school}: {} does not exist (a configuration problem: the school \
             is not set up on this DC, or DEVICES_CSV_MASTER points elsewhere)",
            directory.display()
        ));
    }
    for dir in [Some(directory), delta_path.parent()].into_iter().flatten() {
        if let Ok(removed @ 1..) = atomic::remove_stale_temp_files(dir) {
            tracing::warn!(removed, dir = %dir.display(), "removed temporary files of an interrupted write");
        }
    }
    let Some((master, master_state)) = read_with_state(&master_path)? else {
        return Err(settings.missing_master(school));
    };
    let (master, master_state) = (Some(master), Some(master_state));
    let delta = read_optional(&delta_path)?;
    let mut others = Vec::new();
    for other in other_schools(context, school) {
        let path = settings.devices_csv_master(&other);
        if path == master_path {
            continue;
        }
        if let Some(text) = read_optional(&path)? {
            others.push((other.to_string(), text));
        }
    }
    Ok(Files {
        master_path,
        delta_path,
        master,
        master_state,
        delta,
        others,
    })
}

/// The other schools of the DC.
fn other_schools(context: &Context, school: &School) -> Vec<School> {
    let mut schools = context.settings.schools();
    schools.retain(|other| other != school);
    schools
}

/// Like [`read_optional`], with the file's state for [`ReplaceOptions::expect`].
fn read_with_state(path: &Path) -> Result<Option<(String, FileState)>, String> {
    let Some((bytes, state)) = FileState::read(path).map_err(|error| error.to_string())? else {
        return Ok(None);
    };
    let text = utf8(path, bytes)?;
    Ok(Some((text, state)))
}

/// `bytes` of `path` as text, or why not.
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "{} is not UTF-8 (byte {}); fix the file, nothing was changed",
            path.display(),
            error.utf8_error().valid_up_to()
        )
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read(path) {
        Ok(bytes) => utf8(path, bytes).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("reading {}: {error}", path.display())),
    }
}

/// Why the commit-and-import step did not import the batch.
#[derive(Debug)]
enum ImportFailure {
    /// devices.csv changed since it was read: nothing of the batch was written (the delta file is
    /// back too); merge again, holding this lock.
    Changed(ProvisionLock),
    /// The batch's jobs fail with this message (the files were restored).
    Failed(String),
    /// Another sophomorix command holds the sophomorix lock: the files were restored and the
    /// batch stays pending, to be tried again later; the message is for the log.
    Locked(String),
}

/// Writes delta and master when they changed, runs the sophomorix check (when enabled) and the
/// import; restores both files from the rollback point when a step fails, and after a failed
/// import imports the restored files once more, since sophomorix may already have synced AD and
/// DNS to the failed batch (UPSTREAM.md §A.6). A held sophomorix lock is no failure: the files
/// are restored and the batch waits. Holds `lock` until the imports ended. `Ok` = the import's
/// output for `importOutput`.
fn commit_and_import(
    context: &Context,
    school: &School,
    files: &Files,
    write: Option<&MergeOutput>,
    lock: ProvisionLock,
) -> Result<String, ImportFailure> {
    let settings = &context.settings;
    let point = RollbackPoint::new(&settings.state_dir, school);
    let failed = ImportFailure::Failed;
    let written_master = write.map(|output| output.master.clone());
    let mut fresh_point = false;
    let saved = match point.pending().map_err(failed)? {
        Some(mut saved) => {
            tracing::warn!(
                "the import of an earlier batch did not finish; its changes are undone if this import fails"
            );
            if written_master.is_some() {
                // Undo takes out everything between the saved version and what is written now.
                saved.written_master = written_master;
                point.save(&saved).map_err(failed)?;
            }
            Some(saved)
        }
        None if write.is_some() => {
            let saved = Saved {
                master: files.master.clone(),
                delta: files.delta.clone(),
                written_master,
            };
            point.save(&saved).map_err(failed)?;
            fresh_point = true;
            Some(saved)
        }
        None => None,
    };
    let undo = |problem: String| -> String {
        match &saved {
            Some(saved) => {
                let restored = point.restore(saved, &files.master_path, &files.delta_path);
                format!("{problem}{}", restored.unwrap_or_else(|failed| failed))
            }
            None => problem,
        }
    };
    if let Some(output) = write {
        // Delta first: the whole delta is merged into the master on every batch, so a crash
        // between the two writes heals at the next run.
        if let Err(error) = atomic::replace_file(
            &files.delta_path,
            output.delta.as_bytes(),
            &ReplaceOptions::default(),
        ) {
            return Err(failed(undo(format!(
                "writing the delta file failed: {error}"
            ))));
        }
        // devices.csv is the administrator's too: replaced only while it is what was read.
        let master_options = ReplaceOptions {
            expect: files.master_state,
            ..ReplaceOptions::default()
        };
        match atomic::replace_file(
            &files.master_path,
            output.master.as_bytes(),
            &master_options,
        ) {
            Ok(()) => {}
            Err(AdapterError::Changed { .. }) => {
                // Nothing of the batch may stay: the delta goes back, devices.csv was not touched.
                let saved = saved
                    .as_ref()
                    .expect("a rollback point is saved before writing");
                let back = match &saved.delta {
                    Some(text) => atomic::replace_file(
                        &files.delta_path,
                        text.as_bytes(),
                        &ReplaceOptions::default(),
                    )
                    .map_err(|error| error.to_string()),
                    None => std::fs::remove_file(&files.delta_path)
                        .or_else(|error| match error.kind() {
                            std::io::ErrorKind::NotFound => Ok(()),
                            _ => Err(error),
                        })
                        .map_err(|error| error.to_string()),
                };
                if let Err(problem) = back {
                    return Err(failed(format!(
                        "devices.csv changed while the batch was written, and putting the delta \
                         file back failed: {problem}"
                    )));
                }
                if fresh_point && let Err(problem) = point.clear() {
                    tracing::error!(%problem, "the rollback marker stays");
                }
                return Err(ImportFailure::Changed(lock));
            }
            Err(error) => {
                return Err(failed(undo(format!("writing devices.csv failed: {error}"))));
            }
        }
        tracing::info!(master = %files.master_path.display(), "device files written");
    }
    if settings.sophomorix_precheck {
        // As long as the import may take: sophomorix binds to AD and reads every device.
        let check = sophomorix_device::dry_run(
            &context.programs.sophomorix_device,
            settings.import_timeout,
        );
        match check {
            Ok(()) => {}
            Err(
                error @ AdapterError::SophomorixDevice {
                    failure: sophomorix_device::DeviceFailure::Locked,
                    ..
                },
            ) => {
                return Err(ImportFailure::Locked(undo(error.to_string())));
            }
            Err(error) => {
                return Err(failed(undo(format!(
                    "sophomorix rejected the device files: {error}"
                ))));
            }
        }
    }
    let import_log = settings.root.resolve(Path::new(import_devices::LOG_FILE));
    let import = || {
        import_devices::import_logged(
            &context.programs.import,
            school.as_str(),
            settings.import_timeout,
            Some(&import_log),
        )
    };
    let problem = match import() {
        Ok(report) if report.success => {
            if let Err(problem) = point.clear() {
                tracing::error!(%problem, "the import succeeded, but the rollback marker stays");
            }
            return Ok(tail(&report.output, MAX_IMPORT_OUTPUT));
        }
        Ok(report) if report.sophomorix_locked() => {
            // 7.4 stops before sophomorix's sync when its check finds the lock: nothing was
            // imported, so restoring the files is all there is to undo.
            return Err(ImportFailure::Locked(undo(format!(
                "the import found sophomorix locked ({}): {}",
                report.status,
                report.error_lines.join(" | ")
            ))));
        }
        Ok(report) => {
            tracing::error!(status = %report.status, "the import failed");
            format!(
                "the import failed ({}): {}",
                report.status,
                report.failure_lines().join(" | ")
            )
        }
        Err(error) => format!("the import failed: {error}"),
    };
    let Some(saved) = &saved else {
        return Err(failed(problem));
    };
    let restored = match point.restore(saved, &files.master_path, &files.delta_path) {
        Ok(restored) => restored,
        Err(not_restored) => return Err(failed(format!("{problem}{not_restored}"))),
    };
    // sophomorix may have synced AD and DNS to the failed batch already: import the restored
    // files, so AD, DNS and DHCP follow them again.
    let failed_too = |why: String| {
        format!(
            "; importing the restored files failed too ({why}): AD and DNS may hold the failed \
             batch until the next successful import"
        )
    };
    let again = match import() {
        Ok(report) if report.success => {
            "; the restored files were imported again, so AD, DNS and DHCP match them".to_owned()
        }
        // The first failure's lines explain it; the last line says what went wrong this time.
        Ok(report) => failed_too(format!(
            "{}: {}",
            report.status,
            report
                .error_lines
                .last()
                .map_or("no output", String::as_str)
        )),
        Err(error) => failed_too(error.to_string()),
    };
    tracing::warn!(again = %again, "the restored files were imported again");
    Err(failed(format!("{problem}{restored}{again}")))
}

/// What verification should find for an applied job.
fn expectation(
    job: &Job,
    change: &Change,
    files: &Files,
    output: &MergeOutput,
    default_room: &devices_csv::Room,
) -> Expect {
    let before = [files.master_text(), files.delta_text()];
    // The merge applied the job, so it validates; names are the validated ones.
    let (hostname, old_hostname) = match job.validate(default_room) {
        Ok(devices_csv::Operation::Upsert {
            device,
            old_hostname,
        }) => (
            device.hostname.to_string(),
            old_hostname.map(|old| old.to_string()),
        ),
        Ok(devices_csv::Operation::Delete { hostname }) => (hostname.to_string(), None),
        Err(_) => match &job.action {
            devices_csv::Action::Upsert(spec) => (spec.hostname.to_ascii_lowercase(), None),
            devices_csv::Action::Delete { hostname } => (hostname.to_ascii_lowercase(), None),
        },
    };
    match (change, old_hostname) {
        (Change::Deleted | Change::AlreadyAbsent, _) => Expect::Absent(target(&hostname, &before)),
        (Change::Renamed { from }, _) => Expect::Renamed {
            new: target(&hostname, &[&output.master]),
            old: target(from.as_str(), &before),
        },
        // A rename run again (the first run wrote it, then the worker stopped): the merge sees
        // an update, but the old name must still be gone from AD and DNS.
        (_, Some(old)) => Expect::Renamed {
            new: target(&hostname, &[&output.master]),
            old: target(&old, &before),
        },
        _ => Expect::Present(target(&hostname, &[&output.master])),
    }
}

/// The host as the first of `texts` that has it describes it (role, fixed IP); `managed` when
/// one of them has it at all.
fn target(host: &str, texts: &[&str]) -> Target {
    for text in texts {
        let file = DevicesFile::parse(text);
        let found = file
            .records()
            .map(|(_, record)| record)
            .find(|record| record.hostname_key() == host);
        if let Some(record) = found {
            let role = record.value(8).trim();
            let account = role.is_empty()
                || role
                    .parse::<Role>()
                    .map_or(true, Role::has_computer_account);
            return Target {
                host: host.to_owned(),
                account,
                ip: record.value(4).trim().parse().ok(),
                managed: true,
                protected: matches!(role, "server" | "addc"),
            };
        }
    }
    Target {
        host: host.to_owned(),
        account: true,
        ip: None,
        managed: false,
        protected: false,
    }
}

/// Marks what a later job of the batch decides anyway: only the last word on a host name is
/// verified. A rename whose old name a later job reuses keeps checking its new name.
fn supersede(live: &mut [Live]) {
    let mut claimed: std::collections::HashMap<String, OperationId> =
        std::collections::HashMap::new();
    for job in live.iter_mut().rev() {
        let later = |name: &str| claimed.get(name).cloned();
        let replaced = match &job.expect {
            Expect::Present(target) | Expect::Absent(target) => {
                later(&target.host).map(|by| Expect::Superseded { by: by.to_string() })
            }
            Expect::Renamed { new, old } => match (later(&new.host), later(&old.host)) {
                (Some(by), _) => Some(Expect::Superseded { by: by.to_string() }),
                (None, Some(_)) => Some(Expect::Present(new.clone())),
                (None, None) => None,
            },
            Expect::Superseded { .. } => None,
        };
        let names: Vec<String> = match &job.expect {
            Expect::Present(target) | Expect::Absent(target) => vec![target.host.clone()],
            Expect::Renamed { new, old } => vec![new.host.clone(), old.host.clone()],
            Expect::Superseded { .. } => Vec::new(),
        };
        for name in names {
            claimed.entry(name).or_insert_with(|| job.id.clone());
        }
        if let Some(expect) = replaced {
            job.expect = expect;
        }
    }
}

fn merge_stats(stats: &MergeStats) -> Value {
    json!({
        "total_master_lines": stats.total_master_lines,
        "total_delta_lines": stats.total_delta_lines,
        "total_merged_lines": stats.total_merged_lines,
        "deleted_hosts": stats.deleted_hosts,
        "batch_size": stats.batch_size,
    })
}

fn change_name(change: &Change) -> String {
    match change {
        Change::Created => "created".to_owned(),
        Change::Updated => "updated".to_owned(),
        Change::Unchanged => "unchanged".to_owned(),
        Change::Renamed { from } => format!("renamed from {from}"),
        Change::Deleted => "deleted".to_owned(),
        Change::AlreadyAbsent => "already absent".to_owned(),
        _ => format!("{change:?}").to_lowercase(),
    }
}

/// The last `limit` bytes of `text`, cut at a character boundary.
fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_at_a_character_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("aäb", 2), "…b");
    }

    #[test]
    fn a_target_takes_role_and_ip_from_the_file() {
        let text = "r1;pr01;nopxe;00:1A:2B:3C:4D:02;10.0.0.5;;;;printer;;0;;;;\nr1;sw01;nopxe;00:1A:2B:3C:4D:03;DHCP;;;;switch;;0;;;;\n";
        let printer = target("pr01", &[text]);
        assert!(printer.account, "printers have a computer account");
        assert!(printer.managed && !printer.protected);
        assert!(!target("nowhere", &[text]).managed);
        assert_eq!(printer.ip, Some("10.0.0.5".parse().expect("ip")));
        let switch = target("sw01", &[text]);
        assert!(!switch.account);
        assert_eq!(switch.ip, None);
    }
}
