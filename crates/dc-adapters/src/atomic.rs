//! Atomic file replacement: a reader (or a crash) sees the old file or the new one, never a mix.
//!
//! The new bytes go to a temporary file in the same directory (or a caller-chosen directory on the
//! same filesystem), are flushed to disk, get the original file's mode and owner, and are renamed
//! over the target; then the directory is flushed so the rename itself survives a power loss.

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, fchown};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The prefix of every temporary file this module creates; [`remove_stale_temp_files`] removes
/// leftovers of a process killed mid-write.
pub const TEMP_PREFIX: &str = ".linbo-dc-";

/// Where the temporary file goes and whether to keep the previous version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceOptions {
    /// Directory for the temporary file; default: the target's directory. Must be on the same
    /// filesystem. The DHCP hook uses this to keep temporary files out of `/etc/dhcp/devices/`,
    /// whose every file is included by `devices.conf`.
    pub temp_dir: Option<PathBuf>,
    /// Where to keep the previous version (replaced atomically too), if the target exists.
    pub backup: Option<PathBuf>,
    /// Mode for a file that does not exist yet (default 0o644).
    pub new_file_mode: Option<u32>,
    /// The target as the caller read it: just before the rename the target is checked against
    /// it (identity, size, modification time, content), and a target someone changed meanwhile
    /// is left alone ([`Error::Changed`]), so their edit is not overwritten.
    pub expect: Option<FileState>,
}

/// A file as it was read: device and inode (a file replaced by rename is another one), size,
/// modification time and a fingerprint of the content (an edit within the same clock tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    device: u64,
    inode: u64,
    len: u64,
    modified_ns: i128,
    fingerprint: u64,
}

impl FileState {
    /// Reads `path` with its state, `None` when it does not exist. A file that changes while it
    /// is read is read again, so bytes and state belong together.
    ///
    /// # Errors
    /// [`Error::File`] when it cannot be read, or keeps changing over five reads.
    pub fn read(path: &Path) -> Result<Option<(Vec<u8>, FileState)>> {
        for _ in 0..5 {
            let before = match fs::metadata(path) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(Error::file("reading metadata of", path)(error)),
            };
            let bytes = fs::read(path).map_err(Error::file("reading", path))?;
            let after = fs::metadata(path).map_err(Error::file("reading metadata of", path))?;
            let state = FileState::of(&before, &bytes);
            if state == FileState::of(&after, &bytes) && after.len() == bytes.len() as u64 {
                return Ok(Some((bytes, state)));
            }
        }
        Err(Error::file("reading", path)(std::io::Error::other(
            "the file kept changing while it was read",
        )))
    }

    fn of(metadata: &fs::Metadata, bytes: &[u8]) -> FileState {
        FileState {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.len(),
            modified_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
            fingerprint: fingerprint(bytes),
        }
    }

    /// Whether `path` is still this file, unchanged.
    fn holds(&self, path: &Path) -> Result<bool> {
        Ok(FileState::read(path)?.is_some_and(|(_, now)| now == *self))
    }
}

/// FNV-1a (64 bit) of `bytes`: stable across builds and versions, to tell versions of a file
/// apart (no defence against someone choosing collisions; they could edit the file anyway).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Replaces `target` with `contents` atomically, keeping the original's mode and owner.
pub fn replace_file(target: &Path, contents: &[u8], options: &ReplaceOptions) -> Result<()> {
    let directory = parent_dir(target);
    let temp_dir = options
        .temp_dir
        .clone()
        .unwrap_or_else(|| directory.clone());
    let original = match fs::metadata(target) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(Error::file("reading metadata of", target)(error)),
    };
    if let (Some(backup), Some(_)) = (&options.backup, &original) {
        let previous = fs::read(target).map_err(Error::file("reading", target))?;
        let backup_options = ReplaceOptions {
            new_file_mode: original.as_ref().map(|metadata| metadata.mode() & 0o7777),
            ..ReplaceOptions::default()
        };
        replace_file(backup, &previous, &backup_options)?;
    }

    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy());
    let mut temp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{name}."))
        .suffix(".tmp")
        .tempfile_in(&temp_dir)
        .map_err(Error::file("creating a temporary file in", &temp_dir))?;
    let temp_path = temp.path().to_owned();
    temp.write_all(contents)
        .map_err(Error::file("writing", &temp_path))?;
    let file: &File = temp.as_file();
    match &original {
        Some(metadata) => {
            file.set_permissions(Permissions::from_mode(metadata.mode() & 0o7777))
                .map_err(Error::file("setting the mode of", &temp_path))?;
            fchown(file, Some(metadata.uid()), Some(metadata.gid()))
                .map_err(Error::file("setting the owner of", &temp_path))?;
        }
        None => {
            let mode = options.new_file_mode.unwrap_or(0o644);
            file.set_permissions(Permissions::from_mode(mode))
                .map_err(Error::file("setting the mode of", &temp_path))?;
        }
    }
    file.sync_all()
        .map_err(Error::file("flushing", &temp_path))?;
    // As late as possible: between this check and the rename only microseconds pass.
    if let Some(expected) = &options.expect
        && !expected.holds(target)?
    {
        return Err(Error::Changed {
            path: target.to_owned(),
        });
    }
    // On failure the temporary file is removed when `persist`'s error drops it.
    temp.persist(target)
        .map_err(|error| Error::file("renaming the temporary file onto", target)(error.error))?;
    sync_dir(&directory)?;
    if temp_dir != directory {
        sync_dir(&temp_dir)?;
    }
    Ok(())
}

/// Removes temporary files this module left in `dir` when a process was killed mid-write.
/// Returns how many it removed.
pub fn remove_stale_temp_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = fs::read_dir(dir).map_err(Error::file("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::file("listing", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(".tmp") {
            fs::remove_file(entry.path()).map_err(Error::file("removing", entry.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(Error::file("flushing directory", dir))
}
