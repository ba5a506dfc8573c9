//! `just bench`: one provisioning batch in memory (parse master and delta, validate and apply
//! 10,000 jobs with conflict checks, merge, serialise both files) on a generated 100,000-line
//! devices.csv, against a plain read + write of the same bytes measured in the same run.
//! SPEC §10 target: ≤ 50 ms, within 10× of the baseline.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use devices_csv::{HostSpec, Job, JobOutcome, MergeOptions, merge};

const MASTER_LINES: usize = 100_000;
const JOBS: usize = 10_000;

fn mac(n: usize) -> String {
    let b = n.to_be_bytes();
    format!("02:00:{:02X}:{:02X}:{:02X}:{:02X}", b[4], b[5], b[6], b[7])
}

fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", n / 60_000 + 1, n / 240 % 250, n % 240 + 1)
}

/// A master like a large school authority's: rooms of 30 hosts, a comment per room, fixed IPs
/// for most hosts, some with office keys, roles and a trailing `;`.
fn generate_master() -> String {
    let mut text = String::with_capacity(MASTER_LINES * 70);
    for n in 0..MASTER_LINES {
        let room = n / 30;
        if n.is_multiple_of(30) {
            text.push_str(&format!("# room r{room}\n"));
        }
        let address = if n.is_multiple_of(5) {
            "DHCP".to_owned()
        } else {
            ip(n)
        };
        let role = if n.is_multiple_of(7) {
            "classroom-teachercomputer"
        } else {
            ""
        };
        let key = if n.is_multiple_of(11) {
            "OFFICE-KEY"
        } else {
            ""
        };
        text.push_str(&format!(
            "r{room};h{n:06};win11;{};{address};{key};;;{role};;1;;;;;\n",
            mac(n)
        ));
    }
    text
}

/// 10,000 jobs: updates of existing hosts, new hosts, deletes, renames and a few conflicts.
fn generate_jobs() -> Vec<Job> {
    (0..JOBS)
        .map(|i| {
            let host = |n: usize| format!("h{n:06}");
            let spec = |hostname: String, n: usize| HostSpec {
                hostname,
                room: format!("r{}", n / 30),
                group: "ubuntu".into(),
                mac: mac(n),
                ip: if n.is_multiple_of(5) {
                    String::new()
                } else {
                    ip(n)
                },
                ..HostSpec::default()
            };
            match i % 10 {
                0..=4 => Job::upsert(spec(host(i * 9), i * 9)),
                5..=7 => Job::upsert(spec(host(MASTER_LINES + i), MASTER_LINES + i)),
                8 => Job::delete(host(i * 9 + 1)),
                _ => {
                    // A new host reusing an existing MAC: refused.
                    let mut conflicting = spec(format!("c{i:06}"), MASTER_LINES + i);
                    conflicting.mac = mac(i * 3 + 2);
                    Job::upsert(conflicting)
                }
            }
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn runs() -> usize {
    // `BENCH_RUNS=1` for a single run under a profiler.
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(9)
}

fn time<T>(mut run: impl FnMut() -> T) -> Duration {
    median(
        (0..runs())
            .map(|_| {
                let start = Instant::now();
                black_box(run());
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let master = generate_master();
    let jobs = generate_jobs();
    let directory = tempfile::tempdir().expect("temporary directory");
    let source = directory.path().join("devices.csv");
    let target = directory.path().join("devices.csv.copy");
    std::fs::write(&source, &master).expect("writing the generated master");

    let baseline = time(|| {
        let text = std::fs::read_to_string(&source).expect("reading the master");
        std::fs::write(&target, text.as_bytes()).expect("writing the copy");
    });
    let no_diff = MergeOptions {
        diff: false,
        ..MergeOptions::default()
    };
    let batch = time(|| merge(&master, "", &[], &jobs, &no_diff));
    let with_diff = time(|| merge(&master, "", &[], &jobs, &MergeOptions::default()));

    let output = merge(&master, "", &[], &jobs, &MergeOptions::default());
    let refused = output
        .outcomes
        .iter()
        .filter(|outcome| matches!(outcome, JobOutcome::Rejected(_)))
        .count();
    assert_eq!(
        refused,
        JOBS / 10,
        "every tenth job reuses a MAC and must be refused"
    );
    // The second batch is merged onto the first one's output: master and delta both populated.
    let second = time(|| merge(&output.master, &output.delta, &[], &jobs, &no_diff));

    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "devices-csv: {MASTER_LINES} master lines ({:.1} MiB), {JOBS} jobs ({refused} refused), median of {} runs",
        master.len() as f64 / (1 << 20) as f64,
        runs()
    );
    println!(
        "  baseline read+write of the same bytes: {:>8.2} ms",
        ms(baseline)
    );
    println!(
        "  batch (parse+apply+merge+validate+serialise): {:>8.2} ms  ratio {:.1}x  (SPEC §10: <= 50 ms, <= 10x)",
        ms(batch),
        ratio(batch)
    );
    println!(
        "  same with unified diff:                       {:>8.2} ms  ratio {:.1}x",
        ms(with_diff),
        ratio(with_diff)
    );
    println!(
        "  batch onto a populated delta ({} lines):    {:>8.2} ms  ratio {:.1}x",
        output.stats.total_delta_lines,
        ms(second),
        ratio(second)
    );
}
