//! The rollback point of a school's device files: what `devices.csv` and the delta file looked
//! like before the batch whose import has not succeeded yet.
//!
//! Before the worker writes either file it saves both (their text, or that they did not exist)
//! under `STATE_DIR/backup/<school>/` and then writes the marker `import-pending`, each
//! atomically and fsynced. The marker is removed once the import succeeded or the files were
//! restored. A worker killed in between finds the marker at its next batch of that school: the
//! replayed jobs are then already in the files (the merge calls them unchanged), and if the
//! import fails again, the files go back to the saved state — not to the state with the
//! interrupted batch's changes. The saved copies stay after a success, as the backup of the
//! previous version.

use std::path::{Path, PathBuf};

use dc_adapters::atomic::{self, ReplaceOptions};

use crate::paths::School;
use crate::worker::provision::error::{ProvisionError, Restore};

const MARKER: &str = "import-pending";
const MASTER: &str = "devices.csv";
const DELTA: &str = "linbo-docker.devices.csv";
const WRITTEN: &str = "devices.csv.written";

/// The two files' previous contents (`None`: the file did not exist), and the master the batch
/// wrote (to tell an administrator's later edit from the batch's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    pub(crate) master: Option<String>,
    pub(crate) delta: Option<String>,
    pub(crate) written_master: Option<String>,
}

/// `STATE_DIR/backup/<school>/`.
#[derive(Debug)]
pub(crate) struct RollbackPoint {
    dir: PathBuf,
}

impl RollbackPoint {
    pub(crate) fn new(state_dir: &Path, school: &School) -> RollbackPoint {
        RollbackPoint {
            dir: state_dir.join("backup").join(school.as_str()),
        }
    }

    /// `STATE_DIR/backup/<school>/`, where the batch journal lives too.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the version of devices.csv before the last batch is kept.
    pub(crate) fn saved_master(&self) -> PathBuf {
        self.dir.join(MASTER)
    }

    /// The saved state of a batch whose import did not succeed, if there is one.
    pub(crate) fn pending(&self) -> Result<Option<Saved>, ProvisionError> {
        let marker = match std::fs::read_to_string(self.dir.join(MARKER)) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.problem("reading", MARKER, error)),
        };
        let present = |name: &str| marker.lines().any(|line| line == format!("{name}=present"));
        let read = |name: &str| -> Result<Option<String>, ProvisionError> {
            if !present(name) {
                return Ok(None);
            }
            std::fs::read_to_string(self.dir.join(name))
                .map(Some)
                .map_err(|error| self.problem("reading the saved", name, error))
        };
        Ok(Some(Saved {
            master: read(MASTER)?,
            delta: read(DELTA)?,
            written_master: read(WRITTEN)?,
        }))
    }

    /// Saves `saved`, then writes the marker.
    pub(crate) fn save(&self, saved: &Saved) -> Result<(), ProvisionError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|error| ProvisionError::io("creating", &self.dir, error))?;
        let mut marker = String::new();
        for (name, text) in [
            (MASTER, &saved.master),
            (DELTA, &saved.delta),
            (WRITTEN, &saved.written_master),
        ] {
            match text {
                Some(text) => {
                    self.write(name, text)?;
                    marker.push_str(&format!("{name}=present\n"));
                }
                None => marker.push_str(&format!("{name}=absent\n")),
            }
        }
        self.write(MARKER, &marker)
    }

    /// Removes the marker (the import succeeded or the files were restored).
    pub(crate) fn clear(&self) -> Result<(), ProvisionError> {
        match std::fs::remove_file(self.dir.join(MARKER)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(self.problem("removing", MARKER, error)),
        }
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|error| self.problem("flushing", ".", error))
    }

    /// Puts `saved` back into `master` and `delta` and clears the marker; what it did, for the
    /// failure message.
    ///
    /// The delta file is the worker's and simply goes back. devices.csv goes back only while it
    /// is what the batch wrote; when an administrator edited it since, just the batch's changes
    /// are taken out of the current file ([`devices_csv::undo`]), and when they edited a host the
    /// batch changed too, the file is left as it is and the message says so loudly.
    pub(crate) fn restore(&self, saved: &Saved, master: &Path, delta: &Path) -> Restore {
        let mut problems = Vec::new();
        let mut edit_kept = false;
        let master_text = match self.master_text(saved, master) {
            Ok(MasterBack::Old) => Some(saved.master.clone()),
            Ok(MasterBack::Undone(text)) => {
                edit_kept = true;
                Some(Some(text))
            }
            Ok(MasterBack::Unchanged) => None,
            Err(problem) => {
                tracing::error!(path = %master.display(), %problem, "DEVICES.CSV LEFT AS IT IS");
                problems.push(problem);
                None
            }
        };
        let mut restores = vec![(delta, &saved.delta)];
        if let Some(text) = &master_text {
            restores.insert(0, (master, text));
        }
        for (path, previous) in restores {
            let result = match previous {
                Some(text) => {
                    atomic::replace_file(path, text.as_bytes(), &ReplaceOptions::default())
                        .map_err(ProvisionError::Command)
                }
                None => match std::fs::remove_file(path) {
                    Ok(()) => Ok(()),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(error) => Err(ProvisionError::io("removing", path, error)),
                },
            };
            if let Err(problem) = result {
                tracing::error!(path = %path.display(), %problem, "RESTORING A DEVICE FILE FAILED");
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            if let Err(problem) = self.clear() {
                tracing::error!(%problem, "the files are restored, but the rollback marker stays");
            }
            tracing::warn!(edit_kept, "devices.csv and the delta file restored");
            Restore::Done { edit_kept }
        } else {
            Restore::Failed {
                problems,
                saved: self.dir.clone(),
            }
        }
    }

    /// What devices.csv goes back to.
    fn master_text(&self, saved: &Saved, master: &Path) -> Result<MasterBack, ProvisionError> {
        let current = match std::fs::read_to_string(master) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(ProvisionError::io("reading", master, error)),
        };
        if current == saved.master {
            return Ok(MasterBack::Unchanged);
        }
        let (Some(current), Some(old), Some(written)) =
            (&current, &saved.master, &saved.written_master)
        else {
            // Nothing to compare with (a rollback point of an earlier version, or a file that
            // is gone): the saved version.
            return Ok(MasterBack::Old);
        };
        if current == written {
            return Ok(MasterBack::Old);
        }
        devices_csv::undo(old, written, current)
            .map(MasterBack::Undone)
            .map_err(|conflict| ProvisionError::EditedSameHosts {
                path: master.to_owned(),
                conflict,
                saved: self.dir.join(MASTER),
            })
    }

    fn write(&self, name: &str, text: &str) -> Result<(), ProvisionError> {
        let options = ReplaceOptions {
            new_file_mode: Some(0o600),
            ..ReplaceOptions::default()
        };
        atomic::replace_file(&self.dir.join(name), text.as_bytes(), &options).map_err(|source| {
            ProvisionError::Adapter {
                doing: "saving the rollback point",
                source,
            }
        })
    }

    fn problem(&self, action: &'static str, name: &str, error: std::io::Error) -> ProvisionError {
        ProvisionError::io(action, self.dir.join(name), error)
    }
}

/// What becomes of devices.csv in a restore.
enum MasterBack {
    /// The saved version goes back.
    Old,
    /// The current file without the batch's changes.
    Undone(String),
    /// It is the saved version already.
    Unchanged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_point_comes_back_until_it_is_cleared() {
        let state = tempfile::tempdir().expect("temp dir");
        let point = RollbackPoint::new(state.path(), &"gym".parse().expect("school"));
        assert!(matches!(point.pending(), Ok(None)));
        let saved = Saved {
            master: Some("a;b\n".to_owned()),
            delta: None,
            written_master: Some("changed\n".to_owned()),
        };
        point.save(&saved).expect("saved");
        assert_eq!(point.pending().expect("readable"), Some(saved.clone()));

        let files = tempfile::tempdir().expect("temp dir");
        let (master, delta) = (files.path().join("m.csv"), files.path().join("d.csv"));
        std::fs::write(&master, "changed\n").expect("write");
        std::fs::write(&delta, "new delta\n").expect("write");
        let restore = point.restore(&saved, &master, &delta);
        assert!(
            matches!(restore, Restore::Done { edit_kept: false }),
            "{restore:?}"
        );
        assert_eq!(std::fs::read_to_string(&master).expect("read"), "a;b\n");
        assert!(!delta.exists(), "the delta did not exist before");
        assert!(
            matches!(point.pending(), Ok(None)),
            "restoring clears the marker"
        );
    }
}
