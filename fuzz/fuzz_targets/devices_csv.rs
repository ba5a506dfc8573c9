//! Fuzzes the devices.csv file model and merge engine: any text round-trips through the file
//! model, and a merge of any master, delta and jobs never panics and is idempotent.
//!
//! Input layout: master text, a NUL byte, delta text, a NUL byte, then one job per line as
//! comma-separated `action,hostname,old,room,group,mac,ip,role,pxe,dry`.
#![no_main]

use devices_csv::{DevicesFile, HostSpec, Job, MergeOptions, merge};
use libfuzzer_sys::fuzz_target;

fn job(line: &str) -> Job {
    let mut fields = line.split(',');
    let mut next = || fields.next().unwrap_or("").to_owned();
    let action = next();
    let spec = HostSpec {
        hostname: next(),
        old_hostname: Some(next()).filter(|old| !old.is_empty()),
        room: next(),
        group: next(),
        mac: next(),
        ip: next(),
        role: next(),
        pxe_flag: next().parse().ok(),
    };
    let job = if action == "delete" {
        Job::delete(spec.hostname)
    } else {
        Job::upsert(spec)
    };
    if next() == "dry" { job.dry_run() } else { job }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert_eq!(DevicesFile::parse(text).to_string(), text);
    let mut parts = text.splitn(3, '\0');
    let master = parts.next().unwrap_or("");
    let delta = parts.next().unwrap_or("");
    let jobs: Vec<Job> = parts.next().unwrap_or("").lines().map(job).collect();
    let output = merge(master, delta, &[], &jobs, &MergeOptions::default());
    let again = merge(&output.master, &output.delta, &[], &[], &MergeOptions::default());
    assert_eq!(again.master, output.master);
    assert_eq!(again.delta, output.delta);
});
