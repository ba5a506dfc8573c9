//! The crate's one error type and its `Result` alias.

/// Everything that can go wrong in this crate: a text that is not dhcpd.conf, or an edit that would
/// not leave a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not valid dhcpd.conf syntax; the position is where the parser stopped.
    #[error("line {line}, column {column}: expected {expected}")]
    Parse {
        /// 1-based line number (lines end at `\n`).
        line: usize,
        /// 1-based column, counted in characters (a tab counts as one).
        column: usize,
        /// What the parser expected at that position, e.g. "`;` or `{` after statement".
        expected: String,
    },
    /// A host name that dhcpd would reject (it wants dot-separated identifiers).
    #[error("invalid host name `{0}`: expected letters, digits, `-` and `_`, separated by dots")]
    InvalidHostName(String),
    /// `add_host` was asked for a name that is already declared (dhcpd rejects duplicates).
    #[error("host `{0}` already exists")]
    DuplicateHost(String),
    /// A keyword/value pair that would not form exactly one valid statement.
    #[error("invalid statement `{statement}`: {reason}")]
    InvalidStatement {
        /// The statement text as it would have been written.
        statement: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl Error {
    /// The 1-based line of a [`Error::Parse`], `None` for other variants.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Parse { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The 1-based column of a [`Error::Parse`], `None` for other variants.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::Parse { column, .. } => Some(*column),
            _ => None,
        }
    }

    /// Builds a [`Error::Parse`] from a byte offset into `source`.
    pub(crate) fn parse_at(source: &str, offset: usize, expected: String) -> Self {
        let before = source.get(..offset).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
        Self::Parse {
            line,
            column,
            expected,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
