//! Fuzzes the devices.csv file model, the merge engine and `undo`: any text round-trips through
//! the file model; a merge of any master, delta and jobs (with the DC's name protected) never
//! panics and is idempotent; taking the batch back out of the written master, with the delta
//! text appended as someone else's edit, never panics, and gives the old master back when
//! nothing was appended.
//!
//! Input layout: master text, a NUL byte, delta text, a NUL byte, then one job per line as
//! comma-separated `action,hostname,old,room,group,mac,ip,role,pxe,dry`.
#![no_main]

use devices_csv::{DevicesFile, HostSpec, Job, MergeOptions, merge, undo};
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
    let options = MergeOptions {
        protected_hosts: vec!["server".to_owned()],
        ..MergeOptions::default()
    };
    let output = merge(master, delta, &[], &jobs, &options);
    let again = merge(&output.master, &output.delta, &[], &[], &options);
    assert_eq!(again.master, output.master);
    assert_eq!(again.delta, output.delta);
    {
        let undone = undo(master, &output.master, &output.master).expect("an unedited file undoes");
        let records = |text: &str| {
            let mut lines: Vec<String> = DevicesFile::parse(text)
                .lines()
                .iter()
                .filter(|line| line.record().is_some())
                .map(|line| line.content().to_owned())
                .collect();
            lines.sort();
            lines
        };
        assert_eq!(records(&undone), records(master));
    }
    let _ = undo(master, &output.master, &format!("{}{delta}", output.master));
});
