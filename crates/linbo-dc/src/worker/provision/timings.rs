//! Where the time of a batch goes: fetch, lock, merge, write, import, verify, report. Logged
//! with every batch (`batch done`), so an administrator — and `just bench` — sees which step a
//! slow batch spent its time in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A step of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Looking the operations up in the API (also again after a wait).
    Fetch,
    /// Waiting for the provisioning lock (and for the batch of another school).
    Lock,
    /// Reading the device files and merging.
    Merge,
    /// The journal, the rollback point and the two device files.
    Write,
    /// The sophomorix check, the import, and a rollback's second import.
    Import,
    /// Verification and its clean-up.
    Verify,
    /// `running` and the final reports (to the API or the outbox).
    Report,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Fetch,
        Step::Lock,
        Step::Merge,
        Step::Write,
        Step::Import,
        Step::Verify,
        Step::Report,
    ];
}

/// The time each step of one batch took so far, added up over its rounds.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    micros: [AtomicU64; Step::ALL.len()],
}

impl Timings {
    /// Adds the time since `started` to `step`.
    pub(crate) fn add(&self, step: Step, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros[step as usize].fetch_add(micros, Ordering::Relaxed);
    }

    /// Runs `work`, adding its time to `step`.
    pub(crate) async fn time<T>(&self, step: Step, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let output = work.await;
        self.add(step, started);
        output
    }

    /// The time of `step` so far.
    pub(crate) fn of(&self, step: Step) -> Duration {
        Duration::from_micros(self.micros[step as usize].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_add_up_their_own_time() {
        let timings = Timings::default();
        let started = Instant::now() - Duration::from_millis(30);
        timings.add(Step::Import, started);
        timings.add(Step::Import, started);
        timings
            .time(Step::Verify, tokio::time::sleep(Duration::from_millis(5)))
            .await;
        assert!(timings.of(Step::Import) >= Duration::from_millis(60));
        assert!(timings.of(Step::Verify) >= Duration::from_millis(5));
        assert_eq!(timings.of(Step::Fetch), Duration::ZERO);
    }
}
