//! Exponential backoff with jitter for reconnects and retried Redis writes.
//!
//! The delay for attempt `n` is drawn uniformly from `[d/2, d]` with `d = min(cap, base * 2^n)`
//! ("equal jitter"): it grows exponentially, never exceeds the cap, and several workers that lost
//! Redis at the same instant do not reconnect in lock-step. The random numbers come from a tiny
//! xorshift generator seeded from the clock, the process id and a counter; they need to be spread,
//! not unpredictable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Makes generators created in the same nanosecond differ.
static SEED_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Backoff state: call [`next_delay`](Backoff::next_delay) after each failure and
/// [`reset`](Backoff::reset) after a success.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: XorShift64,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            attempt: 0,
            rng: XorShift64::from_entropy(),
        }
    }

    #[cfg(test)]
    fn with_seed(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            rng: XorShift64::new(seed),
            ..Self::new(base, cap)
        }
    }

    /// The delay before the next attempt; advances the attempt counter.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // 2^20 * base is far above any sensible cap; stopping there avoids overflow.
        let factor = 1u32 << self.attempt.min(20);
        let ceiling = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let jitter_nanos = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_nanos == 0 {
            0
        } else {
            self.rng.next() % (jitter_nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// Starts again from `base` (after a success).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Marsaglia's xorshift64: small, fast, good enough for jitter.
#[derive(Debug, Clone)]
struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    fn new(seed: u64) -> Self {
        // The state must never be zero.
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    fn from_entropy() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or_default();
        let counter = SEED_COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = u64::from(std::process::id());
        Self::new(nanos ^ (pid << 32) ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_grow_within_the_jitter_band_and_stop_at_the_cap() {
        let mut backoff = Backoff::with_seed(100 * MS, Duration::from_secs(30), 42);
        for attempt in 0..30u32 {
            let ceiling = (100 * MS)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(30));
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2,
                "attempt {attempt}: {delay:?} < {:?}",
                ceiling / 2
            );
            assert!(
                delay <= ceiling,
                "attempt {attempt}: {delay:?} > {ceiling:?}"
            );
        }
    }

    #[test]
    fn reset_starts_from_base_again() {
        let mut backoff = Backoff::with_seed(100 * MS, Duration::from_secs(30), 7);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= 100 * MS);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut backoff = Backoff::with_seed(Duration::from_secs(30), Duration::from_secs(30), 1);
        let delays: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| backoff.next_delay()).collect();
        assert!(
            delays.len() > 15,
            "jitter produced too few distinct delays: {delays:?}"
        );
    }

    #[test]
    fn generators_from_entropy_differ() {
        let mut a = XorShift64::from_entropy();
        let mut b = XorShift64::from_entropy();
        assert_ne!(a.next(), b.next());
    }

    /// The reconnect loop pattern with tokio's paused clock: five failures cost the sum of the
    /// backoff delays in virtual time, bounded by the cap, and no real time.
    #[tokio::test(start_paused = true)]
    async fn retry_loop_sleeps_the_backoff_in_virtual_time() {
        let mut backoff = Backoff::with_seed(200 * MS, Duration::from_secs(1), 3);
        let start = tokio::time::Instant::now();
        let mut failures = 0;
        let mut expected = Duration::ZERO;
        while failures < 5 {
            failures += 1;
            let delay = backoff.next_delay();
            expected += delay;
            tokio::time::sleep(delay).await;
        }
        let elapsed = start.elapsed();
        // The timer wheel has millisecond resolution.
        assert!(
            elapsed >= expected && elapsed <= expected + 5 * MS,
            "{elapsed:?}"
        );
        // 100..200 + 200..400 + 400..800 + 500..1000 + 500..1000 ms.
        assert!(elapsed >= 1700 * MS && elapsed <= 3400 * MS, "{elapsed:?}");
    }
}
