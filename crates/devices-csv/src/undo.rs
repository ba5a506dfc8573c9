//! Taking a batch's changes back out of a devices.csv that someone else edited after the batch
//! wrote it.
//!
//! The worker keeps the master as it was before a batch (`old`) and as the batch wrote it
//! (`written`). When the import fails, the file goes back to `old` — unless an administrator
//! edited it meanwhile (`current` is not `written`): putting `old` back would drop their edit.
//! [`undo`] then removes just the batch's changes from `current`: the hosts whose lines differ
//! between `old` and `written` get their `old` lines back (or lose the line the batch added),
//! everything else of `current` stays byte for byte. When the administrator edited one of those
//! very hosts, there is no safe answer and [`UndoConflict`] names them.

use std::collections::{BTreeMap, BTreeSet};

use crate::file::DevicesFile;

/// The hosts both the batch and someone else changed: their lines in `current` are neither the
/// batch's nor the old ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "devices.csv was edited after the batch wrote it, in lines of hosts the batch changed too ({}): \
     the batch's changes cannot be taken out without losing that edit",
    hosts.join(", ")
)]
pub struct UndoConflict {
    /// The hosts (lowercase).
    pub hosts: Vec<String>,
}

/// The record lines of each host (lowercase name → line contents without line ending, in order).
fn lines_by_host<'a>(file: &DevicesFile<'a>) -> BTreeMap<String, Vec<&'a str>> {
    let mut hosts: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
    for line in file.lines() {
        if let Some(record) = line.record() {
            hosts
                .entry(record.hostname_key().into_owned())
                .or_default()
                .push(line.content());
        }
    }
    hosts
}

/// `current` without the changes that turned `old` into `written`, or the hosts whose lines
/// `current` changed as well. Lines of other hosts, comments, blank and malformed lines of
/// `current` are kept byte for byte and in place; a host the batch removed comes back at its
/// place in `current`'s order when it can, else at the end.
pub fn undo(old: &str, written: &str, current: &str) -> Result<String, UndoConflict> {
    let (old_file, written_file, current_file) = (
        DevicesFile::parse(old),
        DevicesFile::parse(written),
        DevicesFile::parse(current),
    );
    let (old_hosts, written_hosts, current_hosts) = (
        lines_by_host(&old_file),
        lines_by_host(&written_file),
        lines_by_host(&current_file),
    );
    let touched: BTreeSet<&String> = old_hosts
        .keys()
        .chain(written_hosts.keys())
        .filter(|host| old_hosts.get(*host) != written_hosts.get(*host))
        .collect();
    let edited: Vec<String> = touched
        .iter()
        .filter(|host| current_hosts.get(**host) != written_hosts.get(**host))
        .map(|host| (*host).clone())
        .collect();
    if !edited.is_empty() {
        return Err(UndoConflict { hosts: edited });
    }
    // New lines take CRLF only when every line of `current` that has an ending uses it.
    let endings: Vec<&str> = current_file
        .lines()
        .iter()
        .map(|line| line.ending())
        .filter(|ending| !ending.is_empty())
        .collect();
    let ending = if !endings.is_empty() && endings.iter().all(|ending| *ending == "\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::with_capacity(current.len());
    let mut restored: BTreeSet<&String> = BTreeSet::new();
    for line in current_file.lines() {
        let Some(record) = line.record() else {
            out.push_str(line.raw());
            continue;
        };
        let host = record.hostname_key();
        let Some(host) = touched.get(&host.into_owned()) else {
            out.push_str(line.raw());
            continue;
        };
        // The first line of a host the batch changed stands for all of them: the old lines go
        // here (none when the batch created the host).
        if restored.insert(host) {
            for old_line in old_hosts.get(*host).into_iter().flatten() {
                out.push_str(old_line);
                out.push_str(line_ending_of(line.ending(), ending));
            }
        }
    }
    // Hosts the batch removed: back at the end.
    for host in &touched {
        if restored.contains(host) {
            continue;
        }
        if let Some(lines) = old_hosts.get(*host) {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(ending);
            }
            for old_line in lines {
                out.push_str(old_line);
                out.push_str(ending);
            }
        }
    }
    Ok(out)
}

/// The ending a restored line takes: the replaced line's, or `fallback` for a last line without
/// one (the line after it must not run into it).
fn line_ending_of<'a>(replaced: &'a str, fallback: &'a str) -> &'a str {
    if replaced.is_empty() {
        fallback
    } else {
        replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "# devices\nr1;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;;;1;;;;\nr1;pc02;win11;00:1A:2B:3C:4D:02;DHCP;;;;;;1;;;;\n";
    /// pc01 updated, pc02 deleted, pc03 created.
    const WRITTEN: &str = "# devices\nr1;pc01;ubuntu;00:1A:2B:3C:4D:01;DHCP;;;;;;1;;;;\nr1;pc03;win11;00:1A:2B:3C:4D:03;DHCP;;;;;;1;;;;\n";

    #[test]
    fn an_unedited_file_goes_back_to_the_old_records() {
        let undone = undo(OLD, WRITTEN, WRITTEN).expect("no conflict");
        assert_eq!(
            undone,
            "# devices\nr1;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;;;1;;;;\nr1;pc02;win11;00:1A:2B:3C:4D:02;DHCP;;;;;;1;;;;\n"
        );
    }

    #[test]
    fn an_administrators_appended_line_survives() {
        let current =
            format!("{WRITTEN}r9;printer9;nopxe;00:1A:2B:3C:4D:99;10.0.0.9;;;;printer;;0;;;;\n");
        let undone = undo(OLD, WRITTEN, &current).expect("no conflict");
        assert_eq!(
            undone,
            "# devices\nr1;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;;;1;;;;\nr9;printer9;nopxe;00:1A:2B:3C:4D:99;10.0.0.9;;;;printer;;0;;;;\nr1;pc02;win11;00:1A:2B:3C:4D:02;DHCP;;;;;;1;;;;\n"
        );
    }

    #[test]
    fn an_edit_of_a_host_the_batch_changed_is_a_conflict() {
        let current = WRITTEN.replace("ubuntu", "bionic");
        assert_eq!(
            undo(OLD, WRITTEN, &current),
            Err(UndoConflict {
                hosts: vec!["pc01".to_owned()]
            })
        );
    }

    #[test]
    fn a_last_line_without_ending_does_not_run_into_a_restored_one() {
        let current = format!("{WRITTEN}r9;printer9;nopxe;00:1A:2B:3C:4D:99;DHCP;;;;;;0;;;;");
        let undone = undo(OLD, WRITTEN, &current).expect("no conflict");
        assert!(undone.contains(";;;;\nr1;pc02;"), "{undone:?}");
        assert_eq!(DevicesFile::parse(&undone).records().count(), 3);
    }
}
