//! The lossless syntax tree: nodes hold their trivia and either spans of the source or edited text.

use std::fmt;

/// A piece of text: either a byte range of the parsed source (re-emitted as is) or new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text {
    /// `source[start..end]`.
    Span { start: usize, end: usize },
    /// Text written by an edit.
    Owned(Box<str>),
}

impl Text {
    /// The empty text.
    pub(crate) const EMPTY: Self = Self::Span { start: 0, end: 0 };

    /// New text written by an edit.
    pub(crate) fn owned(text: impl Into<String>) -> Self {
        Self::Owned(text.into().into_boxed_str())
    }

    /// The text, reading spans from `source`; a span that does not fit (impossible for a tree
    /// parsed from `source`) reads as empty rather than panicking.
    pub(crate) fn as_str<'s>(&'s self, source: &'s str) -> &'s str {
        match self {
            Self::Span { start, end } => source.get(*start..*end).unwrap_or(""),
            Self::Owned(text) => text,
        }
    }
}

/// One statement or block with the trivia around it.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Whitespace and comments before the node (after the previous node's `trailing`).
    pub(crate) leading: Text,
    /// The statement or block itself.
    pub(crate) kind: NodeKind,
    /// The rest of the node's last line when nothing else follows on it: `[ \t]* comment? \r? \n`.
    pub(crate) trailing: Text,
}

/// What a [`Node`] is.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A statement; the text runs from its first token to its `;` inclusive.
    Statement(Text),
    /// A block `header { children close }`.
    Block(Box<Block>),
}

/// A block such as `host pc01 { ... }`.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// From the keyword up to (not including) `{`, trivia before `{` included.
    pub(crate) header: Text,
    /// The statements and blocks inside.
    pub(crate) children: Vec<Node>,
    /// Trivia between the last child and `}`.
    pub(crate) close: Text,
}

impl Node {
    /// The block inside this node, if it is one.
    pub(crate) fn as_block(&self) -> Option<&Block> {
        match &self.kind {
            NodeKind::Block(block) => Some(block),
            NodeKind::Statement(_) => None,
        }
    }

    /// The block inside this node, if it is one.
    pub(crate) fn as_block_mut(&mut self) -> Option<&mut Block> {
        match &mut self.kind {
            NodeKind::Block(block) => Some(block),
            NodeKind::Statement(_) => None,
        }
    }

    /// The statement text (through `;`), if this node is a statement.
    pub(crate) fn as_statement<'s>(&'s self, source: &'s str) -> Option<&'s str> {
        match &self.kind {
            NodeKind::Statement(body) => Some(body.as_str(source)),
            NodeKind::Block(_) => None,
        }
    }
}

impl Block {
    /// Whether this is a `host` block.
    pub(crate) fn is_host(&self, source: &str) -> bool {
        let header = self.header.as_str(source);
        // Fast path first: the header starts with its keyword (trivia belongs to the node).
        header
            .get(..4)
            .is_some_and(|word| word.eq_ignore_ascii_case("host"))
            && tokens(header)
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case("host"))
    }

    /// The declared name of a `host` block: its second token, without quotes if quoted.
    pub(crate) fn host_name<'s>(&'s self, source: &'s str) -> &'s str {
        let name = tokens(self.header.as_str(source)).nth(1).unwrap_or("");
        unquote(name)
    }
}

/// Strips the quotes of a string token (escapes are kept as written); other tokens are returned as
/// they are.
pub(crate) fn unquote(token: &str) -> &str {
    token
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(token)
}

/// The tokens of a statement or header text, skipping trivia; stops at `;`, `{` or `}`.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = &str> {
    token_spans(text).map(|(_, token)| token)
}

/// Like [`tokens`], with each token's byte offset in `text`.
pub(crate) fn token_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let (after_trivia, _) = crate::parser::trivia(rest).ok()?;
        let (after_token, token) = crate::parser::token(after_trivia).ok()?;
        rest = after_token;
        Some((offset_in(text, token), token))
    })
}

/// Byte offset of `part` inside `whole`, where `part` is a subslice of `whole`.
pub(crate) fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// Writes nodes exactly as they are: original bytes for spans, edited text for the rest.
pub(crate) fn write_nodes(source: &str, nodes: &[Node], out: &mut dyn fmt::Write) -> fmt::Result {
    for node in nodes {
        out.write_str(node.leading.as_str(source))?;
        match &node.kind {
            NodeKind::Statement(body) => out.write_str(body.as_str(source))?,
            NodeKind::Block(block) => {
                out.write_str(block.header.as_str(source))?;
                out.write_char('{')?;
                write_nodes(source, &block.children, out)?;
                out.write_str(block.close.as_str(source))?;
                out.write_char('}')?;
            }
        }
        out.write_str(node.trailing.as_str(source))?;
    }
    Ok(())
}
