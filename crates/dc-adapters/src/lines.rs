//! Bounded views of command output for error messages and result fields.

use crate::process::Output;

/// At most this many lines go into an error message.
pub(crate) const MAX_LINES: usize = 20;

/// Each line in an error message is cut to this many characters.
pub(crate) const MAX_LINE_CHARS: usize = 300;

/// A line cut to [`MAX_LINE_CHARS`] (on a character boundary), with `…` when cut.
pub(crate) fn clip(line: &str) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((index, _)) => format!("{}…", &line[..index]),
        None => line.to_owned(),
    }
}

/// The lines of stdout then stderr that satisfy `keep`, clipped, at most [`MAX_LINES`].
pub(crate) fn matching(output: &Output, keep: impl Fn(&str) -> bool) -> Vec<String> {
    all_lines(output)
        .filter(|line| keep(line))
        .take(MAX_LINES)
        .map(clip)
        .collect()
}

/// The last non-blank lines (stderr preferred when it has any), clipped, at most [`MAX_LINES`]:
/// the explanation of a failure that printed no recognisable error line.
pub(crate) fn tail(output: &Output) -> Vec<String> {
    let text = if output.stderr.trim().is_empty() {
        &output.stdout
    } else {
        &output.stderr
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(MAX_LINES);
    lines[start..].iter().map(|line| clip(line)).collect()
}

fn all_lines(output: &Output) -> impl Iterator<Item = &str> {
    output
        .stdout
        .lines()
        .chain(output.stderr.lines())
        .filter(|line| !line.trim().is_empty())
}
