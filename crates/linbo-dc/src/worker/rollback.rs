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

const MARKER: &str = "import-pending";
const MASTER: &str = "devices.csv";
const DELTA: &str = "linbo-docker.devices.csv";

/// The two files' previous contents (`None`: the file did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    pub(crate) master: Option<String>,
    pub(crate) delta: Option<String>,
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

    /// The saved state of a batch whose import did not succeed, if there is one.
    pub(crate) fn pending(&self) -> Result<Option<Saved>, String> {
        let marker = match std::fs::read_to_string(self.dir.join(MARKER)) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.problem("reading", MARKER, &error)),
        };
        let present = |name: &str| marker.lines().any(|line| line == format!("{name}=present"));
        let read = |name: &str| -> Result<Option<String>, String> {
            if !present(name) {
                return Ok(None);
            }
            std::fs::read_to_string(self.dir.join(name))
                .map(Some)
                .map_err(|error| self.problem("reading the saved", name, &error))
        };
        Ok(Some(Saved {
            master: read(MASTER)?,
            delta: read(DELTA)?,
        }))
    }

    /// Saves `saved`, then writes the marker.
    pub(crate) fn save(&self, saved: &Saved) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|error| format!("creating {}: {error}", self.dir.display()))?;
        let mut marker = String::new();
        for (name, text) in [(MASTER, &saved.master), (DELTA, &saved.delta)] {
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
    pub(crate) fn clear(&self) -> Result<(), String> {
        match std::fs::remove_file(self.dir.join(MARKER)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(self.problem("removing", MARKER, &error)),
        }
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|error| self.problem("flushing", ".", &error))
    }

    /// Puts `saved` back into `master` and `delta` and clears the marker; a text for the
    /// failure message (`Err` when a file could not be restored).
    pub(crate) fn restore(
        &self,
        saved: &Saved,
        master: &Path,
        delta: &Path,
    ) -> Result<String, String> {
        let mut problems = Vec::new();
        for (path, previous) in [(master, &saved.master), (delta, &saved.delta)] {
            let result = match previous {
                Some(text) => {
                    atomic::replace_file(path, text.as_bytes(), &ReplaceOptions::default())
                        .map_err(|error| error.to_string())
                }
                None => match std::fs::remove_file(path) {
                    Ok(()) => Ok(()),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(error) => Err(format!("removing {}: {error}", path.display())),
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
            tracing::warn!("devices.csv and the delta file restored to their previous versions");
            Ok("; devices.csv and the delta file were restored".to_owned())
        } else {
            Err(format!(
                "; restoring the previous files FAILED ({}); the saved versions are in {}",
                problems.join("; "),
                self.dir.display()
            ))
        }
    }

    fn write(&self, name: &str, text: &str) -> Result<(), String> {
        let options = ReplaceOptions {
            new_file_mode: Some(0o600),
            ..ReplaceOptions::default()
        };
        atomic::replace_file(&self.dir.join(name), text.as_bytes(), &options)
            .map_err(|error| format!("saving the rollback point: {error}"))
    }

    fn problem(&self, action: &str, name: &str, error: &std::io::Error) -> String {
        format!("{action} {}: {error}", self.dir.join(name).display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_point_comes_back_until_it_is_cleared() {
        let state = tempfile::tempdir().expect("temp dir");
        let point = RollbackPoint::new(state.path(), &"gym".parse().expect("school"));
        assert_eq!(point.pending(), Ok(None));
        let saved = Saved {
            master: Some("a;b\n".to_owned()),
            delta: None,
        };
        point.save(&saved).expect("saved");
        assert_eq!(point.pending(), Ok(Some(saved.clone())));

        let files = tempfile::tempdir().expect("temp dir");
        let (master, delta) = (files.path().join("m.csv"), files.path().join("d.csv"));
        std::fs::write(&master, "changed\n").expect("write");
        std::fs::write(&delta, "new delta\n").expect("write");
        let message = point
            .restore(&saved, &master, &delta)
            .expect("both files restored");
        assert!(message.contains("restored"), "{message}");
        assert_eq!(std::fs::read_to_string(&master).expect("read"), "a;b\n");
        assert!(!delta.exists(), "the delta did not exist before");
        assert_eq!(point.pending(), Ok(None), "restoring clears the marker");
    }
}
