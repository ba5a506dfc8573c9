//! `linbo-dc-worker dlq`: the dead-letter stream `linbo:jobs:dlq` for the administrator.
//!
//! * [`list`]: every entry, oldest first: id, `failed_at`, `type`, `operation_id`, `last_error`.
//! * [`get`]: one entry with every field (`dlq show ID`).
//! * [`requeue`] / [`requeue_all`]: the original fields — the entry without the dead-letter
//!   fields `last_error`, `failed_at`, `original_id` and `deliveries` ([`DEAD_LETTER_FIELDS`]),
//!   values byte for byte — are added to `linbo:jobs` as a new entry (`XADD … *`), and the
//!   dead-letter entry is deleted (`XDEL`), both in one `MULTI`: an entry is requeued exactly
//!   once, or not at all. `--all` takes the entries there are when it starts (in pages of 100,
//!   one `MULTI` each), not the ones dead-lettered meanwhile — an entry that fails again at once
//!   does not come round forever.
//! * [`drop`]: deletes the named entries; there is no wildcard.
//!
//! Every change runs under `WATCH` of the dead-letter stream and checks first that every id is
//! in it: an unknown id is an error naming it, and nothing is changed
//! ([`OpsError::UnknownIds`]); an entry requeued or dropped by someone else between the check and
//! the `MULTI` makes the `EXEC` fail and the change start again, so nothing is requeued twice.
//! `linbo:jobs` is not watched: the API adds to it all the time, and a new job there changes
//! nothing for the requeue. As for the runtime's dead-lettering, its type is checked before the
//! `MULTI` (which does not roll back), so a key of another type fails the requeue before
//! anything is written. Ids are taken in stream order and each once, whatever the order and
//! repetitions given.
//!
//! A requeued entry is a new entry at the end of `linbo:jobs`: it runs after the entries added
//! before it, and its attempts start at 0 (`linbo:jobs:attempts` lost the old id's count when it
//! was dead-lettered). An entry that cannot be decoded (an unknown `type`, say) is dead-lettered
//! again at once. The API's own dead letters (UPSTREAM.md §A.20: `type`, `operation_id`, `host`,
//! `school`, `attempt`, `last_error`, `failed_at`) requeue the same way.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use job_stream::DEAD_LETTER_FIELDS;
use job_stream::retention::StreamId;
use redis::Value;
use serde::Serialize;

use crate::ops::{Link, OpsError, Result, first_line, printable};

/// Entries per `MULTI` of [`requeue_all`], and per `XRANGE` page of [`list`].
const PAGE: usize = 100;

/// How often a change is tried again when its `WATCH` fired before [`OpsError::Busy`].
const WATCH_TRIES: usize = 10;

/// Field/value pairs in stream order, values as Redis holds them.
type RawFields = Vec<(Vec<u8>, Vec<u8>)>;

/// One dead-letter entry as Redis holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterEntry {
    /// Its id in the dead-letter stream (not the original's; that is the field `original_id`).
    pub id: String,
    /// Its fields in stream order; values are bytes (a value that is not UTF-8 is kept as it is).
    pub fields: RawFields,
}

/// The columns of `dlq list` and of `status`'s newest dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The dead-letter entry's id.
    pub id: String,
    /// `failed_at` (RFC 3339 UTC).
    pub failed_at: Option<String>,
    /// `type` of the job.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `operation_id`.
    pub operation_id: Option<String>,
    /// `last_error`: why it was dead-lettered.
    pub last_error: Option<String>,
}

/// `dlq show --json`: the id and every field (a field name given twice shows its last value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shown {
    /// The dead-letter entry's id.
    pub id: String,
    /// Every field, values as UTF-8 (invalid bytes replaced).
    pub fields: BTreeMap<String, String>,
}

impl DeadLetterEntry {
    /// The value of field `name` (the last one when it is there twice), lossy UTF-8.
    pub fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        self.fields
            .iter()
            .rev()
            .find(|(field, _)| field.as_slice() == name.as_bytes())
            .map(|(_, value)| String::from_utf8_lossy(value))
    }

    /// The fields of the original entry: all but [`DEAD_LETTER_FIELDS`].
    pub fn original_fields(&self) -> impl Iterator<Item = &(Vec<u8>, Vec<u8>)> {
        self.fields.iter().filter(|(field, _)| {
            !DEAD_LETTER_FIELDS
                .iter()
                .any(|reserved| reserved.as_bytes() == field.as_slice())
        })
    }

    /// The columns of `dlq list`.
    pub fn summary(&self) -> Summary {
        let field = |name| self.field(name).map(Cow::into_owned);
        Summary {
            id: self.id.clone(),
            failed_at: field("failed_at"),
            kind: field("type"),
            operation_id: field("operation_id"),
            last_error: field("last_error"),
        }
    }

    /// Every field, for `dlq show --json`.
    pub fn shown(&self) -> Shown {
        Shown {
            id: self.id.clone(),
            fields: self.fields.iter().map(text_pair).collect(),
        }
    }
}

/// Every dead-letter entry, oldest first.
pub async fn list(link: &mut Link) -> Result<Vec<DeadLetterEntry>> {
    let stream = link.names().dead_letter_stream.clone();
    if !dead_letter_stream_exists(link, &stream).await? {
        return Ok(Vec::new());
    }
    let mut entries = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let page = range(link, &stream, &start, "+", PAGE).await?;
        let Some(last) = page.last() else { break };
        start = format!("({}", last.id);
        let full = page.len() == PAGE;
        entries.extend(page);
        if !full {
            break;
        }
    }
    Ok(entries)
}

/// The newest `count` dead-letter entries, newest first.
pub async fn newest(link: &mut Link, count: usize) -> Result<Vec<DeadLetterEntry>> {
    let stream = link.names().dead_letter_stream.clone();
    if !dead_letter_stream_exists(link, &stream).await? {
        return Ok(Vec::new());
    }
    Ok(entries_of(newest_rows(link, &stream, count).await?))
}

/// The newest `count` entries of `stream`, newest first, as Redis gives them.
async fn newest_rows(
    link: &mut Link,
    stream: &str,
    count: usize,
) -> Result<Vec<(String, RawFields)>> {
    link.query(
        redis::cmd("XREVRANGE")
            .arg(stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count),
    )
    .await
}

/// The dead-letter entry `id` with every field.
pub async fn get(link: &mut Link, id: StreamId) -> Result<DeadLetterEntry> {
    let stream = link.names().dead_letter_stream.clone();
    let found = if dead_letter_stream_exists(link, &stream).await? {
        let id = id.to_string();
        range(link, &stream, &id, &id, 1).await?.pop()
    } else {
        None
    };
    found.ok_or_else(|| OpsError::UnknownIds {
        stream,
        ids: vec![id.to_string()],
        changed_nothing: false,
    })
}

/// Requeues the dead-letter entries `ids` (see the module docs), all or none; writes one line
/// per entry to `out`. Returns how many were requeued.
pub async fn requeue(link: &mut Link, ids: &[StreamId], out: &mut dyn Write) -> Result<usize> {
    change(link, Change::Requeue, &ordered(ids), out).await
}

/// Requeues every entry the dead-letter stream holds when it starts, in pages of 100 (one
/// `MULTI` each); writes one line per entry to `out`. Returns how many were requeued.
pub async fn requeue_all(link: &mut Link, out: &mut dyn Write) -> Result<usize> {
    let stream = link.names().dead_letter_stream.clone();
    if !dead_letter_stream_exists(link, &stream).await? {
        return Ok(0);
    }
    let newest = newest_rows(link, &stream, 1).await?;
    let Some((last, _)) = newest.into_iter().next() else {
        return Ok(0);
    };
    let mut requeued = 0;
    let mut tries = 0;
    loop {
        let page = range(link, &stream, "-", &last, PAGE).await?;
        if page.is_empty() {
            return Ok(requeued);
        }
        let ids: Vec<StreamId> = page
            .iter()
            .filter_map(|entry| entry.id.parse().ok())
            .collect();
        match change(link, Change::Requeue, &ids, out).await {
            Ok(n) => {
                requeued += n;
                tries = 0;
            }
            // Dropped or requeued by someone else between the page read and the change: read the
            // page again.
            Err(OpsError::UnknownIds { .. }) if tries < WATCH_TRIES => tries += 1,
            Err(error) => return Err(error),
        }
    }
}

/// Deletes the dead-letter entries `ids`, all or none; writes one line per entry to `out`.
/// Returns how many were deleted.
pub async fn drop(link: &mut Link, ids: &[StreamId], out: &mut dyn Write) -> Result<usize> {
    change(link, Change::Drop, &ordered(ids), out).await
}

/// `dlq list` for people: one line per entry (the first line of `last_error`), then a count.
pub fn render_list(entries: &[DeadLetterEntry]) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|entry| {
            let summary = entry.summary();
            let text = |value: Option<String>| {
                value.map_or_else(|| "-".to_owned(), |value| printable(&value).into_owned())
            };
            [
                summary.id,
                text(summary.failed_at),
                text(summary.kind),
                text(summary.operation_id),
                summary
                    .last_error
                    .map_or_else(|| "-".to_owned(), |error| first_line(&error, 160)),
            ]
        })
        .collect();
    let header = ["ID", "FAILED AT", "TYPE", "OPERATION", "LAST ERROR"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[column]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} dead-letter entr{}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    out
}

/// `dlq show` for people: `id:` and one `field: value` line per field in stream order; the lines
/// of a multi-line value are indented.
pub fn render_entry(entry: &DeadLetterEntry) -> String {
    let mut out = format!("id: {}\n", entry.id);
    for (field, value) in &entry.fields {
        let field = String::from_utf8_lossy(field);
        let value = String::from_utf8_lossy(value);
        let mut lines = value.split('\n');
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(out, "{}: {}", printable(&field), printable(first));
        for line in lines {
            let _ = writeln!(out, "  {}", printable(line));
        }
    }
    out
}

/// What a change does to each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Requeue,
    Drop,
}

/// `ids` sorted in stream order, each once.
fn ordered(ids: &[StreamId]) -> Vec<StreamId> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Applies `change` to `ids` in one transaction, trying again while the `WATCH` fires.
async fn change(
    link: &mut Link,
    change: Change,
    ids: &[StreamId],
    out: &mut dyn Write,
) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    for _ in 0..WATCH_TRIES {
        let result = transact(link, change, ids).await;
        if result.is_err() {
            // Best effort: an error before EXEC may leave the WATCH in place.
            let _: Result<()> = link.query(&redis::cmd("UNWATCH")).await;
        }
        if let Some(done) = result? {
            for line in &done {
                writeln!(out, "{line}")?;
            }
            return Ok(done.len());
        }
    }
    Err(OpsError::Busy {
        stream: link.names().dead_letter_stream.clone(),
    })
}

/// `WATCH dlq`, the checks, then `MULTI; [XADD stream * fields…;] XDEL dlq id; … EXEC`.
/// `Ok(None)`: the `WATCH` fired, nothing was done. Returns one line per entry.
async fn transact(
    link: &mut Link,
    change: Change,
    ids: &[StreamId],
) -> Result<Option<Vec<String>>> {
    let dlq = link.names().dead_letter_stream.clone();
    let stream = link.names().stream.clone();
    let () = link.query(redis::cmd("WATCH").arg(&dlq)).await?;
    let dlq_exists = dead_letter_stream_exists(link, &dlq).await?;
    if change == Change::Requeue {
        // MULTI does not roll back: an XADD that fails inside it would still let the XDEL through.
        let found = link.key_type(&stream).await?;
        if found != "stream" && found != "none" {
            return Err(OpsError::WrongType { key: stream, found });
        }
    }
    let mut entries = Vec::with_capacity(ids.len());
    let mut unknown = Vec::new();
    if dlq_exists {
        let mut reads = redis::pipe();
        for id in ids {
            let id = id.to_string();
            reads.cmd("XRANGE").arg(&dlq).arg(&id).arg(&id);
        }
        let replies: Vec<Vec<(String, RawFields)>> = reads
            .query_async(&mut link.connection)
            .await
            .map_err(|error| link.error(error))?;
        for (id, rows) in ids.iter().zip(replies) {
            match entries_of(rows).pop() {
                Some(entry) => entries.push(entry),
                None => unknown.push(id.to_string()),
            }
        }
    } else {
        unknown.extend(ids.iter().map(StreamId::to_string));
    }
    if !unknown.is_empty() {
        return Err(OpsError::UnknownIds {
            stream: dlq,
            ids: unknown,
            changed_nothing: true,
        });
    }
    if change == Change::Requeue
        && let Some(empty) = entries
            .iter()
            .find(|entry| entry.original_fields().next().is_none())
    {
        return Err(OpsError::NothingToRequeue {
            id: empty.id.clone(),
        });
    }
    let mut transaction = redis::pipe();
    transaction.atomic();
    for entry in &entries {
        if change == Change::Requeue {
            let xadd = transaction.cmd("XADD").arg(&stream).arg("*");
            for (field, value) in entry.original_fields() {
                xadd.arg(field.as_slice()).arg(value.as_slice());
            }
        }
        transaction.cmd("XDEL").arg(&dlq).arg(&entry.id).ignore();
    }
    let reply: Value = transaction
        .query_async(&mut link.connection)
        .await
        .map_err(|error| link.error(error))?;
    let new_ids: Vec<String> = match reply {
        Value::Nil => return Ok(None),
        Value::Array(replies) => replies
            .into_iter()
            .filter_map(|reply| redis::from_redis_value::<String>(reply).ok())
            .collect(),
        _ => Vec::new(),
    };
    let lines = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| match change {
            Change::Requeue => format!(
                "requeued {} as {} in {stream}",
                entry_label(entry),
                new_ids.get(i).map_or("?", String::as_str)
            ),
            Change::Drop => format!("dropped {}", entry_label(entry)),
        })
        .collect();
    Ok(Some(lines))
}

/// `<id> (<type>, operation <operation_id>)`, for the lines of requeue and drop.
fn entry_label(entry: &DeadLetterEntry) -> String {
    let summary = entry.summary();
    format!(
        "{} ({}, operation {})",
        entry.id,
        printable(summary.kind.as_deref().unwrap_or("no type")),
        printable(summary.operation_id.as_deref().unwrap_or("-"))
    )
}

/// Whether the dead-letter stream exists; an error when the key holds something else.
async fn dead_letter_stream_exists(link: &mut Link, stream: &str) -> Result<bool> {
    match link.key_type(stream).await?.as_str() {
        "stream" => Ok(true),
        "none" => Ok(false),
        found => Err(OpsError::WrongType {
            key: stream.to_owned(),
            found: found.to_owned(),
        }),
    }
}

/// `XRANGE stream start end COUNT count`.
async fn range(
    link: &mut Link,
    stream: &str,
    start: &str,
    end: &str,
    count: usize,
) -> Result<Vec<DeadLetterEntry>> {
    let rows: Vec<(String, RawFields)> = link
        .query(
            redis::cmd("XRANGE")
                .arg(stream)
                .arg(start)
                .arg(end)
                .arg("COUNT")
                .arg(count),
        )
        .await?;
    Ok(entries_of(rows))
}

fn entries_of(rows: Vec<(String, RawFields)>) -> Vec<DeadLetterEntry> {
    rows.into_iter()
        .map(|(id, fields)| DeadLetterEntry { id, fields })
        .collect()
}

/// A field and its value as text (invalid UTF-8 replaced).
fn text_pair((field, value): &(Vec<u8>, Vec<u8>)) -> (String, String) {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (text(field), text(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&str, &str)]) -> DeadLetterEntry {
        DeadLetterEntry {
            id: "1764144000000-0".to_owned(),
            fields: fields
                .iter()
                .map(|(field, value)| (field.as_bytes().to_vec(), value.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn the_original_fields_are_the_entry_without_the_dead_letter_fields() {
        let letter = entry(&[
            ("type", "macct_repair"),
            ("operation_id", "op"),
            ("last_error", "boom"),
            ("failed_at", "2026-11-26T08:00:00.000Z"),
            ("original_id", "1-0"),
            ("deliveries", "5"),
            ("school", "gym"),
        ]);
        let original: Vec<&str> = letter
            .original_fields()
            .map(|(field, _)| std::str::from_utf8(field).unwrap())
            .collect();
        assert_eq!(original, ["type", "operation_id", "school"]);
    }

    #[test]
    fn ids_are_taken_in_stream_order_once() {
        let id = |ms, seq| StreamId { ms, seq };
        assert_eq!(
            ordered(&[id(9, 10), id(9, 2), id(10, 0), id(9, 2)]),
            [id(9, 2), id(9, 10), id(10, 0)]
        );
    }

    #[test]
    fn the_list_shows_the_first_line_of_the_error_escaped() {
        let letter = entry(&[
            ("type", "provision_host"),
            ("operation_id", "op-1"),
            ("last_error", "import failed:\nline 2"),
            ("failed_at", "2026-11-26T08:00:00.000Z"),
        ]);
        let escape = entry(&[("type", "\u{1b}[2J"), ("last_error", "x")]);
        assert_eq!(
            render_list(&[letter, escape]),
            "\
ID               FAILED AT                 TYPE            OPERATION  LAST ERROR
1764144000000-0  2026-11-26T08:00:00.000Z  provision_host  op-1       import failed:…
1764144000000-0  -                         \\u{1b}[2J       -          x
2 dead-letter entries
"
        );
    }

    #[test]
    fn show_prints_every_field_in_order_with_continuation_lines() {
        let letter = entry(&[("type", "provision_host"), ("last_error", "a\nb")]);
        assert_eq!(
            render_entry(&letter),
            "id: 1764144000000-0\ntype: provision_host\nlast_error: a\n  b\n"
        );
    }
}
