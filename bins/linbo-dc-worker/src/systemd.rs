//! systemd's notify protocol (`Type=notify`, sd_notify(3)) through the `sd-notify` crate: `READY=1`
//! once Redis answered and the consumer group exists, `STATUS=` with what the worker is doing,
//! `WATCHDOG=1` from the consumer's own reading loop (a hung loop stops pinging and systemd
//! restarts the worker after `WatchdogSec=`), `STOPPING=1` on a stop request. Without
//! `NOTIFY_SOCKET` (not started by systemd) every call does nothing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// The worker's side of the protocol.
#[derive(Debug)]
pub(crate) struct Systemd {
    /// `WATCHDOG_USEC` for this process; `None`: no watchdog.
    watchdog: Option<Duration>,
    last_ping: Mutex<Option<Instant>>,
    last_status: Mutex<String>,
    ready: std::sync::atomic::AtomicBool,
}

impl Systemd {
    /// Reads `WATCHDOG_USEC`/`WATCHDOG_PID` from the environment.
    pub(crate) fn from_env() -> Systemd {
        let watchdog = sd_notify::watchdog_enabled();
        if let Some(interval) = watchdog {
            tracing::info!(?interval, "systemd watchdog enabled");
        }
        Systemd {
            watchdog,
            last_ping: Mutex::new(None),
            last_status: Mutex::new(String::new()),
            ready: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether `READY=1` was sent.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `STATUS=<line>`, when it differs from the last one sent.
    pub(crate) fn status(&self, line: &str) {
        let mut last = self.last_status.lock().unwrap_or_else(|e| e.into_inner());
        if *last != line {
            send(&[NotifyState::Status(line)]);
            line.clone_into(&mut last);
        }
    }

    /// `STOPPING=1`.
    pub(crate) fn stopping(&self) {
        send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

impl job_stream::Observer for Systemd {
    fn ready(&self) {
        send(&[NotifyState::Ready]);
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        self.status("idle");
    }

    /// `WATCHDOG=1`, at most four times per watchdog interval.
    fn alive(&self) {
        let Some(interval) = self.watchdog else {
            return;
        };
        let mut last = self.last_ping.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= interval / 4) {
            send(&[NotifyState::Watchdog]);
            *last = Some(Instant::now());
        }
    }
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}
