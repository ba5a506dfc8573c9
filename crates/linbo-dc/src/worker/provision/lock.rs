//! The turn of a batch: one batch at a time under the provisioning lock file, and the waits
//! while another sophomorix command holds sophomorix's lock.

use std::time::{Duration, Instant};

use dc_adapters::Error as AdapterError;
use dc_adapters::lock::ProvisionLock;
use tokio_util::sync::CancellationToken;

use crate::worker::Context;
use crate::worker::provision::error::ProvisionError;
use crate::worker::provision::timings::Step;
use crate::worker::provision::{Attempt, JobResult, Left, Planned, Round, Slotted as _, provision};

/// First wait after sophomorix answered that another command holds its lock; doubled with each
/// attempt up to [`SOPHOMORIX_WAIT_CAP`].
const SOPHOMORIX_WAIT: Duration = Duration::from_secs(5);
/// Longest wait between two attempts while sophomorix is locked.
const SOPHOMORIX_WAIT_CAP: Duration = Duration::from_secs(60);
/// A batch that waited longer than this for its turn looks its operations up again, since an
/// administrator may have cancelled one meanwhile; a batch that got its turn at once uses what it
/// just fetched.
const RECHECK_AFTER: Duration = Duration::from_secs(2);

/// One batch at a time, under the lock file. While another sophomorix command holds the
/// sophomorix lock the batch waits here, in its school's lane, so no later batch of the school
/// can overtake it (a delete must not run before the create it follows); the device files are
/// restored between attempts, and each attempt merges afresh.
pub(super) async fn locked(round: Round<'_>, planned: Vec<Planned>) -> Vec<JobResult> {
    let Round { context, batch, .. } = round;
    if planned.is_empty() {
        return Vec::new();
    }
    let stop = |planned: Vec<Planned>| planned.into_iter().map(|job| job.left(Left::Stopped));
    for attempt in 0_u32.. {
        let asked = Instant::now();
        let serial = context.provisioning.lock().await;
        let waited = wait_for_lock(context, &batch.shutdown).await;
        round.timings.add(Step::Lock, asked);
        let lock = match waited {
            LockWait::Held(lock) => lock,
            LockWait::Stopped => return stop(planned).collect(),
            LockWait::Failed(problem) => {
                tracing::error!(%problem, "cannot take the provisioning lock; the batch stays pending");
                // One delay for all, so they come back together and in order.
                let outcome = context.defer(&batch.deliveries[planned[0].slot].id);
                let wait = |job: Planned| job.left(Left::Wait(outcome.clone()));
                return planned.into_iter().map(wait).collect();
            }
        };
        let this = Attempt {
            first: attempt == 0,
            waited: attempt > 0 || asked.elapsed() > RECHECK_AFTER,
        };
        let results = provision(round, planned.clone(), lock, this).await;
        let locked = results
            .iter()
            .any(|(_, _, result)| matches!(result, Err(Left::SophomorixLocked)));
        if !locked {
            return results;
        }
        drop(serial);
        let delay = SOPHOMORIX_WAIT
            .saturating_mul(1_u32 << attempt.min(8))
            .min(SOPHOMORIX_WAIT_CAP);
        tracing::warn!(
            attempt = attempt + 1,
            delay_s = delay.as_secs(),
            "sophomorix is locked by another command; the batch waits in its lane and tries again (its jobs stay running)"
        );
        tokio::select! {
            () = batch.shutdown.cancelled() => return stop(planned).collect(),
            () = tokio::time::sleep(delay) => {}
        }
    }
    unreachable!("the loop returns")
}

/// The provisioning lock, or why not.
enum LockWait {
    Held(ProvisionLock),
    Stopped,
    Failed(ProvisionError),
}

/// The lock is tried in slices this long, so a stop request is noticed.
const LOCK_SLICE: Duration = Duration::from_secs(1);

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
            Ok(Err(error)) => return LockWait::Failed(ProvisionError::Command(error)),
            Err(source) => {
                return LockWait::Failed(ProvisionError::Task {
                    step: "taking the provisioning lock",
                    source,
                });
            }
        }
    }
}
