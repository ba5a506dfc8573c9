//! One round of a batch under the lock: read the files, merge, record the journal, commit,
//! import and verify.

use std::sync::Arc;
use std::time::Instant;

use dc_adapters::lock::ProvisionLock;
use devices_csv::{Job, JobOutcome, MergeOptions, MergeOutput, SchoolIndex};
use serde_json::Value;

use crate::paths::School;
use crate::worker::Context;
use crate::worker::provision::error::ProvisionError;
use crate::worker::provision::files::{self, Files, ImportFailure};
use crate::worker::provision::journal::{Decided, Entry as JournalEntry, Journal, Version};
use crate::worker::provision::resume::{finish_journal, journal_of};
use crate::worker::provision::timings::Step;
use crate::worker::provision::{JobResult, Left, Live, Planned, Round, Slotted, fail_each, result};
use crate::worker::verify::{self, Expect};

/// What became of a merge-and-import round.
pub(super) enum Flow {
    /// Every job has its result (or why it stays pending).
    Done(Vec<JobResult>),
    /// devices.csv changed between the read and the write: nothing was written; merge again.
    FilesChanged(ProvisionLock),
}

/// Read, merge, journal, commit, import and verify `jobs`, adding their results to `results`.
pub(super) async fn merge_and_import(
    round: Round<'_>,
    jobs: Vec<Planned>,
    lock: ProvisionLock,
    mut results: Vec<JobResult>,
) -> Flow {
    let Round {
        context,
        batch,
        school,
        timings,
    } = round;
    let started = Instant::now();
    let files = match Files::read(context, school).await {
        Ok(files) => Arc::new(files),
        Err(problem) => {
            tracing::error!(%problem, "cannot read the device files");
            fail_each(&mut results, jobs, &problem);
            return Flow::Done(results);
        }
    };
    let output = merge(context, school, &files, &jobs).await;
    timings.add(Step::Merge, started);
    let output = match output {
        Ok(output) => output,
        Err(problem) => {
            fail_each(&mut results, jobs, &problem);
            return Flow::Done(results);
        }
    };
    for ignored in &output.ignored_delta_lines {
        tracing::warn!(problem = %ignored, "a delta line is not a valid canonical line; kept as it is, not merged");
    }
    let mut live = Vec::new();
    for (job, outcome) in jobs.into_iter().zip(&output.outcomes) {
        let (change, dry_run, written, previous) = match outcome {
            JobOutcome::Rejected(problem) => {
                tracing::warn!(operation_id = %job.id, %problem, "job refused");
                let update = crate::worker::api::StatusUpdate::failed(problem.to_string());
                results.push((job.slot, job.id, Ok(update)));
                continue;
            }
            JobOutcome::Applied {
                change,
                dry_run,
                written,
                previous,
            } => (change, dry_run, written, previous),
        };
        if let Some(dry_run) = dry_run {
            results.push((job.slot, job.id, Ok(result::dry_run(change, dry_run))));
            continue;
        }
        match Expect::from_outcome(written.as_ref(), previous.as_ref()) {
            Some(expect) => live.push(Live {
                slot: job.slot,
                id: job.id,
                change: result::change_name(change),
                expect,
            }),
            None => fail_each(&mut results, [job], &"the merge named no host for the job"),
        }
    }
    if live.is_empty() {
        return Flow::Done(results);
    }
    verify::supersede(live.iter_mut().map(|job| (&job.id, &mut job.expect)));
    if batch.shutdown.is_cancelled() {
        // Nothing written yet: the jobs run again after the restart.
        results.extend(live.into_iter().map(|job| job.left(Left::Stopped)));
        return Flow::Done(results);
    }

    // The journal, then commit, import and verify.
    let stats = result::merge_stats(&output.stats);
    let writes = output.changed(files.master_text(), files.delta_text());
    let started = Instant::now();
    let stored = writes.then(|| store_journal(round, &files, &output, &live, &results, &stats));
    timings.add(Step::Write, started);
    if let Some(Err(problem)) = stored {
        tracing::error!(%problem, "cannot write the batch journal; nothing was written");
        fail_each(&mut results, live, &problem);
        return Flow::Done(results);
    }
    let write = writes.then(|| Arc::new(output));
    import_and_verify(round, files, write, live, stats, lock, results).await
}

/// `devices_csv::merge` of `jobs` into `files`, on the blocking pool.
async fn merge(
    context: &Context,
    school: &School,
    files: &Arc<Files>,
    jobs: &[Planned],
) -> Result<MergeOutput, ProvisionError> {
    let settings = &context.settings;
    let options = MergeOptions {
        school: school.to_string(),
        default_room: settings.default_room.clone(),
        diff: false,
        file_name: files.master_path.display().to_string(),
        protected_hosts: settings
            .dc_host_name
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
        adopt_manual_hosts: settings.adopt_manual_hosts,
    };
    let jobs: Vec<Job> = jobs.iter().map(|job| job.job.clone()).collect();
    let files = Arc::clone(files);
    tokio::task::spawn_blocking(move || {
        let others: Vec<&SchoolIndex> = files.others.iter().map(Arc::as_ref).collect();
        let (master, delta) = (files.master_text(), files.delta_text());
        devices_csv::merge_indexed(master, delta, &others, &jobs, &options)
    })
    .await
    .map_err(|source| ProvisionError::Task {
        step: "the merge",
        source,
    })
}

/// Records what the merge decided for every job of the batch before anything is written.
fn store_journal(
    round: Round<'_>,
    files: &Files,
    output: &MergeOutput,
    live: &[Live],
    results: &[JobResult],
    stats: &Value,
) -> Result<(), ProvisionError> {
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
    let jobs = round
        .batch
        .deliveries
        .iter()
        .enumerate()
        .filter_map(|(slot, delivery)| {
            Some(JournalEntry {
                entry: delivery.id.clone(),
                operation: delivery.job.operation_id().to_string(),
                decided: decided(slot)?,
            })
        });
    let journal = Journal {
        before: Version::of(files.master.as_deref(), files.delta.as_deref()),
        written: Version::of(Some(&output.master), Some(&output.delta)),
        merge_stats: stats.clone(),
        jobs: jobs.collect(),
        finished: false,
        import_output: None,
    };
    journal_of(round.context, round.school).store(&journal)
}

/// Commit (when `write` is set), import and verify `live`; adds their final reports to
/// `results`, and records them in the school's journal when there is one.
pub(super) async fn import_and_verify(
    round: Round<'_>,
    files: Arc<Files>,
    write: Option<Arc<MergeOutput>>,
    live: Vec<Live>,
    stats: Value,
    lock: ProvisionLock,
    mut results: Vec<JobResult>,
) -> Flow {
    let Round {
        context,
        batch,
        school,
        timings,
    } = round;
    let journal_file = journal_of(context, school);
    let imported = {
        let (context, school) = (Arc::clone(context), school.clone());
        let timings = Arc::clone(timings);
        tokio::task::spawn_blocking(move || {
            let write = write.as_deref();
            files::commit_and_import(&context, &school, &files, write, lock, &timings)
        })
        .await
        .unwrap_or_else(|source| {
            Err(ImportFailure::Failed(ProvisionError::Task {
                step: "the import step",
                source,
            }))
        })
    };
    match imported {
        Ok(import_output) => {
            let expectations = live.iter().map(|job| job.expect.clone()).collect();
            let verify = verify::verify_all(context, school, expectations);
            let verdicts = timings.time(Step::Verify, verify).await;
            for (job, verdict) in live.into_iter().zip(verdicts) {
                let update = result::verified(verdict, &stats, &import_output, &job.change);
                results.push((job.slot, job.id, Ok(update)));
            }
        }
        Err(ImportFailure::Failed(problem)) => fail_each(&mut results, live, &problem),
        Err(ImportFailure::Locked(problem)) => {
            tracing::warn!(%problem, "sophomorix is locked by another command");
            // The files are restored: the next attempt merges afresh.
            if let Err(problem) = journal_file.remove() {
                tracing::error!(%problem, "the batch journal stays");
            }
            results.extend(live.into_iter().map(|job| job.left(Left::SophomorixLocked)));
            return Flow::Done(results);
        }
        Err(ImportFailure::Changed(lock)) => {
            // Nothing was written: the journal describes a write that did not happen.
            if let Err(problem) = journal_file.remove() {
                tracing::error!(%problem, "the batch journal stays");
            }
            return Flow::FilesChanged(lock);
        }
    }
    finish_journal(&journal_file, batch, &results);
    Flow::Done(results)
}
