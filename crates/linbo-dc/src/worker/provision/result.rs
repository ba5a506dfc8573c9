//! The `result` object of a provisioning job's final report (SPEC §2.2): `change`, `mergeStats`,
//! `diff` and `dryRun` for a dry run; `verify` and `importOutput` after an import.

use devices_csv::{Change, DryRun, MergeStats};
use serde_json::{Map, Value, json};

use crate::worker::api::StatusUpdate;
use crate::worker::verify::Verdict;

/// Most of the import's output sent as `importOutput` (its end, where the summary is).
const MAX_IMPORT_OUTPUT: usize = 16 * 1024;

/// The final report of a dry run: what the job would change.
pub(super) fn dry_run(change: &Change, dry_run: &DryRun) -> StatusUpdate {
    let mut result = Map::new();
    result.insert("dryRun".to_owned(), json!(true));
    result.insert("mergeStats".to_owned(), merge_stats(&dry_run.stats));
    result.insert("diff".to_owned(), json!(dry_run.diff));
    result.insert("change".to_owned(), json!(change_name(change)));
    StatusUpdate::completed(result)
}

/// The final report of an imported job: completed when verification found what it expected,
/// else failed with the problems (the result object goes with both).
pub(super) fn verified(
    verdict: Verdict,
    merge_stats: &Value,
    import_output: &str,
    change: &str,
) -> StatusUpdate {
    let mut result = Map::new();
    result.insert("verify".to_owned(), Value::Object(verdict.verify));
    result.insert("mergeStats".to_owned(), merge_stats.clone());
    result.insert("importOutput".to_owned(), json!(import_output));
    result.insert("change".to_owned(), json!(change));
    if verdict.problems.is_empty() {
        StatusUpdate::completed(result)
    } else {
        StatusUpdate::failed(format!(
            "verification failed: {}",
            verdict.problems.join("; ")
        ))
        .with_result(result)
    }
}

/// `mergeStats`, with the names the API stores.
pub(super) fn merge_stats(stats: &MergeStats) -> Value {
    json!({
        "total_master_lines": stats.total_master_lines,
        "total_delta_lines": stats.total_delta_lines,
        "total_merged_lines": stats.total_merged_lines,
        "deleted_hosts": stats.deleted_hosts,
        "batch_size": stats.batch_size,
    })
}

/// `change`: `created`, `updated`, `unchanged`, `renamed from <old>`, `deleted`,
/// `already absent`.
pub(super) fn change_name(change: &Change) -> String {
    match change {
        Change::Created => "created".to_owned(),
        Change::Updated => "updated".to_owned(),
        Change::Unchanged => "unchanged".to_owned(),
        Change::Renamed { from } => format!("renamed from {from}"),
        Change::Deleted => "deleted".to_owned(),
        Change::AlreadyAbsent => "already absent".to_owned(),
        _ => format!("{change:?}").to_lowercase(),
    }
}

/// `importOutput`: the import's output, at most [`MAX_IMPORT_OUTPUT`] bytes of its end.
pub(super) fn import_output(output: &str) -> String {
    tail(output, MAX_IMPORT_OUTPUT)
}

/// The last `limit` bytes of `text`, cut at a character boundary.
fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_at_a_character_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("aäb", 2), "…b");
    }
}
