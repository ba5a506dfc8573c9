//! Unified diffs of devices.csv, built from an edit script the merge already knows (which line
//! was kept, replaced, removed or appended), so no diff algorithm runs over 100,000 lines.

use std::fmt::Write as _;

/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;

/// One step of an edit script. Each line includes its line ending (if it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit<'a> {
    /// The line is in both versions.
    Keep(&'a str),
    /// The line is only in the old version.
    Remove(&'a str),
    /// The line is only in the new version.
    Add(&'a str),
}

impl Edit<'_> {
    fn is_change(&self) -> bool {
        !matches!(self, Edit::Keep(_))
    }
}

/// Writes `edits` as a unified diff with headers `--- a/{name}` and `+++ b/{name}`; empty when
/// nothing changed.
pub(crate) fn unified(name: &str, edits: &[Edit<'_>]) -> String {
    let mut out = String::new();
    let changes: Vec<usize> = (0..edits.len()).filter(|&i| edits[i].is_change()).collect();
    if changes.is_empty() {
        return out;
    }
    let _ = writeln!(out, "--- a/{name}\n+++ b/{name}");
    // Line numbers (0-based) in the old and new file before each edit.
    let mut old_line = Vec::with_capacity(edits.len() + 1);
    let mut new_line = Vec::with_capacity(edits.len() + 1);
    let (mut old, mut new) = (0usize, 0usize);
    for edit in edits {
        old_line.push(old);
        new_line.push(new);
        match edit {
            Edit::Keep(_) => {
                old += 1;
                new += 1;
            }
            Edit::Remove(_) => old += 1,
            Edit::Add(_) => new += 1,
        }
    }
    old_line.push(old);
    new_line.push(new);

    let mut index = 0;
    while index < changes.len() {
        // A hunk spans changes whose gaps are at most 2 * CONTEXT kept lines.
        let first = changes[index];
        let mut last = first;
        while index + 1 < changes.len() && changes[index + 1] - last <= 2 * CONTEXT + 1 {
            index += 1;
            last = changes[index];
        }
        index += 1;
        let start = first.saturating_sub(CONTEXT);
        let end = (last + 1 + CONTEXT).min(edits.len());
        let old_count = old_line[end] - old_line[start];
        let new_count = new_line[end] - new_line[start];
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(old_line[start], old_count),
            range(new_line[start], new_count)
        );
        for edit in &edits[start..end] {
            let (marker, line) = match edit {
                Edit::Keep(line) => (' ', line),
                Edit::Remove(line) => ('-', line),
                Edit::Add(line) => ('+', line),
            };
            out.push(marker);
            match line.strip_suffix('\n') {
                Some(content) => {
                    out.push_str(content.strip_suffix('\r').unwrap_or(content));
                    out.push('\n');
                }
                None => {
                    out.push_str(line);
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// `start,count` as diff writes it: 1-based start, and a start of 0 for an empty range.
fn range(start: usize, count: usize) -> String {
    if count == 0 {
        format!("{start},0")
    } else {
        format!("{},{count}", start + 1)
    }
}

/// A diff of two texts whose differences are local (one job's effect): common leading and
/// trailing lines are kept, the middle is shown as removed then added.
pub(crate) fn unified_texts(name: &str, old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let prefix = old_lines
        .iter()
        .zip(&new_lines)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old_lines[prefix..]
        .iter()
        .rev()
        .zip(new_lines[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut edits: Vec<Edit<'_>> = old_lines[..prefix].iter().map(|l| Edit::Keep(l)).collect();
    edits.extend(
        old_lines[prefix..old_lines.len() - suffix]
            .iter()
            .map(|l| Edit::Remove(l)),
    );
    edits.extend(
        new_lines[prefix..new_lines.len() - suffix]
            .iter()
            .map(|l| Edit::Add(l)),
    );
    edits.extend(
        old_lines[old_lines.len() - suffix..]
            .iter()
            .map(|l| Edit::Keep(l)),
    );
    unified(name, &edits)
}
