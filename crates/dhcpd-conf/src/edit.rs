//! Insertion and removal of nodes in a list of siblings, keeping the layout around them intact.
//!
//! New nodes copy the indentation of their neighbours; a node on a line of its own is inserted as a
//! line of its own, a node in a one-line block stays on that line. Removing a node takes its
//! indentation, text and line ending with it but keeps comment lines that stood above it.

use crate::syntax::{Node, NodeKind, Text};

/// Indentation used when no sibling shows one.
const DEFAULT_INDENT: &str = "  ";

/// A mutable view of one list of sibling nodes: a block's children or the top level.
#[derive(Debug)]
pub(crate) struct Siblings<'a> {
    pub(crate) source: &'a str,
    pub(crate) nodes: &'a mut Vec<Node>,
    /// Trivia after the last node (before `}` or the end of the file).
    pub(crate) close: &'a mut Text,
    /// Whether the first node starts a line even without a newline in its leading trivia (true at
    /// the top of a file, false right after `{`).
    pub(crate) first_starts_line: bool,
    /// `"\n"` or `"\r\n"`, whichever the file uses.
    pub(crate) newline: &'a str,
}

/// The run of spaces and tabs at the end of `leading`: the indentation of what follows it.
pub(crate) fn indent_of(leading: &str) -> &str {
    let start = leading.trim_end_matches([' ', '\t']).len();
    leading.get(start..).unwrap_or_default()
}

impl Siblings<'_> {
    fn text<'s>(&'s self, text: &'s Text) -> &'s str {
        text.as_str(self.source)
    }

    /// Whether `nodes[index]` is the first thing on its line.
    pub(crate) fn starts_line(&self, index: usize) -> bool {
        let Some(node) = self.nodes.get(index) else {
            return false;
        };
        if self.text(&node.leading).contains('\n') {
            return true;
        }
        match index
            .checked_sub(1)
            .and_then(|previous| self.nodes.get(previous))
        {
            Some(previous) => self.text(&previous.trailing).ends_with('\n'),
            None => self.first_starts_line,
        }
    }

    /// Whether `nodes[index]` ends its line.
    fn ends_line(&self, index: usize) -> bool {
        self.nodes
            .get(index)
            .is_some_and(|node| self.text(&node.trailing).ends_with('\n'))
    }

    /// The indentation of the line `nodes[index]` is on, if that line starts with a sibling.
    fn line_indent(&self, index: usize) -> Option<String> {
        let first_on_line = (0..=index)
            .rev()
            .find(|&candidate| self.starts_line(candidate))?;
        let node = self.nodes.get(first_on_line)?;
        Some(indent_of(self.text(&node.leading)).to_owned())
    }

    /// The indentation siblings use: that of the first one on a line of its own.
    fn usual_indent(&self, fallback: &str) -> String {
        (0..self.nodes.len())
            .find(|&index| self.starts_line(index))
            .and_then(|index| self.nodes.get(index))
            .map_or_else(
                || fallback.to_owned(),
                |node| indent_of(self.text(&node.leading)).to_owned(),
            )
    }

    /// Inserts `node_text` (a statement or block text) right after `nodes[index]`.
    pub(crate) fn insert_after(&mut self, index: usize, kind: NodeKind) {
        let (leading, trailing) = if self.ends_line(index) {
            let indent = self
                .line_indent(index)
                .unwrap_or_else(|| self.usual_indent(DEFAULT_INDENT));
            (indent, self.newline.to_owned())
        } else if self.first_starts_line {
            // At the top level a new block gets a line of its own even after `a; b;<EOF>`.
            (self.newline.to_owned(), String::new())
        } else {
            (" ".to_owned(), String::new())
        };
        let node = Node {
            leading: Text::owned(leading),
            kind,
            trailing: Text::owned(trailing),
        };
        self.nodes
            .insert(index.saturating_add(1).min(self.nodes.len()), node);
    }

    /// Appends `kind` after the last sibling; `indent` is used when no sibling shows one.
    pub(crate) fn push(&mut self, kind: NodeKind, indent: &str) {
        if let Some(last) = self.nodes.len().checked_sub(1) {
            return self.insert_after(last, kind);
        }
        let close = self.text(self.close).to_owned();
        let node = if let Some(newline_at) = close.find('\n') {
            // `{\n}`: the new node gets a line of its own, the closing `}` stays on its line.
            let (before, after) = close.split_at(newline_at + 1);
            *self.close = Text::owned(after);
            Node {
                leading: Text::owned(format!("{before}{indent}")),
                kind,
                trailing: Text::owned(self.newline),
            }
        } else {
            // `{ }` or `{}`: stay on one line.
            if self.first_starts_line {
                // An empty file (or one holding only a comment without a line end).
                Node {
                    leading: Text::EMPTY,
                    kind,
                    trailing: Text::owned(self.newline),
                }
            } else {
                if close.is_empty() {
                    *self.close = Text::owned(" ");
                }
                Node {
                    leading: Text::owned(" "),
                    kind,
                    trailing: Text::EMPTY,
                }
            }
        };
        self.nodes.push(node);
    }

    /// Removes `nodes[index]` with its indentation and line ending, keeping comment lines above it.
    pub(crate) fn remove(&mut self, index: usize) {
        if index >= self.nodes.len() {
            return;
        }
        let starts_line = self.starts_line(index);
        let ends_line = self.ends_line(index);
        let node = self.nodes.remove(index);
        let leading = self.text(&node.leading);
        let indent = indent_of(leading);
        let kept = leading
            .get(..leading.len() - indent.len())
            .unwrap_or_default();
        let next_leading = match self.nodes.get(index) {
            Some(next) => self.text(&next.leading),
            None => self.text(self.close),
        };
        let merged = if starts_line && !ends_line {
            // `  a; b;` without `a`: `b` moves to the front of the line, keeping the indent.
            format!("{leading}{}", next_leading.trim_start_matches([' ', '\t']))
        } else if ends_line && !starts_line {
            // `{ a; b;\n}` without `b`: the line still ends where `b` ended it.
            let trailing = self.text(&node.trailing);
            let newline = if trailing.ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            format!("{kept}{newline}{next_leading}")
        } else {
            format!("{kept}{next_leading}")
        };
        match self.nodes.get_mut(index) {
            Some(next) => next.leading = Text::owned(merged),
            None => *self.close = Text::owned(merged),
        }
    }
}
