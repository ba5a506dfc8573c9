//! The lossless syntax tree: nodes hold their trivia and either spans of the source or edited text.

use std::fmt;

/// A piece of text: either a byte range of the parsed source (re-emitted as is) or new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text {
    /// `source[start..end]`; `u32` keeps nodes small (sources are limited to 4 GiB).
    Span { start: u32, end: u32 },
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
            Self::Span { start, end } => source.get(*start as usize..*end as usize).unwrap_or(""),
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
    /// Whether the header's keyword is `host`.
    host: bool,
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
    /// A block with this header text and children; whether it is a `host` block is decided here,
    /// once, as a header never changes after parsing.
    pub(crate) fn new(header: Text, header_text: &str, children: Vec<Node>, close: Text) -> Self {
        let host = tokens(header_text)
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("host"));
        Self {
            header,
            host,
            children,
            close,
        }
    }

    /// Whether this is a `host` block.
    pub(crate) fn is_host(&self, _source: &str) -> bool {
        self.host
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

/// Writes text pieces, merging runs of adjacent source spans into one write: an untouched region
/// of any size costs one `write_str`, however many nodes it holds.
pub(crate) struct Writer<'s, 'o> {
    source: &'s str,
    out: &'o mut dyn fmt::Write,
    /// A source range not yet written.
    pending: Option<(u32, u32)>,
}

impl<'s, 'o> Writer<'s, 'o> {
    pub(crate) fn new(source: &'s str, out: &'o mut dyn fmt::Write) -> Self {
        Self {
            source,
            out,
            pending: None,
        }
    }

    fn text(&mut self, text: &Text) -> fmt::Result {
        match text {
            Text::Span { start, end } => match &mut self.pending {
                Some((_, pending_end)) if *pending_end == *start => {
                    *pending_end = *end;
                    Ok(())
                }
                _ => {
                    self.flush()?;
                    self.pending = Some((*start, *end));
                    Ok(())
                }
            },
            Text::Owned(owned) => {
                self.flush()?;
                self.out.write_str(owned)
            }
        }
    }

    /// Writes a `{` or `}`: the source byte right after the pending span when it is that
    /// character, so the run of untouched text goes on.
    fn brace(&mut self, brace: char) -> fmt::Result {
        if let Some((start, end)) = self.pending
            && self.source.as_bytes().get(end as usize) == Some(&(brace as u8))
        {
            self.pending = Some((start, end + 1));
            return Ok(());
        }
        self.flush()?;
        self.out.write_char(brace)
    }

    pub(crate) fn flush(&mut self) -> fmt::Result {
        if let Some((start, end)) = self.pending.take() {
            self.out.write_str(
                self.source
                    .get(start as usize..end as usize)
                    .unwrap_or_default(),
            )?;
        }
        Ok(())
    }

    /// Writes nodes exactly as they are: original bytes for spans, edited text for the rest.
    pub(crate) fn nodes(&mut self, nodes: &[Node]) -> fmt::Result {
        for node in nodes {
            self.text(&node.leading)?;
            match &node.kind {
                NodeKind::Statement(body) => self.text(body)?,
                NodeKind::Block(block) => {
                    self.text(&block.header)?;
                    self.brace('{')?;
                    self.nodes(&block.children)?;
                    self.text(&block.close)?;
                    self.brace('}')?;
                }
            }
            self.text(&node.trailing)?;
        }
        Ok(())
    }

    /// Writes the trailing text of the file and flushes.
    pub(crate) fn finish(mut self, tail: &Text) -> fmt::Result {
        self.text(tail)?;
        self.flush()
    }
}
