//! Snapshot tests driven by `fixtures/devices/<case>/`: `master.csv`, optional `delta.csv`,
//! `jobs.txt` (see `job_text`), optional `other-<school>.csv` files, optional `options.txt`
//! (`key=value` lines, `#` comments: `school`, `protected_hosts` comma-separated,
//! `adopt_manual_hosts` true/false). The snapshot shows every
//! job's outcome, the statistics, both new files and the diff.

use std::path::Path;

use devices_csv::MergeOptions;

use crate::job_text::parse_jobs;
use crate::report::{merge_labelled, render};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The merge options of a case: the defaults, changed by `options.txt`.
fn options(text: &str) -> MergeOptions {
    let mut options = MergeOptions::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("options.txt: expected key=value, found {line:?}"));
        match key.trim() {
            "school" => options.school = value.trim().to_owned(),
            "protected_hosts" => {
                options.protected_hosts = value
                    .split(',')
                    .map(|name| name.trim().to_owned())
                    .collect();
            }
            "adopt_manual_hosts" => {
                options.adopt_manual_hosts = value.trim().parse().expect("true or false");
            }
            other => panic!("options.txt: unknown key {other:?}"),
        }
    }
    options
}

fn read_optional(path: &Path) -> String {
    if path.exists() {
        read(path)
    } else {
        String::new()
    }
}

#[test]
fn merge_snapshots() {
    insta::glob!("../../../../fixtures/devices", "*/jobs.txt", |jobs_path| {
        let case = jobs_path
            .parent()
            .expect("jobs.txt lives in a case directory");
        let master = read(&case.join("master.csv"));
        let delta = read_optional(&case.join("delta.csv"));
        let mut others: Vec<(String, String)> = std::fs::read_dir(case)
            .expect("case directory is readable")
            .map(|entry| entry.expect("directory entry").path())
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?;
                let school = name
                    .strip_prefix("other-")?
                    .strip_suffix(".csv")?
                    .to_owned();
                Some((school, read(&path)))
            })
            .collect();
        others.sort();
        let jobs = parse_jobs(&read(jobs_path));
        let options = options(&read_optional(&case.join("options.txt")));
        let output = merge_labelled(&master, &delta, &others, &jobs, &options);

        // Whatever the case, merging the result again without jobs changes nothing.
        let again = merge_labelled(&output.master, &output.delta, &others, &[], &options);
        assert_eq!(
            again.master,
            output.master,
            "master not idempotent in {}",
            case.display()
        );
        assert_eq!(
            again.delta,
            output.delta,
            "delta not idempotent in {}",
            case.display()
        );

        insta::assert_snapshot!(render(&jobs, &output));
    });
}
