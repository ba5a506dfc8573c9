//! Snapshot tests driven by `fixtures/devices/<case>/`: `master.csv`, optional `delta.csv`,
//! `jobs.txt` (see `job_text`), optional `other-<school>.csv` files. The snapshot shows every
//! job's outcome, the statistics, both new files and the diff.

use std::path::Path;

use crate::job_text::parse_jobs;
use crate::report::{merge_labelled, render};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
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
        let output = merge_labelled(&master, &delta, &others, &jobs);

        // Whatever the case, merging the result again without jobs changes nothing.
        let again = merge_labelled(&output.master, &output.delta, &others, &[]);
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
