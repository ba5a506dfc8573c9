//! `KEY=VALUE` configuration files (`/etc/macct-worker.conf`, `/etc/linbo-docker-dhcp.conf`):
//! parsed, never executed.
//!
//! The predecessors `source`d these files as root. We read them as data: `#` comments, blank
//! lines, an optional `export ` prefix, optional matching single or double quotes, and a `#`
//! comment after an unquoted value. Shell expansion (`$VAR`, `$(...)`, backticks) is refused with
//! a message instead of being run. A later line for the same key wins, as in the shell.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::paths::Root;

/// One `KEY=VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfEntry {
    /// 1-based line number.
    pub line: usize,
    /// The key, as written.
    pub key: String,
    /// The value with quotes removed.
    pub value: String,
}

/// A parsed configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfFile {
    path: PathBuf,
    entries: Vec<ConfEntry>,
}

/// A line of a configuration file that could not be read, or a value that is not valid: which
/// file, which line, which key, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number, when the problem is on a line.
    pub line: Option<usize>,
    /// The key, when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub problem: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", {key}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl ConfFile {
    /// Reads and parses `path` under `root` (messages name `path` as the DC names it); `None`
    /// when it does not exist.
    pub fn read(root: &Root, path: &Path) -> Result<Option<ConfFile>, ConfError> {
        let file_error = |problem: String| ConfError {
            path: path.to_owned(),
            line: None,
            key: None,
            problem,
        };
        let bytes = match std::fs::read(root.resolve(path)) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(file_error(format!("cannot read: {error}"))),
        };
        let text =
            String::from_utf8(bytes).map_err(|_| file_error("expected UTF-8 text".to_owned()))?;
        ConfFile::parse(path, &text).map(Some)
    }

    /// Parses `text`, read from `path` (used in messages).
    pub fn parse(path: &Path, text: &str) -> Result<ConfFile, ConfError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |key: Option<&str>, problem: String| ConfError {
                path: path.to_owned(),
                line: Some(line),
                key: key.map(str::to_owned),
                problem,
            };
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let content = content
                .strip_prefix("export ")
                .unwrap_or(content)
                .trim_start();
            let Some((key, value)) = content.split_once('=') else {
                return Err(error(
                    None,
                    format!("expected KEY=VALUE, found {content:?}"),
                ));
            };
            let key = key.trim();
            let valid_key = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_key {
                return Err(error(
                    None,
                    format!("expected a key of letters, digits and '_', found {key:?}"),
                ));
            }
            let value = parse_value(value.trim()).map_err(|problem| error(Some(key), problem))?;
            entries.push(ConfEntry {
                line,
                key: key.to_owned(),
                value,
            });
        }
        Ok(ConfFile {
            path: path.to_owned(),
            entries,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last entry for `key`.
    pub fn get(&self, key: &str) -> Option<&ConfEntry> {
        self.entries.iter().rev().find(|entry| entry.key == key)
    }

    /// Entries whose key is not in `known` (for "unknown key" warnings).
    pub fn unknown<'s>(&'s self, known: &'s [&str]) -> impl Iterator<Item = &'s ConfEntry> + 's {
        self.entries
            .iter()
            .filter(move |entry| !known.contains(&entry.key.as_str()))
    }

    /// An error about `key`'s value, located on its line.
    pub fn value_error(&self, entry: &ConfEntry, problem: impl Into<String>) -> ConfError {
        ConfError {
            path: self.path.clone(),
            line: Some(entry.line),
            key: Some(entry.key.clone()),
            problem: problem.into(),
        }
    }
}

const NO_EXPANSION: &str = "shell expansion is not supported: the file is parsed, never executed; write the value literally";

fn parse_value(value: &str) -> Result<String, String> {
    if let Some(rest) = value.strip_prefix('\'') {
        let Some(end) = rest.find('\'') else {
            return Err("expected a closing ' (single quote)".to_owned());
        };
        check_trailing(&rest[end + 1..])?;
        return Ok(rest[..end].to_owned());
    }
    if let Some(rest) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '"' => {
                    check_trailing(&rest[index + 1..])?;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\' | '$' | '`'))) => out.push(escaped),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                '$' | '`' => return Err(NO_EXPANSION.to_owned()),
                c => out.push(c),
            }
        }
        return Err("expected a closing \" (double quote)".to_owned());
    }
    // Unquoted: a `#` after white space starts a comment, as in the shell.
    let value = match value.find(" #").or_else(|| value.find("\t#")) {
        Some(comment) => value[..comment].trim_end(),
        None => value,
    };
    if value.contains(['$', '`']) {
        return Err(NO_EXPANSION.to_owned());
    }
    if value.contains(char::is_whitespace) {
        return Err(format!(
            "expected one word; quote a value with spaces, found {value:?}"
        ));
    }
    Ok(value.to_owned())
}

fn check_trailing(rest: &str) -> Result<(), String> {
    let rest = rest.trim();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(format!("unexpected text after the closing quote: {rest:?}"))
    }
}
