//! Renders a merge result as readable text for snapshots and the demo: outcomes, statistics,
//! both files and the diff. Carriage returns are shown as `␍` so CRLF lines stay visible.

use std::fmt::Write as _;

use devices_csv::{Change, Job, JobOutcome, MergeOptions, MergeOutput, OtherSchool, merge};

/// Merges labelled jobs with other schools given as `(school, text)` pairs, default options.
pub(crate) fn merge_labelled(
    master: &str,
    delta: &str,
    others: &[(String, String)],
    jobs: &[(String, Job)],
    options: &MergeOptions,
) -> MergeOutput {
    let other_schools: Vec<OtherSchool<'_>> = others
        .iter()
        .map(|(school, devices)| OtherSchool { school, devices })
        .collect();
    let job_list: Vec<Job> = jobs.iter().map(|(_, job)| job.clone()).collect();
    merge(master, delta, &other_schools, &job_list, options)
}

/// The whole result as text.
pub(crate) fn render(jobs: &[(String, Job)], output: &MergeOutput) -> String {
    let mut out = String::new();
    out.push_str("== outcomes\n");
    for (index, ((label, job), outcome)) in jobs.iter().zip(&output.outcomes).enumerate() {
        let dry = if job.dry_run { " (dry run)" } else { "" };
        let _ = writeln!(
            out,
            "{}. {label}{dry}: {}",
            index + 1,
            outcome_text(outcome)
        );
        if let JobOutcome::Applied {
            dry_run: Some(dry_run),
            ..
        } = outcome
        {
            for line in dry_run.diff.lines() {
                let _ = writeln!(out, "     | {line}");
            }
        }
    }
    let stats = output.stats;
    let _ = writeln!(
        out,
        "== stats\ntotal_master_lines={} total_delta_lines={} total_merged_lines={} deleted_hosts={} batch_size={}",
        stats.total_master_lines,
        stats.total_delta_lines,
        stats.total_merged_lines,
        stats.deleted_hosts,
        stats.batch_size
    );
    for problem in &output.ignored_delta_lines {
        let _ = writeln!(out, "ignored delta line: {problem}");
    }
    let _ = write!(
        out,
        "== master\n{}== delta\n{}== diff\n{}",
        visible(&output.master),
        visible(&output.delta),
        visible(&output.diff)
    );
    out
}

/// One outcome as a short phrase.
pub(crate) fn outcome_text(outcome: &JobOutcome) -> String {
    match outcome {
        JobOutcome::Applied { change, .. } => match change {
            Change::Created => "applied: created".to_owned(),
            Change::Updated => "applied: updated".to_owned(),
            Change::Unchanged => "applied: unchanged".to_owned(),
            Change::Renamed { from } => format!("applied: renamed from {from}"),
            Change::Deleted => "applied: deleted".to_owned(),
            Change::AlreadyAbsent => "applied: already absent".to_owned(),
            other => format!("applied: {other:?}"),
        },
        JobOutcome::Rejected(problem) => format!("rejected: {problem}"),
    }
}

fn visible(text: &str) -> String {
    let mut shown = text.replace('\r', "␍");
    if !shown.is_empty() && !shown.ends_with('\n') {
        shown.push_str("⏎ (no newline at end)\n");
    }
    shown
}
