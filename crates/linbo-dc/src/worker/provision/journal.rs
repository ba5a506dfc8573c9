//! The batch journal: what a provisioning batch decided, kept under
//! `STATE_DIR/backup/<school>/batch.json` from the moment its merge is about to be written until a
//! later batch of the school finds none of its entries (they were acknowledged).
//!
//! A batch is merged once. The journal holds the batch's entry ids, each job's merge outcome (its
//! final report for refused and dry-run jobs, its change and verification expectation for
//! applied ones) and the fingerprints of devices.csv and the delta file before and after. When
//! the worker is stopped or killed after writing and its entries come back:
//!
//! * the files are the version the journal wrote → the recorded outcomes stand; the import and
//!   verification run again (both are idempotent). Merging again would make jobs of the batch
//!   that depend on each other (create → rename → create the old name again; a MAC or IP handed
//!   from one host to another) conflict with their own effects.
//! * the files are the version before the batch (it never wrote them, or a failed import
//!   restored them) → the journal is dropped and the batch is merged afresh.
//! * only the delta was written (a kill between the two writes) → the saved pre-batch files are
//!   put back and the batch is merged afresh.
//! * the files are neither → someone changed them in between; the journaled jobs fail with a
//!   message that says so, nothing is merged or imported for them.
//! * the batch finished (its final reports are in the journal) → those reports are sent again and
//!   the entries acknowledged; nothing runs again.
//!
//! Fingerprints are the length and the 64-bit FNV-1a hash of the bytes
//! ([`dc_adapters::atomic::fingerprint`]): stable across builds and
//! versions, enough to tell versions of a file apart (this is no defence against someone who can
//! write devices.csv anyway).

use std::path::{Path, PathBuf};

use dc_adapters::atomic::{self, ReplaceOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::worker::api::StatusUpdate;
use crate::worker::provision::error::ProvisionError;
use crate::worker::verify::Expect;

const FILE: &str = "batch.json";

/// The key of the import's output in a final report's result.
const IMPORT_OUTPUT: &str = "importOutput";

/// A file's fingerprint: `<length>:<FNV-1a 64 hex>`, or `absent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint(String);

impl Fingerprint {
    pub(crate) fn of(text: Option<&str>) -> Fingerprint {
        let Some(text) = text else {
            return Fingerprint("absent".to_owned());
        };
        let hash = atomic::fingerprint(text.as_bytes());
        Fingerprint(format!("{}:{hash:016x}", text.len()))
    }
}

/// Both device files' fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Version {
    pub(crate) master: Fingerprint,
    pub(crate) delta: Fingerprint,
}

impl Version {
    pub(crate) fn of(master: Option<&str>, delta: Option<&str>) -> Version {
        Version {
            master: Fingerprint::of(master),
            delta: Fingerprint::of(delta),
        }
    }
}

/// What the merge decided for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Decided {
    /// Its final report (refused, dry run; or after import and verification).
    Final(StatusUpdate),
    /// Its final report after the import, stored without its `importOutput`: that is the
    /// journal's [`import_output`](Journal::import_output), the same for every job of the batch
    /// (16 KiB each would make a 5,000-job journal 80 MB).
    Imported(StatusUpdate),
    /// Applied: to be imported and verified.
    Live {
        /// `change` of the result object.
        change: String,
        expect: Expect,
    },
}

/// One job of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The stream entry id.
    pub(crate) entry: String,
    /// The operation id.
    pub(crate) operation: String,
    pub(crate) decided: Decided,
}

/// The journal of one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// The files before the batch.
    pub(crate) before: Version,
    /// The files the batch wrote.
    pub(crate) written: Version,
    /// `mergeStats` of the batch's results.
    pub(crate) merge_stats: serde_json::Value,
    /// Every job the merge decided, in stream order.
    pub(crate) jobs: Vec<Entry>,
    /// Every job has its final report (the import and verification are done).
    pub(crate) finished: bool,
    /// The `importOutput` of the batch's final reports ([`Decided::Imported`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) import_output: Option<Value>,
}

impl Journal {
    /// The job of entry `id`, if the journal has it.
    pub(crate) fn job(&self, id: &str) -> Option<&Entry> {
        self.jobs.iter().find(|job| job.entry == id)
    }

    /// Records `update` as the final report of `job`; an `importOutput` goes to the journal once.
    pub(crate) fn record(&mut self, job: usize, mut update: StatusUpdate) {
        let output = update
            .result
            .as_mut()
            .and_then(|result| result.remove(IMPORT_OUTPUT));
        self.jobs[job].decided = match output {
            Some(output) => {
                self.import_output = Some(output);
                Decided::Imported(update)
            }
            None => Decided::Final(update),
        };
    }

    /// The final report recorded for `decided`, if it is one, whole again.
    pub(crate) fn report(&self, decided: &Decided) -> Option<StatusUpdate> {
        match decided {
            Decided::Final(update) => Some(update.clone()),
            Decided::Imported(update) => {
                let mut update = update.clone();
                if let (Some(result), Some(output)) = (update.result.as_mut(), &self.import_output)
                {
                    result.insert(IMPORT_OUTPUT.to_owned(), output.clone());
                }
                Some(update)
            }
            Decided::Live { .. } => None,
        }
    }
}

/// Where a school's journal lives: `STATE_DIR/backup/<school>/batch.json`.
#[derive(Debug, Clone)]
pub(crate) struct JournalFile {
    path: PathBuf,
}

impl JournalFile {
    pub(crate) fn new(backup_dir: &Path) -> JournalFile {
        JournalFile {
            path: backup_dir.join(FILE),
        }
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The journal, if there is one. A journal that cannot be read or parsed is an error: the
    /// batch does not guess.
    pub(crate) fn load(&self) -> Result<Option<Journal>, ProvisionError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(ProvisionError::io("reading", &self.path, error)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ProvisionError::NotAJournal {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes `journal` atomically (fsynced, 0600).
    pub(crate) fn store(&self, journal: &Journal) -> Result<(), ProvisionError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|error| ProvisionError::io("creating", dir, error))?;
        }
        let text = serde_json::to_string(journal).map_err(ProvisionError::JournalEncoding)?;
        let options = ReplaceOptions {
            new_file_mode: Some(0o600),
            ..ReplaceOptions::default()
        };
        atomic::replace_file(&self.path, text.as_bytes(), &options).map_err(|source| {
            ProvisionError::Adapter {
                doing: "writing the batch journal",
                source,
            }
        })
    }

    /// Removes the journal (absent is fine).
    pub(crate) fn remove(&self) -> Result<(), ProvisionError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(ProvisionError::io("removing", &self.path, error)),
        }
    }
}

/// Removes the journals in `STATE_DIR/backup/<school>/` none of whose entries is `pending` (they
/// were all acknowledged: the batch is done). Called when the consumer's pending entries were
/// read again at start.
pub(crate) fn remove_settled(backup: &Path, pending: &std::collections::HashSet<String>) {
    let Ok(schools) = std::fs::read_dir(backup) else {
        return;
    };
    for dir in schools.filter_map(Result::ok).map(|entry| entry.path()) {
        let file = JournalFile::new(&dir);
        match file.load() {
            Ok(Some(journal)) if !journal.jobs.iter().any(|job| pending.contains(&job.entry)) => {
                match file.remove() {
                    Ok(()) => tracing::info!(
                        journal = %file.path.display(),
                        "removed the journal of a batch whose entries are all acknowledged"
                    ),
                    Err(problem) => tracing::error!(%problem, "cannot remove a settled journal"),
                }
            }
            Ok(_) => {}
            Err(problem) => tracing::error!(%problem, "cannot read a batch journal"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_versions_apart_and_are_stable() {
        assert_eq!(Fingerprint::of(None).0, "absent");
        // FNV-1a 64 of the empty input is its offset basis.
        assert_eq!(Fingerprint::of(Some("")).0, "0:cbf29ce484222325");
        assert_eq!(Fingerprint::of(Some("a")).0, "1:af63dc4c8601ec8c");
        assert_ne!(Fingerprint::of(Some("ab")), Fingerprint::of(Some("ba")));
    }

    #[test]
    fn a_stored_journal_loads_back_and_goes_away() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = JournalFile::new(&dir.path().join("gym"));
        assert!(matches!(file.load(), Ok(None)));
        let journal = Journal {
            before: Version::of(Some("a\n"), None),
            written: Version::of(Some("a\nb\n"), Some("b\n")),
            merge_stats: serde_json::json!({"batch_size": 1}),
            jobs: vec![Entry {
                entry: "1-0".to_owned(),
                operation: "op".to_owned(),
                decided: Decided::Final(StatusUpdate::failed("refused")),
            }],
            finished: false,
            import_output: None,
        };
        file.store(&journal).expect("stored");
        assert_eq!(file.load().expect("readable"), Some(journal));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(file.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        file.remove().expect("removed");
        assert!(matches!(file.load(), Ok(None)));
        std::fs::write(file.path(), "{").expect("write");
        assert!(
            file.load()
                .expect_err("garbage")
                .to_string()
                .contains("not a batch journal")
        );
    }

    #[test]
    fn the_import_output_is_kept_once_and_comes_back_in_every_report() {
        let entry = |id: &str| Entry {
            entry: id.to_owned(),
            operation: format!("op-{id}"),
            decided: Decided::Final(StatusUpdate::failed("not yet")),
        };
        let mut journal = Journal {
            before: Version::of(None, None),
            written: Version::of(None, None),
            merge_stats: serde_json::json!({}),
            jobs: vec![entry("1-0"), entry("2-0"), entry("3-0")],
            finished: false,
            import_output: None,
        };
        let imported = |change: &str| {
            let mut result = serde_json::Map::new();
            result.insert("change".to_owned(), serde_json::json!(change));
            result.insert(
                "importOutput".to_owned(),
                serde_json::json!("Done: 2 patched"),
            );
            StatusUpdate::completed(result)
        };
        journal.record(0, imported("created"));
        journal.record(1, imported("deleted"));
        journal.record(2, StatusUpdate::failed("refused"));
        let text = serde_json::to_string(&journal).expect("encoded");
        assert_eq!(text.matches("Done: 2 patched").count(), 1, "{text}");
        let journal: Journal = serde_json::from_str(&text).expect("decoded");
        let reports: Vec<StatusUpdate> = journal
            .jobs
            .iter()
            .filter_map(|job| journal.report(&job.decided))
            .collect();
        assert_eq!(
            reports,
            [
                imported("created"),
                imported("deleted"),
                StatusUpdate::failed("refused")
            ]
        );
    }
}
