//! One worker per `STATE_DIR`: an exclusive `flock` on `STATE_DIR/worker.lock`, held for the life
//! of the process, so a second `linbo-dc-worker` on the same state refuses to start and names
//! the one that runs.
//!
//! Two workers on one `STATE_DIR` would share the outbox, the rollback points and batch
//! journals of `STATE_DIR/backup/` and the private directory `STATE_DIR/tmp/` (whose leftovers
//! each one deletes at start), so the second one must not start at all. The lock is `flock(2)` (std's
//! [`File::try_lock`], the same call as `dc_adapters::lock::ProvisionLock`): the kernel releases
//! it when the process ends, however it ends (`kill -9` included), so a stale lock file never
//! blocks a start. Its descriptor is close-on-exec, so commands the worker runs do not inherit
//! it and cannot keep it after the worker is gone.
//!
//! The holder writes `pid=`, `started_at=` and `exe=` lines into the file after taking the lock;
//! a refused start reads them for its message. The file is only informative: the lock is what
//! counts, and the file stays behind after the holder exits.
//!
//! ```
//! use linbo_dc::instance::{InstanceError, InstanceLock};
//!
//! let state_dir = tempfile::tempdir()?;
//! let held = InstanceLock::acquire(state_dir.path())?;
//! let refused = InstanceLock::acquire(state_dir.path()).unwrap_err();
//! assert!(matches!(refused, InstanceError::Running { .. }));
//! assert!(refused.to_string().contains(&format!("pid {}", std::process::id())));
//! drop(held);
//! InstanceLock::acquire(state_dir.path())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The lock file's name in `STATE_DIR`.
pub const LOCK_FILE: &str = "worker.lock";

/// How much of a holder's lock file is read (it holds three short lines).
const MAX_HOLDER_BYTES: u64 = 4096;

/// How often a refused start reads the holder's file while it names no pid: the holder writes
/// it just after taking the lock, so a start in that instant would otherwise see an empty file.
const HOLDER_READ_ATTEMPTS: u32 = 10;
/// The pause between those reads (so at most about half a second in all).
const HOLDER_READ_INTERVAL: Duration = Duration::from_millis(50);

/// The held lock on `STATE_DIR/worker.lock`; released when dropped or when the process ends.
#[derive(Debug)]
pub struct InstanceLock {
    path: PathBuf,
    /// The open file description the `flock` belongs to.
    _file: File,
}

/// Why [`InstanceLock::acquire`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// Another process holds the lock: another worker runs on this `STATE_DIR`.
    #[error(
        "another linbo-dc-worker is running on STATE_DIR {} ({holder}; lock file {}); stop it \
         first (systemctl stop linbo-dc-worker) or give this one its own STATE_DIR",
        state_dir_of(path).display(),
        path.display()
    )]
    Running {
        /// The lock file.
        path: PathBuf,
        /// What the lock file says about the process holding it.
        holder: Holder,
    },
    /// Creating `STATE_DIR`, or opening, locking or writing the lock file failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was being done (`creating`, `opening`, `locking`, `reading`, `writing`).
        operation: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// The process holding the lock, as its lock file describes it; every field is `None` when the
/// file does not say (a holder that is not a linbo-dc-worker, or a damaged file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// `pid=`.
    pub pid: Option<u32>,
    /// `started_at=`, RFC 3339 UTC.
    pub started_at: Option<String>,
    /// `exe=`, the holder's executable.
    pub exe: Option<PathBuf>,
}

impl InstanceLock {
    /// Takes the lock on `state_dir/worker.lock` without waiting: creates `state_dir` (0700)
    /// and the file (0600) when missing, takes an exclusive `flock`, then replaces the file's
    /// content with this process's pid, start time and executable and fsyncs it.
    ///
    /// Two calls in one process conflict as well: a `flock` belongs to an open file
    /// description, and every call opens the file anew.
    pub fn acquire(state_dir: &Path) -> Result<InstanceLock, InstanceError> {
        let path = state_dir.join(LOCK_FILE);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(io_error("creating", state_dir))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_error("opening", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&file).map_err(io_error("reading", &path))?;
                return Err(InstanceError::Running { path, holder });
            }
            Err(TryLockError::Error(source)) => return Err(io_error("locking", &path)(source)),
        }
        let content = holder_text(
            std::process::id(),
            SystemTime::now(),
            std::env::current_exe().ok().as_deref(),
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(content.as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(io_error("writing", &path))?;
        Ok(InstanceLock { path, _file: file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Holder {
    /// The holder described by a lock file's text; unknown or malformed lines are ignored.
    pub fn parse(text: &str) -> Holder {
        let mut holder = Holder::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "pid" => holder.pid = value.parse().ok().filter(|pid| *pid > 0),
                "started_at" => holder.started_at = printable(value),
                "exe" => holder.exe = printable(value).map(PathBuf::from),
                _ => {}
            }
        }
        holder
    }
}

/// `pid 1234, started 2026-11-30T08:00:00Z`, with fallbacks for what the file does not say.
impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pid, &self.started_at) {
            (Some(pid), Some(started_at)) => write!(f, "pid {pid}, started {started_at}"),
            (Some(pid), None) => write!(f, "pid {pid}, start time unknown"),
            (None, _) => f.write_str("pid unknown: the lock file does not name the process"),
        }
    }
}

/// The lock file's content for the process `pid` started at `started_at`.
fn holder_text(pid: u32, started_at: SystemTime, exe: Option<&Path>) -> String {
    let mut text = format!(
        "pid={pid}\nstarted_at={}\n",
        rfc3339::format_seconds(started_at)
    );
    if let Some(exe) = exe {
        text.push_str(&format!("exe={}\n", exe.display()));
    }
    text
}

/// Reads the holder's lock file through `file` (our own, unlocked descriptor of it), again a
/// few times while it names no pid (the holder may be about to write it).
fn read_holder(file: &File) -> io::Result<Holder> {
    let mut reader = file;
    let mut attempt = 1;
    loop {
        let mut bytes = Vec::new();
        reader.seek(SeekFrom::Start(0))?;
        reader.take(MAX_HOLDER_BYTES).read_to_end(&mut bytes)?;
        // A damaged file is no reason to hide that the lock is held: parse what is readable.
        let holder = Holder::parse(&String::from_utf8_lossy(&bytes));
        if holder.pid.is_some() || attempt >= HOLDER_READ_ATTEMPTS {
            return Ok(holder);
        }
        attempt += 1;
        std::thread::sleep(HOLDER_READ_INTERVAL);
    }
}

/// `value` when it is short and printable (it goes into a log line), else `None`.
fn printable(value: &str) -> Option<String> {
    let usable =
        !value.is_empty() && value.chars().count() <= 512 && !value.chars().any(char::is_control);
    usable.then(|| value.to_owned())
}

/// The `STATE_DIR` a lock file lies in.
fn state_dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InstanceError {
    let path = path.to_owned();
    move |source| InstanceError::Io {
        operation,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn a_second_acquire_in_the_same_process_is_refused_and_names_this_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = InstanceLock::acquire(dir.path()).expect("first lock");
        let error = InstanceLock::acquire(dir.path()).expect_err("the lock is held");
        let InstanceError::Running { path, holder } = &error else {
            panic!("expected Running, got {error:?}");
        };
        assert_eq!(path, held.path());
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.started_at.is_some(), "{holder:?}");
        assert_eq!(holder.exe, std::env::current_exe().ok());
        let message = error.to_string();
        let expect_start = format!(
            "another linbo-dc-worker is running on STATE_DIR {} (pid {}, started ",
            dir.path().display(),
            std::process::id()
        );
        assert!(message.starts_with(&expect_start), "{message}");
        let expect_end = format!(
            "; lock file {}); stop it first (systemctl stop linbo-dc-worker) or give this one \
             its own STATE_DIR",
            dir.path().join(LOCK_FILE).display()
        );
        assert!(message.ends_with(&expect_end), "{message}");
        // The refused attempt leaves the holder's file alone.
        let text = std::fs::read_to_string(held.path()).expect("lock file");
        assert!(
            text.starts_with(&format!("pid={}\n", std::process::id())),
            "{text}"
        );
    }

    #[test]
    fn dropping_the_lock_releases_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = InstanceLock::acquire(dir.path()).expect("first lock");
        drop(held);
        let again = InstanceLock::acquire(dir.path()).expect("free after drop");
        assert_eq!(again.path(), dir.path().join(LOCK_FILE));
    }

    #[test]
    fn the_lock_file_names_pid_start_and_executable_and_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state_dir = dir.path().join("var/lib/linbo-dc");
        let held = InstanceLock::acquire(&state_dir).expect("lock");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&state_dir), 0o700, "STATE_DIR is created private");
        assert_eq!(mode(held.path()), 0o600, "the lock file is created private");
        let text = std::fs::read_to_string(held.path()).expect("lock file");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], format!("pid={}", std::process::id()));
        let started_at = lines[1].strip_prefix("started_at=").expect("started_at");
        assert!(
            started_at.len() == "2026-11-30T08:00:00Z".len() && started_at.ends_with('Z'),
            "{started_at}"
        );
        let exe = std::env::current_exe().expect("test binary");
        assert_eq!(lines[2], format!("exe={}", exe.display()));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn a_stale_file_of_an_exited_holder_does_not_block_and_is_replaced_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join(LOCK_FILE),
            "pid=1\nstarted_at=1999-01-01T00:00:00Z\n\
             exe=/a/very/long/path/to/an/old/binary/that/is/long/gone/linbo-dc-worker\n\
             padding=longer than what this process writes\n",
        )
        .expect("stale lock file");
        let held = InstanceLock::acquire(dir.path()).expect("nobody holds the lock");
        let text = std::fs::read_to_string(held.path()).expect("lock file");
        let holder = Holder::parse(&text);
        assert_eq!(holder.pid, Some(std::process::id()), "{text}");
        assert_eq!(holder.exe, std::env::current_exe().ok(), "{text}");
        assert!(
            !text.contains("1999") && !text.contains("padding"),
            "{text}"
        );
    }

    #[test]
    fn holder_text_and_parse_round_trip() {
        let started = UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        let text = holder_text(1234, started, Some(Path::new("/usr/sbin/linbo-dc-worker")));
        assert_eq!(
            text,
            "pid=1234\nstarted_at=2026-12-01T00:00:00Z\nexe=/usr/sbin/linbo-dc-worker\n"
        );
        assert_eq!(
            Holder::parse(&text),
            Holder {
                pid: Some(1234),
                started_at: Some("2026-12-01T00:00:00Z".to_owned()),
                exe: Some(PathBuf::from("/usr/sbin/linbo-dc-worker")),
            }
        );
    }

    #[track_caller]
    fn check_holder(file: &str, expect: &str) {
        assert_eq!(Holder::parse(file).to_string(), expect);
    }

    #[test]
    fn holder_display_with_fallbacks() {
        check_holder(
            "pid=1234\nstarted_at=2026-11-30T08:00:00Z\n",
            "pid 1234, started 2026-11-30T08:00:00Z",
        );
        check_holder("pid=1234\n", "pid 1234, start time unknown");
        check_holder(
            "pid=1234\nstarted_at=\u{1b}[2J\n",
            "pid 1234, start time unknown",
        );
        check_holder("", "pid unknown: the lock file does not name the process");
        check_holder(
            "pid=twelve\nstarted_at=2026-11-30T08:00:00Z\n",
            "pid unknown: the lock file does not name the process",
        );
        check_holder(
            "pid=0\n",
            "pid unknown: the lock file does not name the process",
        );
    }

    #[test]
    fn a_holder_that_writes_nothing_gets_the_fallback_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(LOCK_FILE);
        // Someone else's flock on the file (an administrator's `flock worker.lock ...`).
        let foreign = File::create(&path).expect("lock file");
        foreign.lock().expect("foreign lock");
        let error = InstanceLock::acquire(dir.path()).expect_err("the lock is held");
        assert!(
            error
                .to_string()
                .contains("(pid unknown: the lock file does not name the process; lock file"),
            "{error}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("lock file"),
            "",
            "the refused attempt writes nothing"
        );
    }
}
