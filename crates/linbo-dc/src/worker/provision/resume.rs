//! The journal step of a batch (see [`super::journal`]): a batch merged and written before the
//! worker stopped goes on from its journal instead of merging again; a finished one reports its
//! recorded results again; the final reports of a batch are recorded in it.

use std::path::Path;
use std::sync::Arc;

use dc_adapters::lock::ProvisionLock;
use job_stream::Batch;

use crate::paths::School;
use crate::worker::provision::error::ProvisionError;
use crate::worker::provision::files::{Files, read_optional};
use crate::worker::provision::journal::{Decided, Journal, JournalFile, Version};
use crate::worker::provision::rollback::{RollbackPoint, Saved};
use crate::worker::provision::{
    Flow, JobResult, Left, Live, Planned, Round, Slotted as _, fail_each, import_and_verify,
};
use crate::worker::{Context, Task};

/// The journal of `school`'s batches, next to its rollback point.
pub(super) fn journal_of(context: &Context, school: &School) -> JournalFile {
    JournalFile::new(RollbackPoint::new(&context.settings.state_dir, school).dir())
}

/// What the school's journal says about a batch.
pub(super) enum Journaled {
    /// No journal applies: merge these jobs.
    Proceed(Vec<Planned>),
    /// These jobs were merged and written before: go on from the journal.
    Resume(Journal, Vec<Planned>),
    /// Every job has its result already.
    Done,
}

/// Looks for the journal of an interrupted batch (see [`crate::worker::provision::journal`]).
pub(super) fn from_journal(
    round: Round<'_>,
    planned: Vec<Planned>,
    results: &mut Vec<JobResult>,
) -> Journaled {
    let Round {
        context,
        batch,
        school,
        ..
    } = round;
    let settings = &context.settings;
    let point = RollbackPoint::new(&settings.state_dir, school);
    let file = JournalFile::new(point.dir());
    let journal = match file.load() {
        Ok(None) => return Journaled::Proceed(planned),
        Ok(Some(journal)) => journal,
        Err(problem) => {
            tracing::error!(%problem, "cannot read the batch journal");
            fail_each(results, planned, &problem);
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
    results.extend(rest.into_iter().map(|job| job.left(Left::Later)));
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
                fail_each(results, journaled, &problem);
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
            let restored = saved.map(|saved| point.restore(&saved, &master_path, &delta_path));
            match restored {
                Some(crate::worker::provision::error::Restore::Done { .. }) => restart(
                    results,
                    journaled,
                    "the interrupted batch wrote only the delta file; both files were restored",
                ),
                _ => {
                    let problem = ProvisionError::OnlyDeltaWritten { delta: delta_path };
                    give_up(results, &file, journaled, &problem)
                }
            }
        }
        Ok(current)
            if current.delta == journal.written.delta
                && edited_around_the_batch(point.pending(), &journal, &master_path) =>
        {
            tracing::warn!(
                jobs = journaled.len(),
                "an interrupted batch wrote its device files and an administrator edited other hosts since: the recorded outcomes stand, the import and verification run again"
            );
            Journaled::Resume(journal, journaled)
        }
        Ok(_) => {
            let problem = ProvisionError::EditedAfterWrite {
                master: master_path,
                delta: delta_path,
            };
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
fn edited_around_the_batch(
    pending: Result<Option<Saved>, ProvisionError>,
    journal: &Journal,
    master: &Path,
) -> bool {
    let Ok(Some(saved)) = pending else {
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
    problem: &ProvisionError,
) -> Journaled {
    tracing::error!(%problem, "the interrupted batch cannot go on");
    fail_each(results, journaled, problem);
    if let Err(problem) = file.remove() {
        tracing::error!(%problem, "the batch journal stays");
    }
    Journaled::Done
}

/// Goes on with a batch from its journal: recorded final reports as they are; the applied jobs
/// imported and verified again, unless the journal says they were.
pub(super) async fn resume(
    round: Round<'_>,
    journal: Journal,
    journaled: Vec<Planned>,
    lock: ProvisionLock,
    mut results: Vec<JobResult>,
) -> Vec<JobResult> {
    let Round {
        context,
        batch,
        school,
        ..
    } = round;
    if !journal.finished && !batch.begin(journaled.iter().map(|job| job.slot)).await {
        results.extend(journaled.into_iter().map(|job| job.left(Left::Stopped)));
        return results;
    }
    let mut live = Vec::new();
    for job in journaled {
        let decided = journal
            .job(&batch.deliveries[job.slot].id)
            .map(|entry| entry.decided.clone());
        let report = decided.as_ref().and_then(|decided| journal.report(decided));
        match (decided, report) {
            (_, Some(update)) => results.push((job.slot, job.id, Ok(update))),
            (Some(Decided::Live { change, expect }), None) => live.push(Live {
                slot: job.slot,
                id: job.id,
                change,
                expect,
            }),
            (_, None) => results.push(job.left(Left::Later)),
        }
    }
    if live.is_empty() {
        return results;
    }
    let files = match Files::read(context, school).await {
        Ok(files) => Arc::new(files),
        Err(problem) => {
            fail_each(&mut results, live, &problem);
            return results;
        }
    };
    let imported = import_and_verify(round, files, None, live, journal.merge_stats, lock, results);
    match imported.await {
        Flow::Done(results) => results,
        Flow::FilesChanged(_) => unreachable!("a resumed batch writes nothing"),
    }
}

/// Records the final reports of the journaled jobs, so a replay reports them again instead of
/// running anything.
pub(super) fn finish_journal(file: &JournalFile, batch: &Batch<Task>, results: &[JobResult]) {
    let mut journal = match file.load() {
        Ok(Some(journal)) => journal,
        Ok(None) => return,
        Err(problem) => {
            tracing::error!(%problem, "cannot record the batch's final reports");
            return;
        }
    };
    let mut finished = true;
    for index in 0..journal.jobs.len() {
        let entry = &journal.jobs[index].entry;
        let update = results.iter().find_map(|(slot, _, result)| match result {
            Ok(update) if batch.deliveries[*slot].id == *entry => Some(update),
            _ => None,
        });
        match (update, &journal.jobs[index].decided) {
            (Some(update), _) => journal.record(index, update.clone()),
            (None, Decided::Live { .. }) => finished = false,
            (None, Decided::Final(_) | Decided::Imported(_)) => {}
        }
    }
    journal.finished = finished;
    if let Err(problem) = file.store(&journal) {
        tracing::error!(%problem, "cannot record the batch's final reports");
    }
}
