//! The school's device files: read before the merge, written (delta first, then devices.csv
//! while it is still the file read), checked by sophomorix, imported, and restored from the
//! rollback point when a step fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dc_adapters::atomic::{self, FileState, ReplaceOptions};
use dc_adapters::lock::ProvisionLock;
use dc_adapters::{Error as AdapterError, import_devices, sophomorix_device};
use devices_csv::{MergeOutput, SchoolIndex};

use crate::paths::School;
use crate::worker::Context;
use crate::worker::provision::error::{ProvisionError, Reimport, Restore, Rollback};
use crate::worker::provision::result;
use crate::worker::provision::rollback::{RollbackPoint, Saved};
use crate::worker::provision::timings::{Step, Timings};

/// The school's files as read before the merge.
#[derive(Debug)]
pub(super) struct Files {
    pub(super) master_path: PathBuf,
    pub(super) delta_path: PathBuf,
    pub(super) master: Option<String>,
    /// devices.csv as read: it is replaced only while it is still this file.
    master_state: Option<FileState>,
    pub(super) delta: Option<String>,
    /// The other schools' devices.csv, indexed (kept between batches while a file is unchanged).
    pub(super) others: Vec<Arc<SchoolIndex>>,
}

impl Files {
    pub(super) fn master_text(&self) -> &str {
        self.master.as_deref().unwrap_or("")
    }

    pub(super) fn delta_text(&self) -> &str {
        self.delta.as_deref().unwrap_or("")
    }

    /// Reads `school`'s files and the other schools' devices.csv on the blocking pool.
    pub(super) async fn read(
        context: &Arc<Context>,
        school: &School,
    ) -> Result<Files, ProvisionError> {
        let (context, school) = (Arc::clone(context), school.clone());
        tokio::task::spawn_blocking(move || Files::read_now(&context, &school))
            .await
            .unwrap_or_else(|source| {
                Err(ProvisionError::Task {
                    step: "reading the device files",
                    source,
                })
            })
    }

    fn read_now(context: &Context, school: &School) -> Result<Files, ProvisionError> {
        let settings = &context.settings;
        let master_path = settings.devices_csv_master(school);
        let delta_path = settings.devices_csv_delta(school);
        let directory = master_path.parent().unwrap_or(Path::new("/"));
        if !directory.is_dir() {
            return Err(ProvisionError::UnknownSchool {
                school: school.clone(),
                dir: directory.to_owned(),
            });
        }
        for dir in [Some(directory), delta_path.parent()].into_iter().flatten() {
            if let Ok(removed @ 1..) = atomic::remove_stale_temp_files(dir) {
                tracing::warn!(removed, dir = %dir.display(), "removed temporary files of an interrupted write");
            }
        }
        let Some((master, master_state)) = read_with_state(&master_path)? else {
            return Err(ProvisionError::MissingMaster {
                school: school.clone(),
                backup: RollbackPoint::new(&settings.state_dir, school).saved_master(),
                path: master_path,
            });
        };
        let delta = read_optional(&delta_path)?;
        let others = settings
            .schools()
            .into_iter()
            .filter(|other| other != school)
            .map(|other| {
                let path = settings.devices_csv_master(&other);
                (other, path)
            })
            .filter(|(_, path)| *path != master_path);
        let others = context.other_schools.load(others)?;
        Ok(Files {
            master_path,
            delta_path,
            master: Some(master),
            master_state: Some(master_state),
            delta,
            others,
        })
    }
}

/// Like [`read_optional`], with the file's state for [`ReplaceOptions::expect`].
fn read_with_state(path: &Path) -> Result<Option<(String, FileState)>, ProvisionError> {
    let read = FileState::read(path).map_err(ProvisionError::Command)?;
    let Some((bytes, state)) = read else {
        return Ok(None);
    };
    Ok(Some((utf8(path, bytes)?, state)))
}

/// `bytes` of `path` as text, or why not.
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, ProvisionError> {
    String::from_utf8(bytes).map_err(|error| ProvisionError::NotUtf8 {
        path: path.to_owned(),
        valid_up_to: error.utf8_error().valid_up_to(),
    })
}

/// The text of `path`; `None` when it does not exist.
pub(super) fn read_optional(path: &Path) -> Result<Option<String>, ProvisionError> {
    match std::fs::read(path) {
        Ok(bytes) => utf8(path, bytes).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ProvisionError::io("reading", path, error)),
    }
}

/// Why the commit-and-import step did not import the batch.
#[derive(Debug)]
pub(super) enum ImportFailure {
    /// devices.csv changed since it was read: nothing of the batch was written (the delta file is
    /// back too); merge again, holding this lock.
    Changed(ProvisionLock),
    /// The batch's jobs fail with this error (the files were restored).
    Failed(ProvisionError),
    /// Another sophomorix command holds the sophomorix lock: the files were restored and the
    /// batch stays pending, to be tried again later; the error is for the log.
    Locked(ProvisionError),
}

impl From<ProvisionError> for ImportFailure {
    fn from(error: ProvisionError) -> ImportFailure {
        ImportFailure::Failed(error)
    }
}

/// Writes delta and master when they changed, runs the sophomorix check (when enabled) and the
/// import; restores both files from the rollback point when a step fails, and after a failed
/// import imports the restored files once more, since sophomorix may already have synced AD and
/// DNS to the failed batch (UPSTREAM.md §A.6). A held sophomorix lock is no failure: the files
/// are restored and the batch waits. Holds `lock` until the imports ended. `Ok` = the import's
/// output for `importOutput`.
pub(super) fn commit_and_import(
    context: &Context,
    school: &School,
    files: &Files,
    write: Option<&MergeOutput>,
    lock: ProvisionLock,
    timings: &Timings,
) -> Result<String, ImportFailure> {
    let settings = &context.settings;
    let started = Instant::now();
    let point = RollbackPoint::new(&settings.state_dir, school);
    let written_master = write.map(|output| output.master.clone());
    let mut fresh_point = false;
    let saved = match point.pending()? {
        Some(mut saved) => {
            tracing::warn!(
                "the import of an earlier batch did not finish; its changes are undone if this import fails"
            );
            if written_master.is_some() {
                // Undo takes out everything between the saved version and what is written now.
                saved.written_master = written_master;
                point.save(&saved)?;
            }
            Some(saved)
        }
        None if write.is_some() => {
            let saved = Saved {
                master: files.master.clone(),
                delta: files.delta.clone(),
                written_master,
            };
            point.save(&saved)?;
            fresh_point = true;
            Some(saved)
        }
        None => None,
    };
    let undo = |error: ProvisionError| match &saved {
        Some(saved) => error.rolled_back(Rollback {
            restore: point.restore(saved, &files.master_path, &files.delta_path),
            reimport: None,
        }),
        None => error,
    };
    if let Some(output) = write {
        let saved = saved
            .as_ref()
            .expect("a rollback point is saved before writing");
        match write_files(files, output, saved) {
            Ok(()) => tracing::info!(master = %files.master_path.display(), "device files written"),
            Err(Written::Changed) => {
                if fresh_point && let Err(problem) = point.clear() {
                    tracing::error!(%problem, "the rollback marker stays");
                }
                return Err(ImportFailure::Changed(lock));
            }
            Err(Written::DeltaNotBack(error)) => return Err(error.into()),
            Err(Written::Failed(error)) => return Err(undo(error).into()),
        }
    }
    timings.add(Step::Write, started);
    let started = Instant::now();
    let result = check_and_import(context, school, files, &point, saved.as_ref());
    timings.add(Step::Import, started);
    result
}

/// `sophomorix-device --dry-run` (when enabled) and the import of the written files; after a
/// failure, the files restored from `saved` and imported again.
fn check_and_import(
    context: &Context,
    school: &School,
    files: &Files,
    point: &RollbackPoint,
    saved: Option<&Saved>,
) -> Result<String, ImportFailure> {
    let settings = &context.settings;
    let undo = |error: ProvisionError| match saved {
        Some(saved) => error.rolled_back(Rollback {
            restore: point.restore(saved, &files.master_path, &files.delta_path),
            reimport: None,
        }),
        None => error,
    };
    if settings.sophomorix_precheck {
        // As long as the import may take: sophomorix binds to AD and reads every device.
        let check = sophomorix_device::dry_run(
            &context.programs.sophomorix_device,
            settings.import_timeout,
        );
        match check {
            Ok(()) => {}
            Err(
                error @ AdapterError::SophomorixDevice {
                    failure: sophomorix_device::DeviceFailure::Locked,
                    ..
                },
            ) => return Err(ImportFailure::Locked(undo(ProvisionError::Command(error)))),
            Err(source) => {
                return Err(undo(ProvisionError::Adapter {
                    doing: "sophomorix rejected the device files",
                    source,
                })
                .into());
            }
        }
    }
    let import_log = settings.root.resolve(Path::new(import_devices::LOG_FILE));
    let import = || {
        import_devices::import_logged(
            &context.programs.import,
            school.as_str(),
            settings.import_timeout,
            Some(&import_log),
        )
    };
    let failure = match import() {
        Ok(report) if report.success => {
            if let Err(problem) = point.clear() {
                tracing::error!(%problem, "the import succeeded, but the rollback marker stays");
            }
            return Ok(result::import_output(&report.output));
        }
        Ok(report) if report.sophomorix_locked() => {
            // 7.4 stops before sophomorix's sync when its check finds the lock: nothing was
            // imported, so restoring the files is all there is to undo.
            return Err(ImportFailure::Locked(undo(ProvisionError::ImportLocked {
                status: report.status,
                lines: report.error_lines,
            })));
        }
        Ok(report) => {
            tracing::error!(status = %report.status, "the import failed");
            ProvisionError::Import {
                lines: report.failure_lines(),
                status: report.status,
            }
        }
        Err(source) => ProvisionError::Adapter {
            doing: "the import failed",
            source,
        },
    };
    let Some(saved) = &saved else {
        return Err(failure.into());
    };
    let restore = point.restore(saved, &files.master_path, &files.delta_path);
    if matches!(restore, Restore::Failed { .. }) {
        return Err(failure
            .rolled_back(Rollback {
                restore,
                reimport: None,
            })
            .into());
    }
    // sophomorix may have synced AD and DNS to the failed batch already: import the restored
    // files, so AD, DNS and DHCP follow them again.
    let reimport = match import() {
        Ok(report) if report.success => Reimport::Done,
        // The first failure's lines explain it; the last line says what went wrong this time.
        Ok(report) => Reimport::Failed {
            last_line: report.error_lines.last().cloned(),
            status: report.status,
        },
        Err(error) => Reimport::NotRun(error),
    };
    tracing::warn!(?reimport, "the restored files were imported again");
    let rollback = Rollback {
        restore,
        reimport: Some(reimport),
    };
    Err(failure.rolled_back(rollback).into())
}

/// Why the device files were not written.
enum Written {
    /// devices.csv changed since it was read; the delta file is back as it was.
    Changed,
    /// devices.csv changed, and the delta file could not be put back.
    DeltaNotBack(ProvisionError),
    /// A write failed; the rollback point restores both files.
    Failed(ProvisionError),
}

/// Writes the delta, then devices.csv while it is still the file read.
fn write_files(files: &Files, output: &MergeOutput, saved: &Saved) -> Result<(), Written> {
    // Delta first: the whole delta is merged into the master on every batch, so a crash between
    // the two writes heals at the next run.
    let delta = atomic::replace_file(
        &files.delta_path,
        output.delta.as_bytes(),
        &ReplaceOptions::default(),
    );
    delta.map_err(|source| {
        Written::Failed(ProvisionError::Adapter {
            doing: "writing the delta file failed",
            source,
        })
    })?;
    // devices.csv is the administrator's too: replaced only while it is what was read.
    let master_options = ReplaceOptions {
        expect: files.master_state,
        ..ReplaceOptions::default()
    };
    match atomic::replace_file(
        &files.master_path,
        output.master.as_bytes(),
        &master_options,
    ) {
        Ok(()) => Ok(()),
        Err(AdapterError::Changed { .. }) => {
            // Nothing of the batch may stay: the delta goes back, devices.csv was not touched.
            let back = match &saved.delta {
                Some(text) => atomic::replace_file(
                    &files.delta_path,
                    text.as_bytes(),
                    &ReplaceOptions::default(),
                )
                .map_err(ProvisionError::Command),
                None => match std::fs::remove_file(&files.delta_path) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        Err(ProvisionError::io("removing", &files.delta_path, error))
                    }
                    _ => Ok(()),
                },
            };
            match back {
                Ok(()) => Err(Written::Changed),
                Err(error) => Err(Written::DeltaNotBack(ProvisionError::DeltaNotBack(
                    Box::new(error),
                ))),
            }
        }
        Err(source) => Err(Written::Failed(ProvisionError::Adapter {
            doing: "writing devices.csv failed",
            source,
        })),
    }
}
