//! The other schools' devices.csv, indexed once per version of each file
//! ([`devices_csv::SchoolIndex`]) and kept between batches: a batch reads again only the files
//! that changed since the last one, told by their identity (device, inode, size, modification
//! and change time) as the open file reports it. An administrator's edit (an editor's save, `sed
//! -i`, an append) changes at least one of them, so the next batch sees it.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use devices_csv::SchoolIndex;

use crate::paths::School;
use crate::worker::provision::error::ProvisionError;

/// What tells one version of a file from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Identity {
    fn of(metadata: &Metadata) -> Identity {
        Identity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// The indexes of the other schools' files, by path.
#[derive(Debug, Default)]
pub(crate) struct OtherSchools {
    cache: Mutex<HashMap<PathBuf, (Identity, Arc<SchoolIndex>)>>,
}

impl OtherSchools {
    /// The indexes of `schools` (each with its devices.csv) that have a file, in the order
    /// given; a file whose identity is the one indexed last time is not read again.
    pub(crate) fn load(
        &self,
        schools: impl IntoIterator<Item = (School, PathBuf)>,
    ) -> Result<Vec<Arc<SchoolIndex>>, ProvisionError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut indexes = Vec::new();
        for (school, path) in schools {
            let Some(file) = open(&path)? else {
                cache.remove(&path);
                continue;
            };
            let metadata = file
                .metadata()
                .map_err(|error| ProvisionError::io("reading", &path, error))?;
            let identity = Identity::of(&metadata);
            if let Some((known, index)) = cache.get(&path)
                && *known == identity
                && index.school() == school.as_str()
            {
                indexes.push(Arc::clone(index));
                continue;
            }
            let text = read(file, &path)?;
            let index = Arc::new(SchoolIndex::build(school.as_str(), &text));
            cache.insert(path, (identity, Arc::clone(&index)));
            indexes.push(index);
        }
        Ok(indexes)
    }
}

/// `path` opened for reading; `None` when it does not exist.
fn open(path: &Path) -> Result<Option<std::fs::File>, ProvisionError> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ProvisionError::io("reading", path, error)),
    }
}

/// The rest of `file` as text.
fn read(mut file: std::fs::File, path: &Path) -> Result<String, ProvisionError> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|error| ProvisionError::io("reading", path, error))?;
    String::from_utf8(bytes).map_err(|error| ProvisionError::NotUtf8 {
        path: path.to_owned(),
        valid_up_to: error.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    const LINE: &str = "r1;pc01;nopxe;00:1A:2B:3C:4D:01;10.0.1.1;;;;;;1;;;;\n";

    fn load(schools: &OtherSchools, path: &Path) -> Arc<SchoolIndex> {
        let gym: School = "gym".parse().expect("a school");
        let mut loaded = schools.load([(gym, path.to_owned())]).expect("readable");
        assert_eq!(loaded.len(), 1);
        loaded.remove(0)
    }

    #[test]
    fn an_unchanged_file_is_not_indexed_again_and_a_changed_one_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("devices.csv");
        std::fs::write(&path, LINE).expect("write");
        let schools = OtherSchools::default();
        let first = load(&schools, &path);
        assert_eq!(first.records(), 1);
        assert!(
            Arc::ptr_eq(&first, &load(&schools, &path)),
            "the same version"
        );

        // An editor's save: a new file renamed over the old one.
        let new = dir.path().join("devices.csv.new");
        std::fs::write(&new, format!("{LINE}{}", LINE.replace("pc01", "pc02"))).expect("write");
        std::fs::rename(&new, &path).expect("rename");
        let second = load(&schools, &path);
        assert_eq!(second.records(), 2);

        // Rewritten in place with the same size: told by its modification time.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut &file, LINE.replace("pc01", "pc09").as_bytes())
            .expect("write");
        file.set_modified(SystemTime::now() + Duration::from_secs(5))
            .expect("set the modification time");
        let third = load(&schools, &path);
        assert!(!Arc::ptr_eq(&second, &third), "a new version");
    }

    #[test]
    fn a_missing_file_is_no_school_index_and_not_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gym: School = "gym".parse().expect("a school");
        let loaded = OtherSchools::default()
            .load([(gym, dir.path().join("devices.csv"))])
            .expect("no error");
        assert!(loaded.is_empty());
    }
}
