//! Runs one provisioning batch through the merge engine and prints what happened:
//! `cargo run -p devices-csv --example merge -- MASTER DELTA JOBS [OTHER_SCHOOL=FILE...]`.
//!
//! Reads the files, never writes them. The jobs file has one job per line in the fixture format
//! (`create hostname=pc01 room=r100 mac=... ip=... dry-run`, see `tests/it/job_text.rs`).

use std::process::ExitCode;

#[path = "../tests/it/job_text.rs"]
mod job_text;
#[path = "../tests/it/report.rs"]
mod report;

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("reading {path}: {error}"))
}

fn run(args: &[String]) -> Result<String, String> {
    let [master_path, delta_path, jobs_path, others @ ..] = args else {
        return Err("usage: merge MASTER DELTA JOBS [SCHOOL=FILE...]".to_owned());
    };
    let master = read(master_path)?;
    let delta = read(delta_path)?;
    let jobs = job_text::parse_jobs(&read(jobs_path)?);
    let other_texts = others
        .iter()
        .map(|spec| {
            let (school, path) = spec
                .split_once('=')
                .ok_or_else(|| format!("expected SCHOOL=FILE, found {spec:?}"))?;
            Ok((school.to_owned(), read(path)?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let output = report::merge_labelled(
        &master,
        &delta,
        &other_texts,
        &jobs,
        &devices_csv::MergeOptions::default(),
    );
    Ok(report::render(&jobs, &output))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(text) => {
            #[allow(clippy::print_stdout, reason = "the example's output is its report")]
            {
                print!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(problem) => {
            #[allow(clippy::print_stderr, reason = "the example reports its usage errors")]
            {
                eprintln!("merge: {problem}");
            }
            ExitCode::from(2)
        }
    }
}
