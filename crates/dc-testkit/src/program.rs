//! Finding the programs the test kit runs (redis-server, openssl).

use std::ffi::OsStr;
use std::path::PathBuf;

/// `name` in the directories of `path` (a `PATH` value), else the first existing `fallbacks`
/// entry (Debian installs some programs outside a plain user's `PATH`).
pub(crate) fn find_program(
    name: &str,
    path: Option<&OsStr>,
    fallbacks: &[&str],
) -> Option<PathBuf> {
    let from_path = path.and_then(|path| {
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    from_path.or_else(|| {
        fallbacks
            .iter()
            .map(PathBuf::from)
            .find(|candidate| candidate.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_not_found_and_a_fallback_is_used() {
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            find_program("redis-server", Some(empty.path().as_os_str()), &[]),
            None
        );
        assert_eq!(
            find_program("openssl", None, &["/nonexistent/openssl"]),
            None
        );
        std::fs::write(empty.path().join("openssl"), "").unwrap();
        let found = empty.path().join("openssl");
        assert_eq!(
            find_program("openssl", Some(empty.path().as_os_str()), &[]),
            Some(found.clone())
        );
        let fallback = found.to_str().unwrap();
        assert_eq!(find_program("other", None, &[fallback]), Some(found));
    }
}
