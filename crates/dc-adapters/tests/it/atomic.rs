//! Atomic replacement: contents, mode, owner, backup, temporary directory, no leftovers.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use dc_adapters::Error;
use dc_adapters::atomic::{
    FileState, ReplaceOptions, TEMP_PREFIX, remove_stale_temp_files, replace_file,
};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readable")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn replaces_contents_and_keeps_mode_and_owner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("devices.csv");
    fs::write(&target, "old\n").expect("seed");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).expect("chmod");
    // As root (CI, a DC) the file gets a foreign owner the replacement must keep; otherwise our own.
    let owner = if rustix::process::geteuid().is_root() {
        (1234, 5678)
    } else {
        let metadata = fs::metadata(&target).expect("metadata");
        (metadata.uid(), metadata.gid())
    };
    std::os::unix::fs::chown(&target, Some(owner.0), Some(owner.1)).expect("chown");
    replace_file(&target, b"new\n", &ReplaceOptions::default()).expect("replace");
    assert_eq!(fs::read_to_string(&target).expect("read"), "new\n");
    let metadata = fs::metadata(&target).expect("metadata");
    assert_eq!(metadata.mode() & 0o7777, 0o640);
    assert_eq!((metadata.uid(), metadata.gid()), owner);
    assert_eq!(names(dir.path()), ["devices.csv"], "no temporary file left");
}

#[test]
fn keeps_a_backup_of_the_previous_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("devices.csv");
    let backup = dir.path().join("devices.csv.linbo-dc.bak");
    fs::write(&target, "version 1\n").expect("seed");
    let options = ReplaceOptions {
        backup: Some(backup.clone()),
        ..ReplaceOptions::default()
    };
    replace_file(&target, b"version 2\n", &options).expect("replace");
    replace_file(&target, b"version 3\n", &options).expect("replace again");
    assert_eq!(fs::read_to_string(&target).expect("read"), "version 3\n");
    assert_eq!(
        fs::read_to_string(&backup).expect("read backup"),
        "version 2\n"
    );
}

#[test]
fn temporary_file_can_live_outside_the_target_directory() {
    let root = tempfile::tempdir().expect("temp dir");
    let devices = root.path().join("devices");
    fs::create_dir(&devices).expect("mkdir");
    let target = devices.join("default-school.conf");
    let options = ReplaceOptions {
        temp_dir: Some(root.path().to_owned()),
        ..ReplaceOptions::default()
    };
    replace_file(&target, b"host a {}\n", &options).expect("replace");
    assert_eq!(fs::read_to_string(&target).expect("read"), "host a {}\n");
    assert_eq!(
        fs::metadata(&target).expect("metadata").mode() & 0o777,
        0o644
    );
    assert_eq!(names(&devices), ["default-school.conf"]);
    assert_eq!(names(root.path()), ["devices"]);
}

#[test]
fn failure_leaves_target_and_directory_untouched() {
    let root = tempfile::tempdir().expect("temp dir");
    let target = root.path().join("devices.csv");
    fs::write(&target, "old\n").expect("seed");
    let options = ReplaceOptions {
        temp_dir: Some(root.path().join("missing-dir")),
        ..ReplaceOptions::default()
    };
    let error = replace_file(&target, b"new\n", &options).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("creating a temporary file in "),
        "{error}"
    );
    assert_eq!(fs::read_to_string(&target).expect("read"), "old\n");
    assert_eq!(names(root.path()), ["devices.csv"]);
}

#[test]
fn stale_temporary_files_are_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path()
            .join(format!("{TEMP_PREFIX}devices.csv.abc123.tmp")),
        "half",
    )
    .expect("seed");
    fs::write(dir.path().join("devices.csv"), "keep").expect("seed");
    assert_eq!(remove_stale_temp_files(dir.path()).expect("cleanup"), 1);
    assert_eq!(names(dir.path()), ["devices.csv"]);
}

#[test]
fn a_target_rewritten_since_it_was_read_is_left_alone_and_appended_lines_are_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("devices.csv");
    fs::write(&target, "a;b\n").unwrap();
    let expecting = |target: &std::path::Path| {
        let (_, state) = FileState::read(target).unwrap().expect("it exists");
        ReplaceOptions {
            expect: Some(state),
            ..ReplaceOptions::default()
        }
    };
    // Unchanged: replaced.
    let options = expecting(&target);
    replace_file(&target, b"new\n", &options).unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");

    // Appended to in place (`>>`): replaced, and the appended line follows the new contents.
    let options = expecting(&target);
    fs::OpenOptions::new()
        .append(true)
        .open(&target)
        .unwrap()
        .write_all(b"admin\n")
        .unwrap();
    replace_file(&target, b"mine\n", &options).unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "mine\nadmin\n");

    // Rewritten in place (same inode, other bytes): left alone.
    let options = expecting(&target);
    fs::write(&target, "MINE\nadmin\n").unwrap();
    let error = replace_file(&target, b"ours\n", &options).unwrap_err();
    assert!(matches!(error, Error::Changed { .. }), "{error}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "MINE\nadmin\n");

    // Replaced by rename (an editor's save), even with the same bytes: left alone.
    let options = expecting(&target);
    let other = dir.path().join("other");
    fs::write(&other, "MINE\nadmin\n").unwrap();
    fs::rename(&other, &target).unwrap();
    assert!(matches!(
        replace_file(&target, b"ours\n", &options),
        Err(Error::Changed { .. })
    ));
    assert_eq!(fs::read_to_string(&target).unwrap(), "MINE\nadmin\n");
    assert_eq!(names(dir.path()), ["devices.csv"], "no temporary file left");
}
