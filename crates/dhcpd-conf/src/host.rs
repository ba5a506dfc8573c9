//! Host blocks: read access ([`Host`], [`Statement`]) and edits ([`HostMut`]).

use std::net::Ipv4Addr;

use crate::edit::Siblings;
use crate::syntax::{Block, NodeKind, Text, token_spans, tokens};
use crate::{Error, Result};

/// One statement inside a block, e.g. `hardware ethernet 00:1a:2b:3c:4d:5e;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement from its first token to the `;` inclusive.
    text: &'a str,
}

impl<'a> Statement<'a> {
    /// The statement as written, without its `;` and surrounding whitespace.
    pub fn text(&self) -> &'a str {
        self.text.strip_suffix(';').unwrap_or(self.text).trim_end()
    }

    /// The tokens (words and quoted strings, quotes kept) of the statement.
    pub fn tokens(&self) -> impl Iterator<Item = &'a str> + 'a {
        tokens(self.text)
    }

    /// Whether the statement starts with `keyword`, which may be several words such as
    /// `"hardware ethernet"`; compared ASCII case-insensitively, as dhcpd does.
    pub fn is(&self, keyword: &str) -> bool {
        let mut keyword_words = keyword.split_ascii_whitespace();
        let Some(first_word) = keyword_words.next() else {
            return false;
        };
        // The text starts with its first token: reject most statements with one comparison.
        let starts_with_first = self
            .text
            .get(..first_word.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(first_word));
        starts_with_first && {
            let mut words = self.tokens();
            std::iter::once(first_word)
                .chain(keyword_words)
                .all(|expected| {
                    words
                        .next()
                        .is_some_and(|word| word.eq_ignore_ascii_case(expected))
                })
        }
    }

    /// The text after `keyword` (without `;`), or `None` when the statement is not a `keyword`
    /// statement. `hardware ethernet 00:1a:..;` has the value `00:1a:..` for `"hardware ethernet"`.
    pub fn value(&self, keyword: &str) -> Option<&'a str> {
        let mut keyword_words = keyword.split_ascii_whitespace();
        let first_word = keyword_words.next()?;
        // The text starts with its first token: reject most statements with one comparison.
        let starts_with_first = self
            .text
            .get(..first_word.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(first_word));
        if !starts_with_first {
            return None;
        }
        let body = self.text();
        let mut spans = token_spans(body);
        let (_, first) = spans.next()?;
        if !first.eq_ignore_ascii_case(first_word) {
            return None;
        }
        for expected in keyword_words {
            let (_, token) = spans.next()?;
            if !token.eq_ignore_ascii_case(expected) {
                return None;
            }
        }
        let Some((start, first_value)) = spans.next() else {
            return Some("");
        };
        let end = spans
            .last()
            .map_or(start + first_value.len(), |(last_start, last)| {
                last_start + last.len()
            });
        body.get(start..end)
    }

    /// The tokens after `keyword`, for comparisons that ignore spacing.
    fn value_tokens(&self, keyword: &str) -> Option<Vec<&'a str>> {
        let n_keyword_words = keyword.split_ascii_whitespace().count();
        self.value(keyword)
            .map(|_| self.tokens().skip(n_keyword_words).collect())
    }
}

/// Read access to a `host` block.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    source: &'a str,
    block: &'a Block,
}

impl<'a> Host<'a> {
    pub(crate) fn new(source: &'a str, block: &'a Block) -> Self {
        Self { source, block }
    }

    /// The declared host name (`host NAME {`), without quotes if it was quoted.
    pub fn name(&self) -> &'a str {
        self.block.host_name(self.source)
    }

    /// The statements directly inside the block, in order.
    pub fn statements(&self) -> impl Iterator<Item = Statement<'a>> + 'a {
        let source = self.source;
        self.block
            .children
            .iter()
            .filter_map(move |node| node.as_statement(source))
            .map(|text| Statement { text })
    }

    /// The value of the first `keyword` statement, e.g. `"fixed-address"`.
    pub fn value(&self, keyword: &str) -> Option<&'a str> {
        self.statements()
            .find_map(|statement| statement.value(keyword))
    }

    /// The MAC address of `hardware ethernet`, as written.
    pub fn hardware_ethernet(&self) -> Option<&'a str> {
        self.value("hardware ethernet")
    }

    /// The `fixed-address` value as written (an address, a name, or a comma-separated list).
    pub fn fixed_address(&self) -> Option<&'a str> {
        self.value("fixed-address")
    }

    /// The `next-server` value as written.
    pub fn next_server(&self) -> Option<&'a str> {
        self.value("next-server")
    }
}

/// Edit access to a `host` block. Statements it does not touch keep their bytes.
#[derive(Debug)]
pub struct HostMut<'a> {
    source: &'a str,
    block: &'a mut Block,
    newline: &'a str,
    /// The trivia before the `host` line; its indentation is used for the first statement of an
    /// empty block (computed only then).
    host_leading: &'a str,
}

/// Builds `keyword value;` and checks that it is exactly one statement on one line.
fn statement_text(keyword: &str, value: &str) -> Result<String> {
    let keyword = keyword
        .split_ascii_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let value = value.trim();
    let text = if value.is_empty() {
        format!("{keyword};")
    } else {
        format!("{keyword} {value};")
    };
    let invalid = |reason: &str| Error::InvalidStatement {
        statement: text.clone(),
        reason: reason.to_owned(),
    };
    if keyword.is_empty() {
        return Err(invalid("the keyword is empty"));
    }
    let is_keyword_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !keyword.chars().all(|c| c == ' ' || is_keyword_char(c)) {
        return Err(invalid("the keyword must be plain words"));
    }
    if text.contains(['\n', '\r']) {
        return Err(invalid("a statement must stay on one line"));
    }
    let config = crate::parse(&text).map_err(|error| invalid(&error.to_string()))?;
    let is_one_statement = config.nodes.len() == 1
        && config
            .nodes
            .first()
            .and_then(|node| node.as_statement(&config.source))
            == Some(text.as_str());
    if !is_one_statement {
        return Err(invalid("expected exactly one statement"));
    }
    Ok(text)
}

/// Whether a statement is `next-server ADDRESS` with exactly that address.
fn is_next_server_for(statement: Statement<'_>, address: Ipv4Addr) -> bool {
    statement.value_tokens("next-server").is_some_and(
        |value| matches!(value.as_slice(), [only] if only.parse::<Ipv4Addr>() == Ok(address)),
    )
}

impl<'a> HostMut<'a> {
    pub(crate) fn new(
        source: &'a str,
        block: &'a mut Block,
        newline: &'a str,
        host_leading: &'a str,
    ) -> Self {
        Self {
            source,
            block,
            newline,
            host_leading,
        }
    }

    /// Read access to the same block.
    pub fn as_host(&self) -> Host<'_> {
        Host::new(self.source, self.block)
    }

    /// The declared host name.
    pub fn name(&self) -> &str {
        self.block.host_name(self.source)
    }

    fn siblings(&mut self) -> Siblings<'_> {
        Siblings {
            source: self.source,
            nodes: &mut self.block.children,
            close: &mut self.block.close,
            first_starts_line: false,
            newline: self.newline,
        }
    }

    /// Indices of the direct child statements for which `matches` holds.
    fn find(&self, mut matches: impl FnMut(Statement<'_>) -> bool) -> Vec<usize> {
        let source = self.source;
        self.block
            .children
            .iter()
            .enumerate()
            .filter_map(|(index, node)| Some((index, node.as_statement(source)?)))
            .filter(|&(_, text)| matches(Statement { text }))
            .map(|(index, _)| index)
            .collect()
    }

    /// Removes the statements at `indices` (ascending), last first so indices stay valid.
    fn remove_indices(&mut self, indices: &[usize]) {
        let mut siblings = self.siblings();
        for &index in indices.iter().rev() {
            siblings.remove(index);
        }
    }

    /// Makes the block hold exactly one `keyword` statement, `keyword value;`. An existing
    /// statement is rewritten in place (or kept untouched when its tokens already match); further
    /// `keyword` statements are removed; without one it is appended before `}`.
    ///
    /// Returns whether the block changed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStatement`] when `keyword value;` is not one valid single-line statement,
    /// e.g. a value holding `;`, `{`, `#` or a newline outside a string.
    pub fn set_statement(&mut self, keyword: &str, value: &str) -> Result<bool> {
        let text = statement_text(keyword, value)?;
        let wanted: Vec<String> = Statement { text: &text }
            .value_tokens(keyword)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let keep = |statement: Statement<'_>| {
            statement
                .value_tokens(keyword)
                .is_some_and(|found| found == wanted)
        };
        Ok(self.ensure_one(text, |statement| statement.is(keyword), keep, None))
    }

    /// Removes every `keyword` statement, or only those whose value has the tokens of `value`.
    /// Returns how many were removed.
    pub fn remove_statement(&mut self, keyword: &str, value: Option<&str>) -> usize {
        let wanted: Option<Vec<&str>> = value.map(|value| tokens(value).collect());
        let indices = self.find(
            |statement| match (&wanted, statement.value_tokens(keyword)) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(wanted), Some(found)) => *wanted == found,
            },
        );
        self.remove_indices(&indices);
        indices.len()
    }

    /// Makes the block hold exactly one `next-server ADDRESS;`. The addresses are compared as
    /// addresses, so `10.0.0.1` never matches `10.0.0.11`. A new statement goes right after
    /// `hardware ethernet` (with that line's indentation), or before `}` when there is none.
    ///
    /// Returns whether the block changed; applying it again returns `false`.
    pub fn set_next_server(&mut self, address: Ipv4Addr) -> bool {
        let text = format!("next-server {address};");
        self.ensure_one(
            text,
            |statement| statement.is("next-server"),
            |statement| is_next_server_for(statement, address),
            Some("hardware ethernet"),
        )
    }

    /// Removes every `next-server` that names exactly `address`; others stay. Returns whether the
    /// block changed.
    pub fn remove_next_server_if(&mut self, address: Ipv4Addr) -> bool {
        let indices = self.find(|statement| is_next_server_for(statement, address));
        self.remove_indices(&indices);
        !indices.is_empty()
    }

    /// The shared core of the `set_*` methods: exactly one statement for which `is_same_kind`
    /// holds, with the first one already satisfying `is_wanted` kept byte for byte.
    fn ensure_one(
        &mut self,
        text: String,
        is_same_kind: impl Fn(Statement<'_>) -> bool,
        is_wanted: impl Fn(Statement<'_>) -> bool,
        insert_after: Option<&str>,
    ) -> bool {
        let same_kind = self.find(&is_same_kind);
        let wanted = self.find(|statement| is_same_kind(statement) && is_wanted(statement));
        match (wanted.first(), same_kind.first()) {
            (Some(&keep), _) => {
                let others: Vec<usize> = same_kind
                    .into_iter()
                    .filter(|&index| index != keep)
                    .collect();
                self.remove_indices(&others);
                !others.is_empty()
            }
            (None, Some(&first)) => {
                if let Some(node) = self.block.children.get_mut(first) {
                    node.kind = NodeKind::Statement(Text::owned(text));
                }
                self.remove_indices(same_kind.get(1..).unwrap_or_default());
                true
            }
            (None, None) => {
                let anchor = insert_after.and_then(|keyword| {
                    self.find(|statement| statement.is(keyword))
                        .first()
                        .copied()
                });
                let kind = NodeKind::Statement(Text::owned(text));
                let indent = format!("{}  ", crate::edit::indent_of(self.host_leading));
                let mut siblings = self.siblings();
                match anchor {
                    Some(index) => siblings.insert_after(index, kind),
                    None => siblings.push(kind, &indent),
                }
                true
            }
        }
    }
}
