//! The lossless file model: classification of lines and byte-exact re-emission.

use devices_csv::{DevicesFile, LineKind};

/// Classifies every line of `text` and compares with `expect` (one letter per line: `b` blank,
/// `c` comment, `r` record, `m` malformed); also checks the text comes back byte for byte.
#[track_caller]
fn check(text: &str, expect: &str) {
    let file = DevicesFile::parse(text);
    let kinds: String = file
        .lines()
        .iter()
        .map(|line| match line.kind {
            LineKind::Blank => 'b',
            LineKind::Comment => 'c',
            LineKind::Record(_) => 'r',
            LineKind::Malformed(_) => 'm',
        })
        .collect();
    assert_eq!(kinds, expect, "text {text:?}");
    assert_eq!(file.to_string(), text);
}

#[test]
fn classification() {
    check("", "");
    check("\n", "b");
    check("  \t\r\n", "b");
    check("# comment\n  # indented comment\n", "cc");
    check("r;h;g;m;i;;;;;;1\n", "r");
    check("r;h;g;m;i;;;;;;1", "r");
    check("r;h;g;m;i;;;;;1\n", "m");
    check("r;;g;m;i;;;;;;1\n", "m");
    check("r; ;g;m;i;;;;;;1\n", "m");
    check("r;h\r;g;m;i;;;;;;1\r\n", "m");
    check(
        "\u{feff}r;h;g;m;i;;;;;;1\r\nr;h2;g;m;i;;;;;;1;;;;;;\n\n#x",
        "rrbc",
    );
}

#[test]
fn line_parts() {
    let file = DevicesFile::parse("a;b\r\nr100 ; PC01 ;g;m;i;;;;;;1\nlast");
    let lines = file.lines();
    assert_eq!((lines[0].content(), lines[0].ending()), ("a;b", "\r\n"));
    assert_eq!((lines[2].content(), lines[2].ending()), ("last", ""));
    let record = lines[1].record().expect("line 2 is a record");
    assert_eq!(record.field(1), Some(" PC01 "));
    assert_eq!(record.hostname(), "PC01");
    assert_eq!(record.hostname_key(), "pc01");
    assert_eq!(record.len(), 11);
    let problems: Vec<String> = file.problems().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "line 1: line \"a;b\": expected at least 11 ';'-separated fields, found 2",
            "line 3: line \"last\": expected at least 11 ';'-separated fields, found 1",
        ]
    );
}
