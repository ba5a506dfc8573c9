//! The lossless file model: every line of a devices.csv kept with its exact bytes and classified as
//! blank, comment, record or malformed. Writing the model back gives the input byte for byte.
//!
//! The format has no quoting (sophomorix splits on `;`), so a record is the line split on `;`. The
//! `csv` crate with quoting off reads the same fields but does not hand back each line's exact
//! bytes and line ending, which re-emission needs; splitting on `;` is the whole grammar.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Field, FieldError, Rule};

/// The minimum number of fields `linuxmuster-import-devices` accepts.
pub const MIN_FIELDS: usize = 11;

/// The number of fields of a canonical line.
pub const CANONICAL_FIELDS: usize = 15;

const BYTE_ORDER_MARK: char = '\u{feff}';

/// A parsed devices.csv (master, delta or another school's file), borrowing the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicesFile<'a> {
    lines: Vec<Line<'a>>,
}

/// One line: its exact bytes (line ending included) and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    /// What the line is.
    pub kind: LineKind<'a>,
    raw: &'a str,
    content_len: usize,
}

/// The classification of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind<'a> {
    /// Empty or only white space.
    Blank,
    /// First non-space character is `#`.
    Comment,
    /// At least 11 fields and a hostname.
    Record(Record<'a>),
    /// Neither: kept as it is, never interpreted; the error says why.
    Malformed(FieldError),
}

/// The `;`-separated fields of a record line, as written (spaces included). Fields are found on
/// demand, so a parsed file costs one allocation, not one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The line without line ending and byte-order mark.
    text: &'a str,
    /// Field 1 without surrounding white space, found while classifying.
    hostname: &'a str,
    n_fields: usize,
}

impl<'a> DevicesFile<'a> {
    /// Splits `text` into classified lines. Never fails: lines that are not records are kept as
    /// [`LineKind::Malformed`].
    pub fn parse(text: &'a str) -> DevicesFile<'a> {
        let mut lines = Vec::with_capacity(text.len() / 48 + 1);
        let mut rest = text;
        while !rest.is_empty() {
            let raw_len = rest.find('\n').map_or(rest.len(), |end| end + 1);
            let (raw, next) = rest.split_at(raw_len);
            let content = raw
                .strip_suffix('\n')
                .map_or(raw, |line| line.strip_suffix('\r').unwrap_or(line));
            let number = lines.len() + 1;
            lines.push(Line {
                number,
                kind: classify(content, number),
                raw,
                content_len: content.len(),
            });
            rest = next;
        }
        DevicesFile { lines }
    }

    /// All lines in file order.
    pub fn lines(&self) -> &[Line<'a>] {
        &self.lines
    }

    /// The record lines with their line numbers.
    pub fn records(&self) -> impl Iterator<Item = (usize, &Record<'a>)> {
        self.lines.iter().filter_map(|line| match &line.kind {
            LineKind::Record(record) => Some((line.number, record)),
            _ => None,
        })
    }

    /// The malformed lines, each with the reason.
    pub fn problems(&self) -> impl Iterator<Item = &FieldError> {
        self.lines.iter().filter_map(|line| match &line.kind {
            LineKind::Malformed(problem) => Some(problem),
            _ => None,
        })
    }
}

impl fmt::Display for DevicesFile<'_> {
    /// Writes every line back exactly as it was read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            f.write_str(line.raw)?;
        }
        Ok(())
    }
}

impl<'a> Line<'a> {
    /// The exact bytes of the line, line ending included.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The line without its line ending.
    pub fn content(&self) -> &'a str {
        &self.raw[..self.content_len]
    }

    /// `"\n"`, `"\r\n"`, or `""` for a last line without a line ending.
    pub fn ending(&self) -> &'a str {
        &self.raw[self.content_len..]
    }

    /// Whether the line starts with a UTF-8 byte-order mark (only the first line can).
    pub fn has_byte_order_mark(&self) -> bool {
        self.raw.starts_with(BYTE_ORDER_MARK)
    }

    /// The record, if the line is one.
    pub fn record(&self) -> Option<&Record<'a>> {
        match &self.kind {
            LineKind::Record(record) => Some(record),
            _ => None,
        }
    }
}

/// Classifies one line in a single pass over its bytes (this runs for every line of a 100,000-line
/// file on every batch).
fn classify(content: &str, number: usize) -> LineKind<'_> {
    let text = content.strip_prefix(BYTE_ORDER_MARK).unwrap_or(content);
    let bytes = text.as_bytes();
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return LineKind::Blank,
        Some(b'#') => return LineKind::Comment,
        Some(_) => {}
    }
    // One branch-free pass counts separators and spots forbidden bytes; it vectorises, where a
    // loop with a branch per byte does not.
    let (separators, forbidden_bytes) = bytes.iter().fold((0usize, 0usize), |(count, bad), &b| {
        (
            count + usize::from(b == b';'),
            bad + usize::from(b == b'\r' || b == 0),
        )
    });
    let n_fields = separators + 1;
    let forbidden = (forbidden_bytes > 0)
        .then(|| bytes.iter().find(|&&b| b == b'\r' || b == 0))
        .flatten()
        .map(|&b| char::from(b));
    let field_end = |start: usize| {
        bytes[start..]
            .iter()
            .position(|&b| b == b';')
            .map_or(bytes.len(), |end| start + end)
    };
    let hostname_start = (field_end(0) + 1).min(bytes.len());
    let hostname = (hostname_start, field_end(hostname_start));
    if n_fields < MIN_FIELDS {
        let problem = FieldError::new(Field::Line, content, Rule::TooFewFields { found: n_fields });
        return LineKind::Malformed(problem.at_line(number));
    }
    // Both offsets sit next to an ASCII `;` (or the end), so they are character boundaries.
    let hostname = text[hostname.0..hostname.1].trim_ascii();
    if hostname.is_empty() {
        return LineKind::Malformed(
            FieldError::new(Field::Hostname, "", Rule::Required).at_line(number),
        );
    }
    if let Some(c) = forbidden {
        let problem = FieldError::new(Field::Line, content, Rule::ForbiddenCharacter(c));
        return LineKind::Malformed(problem.at_line(number));
    }
    LineKind::Record(Record {
        text,
        hostname,
        n_fields,
    })
}

/// The fields of a record, split on `;` byte by byte (fields are short; a byte loop beats a
/// searcher set up for every field).
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b';') {
            Some(end) => {
                self.rest = Some(&rest[end + 1..]);
                Some(&rest[..end])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

impl<'a> Record<'a> {
    /// The fields as written (a byte-order mark on the first line is not part of field 0).
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            rest: Some(self.text),
        }
    }

    /// Field `index` as written, if the line has it.
    pub fn field(&self, index: usize) -> Option<&'a str> {
        self.fields().nth(index)
    }

    /// Field `index` without surrounding white space; empty when the line is shorter.
    pub fn value(&self, index: usize) -> &'a str {
        self.field(index).map_or("", str::trim_ascii)
    }

    /// The value of column `field` without surrounding white space; empty when the line is
    /// shorter or `field` is no column ([`Field::OldHostname`], [`Field::Line`]).
    pub fn get(&self, field: Field) -> &'a str {
        field.column().map_or("", |column| self.value(column))
    }

    /// The hostname without surrounding white space, as written.
    pub fn hostname(&self) -> &'a str {
        self.hostname
    }

    /// The hostname as the key the merge compares: lowercase (borrowed when it already is).
    pub fn hostname_key(&self) -> Cow<'a, str> {
        let hostname = self.hostname();
        if hostname.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(hostname.to_ascii_lowercase())
        } else {
            Cow::Borrowed(hostname)
        }
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.n_fields
    }

    /// Always false: a record has at least 11 fields. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.n_fields == 0
    }
}
