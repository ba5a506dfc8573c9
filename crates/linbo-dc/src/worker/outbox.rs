//! A durable outbox for status reports the LINBO API could not take (SPEC §6 "API outages lose
//! nothing").
//!
//! The worker reports through [`deliver_or_store`]: the report is sent at once, or — when the API
//! is unreachable, slow or failing — appended to the outbox and fsynced before the call returns.
//! Either way the stream entry may then be acknowledged. [`Outbox::flush`], run periodically,
//! re-sends the stored reports once the API answers again, also after a restart.
//!
//! # File format
//!
//! The caller chooses the directory (the worker uses `<STATE_DIR>/outbox`). In it:
//!
//! * `<operation-id>.jsonl` — one file per operation with queued reports, one report per line, in
//!   the order they must be sent. Each line is exactly the JSON body of `PATCH .../status`
//!   ([`StatusUpdate`]), followed by `\n`. The id is a validated UUID, so it is a safe file name.
//! * `<operation-id>.jsonl.tmp` — transient, while a file is rewritten after a delivery.
//! * `quarantine/` — lines that could not be read back, kept for the administrator, named
//!   `<operation-id>.<unix-nanos>.torn` or `.corrupt`.
//!
//! # Writes and crashes
//!
//! * [`Outbox::push`] appends one line with a single `write`, fsyncs the file and then the
//!   directory, and only then returns. A crash inside `push` can leave a **torn last line** (no
//!   trailing `\n`); `push` did not return, so the caller did not acknowledge the job, and the
//!   job runs again. [`Outbox::open`] therefore moves a torn last line to `quarantine/`,
//!   truncates the file to its last complete line and carries on. A complete line that is not a
//!   valid report (disk corruption, hand editing) is quarantined the same way and the file is
//!   rewritten without it; [`Outbox::recovery`] counts both.
//! * After a report is delivered (or permanently refused), the operation's file is rewritten
//!   without it: temporary file, fsync, rename over the original, fsync directory; the file is
//!   removed when it becomes empty. A crash between a delivery and that rewrite sends the report
//!   once more after the restart — delivery is at least once, and always in order, so the last
//!   status the API sees is the last one queued. Leftover `.tmp` files are deleted on open (the
//!   original is intact until the rename).
//!
//! # Ordering
//!
//! Reports of one operation are delivered in the order they were queued; a new report for an
//! operation with queued reports is queued behind them ([`deliver_or_store`] does not try to send
//! it first). Operations are independent of each other: one that keeps failing does not hold
//! back the others, and a report the API refuses for good (unknown operation, 4xx) is dropped
//! and listed in the [`FlushReport`] rather than blocking the reports behind it.
//!
//! The file operations are short blocking calls (a write and two fsyncs). [`Outbox::push`] runs
//! them on the calling thread; [`Outbox::store`] and [`deliver_or_store`] run them on tokio's
//! blocking pool.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::worker::api::{ApiClient, ApiError, OperationId, StatusUpdate};

/// File name suffix of an operation's queue file.
const QUEUE_SUFFIX: &str = ".jsonl";
/// File name suffix of a queue file being rewritten.
const TEMP_SUFFIX: &str = ".jsonl.tmp";
/// Subdirectory for lines that could not be read back.
const QUARANTINE_DIR: &str = "quarantine";

/// Result of an outbox operation.
pub type Result<T, E = OutboxError> = std::result::Result<T, E>;

/// A file-system failure of the outbox: what was done, to which path.
#[derive(Debug, thiserror::Error)]
#[error("outbox: {action} {path}", path = .path.display())]
pub struct OutboxError {
    /// What the outbox was doing, e.g. `appending to`.
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// What [`Outbox::open`] found and set aside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Reports read back.
    pub entries: usize,
    /// Torn last lines (a crash during [`Outbox::push`]) moved to `quarantine/`.
    pub torn_lines: usize,
    /// Complete lines that are not valid reports, moved to `quarantine/`.
    pub corrupt_lines: usize,
    /// Leftover temporary files deleted.
    pub temp_files_removed: usize,
    /// Files in the directory that are not the outbox's, left alone.
    pub foreign_files: Vec<PathBuf>,
}

/// A report the API refused for good; it was removed from the outbox.
#[derive(Debug)]
pub struct DroppedReport {
    /// The operation.
    pub id: OperationId,
    /// The report.
    pub update: StatusUpdate,
    /// Why the API refused it.
    pub error: ApiError,
}

/// What one [`Outbox::flush`] did.
#[derive(Debug, Default)]
pub struct FlushReport {
    /// Reports delivered and removed.
    pub delivered: usize,
    /// Reports the API refused for good, removed.
    pub dropped: Vec<DroppedReport>,
    /// Operations whose delivery stopped at a retryable failure, with that failure; their
    /// reports stay queued.
    pub deferred: Vec<(OperationId, ApiError)>,
    /// The API was unreachable (timeout or connection failure), so the flush stopped early
    /// instead of waiting for the same failure once per operation.
    pub unreachable: bool,
    /// Rewriting a queue file failed. The delivered report is gone from memory but may be sent
    /// again after a restart; the flush stopped there.
    pub storage_error: Option<OutboxError>,
    /// Reports still queued after the flush.
    pub remaining: usize,
}

/// What [`deliver_or_store`] did with a report.
#[derive(Debug)]
pub enum Delivery {
    /// The API accepted it.
    Delivered,
    /// It is in the outbox: because sending failed with a retryable error (`Some`), or because
    /// earlier reports of the same operation are still queued (`None`).
    Stored(Option<ApiError>),
    /// The API refused it for good (e.g. 404: the operation is unknown); it was not stored.
    Rejected(ApiError),
}

/// The durable outbox. Share it (`Arc`) between the tasks that report and the one that flushes.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    queues: Mutex<BTreeMap<OperationId, VecDeque<StatusUpdate>>>,
    /// Only one flush at a time, so that the front of a queue is what the flush just sent.
    flushing: tokio::sync::Mutex<()>,
    recovery: Recovery,
}

impl Outbox {
    /// Opens (creating it if needed) the outbox in `dir` and reads back what it holds, setting
    /// aside torn and corrupt lines (see the module docs).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Outbox> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
        let mut recovery = Recovery::default();
        let mut queues = BTreeMap::new();
        let listing = fs::read_dir(&dir).map_err(io_error("listing", &dir))?;
        let mut names = Vec::new();
        for dir_entry in listing {
            let dir_entry = dir_entry.map_err(io_error("listing", &dir))?;
            names.push(dir_entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Some(name) = name.to_str() else {
                recovery.foreign_files.push(path);
                continue;
            };
            if name == QUARANTINE_DIR {
                continue;
            }
            if let Some(stem) = name.strip_suffix(TEMP_SUFFIX)
                && OperationId::parse(stem).is_ok()
            {
                fs::remove_file(&path).map_err(io_error("removing", &path))?;
                recovery.temp_files_removed += 1;
                continue;
            }
            let id = name
                .strip_suffix(QUEUE_SUFFIX)
                .and_then(|stem| OperationId::parse(stem).ok())
                .filter(|id| id.as_str() == name.trim_end_matches(QUEUE_SUFFIX));
            let Some(id) = id else {
                tracing::warn!(path = %path.display(), "outbox: ignoring a file that is not a queue");
                recovery.foreign_files.push(path);
                continue;
            };
            let queue = read_queue(&dir, &id, &path, &mut recovery)?;
            if !queue.is_empty() {
                recovery.entries += queue.len();
                queues.insert(id, queue);
            }
        }
        if recovery.temp_files_removed > 0 {
            sync_dir(&dir)?;
        }
        if recovery.entries > 0 || recovery.torn_lines > 0 || recovery.corrupt_lines > 0 {
            tracing::info!(
                entries = recovery.entries,
                torn_lines = recovery.torn_lines,
                corrupt_lines = recovery.corrupt_lines,
                dir = %dir.display(),
                "outbox: recovered queued status reports"
            );
        }
        Ok(Outbox {
            dir,
            queues: Mutex::new(queues),
            flushing: tokio::sync::Mutex::new(()),
            recovery,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What [`open`](Self::open) found.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Queues `update` behind the operation's other queued reports. When this returns `Ok`, the
    /// report is on disk (file and directory fsynced).
    pub fn push(&self, id: &OperationId, update: StatusUpdate) -> Result<()> {
        let mut line = serde_json::to_vec(&update)
            .expect("a StatusUpdate is plain data and always encodes as JSON");
        line.push(b'\n');
        let path = self.queue_path(id);
        // The lock is held across the write so that a concurrent rewrite by `flush` cannot
        // replace the file between our append and the memory update.
        let mut queues = self.lock_queues();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error("opening", &path))?;
        let old_len = file
            .metadata()
            .map_err(io_error("inspecting", &path))?
            .len();
        if let Err(error) = file.write_all(&line) {
            // A partial line (disk full) would glue itself to the next report; cut it off.
            let _ = file.set_len(old_len);
            return Err(io_error("appending to", &path)(error));
        }
        file.sync_all().map_err(io_error("syncing", &path))?;
        sync_dir(&self.dir)?;
        queues.entry(id.clone()).or_default().push_back(update);
        Ok(())
    }

    /// [`push`](Self::push) on tokio's blocking pool, so the write and the two fsyncs never
    /// stall the async runtime's threads.
    pub async fn store(self: &Arc<Self>, id: &OperationId, update: StatusUpdate) -> Result<()> {
        let (outbox, id) = (Arc::clone(self), id.clone());
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || outbox.push(&id, update))
            .await
            .unwrap_or_else(|error| {
                Err(OutboxError {
                    action: "storing a report in",
                    path: dir,
                    source: io::Error::other(error.to_string()),
                })
            })
    }

    /// Number of queued reports, all operations together.
    pub fn pending(&self) -> usize {
        self.lock_queues().values().map(VecDeque::len).sum()
    }

    /// Number of queued reports of one operation.
    pub fn pending_for(&self, id: &OperationId) -> usize {
        self.lock_queues().get(id).map_or(0, VecDeque::len)
    }

    /// The queued reports of one operation, in delivery order.
    pub fn queued(&self, id: &OperationId) -> Vec<StatusUpdate> {
        self.lock_queues()
            .get(id)
            .map(|queue| queue.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends the queued reports, per operation in order (module docs, "Ordering"). For an
    /// operation, delivery stops at its first retryable failure; when the API cannot be reached
    /// at all the whole flush stops. Reports the API refuses for good are dropped and listed.
    pub async fn flush(&self, client: &ApiClient) -> FlushReport {
        let _flushing = self.flushing.lock().await;
        let mut report = FlushReport::default();
        let ids: Vec<OperationId> = self.lock_queues().keys().cloned().collect();
        'operations: for id in ids {
            loop {
                let front = self
                    .lock_queues()
                    .get(&id)
                    .and_then(|queue| queue.front().cloned());
                let Some(update) = front else { break };
                let outcome = client.patch_status(&id, &update).await;
                let refused = match outcome {
                    Ok(()) => None,
                    Err(error) if error.is_retryable() => {
                        let unreachable = error.is_unreachable();
                        tracing::debug!(operation_id = %id, %error, "outbox: delivery deferred");
                        report.deferred.push((id, error));
                        if unreachable {
                            report.unreachable = true;
                            break 'operations;
                        }
                        continue 'operations;
                    }
                    Err(error) => Some(error),
                };
                if let Err(error) = self.remove_front(&id) {
                    report.storage_error = Some(error);
                    break 'operations;
                }
                match refused {
                    None => report.delivered += 1,
                    Some(error) => {
                        tracing::warn!(
                            operation_id = %id,
                            %error,
                            "outbox: the API refused a queued status report; dropped"
                        );
                        report.dropped.push(DroppedReport {
                            id: id.clone(),
                            update,
                            error,
                        });
                    }
                }
            }
        }
        report.remaining = self.pending();
        report
    }

    /// Removes the first queued report of `id` from memory and from disk.
    fn remove_front(&self, id: &OperationId) -> Result<()> {
        let mut queues = self.lock_queues();
        let Some(queue) = queues.get_mut(id) else {
            return Ok(());
        };
        queue.pop_front();
        let remaining: Vec<StatusUpdate> = queue.iter().cloned().collect();
        if remaining.is_empty() {
            queues.remove(id);
        }
        self.rewrite(id, &remaining)
    }

    /// Replaces the queue file of `id` with `entries` (temporary file, fsync, rename, fsync
    /// directory), or removes it when `entries` is empty.
    fn rewrite(&self, id: &OperationId, entries: &[StatusUpdate]) -> Result<()> {
        rewrite_queue(&self.dir, id, entries)
    }

    fn queue_path(&self, id: &OperationId) -> PathBuf {
        queue_path(&self.dir, id)
    }

    fn lock_queues(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<OperationId, VecDeque<StatusUpdate>>> {
        // A panic while holding the lock leaves memory possibly one entry ahead of the disk;
        // the disk is the truth after a restart either way, so carry on with what is there.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What an outbox directory holds, as [`count_queued`] reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuedCount {
    /// Queued reports: complete lines that are valid reports, all operations together.
    pub reports: usize,
    /// Operations with at least one queued report.
    pub operations: usize,
    /// Files set aside in `quarantine/` (torn or corrupt lines), which are never re-sent.
    pub quarantined: usize,
}

/// Counts what the outbox in `dir` holds without changing anything, so it can run next to the
/// worker that owns it (for `linbo-dc-worker status`). It counts what [`Outbox::open`] would
/// read back: complete, valid lines of `<operation-id>.jsonl` files; a torn last line (the
/// worker is writing it, or crashed while it did) is not counted. A directory that does not
/// exist holds nothing.
pub fn count_queued(dir: &Path) -> Result<QueuedCount> {
    let mut count = QueuedCount::default();
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(count),
        Err(error) => return Err(io_error("listing", dir)(error)),
    };
    for dir_entry in listing {
        let dir_entry = dir_entry.map_err(io_error("listing", dir))?;
        let path = dir_entry.path();
        let Some(name) = dir_entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name == QUARANTINE_DIR {
            count.quarantined = match fs::read_dir(&path) {
                Ok(quarantined) => quarantined.filter_map(|entry| entry.ok()).count(),
                Err(error) => return Err(io_error("listing", &path)(error)),
            };
            continue;
        }
        let is_queue = name
            .strip_suffix(QUEUE_SUFFIX)
            .is_some_and(|stem| OperationId::parse(stem).is_ok_and(|id| id.as_str() == stem));
        if !is_queue {
            continue;
        }
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            // Delivered and removed by the worker between the listing and the read.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(io_error("reading", &path)(error)),
        };
        let complete_len = bytes
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |i| i + 1);
        let reports = bytes[..complete_len]
            .split(|byte| *byte == b'\n')
            .filter(|line| serde_json::from_slice::<StatusUpdate>(line).is_ok())
            .count();
        if reports > 0 {
            count.reports += reports;
            count.operations += 1;
        }
    }
    Ok(count)
}

/// Sends `update` now, or stores it in `outbox` when the API cannot take it now; see
/// [`Delivery`]. When earlier reports of the operation are still queued, `update` is queued
/// behind them without a send attempt, so it never overtakes them.
///
/// `Ok` means the outcome is recorded (delivered, durably queued, or refused for good) and the
/// stream entry may be acknowledged; `Err` means it could not be stored: do not acknowledge.
///
/// Report one operation's updates one after the other (await each call before the next); the
/// ordering guarantee is about the outbox and this call, not about two calls racing for the same
/// operation.
pub async fn deliver_or_store(
    client: &ApiClient,
    outbox: &Arc<Outbox>,
    id: &OperationId,
    update: StatusUpdate,
) -> Result<Delivery> {
    if outbox.pending_for(id) > 0 {
        outbox.store(id, update).await?;
        return Ok(Delivery::Stored(None));
    }
    match client.patch_status(id, &update).await {
        Ok(()) => Ok(Delivery::Delivered),
        Err(error) if error.is_retryable() => {
            tracing::warn!(operation_id = %id, %error, "status report stored in the outbox");
            outbox.store(id, update).await?;
            Ok(Delivery::Stored(Some(error)))
        }
        Err(error) => {
            tracing::warn!(operation_id = %id, %error, "the API refused a status report");
            Ok(Delivery::Rejected(error))
        }
    }
}

fn queue_path(dir: &Path, id: &OperationId) -> PathBuf {
    dir.join(format!("{id}{QUEUE_SUFFIX}"))
}

/// Reads one queue file, quarantining a torn last line and corrupt lines.
fn read_queue(
    dir: &Path,
    id: &OperationId,
    path: &Path,
    recovery: &mut Recovery,
) -> Result<VecDeque<StatusUpdate>> {
    let bytes = fs::read(path).map_err(io_error("reading", path))?;
    let complete_len = bytes
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |i| i + 1);
    let (complete, torn) = bytes.split_at(complete_len);
    let mut queue = VecDeque::new();
    let mut corrupt = Vec::new();
    for line in complete.split(|byte| *byte == b'\n') {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<StatusUpdate>(line) {
            Ok(update) => queue.push_back(update),
            Err(_) => {
                corrupt.extend_from_slice(line);
                corrupt.push(b'\n');
                recovery.corrupt_lines += 1;
            }
        }
    }
    if !torn.is_empty() {
        tracing::warn!(path = %path.display(), "outbox: setting aside a torn last line");
        quarantine(dir, id, "torn", torn)?;
        recovery.torn_lines += 1;
    }
    if !corrupt.is_empty() {
        tracing::warn!(path = %path.display(), "outbox: setting aside unreadable lines");
        quarantine(dir, id, "corrupt", &corrupt)?;
    }
    if !torn.is_empty() || !corrupt.is_empty() {
        let entries: Vec<StatusUpdate> = queue.iter().cloned().collect();
        rewrite_queue(dir, id, &entries)?;
    }
    Ok(queue)
}

fn rewrite_queue(dir: &Path, id: &OperationId, entries: &[StatusUpdate]) -> Result<()> {
    let path = queue_path(dir, id);
    if entries.is_empty() {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error("removing", &path)(error)),
        }
        return sync_dir(dir);
    }
    let mut text = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut text, entry)
            .expect("a StatusUpdate is plain data and always encodes as JSON");
        text.push(b'\n');
    }
    let temp = dir.join(format!("{id}{TEMP_SUFFIX}"));
    let mut file = File::create(&temp).map_err(io_error("creating", &temp))?;
    file.write_all(&text).map_err(io_error("writing", &temp))?;
    file.sync_all().map_err(io_error("syncing", &temp))?;
    drop(file);
    fs::rename(&temp, &path).map_err(io_error("renaming to", &path))?;
    sync_dir(dir)
}

fn quarantine(dir: &Path, id: &OperationId, kind: &str, bytes: &[u8]) -> Result<()> {
    let quarantine_dir = dir.join(QUARANTINE_DIR);
    fs::create_dir_all(&quarantine_dir).map_err(io_error("creating", &quarantine_dir))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let path = quarantine_dir.join(format!("{id}.{nanos}.{kind}"));
    let mut file = File::create(&path).map_err(io_error("creating", &path))?;
    file.write_all(bytes).map_err(io_error("writing", &path))?;
    file.sync_all().map_err(io_error("syncing", &path))?;
    sync_dir(&quarantine_dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error("syncing directory", dir))
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OutboxError {
    let path = path.to_owned();
    move |source| OutboxError {
        action,
        path,
        source,
    }
}
