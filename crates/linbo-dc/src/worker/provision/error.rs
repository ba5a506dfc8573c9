//! Why a step of a provisioning batch failed: one error type for the pipeline, its files, the
//! rollback point, the journal and verification. Paths, exit statuses and output lines stay data;
//! the text is what the job's `failed` report says.

use std::fmt;
use std::path::PathBuf;

use crate::paths::School;

/// How often a batch merges again because devices.csv changed under it before it gives up.
pub(crate) const MAX_REMERGES: u32 = 10;

/// A failed provisioning step.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProvisionError {
    /// The school's directory does not exist.
    #[error(
        "unknown school {school}: {} does not exist (a configuration problem: the school is not \
         set up on this DC, or DEVICES_CSV_MASTER points elsewhere)",
        dir.display()
    )]
    UnknownSchool { school: School, dir: PathBuf },
    /// devices.csv does not exist; the worker never creates it.
    #[error(
        "{} does not exist: the worker never creates devices.csv from its delta file (an import \
         of LINBO Docker's hosts alone would remove every other device of school {school} from \
         AD, DNS and DHCP); restore it (the version before the worker's last write is {}), or \
         create an empty file to start the school from nothing, then run the job again",
        path.display(),
        backup.display()
    )]
    MissingMaster {
        school: School,
        path: PathBuf,
        backup: PathBuf,
    },
    /// The API's operation is not a provisioning one.
    #[error("operation {id} is of type {kind:?}, but its stream entry says provision_host")]
    NotProvisioning { id: String, kind: String },
    /// The API's operation has options the worker cannot use.
    #[error("options of operation {id}: {source}")]
    Options {
        id: String,
        source: serde_json::Error,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A device file is not text.
    #[error("{} is not UTF-8 (byte {valid_up_to}); fix the file, nothing was changed", path.display())]
    NotUtf8 { path: PathBuf, valid_up_to: usize },
    /// A DC command or an atomic write failed while `doing` something.
    #[error("{doing}: {source}")]
    Adapter {
        doing: &'static str,
        source: dc_adapters::Error,
    },
    /// A DC command's own error, as it tells it.
    #[error(transparent)]
    Command(dc_adapters::Error),
    /// A step on the blocking pool panicked or was cancelled.
    #[error("{step} failed: {source}")]
    Task {
        step: &'static str,
        source: tokio::task::JoinError,
    },
    /// `linuxmuster-import-devices` failed.
    #[error("the import failed ({status}): {}", lines.join(" | "))]
    Import { status: String, lines: Vec<String> },
    /// `linuxmuster-import-devices` stopped because another sophomorix command held its lock.
    #[error("the import found sophomorix locked ({status}): {}", lines.join(" | "))]
    ImportLocked { status: String, lines: Vec<String> },
    /// An administrator kept editing devices.csv while the batch was about to write it.
    #[error(
        "devices.csv changed every time the batch was about to write it ({MAX_REMERGES} times); \
         nothing was written — run the job again when the file is quiet"
    )]
    KeepsChanging,
    /// devices.csv changed while the batch was written, and the delta file could not go back.
    #[error(
        "devices.csv changed while the batch was written, and putting the delta file back \
         failed: {0}"
    )]
    DeltaNotBack(Box<ProvisionError>),
    /// A step failed and the files were rolled back (or could not be).
    #[error("{cause}{rollback}")]
    RolledBack {
        cause: Box<ProvisionError>,
        rollback: Box<Rollback>,
    },
    /// The batch journal is not one.
    #[error("{} is not a batch journal ({source}); move it away to let the batch run", path.display())]
    NotAJournal {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The batch journal could not be encoded.
    #[error("encoding the batch journal: {0}")]
    JournalEncoding(serde_json::Error),
    /// An interrupted batch wrote only the delta file and the saved master is gone.
    #[error(
        "an interrupted batch wrote only {} and its saved previous version is gone; nothing \
         merged — check the file and run the jobs again",
        delta.display()
    )]
    OnlyDeltaWritten { delta: PathBuf },
    /// The files an interrupted batch wrote were edited since.
    #[error(
        "{} or {} changed after an interrupted batch wrote them (they are neither the version \
         before the batch nor the one it wrote): not merged again, so no edit is overwritten — \
         check the files and run the job again",
        master.display(),
        delta.display()
    )]
    EditedAfterWrite { master: PathBuf, delta: PathBuf },
    /// The batch's changes cannot be taken out of an administrator's edit of devices.csv.
    #[error(
        "{}: {conflict}; it was left as it is, with the batch's changes in it — check it (the \
         version before the batch is {})",
        path.display(),
        saved.display()
    )]
    EditedSameHosts {
        path: PathBuf,
        conflict: devices_csv::UndoConflict,
        saved: PathBuf,
    },
    /// Neither `DNS_SERVER` nor `/etc/resolv.conf` names a DNS server.
    #[error("no DNS server to ask: set DNS_SERVER, or a nameserver in /etc/resolv.conf")]
    NoDnsServer,
    /// A school's DHCP file (`DHCP_VERIFY_FILE`) does not parse.
    #[error("parsing {}: {source}", path.display())]
    DhcpFile {
        path: PathBuf,
        source: dhcpd_conf::Error,
    },
}

impl ProvisionError {
    /// `error` of `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ProvisionError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// This error followed by what the rollback did.
    pub(crate) fn rolled_back(self, rollback: Rollback) -> ProvisionError {
        ProvisionError::RolledBack {
            cause: Box::new(self),
            rollback: Box::new(rollback),
        }
    }
}

/// What a rollback after a failed step did: the files restored (or why not) and, after a failed
/// import, whether importing the restored files again worked.
#[derive(Debug)]
pub(crate) struct Rollback {
    pub(crate) restore: Restore,
    pub(crate) reimport: Option<Reimport>,
}

/// Whether the saved device files went back.
#[derive(Debug)]
pub(crate) enum Restore {
    /// Both files are the version before the batch; `edit_kept`: devices.csv had been edited
    /// since the batch wrote it, so only the batch's changes were taken out.
    Done { edit_kept: bool },
    /// At least one file could not be restored; the saved versions are in `saved`.
    Failed {
        problems: Vec<ProvisionError>,
        saved: PathBuf,
    },
}

/// The import of the restored files.
#[derive(Debug)]
pub(crate) enum Reimport {
    /// It worked: AD, DNS and DHCP follow the restored files again.
    Done,
    /// It ran and failed with `status`; `last_line` is its last explaining line.
    Failed {
        status: String,
        last_line: Option<String>,
    },
    /// It could not run.
    NotRun(dc_adapters::Error),
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.restore {
            Restore::Done { edit_kept } => {
                f.write_str("; devices.csv and the delta file were restored")?;
                if *edit_kept {
                    f.write_str(
                        " (devices.csv had been edited since the batch wrote it: only the \
                         batch's changes were taken out, the edit stays)",
                    )?;
                }
            }
            Restore::Failed { problems, saved } => {
                f.write_str("; restoring the previous files FAILED (")?;
                for (index, problem) in problems.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{problem}")?;
                }
                write!(f, "); the saved versions are in {}", saved.display())?;
            }
        }
        let failed_too = |f: &mut fmt::Formatter<'_>, why: &dyn fmt::Display| {
            write!(
                f,
                "; importing the restored files failed too ({why}): AD and DNS may hold the \
                 failed batch until the next successful import"
            )
        };
        match &self.reimport {
            None => Ok(()),
            Some(Reimport::Done) => f.write_str(
                "; the restored files were imported again, so AD, DNS and DHCP match them",
            ),
            Some(Reimport::Failed { status, last_line }) => failed_too(
                f,
                &format_args!("{status}: {}", last_line.as_deref().unwrap_or("no output")),
            ),
            Some(Reimport::NotRun(error)) => failed_too(f, error),
        }
    }
}
