//! The provisioning lock: an exclusive `flock` on a separate lock file, so two workers (or a
//! worker and an administrator's script using the same file) never merge and import at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often a waiting [`ProvisionLock::acquire`] tries again.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ProvisionLock {
    path: PathBuf,
    _file: File,
}

impl ProvisionLock {
    /// Takes the lock on `path` (created if missing), waiting at most `timeout`.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<ProvisionLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(Error::file("opening lock file", path))?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(ProvisionLock {
                        path: path.to_owned(),
                        _file: file,
                    });
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(RETRY_INTERVAL);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::LockTimeout {
                        path: path.to_owned(),
                        timeout,
                    });
                }
                Err(TryLockError::Error(source)) => {
                    return Err(Error::file("locking", path)(source));
                }
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
