//! `just bench`: the worker end to end (SPEC §10, issue 16) with the test harness — a private
//! `redis-server`, the fake LINBO API, a sandbox DC whose fake import sleeps, the sandbox's fake
//! DNS server (`dc_testkit::FakeDns`, answering from the fake DC's state, as the worker's
//! `DNS_SERVER`), and the real `linbo-dc-dhcp-hook` as post-import hook. The provisioning jobs
//! have fixed IPs, as schools give their PXE clients, so verification has work to do: the AD
//! listing (one `samba-tool computer list`) and `DHCP_VERIFY_FILE` once per batch, an A and a
//! PTR lookup per host. Each figure is printed with its target beside it and PASS or MISS; the
//! benchmark reports, it never asserts a time. Where a batch's time goes comes from the worker's
//! own log: `batch done` (fetch, lock, merge, write, import, verify, report), `verification
//! done` (the AD/DHCP listing, the checks beyond it) and `command finished` (each DC command
//! and its duration), so the time of the fakes — the import's sleep and its python, the fake
//! `samba-tool computer list` — is told apart from the worker's own. The worker runs with the
//! `PATH` of its systemd unit first, so the fakes start the system python3 as on a DC (a
//! developer's pyenv shim would add about 100 ms to each of four starts per batch). It fails
//! when `redis-server` or `python3` is missing or when a job does not complete.
//!
//! 1. 200 create jobs with fixed IPs for one school, enqueued before the worker starts, batch 50,
//!    debounce 5 s, a 1 s import: import runs and the wall time from worker start to the last
//!    `completed` against ≤ 6 s (issue 16: half of SPEC §10's 1.25 × (debounce + 4 × import) =
//!    11.25 s, which is printed too) and as a ratio to 4 × import; the steps of every batch;
//!    verification beyond the AD listing of each 50-host batch against ≤ 100 ms.
//! 2. The same over two schools: 100 jobs each for default-school and gym (a master of its own
//!    with hand-made hosts, fixed IPs in its own subnet, its own DHCP file).
//! 3. One batch of 5,000 create jobs with fixed IPs (`PROVISION_BATCH_SIZE=5000`): verification
//!    beyond the AD listing against ≤ 2 s, and per host.
//! 4. A machine-account repair queued while a batch imports (5 s): enqueue to `completed`,
//!    against 1 s + the repair script's own run time.
//! 5. Idle worker RSS against 10 MB, with the RSS of `sleep` as the floor of any process.
//!
//! The machine may be shared: the load average is printed at the start of every part.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dc_testkit::FakeApi;
use dc_testkit::sandbox::REPAIR_SCRIPT;
use serde_json::Value;

#[path = "../tests/it/support.rs"]
#[allow(dead_code, reason = "the benchmark uses part of the test harness")]
mod support;

use support::{CONSUMER, Harness, create};

/// How long the benchmark waits for jobs before it fails: far above any target, so a slow worker
/// is reported, not failed (the predecessor needed 92 s for part 1).
const PATIENCE: Duration = Duration::from_secs(600);

/// How often parts 1 and 2 look at their operations (part 3 every 500 ms).
const POLL: Duration = Duration::from_millis(50);

const N_JOBS: usize = 200;
const BATCH_SIZE: usize = 50;
const DEBOUNCE_SEC: f64 = 5.0;
const IMPORT_SEC: f64 = 1.0;
/// Issue 16's target for part 1 and 2: half of SPEC §10's bound.
const WALL_TARGET_SEC: f64 = 6.0;
/// Issue 16's target for the checks of a 50-host batch beyond its AD listing.
const CHECKS_50_TARGET_MS: u64 = 100;
/// The hosts of part 3, and issue 16's target for their checks beyond the AD listing.
const N_LARGE: usize = 5000;
const CHECKS_LARGE_TARGET_MS: u64 = 2000;
/// The second school of part 2.
const SECOND_SCHOOL: &str = "gym";
/// Its master, like the harness's default-school master: hand-made hosts in its own subnet
/// (`10.1.0.0/16` of the sandbox's subnets.csv).
const SECOND_MASTER: &str = "\
# gym.devices.csv, maintained by hand
g100;g100-pc01;win11;00:1A:2B:3C:99:01;10.1.100.1;;;;classroom-studentcomputer;;1;;;;hand-made
g100;g100-pr01;nopxe;00:1A:2B:3C:99:02;10.1.100.2;;;;printer;;0;;;;
";
/// The import sleep while a machine-account repair is queued behind the batch.
const SLOW_IMPORT_SEC: u64 = 5;
/// Repairs queued behind a batch, and direct runs of the repair script (medians are reported).
const MACCT_SAMPLES: usize = 3;
const SCRIPT_RUNS: usize = 5;
const IDLE: Duration = Duration::from_secs(3);
const RSS_TARGET_KB: u64 = 10 * 1024;
const PREDECESSOR_RSS_KB: u64 = 41 * 1024;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// PASS when a figure is within its target, else MISS.
fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

/// The first `PATCH .../status` with `status` per operation id, by arrival time at the fake API.
fn status_times(api: &FakeApi, status: &str) -> HashMap<String, Instant> {
    let mut times = HashMap::new();
    for request in api.requests() {
        if request.method != "PATCH" {
            continue;
        }
        let Some(id) = request
            .path
            .strip_suffix("/status")
            .and_then(|path| path.rsplit('/').next())
        else {
            continue;
        };
        if request.json()["status"] == status {
            times.entry(id.to_owned()).or_insert(request.at);
        }
    }
    times
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// The directories systemd puts on the `PATH` of a unit that sets none (the worker's unit sets
/// none).
const UNIT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The worker's `PATH`: the unit's, then the benchmark's own. So the fakes' `#!/usr/bin/env
/// python3` (and the sandbox's `python3` launcher) start the system python3, as on a DC, not a
/// version manager's shim that a developer's `PATH` may list first (pyenv's shim costs about
/// 100 ms per start, four starts per batch).
fn worker_path() -> String {
    match std::env::var("PATH") {
        Ok(inherited) if !inherited.is_empty() => format!("{UNIT_PATH}:{inherited}"),
        _ => UNIT_PATH.to_owned(),
    }
}

/// The first `python3` on the worker's `PATH`: the one the fakes run.
fn worker_python() -> String {
    worker_path()
        .split(':')
        .map(|directory| std::path::Path::new(directory).join("python3"))
        .find(|candidate| candidate.is_file())
        .map_or_else(|| "none".to_owned(), |found| found.display().to_string())
}

fn start_worker(harness: &mut Harness) {
    harness.start_worker_with_env(&[("PATH", &worker_path())]);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "linbo-dc-worker end to end (SPEC §10, issue 16); load average at start: {}",
        load_average()
    );
    println!(
        "the worker runs with the PATH of its systemd unit first ({UNIT_PATH}): the fakes run {}",
        worker_python()
    );
    one_school().await;
    two_schools().await;
    large_batch().await;
    macct_behind_a_batch().await;
    idle_rss().await;
    println!("load average at the end: {}", load_average());
}

/// A create job of host number `number` (from 0) of the school with index `school_index` (0:
/// default-school, in `10.0.0.0/16`; 1: the second school, in `10.1.0.0/16`): a MAC and a fixed
/// IP of its own, distinct and valid, away from the masters' `10.x.100.*`.
fn fixed_ip_job(school_index: usize, number: usize) -> Value {
    let prefix = if school_index == 0 { "b" } else { "g" };
    create(
        &format!("{prefix}-pc{number:04}"),
        &format!(
            "02:00:00:{school_index:02x}:{:02x}:{:02x}",
            number >> 8,
            number & 0xff
        ),
        &format!(
            "10.{school_index}.{}.{}",
            1 + number / 250,
            number % 250 + 1
        ),
    )
}

/// One `batch done` line of the worker's log, with the `verification done` line of that batch.
struct BatchRow {
    school: String,
    /// The numeric fields of `batch done` (`jobs`, `elapsed_ms`, `fetch_ms`, …).
    steps: HashMap<String, u64>,
    /// `hosts`, `listing_ms` and `checks_ms` of its verification (summed when it verified more
    /// than once); empty when it verified nothing.
    verification: HashMap<String, u64>,
}

impl BatchRow {
    fn step(&self, key: &str) -> Option<u64> {
        self.steps.get(key).copied()
    }

    fn checks_ms(&self) -> Option<u64> {
        self.verification.get("checks_ms").copied()
    }
}

/// The `key=value` fields after `message` in a tracing fmt line (`… target: message k=v k=v`);
/// `None` when the line is not that event.
fn event_fields(line: &str, message: &str) -> Option<HashMap<String, String>> {
    let (_, fields) = line.split_once(&format!(": {message} "))?;
    Some(
        fields
            .split_whitespace()
            .filter_map(|field| field.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
            .collect(),
    )
}

fn numbers(fields: &HashMap<String, String>) -> HashMap<String, u64> {
    fields
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), value.parse().ok()?)))
        .collect()
}

/// The batches in the worker's log, in the order they finished. A `verification done` line
/// belongs to the next `batch done` of the school its span names (`batch{school=…}`).
fn batch_rows(logs: &str) -> Vec<BatchRow> {
    let mut verifications: HashMap<String, HashMap<String, u64>> = HashMap::new();
    let mut rows = Vec::new();
    for line in logs.lines() {
        if let Some(fields) = event_fields(line, "verification done") {
            let school = line
                .split_once("batch{school=")
                .and_then(|(_, rest)| rest.split([' ', '}']).next())
                .unwrap_or("?")
                .to_owned();
            let sums = verifications.entry(school).or_default();
            for (key, value) in numbers(&fields) {
                *sums.entry(key).or_default() += value;
            }
        } else if let Some(fields) = event_fields(line, "batch done") {
            let school = fields.get("school").cloned().unwrap_or_default();
            rows.push(BatchRow {
                verification: verifications.remove(&school).unwrap_or_default(),
                steps: numbers(&fields),
                school,
            });
        }
    }
    rows
}

/// The per-batch table: every step of `batch done` and the split of its verification.
fn print_batch_table(rows: &[BatchRow]) {
    const STEPS: [&str; 7] = [
        "fetch_ms",
        "lock_ms",
        "merge_ms",
        "write_ms",
        "import_ms",
        "verify_ms",
        "report_ms",
    ];
    let cell = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |ms| ms.to_string());
    println!(
        "  per batch, in ms (from the worker's log: `batch done`; listing and checks from `verification done`):"
    );
    println!(
        "    {:>2}  {:<15} {:>5} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>7} {:>7} {:>6}",
        "#",
        "school",
        "jobs",
        "total",
        "fetch",
        "lock",
        "merge",
        "write",
        "import",
        "verify",
        "=listing",
        "+checks",
        "report",
        "other"
    );
    for (number, row) in rows.iter().enumerate() {
        let steps: Vec<String> = STEPS.iter().map(|key| cell(row.step(key))).collect();
        // The batch's time in none of the steps (building and journaling the final reports).
        let timed: u64 = STEPS.iter().filter_map(|key| row.step(key)).sum();
        let other = row
            .step("elapsed_ms")
            .map(|total| total.saturating_sub(timed));
        println!(
            "    {:>2}  {:<15} {:>5} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>7} {:>7} {:>6}",
            number + 1,
            row.school,
            cell(row.step("jobs")),
            cell(row.step("elapsed_ms")),
            steps[0],
            steps[1],
            steps[2],
            steps[3],
            steps[4],
            steps[5],
            cell(row.verification.get("listing_ms").copied()),
            cell(row.checks_ms()),
            steps[6],
            cell(other),
        );
    }
    println!(
        "    (lock: waiting for the provisioning lock, which another school's batch holds through its \
         import and verification; verify = listing + checks + clean-up; other = total − the steps)"
    );
}

/// The DC commands the worker ran, from the `command finished` lines of dc-adapters' choke
/// point: per program and its first arguments (up to two, none with a `/`), how many runs and
/// their summed duration in ms.
fn command_times(logs: &str) -> BTreeMap<String, (usize, u64)> {
    let mut times: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for line in logs.lines() {
        let Some((_, rest)) = line.split_once(": command finished command=") else {
            continue;
        };
        let Some((command, tail)) = rest.split_once(" status=") else {
            continue;
        };
        let Some(ms) = tail
            .rsplit_once("duration_ms=")
            .and_then(|(_, ms)| ms.trim().parse::<u64>().ok())
        else {
            continue;
        };
        let mut words = command.split_whitespace();
        let program = words
            .next()
            .and_then(|path| path.rsplit('/').next())
            .unwrap_or("?");
        let name = std::iter::once(program)
            .chain(words.take_while(|word| !word.contains('/')).take(2))
            .collect::<Vec<_>>()
            .join(" ");
        let entry = times.entry(name).or_default();
        entry.0 += 1;
        entry.1 += ms;
    }
    times
}

/// The DC commands' times, and the wall time beyond them.
fn print_commands(measured: &Measured, overlapping: bool) {
    println!("  the DC commands the worker ran (its log's `command finished`), summed:");
    let mut total_ms = 0;
    for (command, (runs, ms)) in &measured.commands {
        total_ms += ms;
        let note = if command.starts_with("linuxmuster-import-devices") {
            format!(
                "  ({runs} × {IMPORT_SEC} s of it the fake's sleep; the rest python, sophomorix-device \
                 twice, the DHCP file, the hook)"
            )
        } else if command == "samba-tool computer list" {
            "  (the AD listing of verification)".to_owned()
        } else if command == "sophomorix-device --dry-run" {
            "  (the worker's check before the import)".to_owned()
        } else {
            String::new()
        };
        println!("    {command:<46} {runs:>3} runs {ms:>7} ms{note}");
    }
    let beyond = secs(measured.wall) - total_ms as f64 / 1000.0;
    println!(
        "  wall time beyond the DC commands:   {beyond:>8.2} s     (the worker's own work: start, fetch, merge, write, DNS and DHCP checks, reports{})",
        if overlapping {
            "; one school's commands overlap the other's batch, so this understates it"
        } else {
            ""
        }
    );
}

/// Waits until every operation is final, looking every `poll` (the fake API and DNS run in this
/// process: thousands of operations are not polled every 50 ms), then asserts `completed`.
async fn completed(harness: &Harness, ids: &[String], poll: Duration) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    while !ids
        .iter()
        .all(|id| support::is_final(&harness.operation(id)))
        && Instant::now() < deadline
    {
        tokio::time::sleep(poll).await;
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    harness.completed_within(&refs, Duration::ZERO).await
}

/// What a provisioning run measured.
struct Measured {
    /// Worker start to the arrival of the last `completed` at the fake API.
    wall: Duration,
    /// Worker start to the first `running`.
    first_running: Duration,
    n_imports: usize,
    rows: Vec<BatchRow>,
    /// [`command_times`] of the worker's log.
    commands: BTreeMap<String, (usize, u64)>,
    /// Jobs per `mergeStats.batch_size` the reports gave.
    batch_sizes: BTreeMap<u64, usize>,
}

/// Runs `jobs` (school, options), enqueued before the worker starts, with the harness's
/// configuration plus `config`, a fake import of [`IMPORT_SEC`], and with `second_school` the
/// master of [`SECOND_SCHOOL`]; looks at the operations every `poll`.
async fn provisioning(
    config: &str,
    second_school: bool,
    jobs: Vec<(&str, Value)>,
    poll: Duration,
) -> Measured {
    let mut harness = Harness::new(config).await;
    if second_school {
        harness.dc.write_master(SECOND_SCHOOL, SECOND_MASTER);
    }
    harness
        .dc
        .knobs(&[("FAKE_IMPORT_SLEEP", IMPORT_SEC.to_string().as_str())]);
    let ids = harness.provision_many(jobs);

    let start = Instant::now();
    start_worker(&mut harness);
    let operations = completed(&harness, &ids, poll).await;

    let completed_at = status_times(&harness.api, "completed");
    let running_at = status_times(&harness.api, "running");
    let last = ids
        .iter()
        .map(|id| completed_at[id.as_str()])
        .max()
        .expect("at least one operation");
    let first_running = ids
        .iter()
        .map(|id| running_at[id.as_str()])
        .min()
        .expect("at least one operation");
    let mut batch_sizes: BTreeMap<u64, usize> = BTreeMap::new();
    for operation in &operations {
        let size = operation["result"]["mergeStats"]["batch_size"]
            .as_u64()
            .unwrap_or(0);
        *batch_sizes.entry(size).or_default() += 1;
    }
    let logs = harness.logs();
    Measured {
        wall: last - start,
        first_running: first_running - start,
        n_imports: harness.dc.import_calls().len(),
        rows: batch_rows(&logs),
        commands: command_times(&logs),
        batch_sizes,
    }
}

/// The figures of parts 1 and 2: import runs, wall time against its targets, the steps of each
/// batch and the checks of each 50-host batch.
fn print_batch_workload(measured: &Measured, overlapping: bool) {
    let wall = secs(measured.wall);
    let spec_bound = 1.25 * (DEBOUNCE_SEC + 4.0 * IMPORT_SEC);
    let lower_bound = 4.0 * IMPORT_SEC;
    println!(
        "  import runs:                        {:>8}       target 4 (SPEC §10; predecessor: 11)           {}",
        measured.n_imports,
        verdict(measured.n_imports == 4)
    );
    println!(
        "  worker start to last completed:     {wall:>8.2} s     target ≤ {WALL_TARGET_SEC:.2} s (issue 16: half of SPEC §10)  {}",
        verdict(wall <= WALL_TARGET_SEC)
    );
    println!(
        "                                                    SPEC §10 bound 1.25 × ({DEBOUNCE_SEC} + 4 × {IMPORT_SEC}) = {spec_bound:.2} s: ratio {:.2}x  {}  (predecessor: 92 s)",
        wall / spec_bound,
        verdict(wall <= spec_bound)
    );
    println!(
        "  ratio to 4 × import = {lower_bound:.2} s:        {:>8.2}x      (1.00x: nothing but the imports)",
        wall / lower_bound
    );
    println!(
        "  first `running` after               {:>8.2} s     (the backlog fills a batch at once: no debounce wait, SPEC §5.1)",
        secs(measured.first_running)
    );
    println!(
        "  job counts by reported batch_size:  {}",
        measured
            .batch_sizes
            .iter()
            .map(|(size, count)| format!("{count} jobs in batches of {size}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let checks: Vec<u64> = measured
        .rows
        .iter()
        .filter(|row| row.step("jobs") == Some(BATCH_SIZE as u64))
        .filter_map(BatchRow::checks_ms)
        .collect();
    match checks.iter().max() {
        Some(&worst) => println!(
            "  verification beyond the AD listing, {BATCH_SIZE}-host batches: worst {worst:>5} ms  target ≤ {CHECKS_50_TARGET_MS} ms (issue 16)  {}  (each: {} ms)",
            verdict(worst <= CHECKS_50_TARGET_MS),
            checks
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => println!(
            "  verification beyond the AD listing: no {BATCH_SIZE}-host batch logged `verification done`  MISS"
        ),
    }
    print_batch_table(&measured.rows);
    print_commands(measured, overlapping);
}

/// Part 1: 200 fixed-IP create jobs for one school, enqueued before the worker starts.
async fn one_school() {
    println!(
        "1. {N_JOBS} create jobs with fixed IPs, one school, enqueued before start; batch {BATCH_SIZE}, \
         debounce {DEBOUNCE_SEC} s, import {IMPORT_SEC} s; verification on (AD listing, DNS A and PTR, \
         DHCP_VERIFY_FILE) (load average {})",
        load_average()
    );
    let jobs = (0..N_JOBS)
        .map(|number| ("default-school", fixed_ip_job(0, number)))
        .collect();
    let measured = provisioning(&batch_config(BATCH_SIZE), false, jobs, POLL).await;
    print_batch_workload(&measured, false);
}

/// Part 2: 100 fixed-IP create jobs for each of two schools, interleaved in the stream.
async fn two_schools() {
    let per_school = N_JOBS / 2;
    println!(
        "2. {N_JOBS} create jobs with fixed IPs over two schools ({per_school} for default-school, \
         {per_school} for {SECOND_SCHOOL}, interleaved), otherwise as 1 (load average {})",
        load_average()
    );
    let jobs = (0..per_school)
        .flat_map(|number| {
            [
                ("default-school", fixed_ip_job(0, number)),
                (SECOND_SCHOOL, fixed_ip_job(1, number)),
            ]
        })
        .collect();
    let measured = provisioning(&batch_config(BATCH_SIZE), true, jobs, POLL).await;
    print_batch_workload(&measured, true);
}

fn batch_config(batch_size: usize) -> String {
    format!("PROVISION_BATCH_SIZE={batch_size}\nPROVISION_DEBOUNCE_SEC={DEBOUNCE_SEC}\n")
}

/// Part 3: one batch of 5,000 fixed-IP create jobs.
async fn large_batch() {
    println!(
        "3. one batch of {N_LARGE} create jobs with fixed IPs (PROVISION_BATCH_SIZE={N_LARGE}), one school, \
         import {IMPORT_SEC} s + the fake's own work (load average {})",
        load_average()
    );
    // The import and the AD listing of the fakes grow with the hosts: time limits far above
    // them, so the batch is measured, not cut off.
    let config = format!(
        "{}IMPORT_TIMEOUT_SEC=300\nVERIFY_TIMEOUT_SEC=300\n",
        batch_config(N_LARGE)
    );
    let jobs = (0..N_LARGE)
        .map(|number| ("default-school", fixed_ip_job(0, number)))
        .collect();
    let measured = provisioning(&config, false, jobs, Duration::from_millis(500)).await;
    let row = measured
        .rows
        .iter()
        .find(|row| row.step("jobs") == Some(N_LARGE as u64));
    match row.and_then(|row| Some((row, row.checks_ms()?))) {
        Some((row, checks)) => {
            let hosts = row.verification.get("hosts").copied().unwrap_or(0).max(1);
            println!(
                "  verification beyond the AD listing: {checks:>6} ms     target ≤ {CHECKS_LARGE_TARGET_MS} ms (issue 16)  {}",
                verdict(checks <= CHECKS_LARGE_TARGET_MS)
            );
            println!(
                "  per host:                           {:>6.0} µs     target ≤ {:.0} µs ({CHECKS_LARGE_TARGET_MS} ms / {N_LARGE})  {}",
                checks as f64 * 1000.0 / hosts as f64,
                CHECKS_LARGE_TARGET_MS as f64 * 1000.0 / N_LARGE as f64,
                verdict(checks <= CHECKS_LARGE_TARGET_MS)
            );
            println!(
                "  the AD listing and DHCP file:       {:>6} ms     (no target; {hosts} hosts verified)",
                row.verification.get("listing_ms").copied().unwrap_or(0)
            );
        }
        None => println!(
            "  no batch of {N_LARGE} jobs logged `verification done`: batch sizes {:?}  MISS",
            measured.batch_sizes
        ),
    }
    println!(
        "  worker start to last completed:     {:>6.2} s     (no target; {} import runs)",
        secs(measured.wall),
        measured.n_imports
    );
    print_batch_table(&measured.rows);
    print_commands(&measured, false);
}

/// Part 4: a machine-account repair enqueued while a batch's import sleeps.
async fn macct_behind_a_batch() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[
        ("FAKE_IMPORT_SLEEP", SLOW_IMPORT_SEC.to_string().as_str()),
        ("FAKE_MACCT_MODE", "updated"),
    ]);
    start_worker(&mut harness);
    let mut latencies = Vec::new();
    let mut batches_still_running = 0;
    for sample in 1..=MACCT_SAMPLES {
        let imports_before = harness.dc.import_calls().len();
        let batch = harness.provision(
            "default-school",
            create(
                &format!("m-pc{sample:02}"),
                &format!("02:00:00:01:00:{sample:02x}"),
                "",
            ),
        );
        // The fake import logs its call before it sleeps.
        let deadline = Instant::now() + PATIENCE;
        while harness.dc.import_calls().len() == imports_before {
            assert!(
                Instant::now() < deadline,
                "the import did not start\n{}",
                harness.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let enqueued = Instant::now();
        let repair = harness.macct("r100-pc01", "default-school");
        harness.completed_within(&[&repair], PATIENCE).await;
        if harness.operation(&batch)["status"] == "running" {
            batches_still_running += 1;
        }
        let completed = status_times(&harness.api, "completed")[repair.as_str()];
        latencies.push(completed - enqueued);
        harness.completed_within(&[&batch], PATIENCE).await;
    }

    // The baseline: the fake repair script through the sandbox launcher, as the worker runs it.
    let python3 = harness.dc.path("usr/bin/python3");
    let script = harness.dc.path(REPAIR_SCRIPT);
    let log_file = harness.dc.path("var/log/macct/bench-baseline.log");
    let script_runs: Vec<Duration> = (0..SCRIPT_RUNS)
        .map(|_| {
            let start = Instant::now();
            #[allow(
                clippy::disallowed_methods,
                reason = "the baseline runs the fake repair script directly"
            )]
            let status = Command::new(&python3)
                .env("PATH", worker_path())
                .arg(&script)
                .args(["--only-hosts", "r100-pc01", "-s", "default-school"])
                .arg("--log-file")
                .arg(&log_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("running the fake repair script");
            let elapsed = start.elapsed();
            assert!(status.success(), "the fake repair script failed: {status}");
            elapsed
        })
        .collect();
    let script_time = median(script_runs);
    let latency = median(latencies.clone());
    let target = Duration::from_secs(1) + script_time;
    println!(
        "4. machine-account repair enqueued while a batch imports ({SLOW_IMPORT_SEC} s), median of {MACCT_SAMPLES}"
    );
    println!(
        "  baseline: repair script run directly, median of {SCRIPT_RUNS}: {:>8.3} s",
        secs(script_time)
    );
    println!(
        "  enqueue to completed:                            {:>8.3} s  ratio {:.2}x to 1 s + script = {:.3} s  (predecessor: 5–10 min)",
        secs(latency),
        secs(latency) / secs(target),
        secs(target)
    );
    println!(
        "  samples: {}; the batch was still importing when the repair completed: {batches_still_running} of {MACCT_SAMPLES}",
        latencies
            .iter()
            .map(|latency| format!("{:.3} s", secs(*latency)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// `Key: value kB` fields of a `/proc` file.
fn proc_fields(path: &str) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("reading {path}: {error}"))
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

fn kb(fields: &HashMap<String, String>, key: &str) -> u64 {
    fields
        .get(key)
        .and_then(|value| value.trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}

/// The resident kilobytes of the mappings of `path` in process `pid` (from `/proc/<pid>/smaps`).
fn mapping_rss_kb(pid: u32, path: &str) -> u64 {
    let smaps_path = format!("/proc/{pid}/smaps");
    let smaps = std::fs::read_to_string(&smaps_path)
        .unwrap_or_else(|error| panic!("reading {smaps_path}: {error}"));
    let mut in_mapping = false;
    let mut total = 0;
    for line in smaps.lines() {
        // A mapping header is `start-end perms offset dev inode [path]`; its fields follow.
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            in_mapping = words.nth(4) == Some(path);
        } else if in_mapping && first == "Rss:" {
            total += words.next().and_then(|kb| kb.parse().ok()).unwrap_or(0);
        }
    }
    total
}

fn mb(kilobytes: u64) -> f64 {
    kilobytes as f64 / 1024.0
}

/// Part 5: the worker's RSS after idling, and `sleep`'s.
async fn idle_rss() {
    let mut harness = Harness::new("").await;
    start_worker(&mut harness);
    let pid = harness.worker_pid().expect("the worker was just started");
    // Idle means connected and waiting: wait for the first heartbeat, then idle.
    let heartbeat = format!("linbo:workers:{CONSUMER}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while harness.redis.hgetall(&heartbeat).is_empty() {
        assert!(
            harness.worker_running() && Instant::now() < deadline,
            "the worker did not come up\n{}",
            harness.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(IDLE).await;
    assert!(
        harness.worker_running(),
        "the worker exited while idle\n{}",
        harness.logs()
    );
    let status = proc_fields(&format!("/proc/{pid}/status"));
    let rollup = proc_fields(&format!("/proc/{pid}/smaps_rollup"));
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_linbo-dc-worker"))
        .expect("the worker binary exists");
    let binary_rss = mapping_rss_kb(pid, &binary.display().to_string());

    #[allow(
        clippy::disallowed_methods,
        reason = "the baseline is a trivial process"
    )]
    let mut sleep = Command::new("sleep")
        .arg("5")
        .spawn()
        .expect("spawning sleep");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sleep_status = proc_fields(&format!("/proc/{}/status", sleep.id()));
    let _ = sleep.kill();
    let _ = sleep.wait();

    let rss = kb(&status, "VmRSS");
    let sleep_rss = kb(&sleep_status, "VmRSS");
    let binary_size = std::fs::metadata(env!("CARGO_BIN_EXE_linbo-dc-worker"))
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    println!(
        "5. idle worker RSS after {} s idle (after its first heartbeat)",
        IDLE.as_secs()
    );
    println!("  baseline: RSS of `sleep 5`:   {:>7.2} MB", mb(sleep_rss));
    println!(
        "  worker VmRSS:                 {:>7.2} MB  ratio {:.2}x to the target 10 MB, {:.1}x to sleep  (predecessor: {} MB)",
        mb(rss),
        rss as f64 / RSS_TARGET_KB as f64,
        rss as f64 / sleep_rss as f64,
        PREDECESSOR_RSS_KB / 1024
    );
    println!(
        "  of it: RssAnon {:.2} MB, RssFile {:.2} MB (the worker binary's mapped pages {:.2} MB), RssShmem {:.2} MB; VmHWM {:.2} MB; Pss {:.2} MB; {} threads; binary {:.1} MB on disk",
        mb(kb(&status, "RssAnon")),
        mb(kb(&status, "RssFile")),
        mb(binary_rss),
        mb(kb(&status, "RssShmem")),
        mb(kb(&status, "VmHWM")),
        mb(kb(&rollup, "Pss")),
        status.get("Threads").map_or("?", String::as_str),
        binary_size as f64 / (1 << 20) as f64
    );
}
