//! Integration tests of devices-csv: values, the lossless file model, fixture-driven merge
//! snapshots, conflicts with other schools, the SPEC §9 defects, and properties.

mod cross_school;
mod defects;
mod facts;
mod file_model;
mod guard;
mod job_text;
mod merge_cases;
mod properties;
mod report;
mod values;

use devices_csv::{ConflictKind, DevicesFile, Error, HostSpec, Job, JobOutcome, MergeOutput};

/// A create job for `hostname` in room r100, device group win11 (`ip` empty = dynamic).
pub(crate) fn create(hostname: &str, mac: &str, ip: &str) -> Job {
    Job::upsert(HostSpec {
        hostname: hostname.into(),
        room: "r100".into(),
        group: "win11".into(),
        mac: mac.into(),
        ip: ip.into(),
        ..HostSpec::default()
    })
}

/// The host names of the records of `text`, in file order.
pub(crate) fn hostnames(text: &str) -> Vec<String> {
    DevicesFile::parse(text)
        .records()
        .map(|(_, record)| record.hostname_key().into_owned())
        .collect()
}

/// Per job of `output`: the kind of conflict that refused it, `None` when it was applied.
///
/// # Panics
/// On an outcome that is neither (an invalid value).
pub(crate) fn conflict_kinds(output: &MergeOutput) -> Vec<Option<ConflictKind>> {
    output
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            JobOutcome::Rejected(Error::Conflict(conflict)) => Some(conflict.kind),
            JobOutcome::Applied { .. } => None,
            other => panic!("unexpected outcome {other:?}"),
        })
        .collect()
}
