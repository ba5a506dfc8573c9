//! Atomic file replacement: a reader (or a crash) sees the old file or the new one, never a mix.
//!
//! The new bytes go to a temporary file in the same directory (or a caller-chosen directory on the
//! same filesystem), are flushed to disk, get the original file's mode and owner, and are renamed
//! over the target; then the directory is flushed so the rename itself survives a power loss.

use std::fs::{self, File, Permissions};
use std::io::{Read, Write};
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
    /// The target as the caller read it. Just before the rename the target must still be that
    /// file (same inode) with the bytes read at its start: a file someone rewrote (an editor's
    /// save, `sed -i`) is left alone ([`Error::Changed`]), so their edit is not overwritten.
    /// Lines someone *appended* meanwhile (`echo … >> devices.csv`, the way administrators add a
    /// device) are carried over into the new file right after the rename.
    pub expect: Option<FileState>,
}

/// A file as it was read: device and inode (a file replaced by rename is another one), size, and
/// a fingerprint of the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    device: u64,
    inode: u64,
    len: u64,
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
            let mut file = match File::open(path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(Error::file("opening", path)(error)),
            };
            let before = file
                .metadata()
                .map_err(Error::file("reading metadata of", path))?;
            let mut bytes = Vec::with_capacity(before.len() as usize);
            file.read_to_end(&mut bytes)
                .map_err(Error::file("reading", path))?;
            let after = file
                .metadata()
                .map_err(Error::file("reading metadata of", path))?;
            let stable = after.len() == bytes.len() as u64
                && (after.mtime(), after.mtime_nsec()) == (before.mtime(), before.mtime_nsec());
            if stable {
                let state = FileState {
                    device: after.dev(),
                    inode: after.ino(),
                    len: bytes.len() as u64,
                    fingerprint: fingerprint(&bytes),
                };
                return Ok(Some((bytes, state)));
            }
        }
        Err(Error::file("reading", path)(std::io::Error::other(
            "the file kept changing while it was read",
        )))
    }

    /// Opens `path` and checks that it is still this file, at most appended to: the open file
    /// then carries those appended lines over after the rename.
    fn hold(&self, path: &Path) -> Result<Held> {
        let changed = || Error::Changed {
            path: path.to_owned(),
        };
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(changed()),
            Err(error) => return Err(Error::file("opening", path)(error)),
        };
        let metadata = file
            .metadata()
            .map_err(Error::file("reading metadata of", path))?;
        if (metadata.dev(), metadata.ino()) != (self.device, self.inode)
            || metadata.len() < self.len
        {
            return Err(changed());
        }
        let mut start = vec![0; self.len as usize];
        file.read_exact(&mut start)
            .map_err(Error::file("reading", path))?;
        if fingerprint(&start) != self.fingerprint {
            return Err(changed());
        }
        Ok(Held {
            file,
            read: self.len,
        })
    }
}

/// The replaced file, still open after the rename, and how much of it the caller had read.
struct Held {
    file: File,
    read: u64,
}

impl Held {
    /// Appends to `target` (the new file) what was appended to the old one after the caller read
    /// it; returns how many bytes.
    fn carry_over(mut self, target: &Path, new_ends_with_newline: bool) -> Result<usize> {
        use std::io::{Seek, SeekFrom};
        self.file
            .seek(SeekFrom::Start(self.read))
            .map_err(Error::file("reading", target))?;
        let mut appended = Vec::new();
        self.file
            .read_to_end(&mut appended)
            .map_err(Error::file("reading", target))?;
        if appended.is_empty() {
            return Ok(0);
        }
        if !new_ends_with_newline && !appended.starts_with(b"\n") {
            appended.insert(0, b'\n');
        }
        let mut new = fs::OpenOptions::new()
            .append(true)
            .open(target)
            .map_err(Error::file("opening", target))?;
        new.write_all(&appended)
            .map_err(Error::file("appending to", target))?;
        new.sync_all().map_err(Error::file("flushing", target))?;
        Ok(appended.len())
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
    let held = options
        .expect
        .as_ref()
        .map(|expected| expected.hold(target))
        .transpose()?;
    // On failure the temporary file is removed when `persist`'s error drops it.
    temp.persist(target)
        .map_err(|error| Error::file("renaming the temporary file onto", target)(error.error))?;
    sync_dir(&directory)?;
    if let Some(held) = held {
        let carried = held.carry_over(target, contents.is_empty() || contents.ends_with(b"\n"))?;
        if carried > 0 {
            tracing::warn!(
                path = %target.display(),
                bytes = carried,
                "lines appended to the file while it was being replaced were carried over"
            );
        }
    }
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
