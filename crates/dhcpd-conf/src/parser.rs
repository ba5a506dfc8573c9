//! The nom grammar of dhcpd.conf: one function per production, building the lossless tree.
//!
//! The grammar is deliberately shallow. dhcpd itself gives meaning to keywords; this parser only
//! needs the shape every dhcpd.conf has: statements ending in `;`, blocks `header { ... }`, strings
//! and comments. That shape is enough to re-emit every byte and to find host blocks safely.

use std::borrow::Cow;

use nom::{
    IResult, Parser,
    bytes::complete::take_while,
    character::complete::char,
    combinator::{cut, opt, recognize},
    error::{ErrorKind, ParseError},
    multi::many0_count,
};

use crate::syntax::{Block, Node, NodeKind, Text, offset_in, tokens};

/// Deepest block nesting accepted; deeper input is an error, not a stack overflow.
pub(crate) const MAX_DEPTH: usize = 64;

/// The parser's error: where it stopped and what it expected there.
#[derive(Debug)]
pub(crate) struct PError<'a> {
    /// The remaining input at the error position.
    pub(crate) at: &'a str,
    /// What was expected, phrased to follow "expected ".
    pub(crate) expected: Cow<'static, str>,
    /// For an unclosed block: the input at the block's start, to name its line.
    pub(crate) opened_at: Option<&'a str>,
}

impl<'a> ParseError<&'a str> for PError<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        Self {
            at: input,
            expected: Cow::Borrowed("a statement or block"),
            opened_at: None,
        }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, O> = IResult<&'a str, O, PError<'a>>;

/// A non-recoverable error at `at`.
fn failure<'a, O>(at: &'a str, expected: impl Into<Cow<'static, str>>) -> PResult<'a, O> {
    Err(nom::Err::Failure(PError {
        at,
        expected: expected.into(),
        opened_at: None,
    }))
}

/// The part of `input` that a parser consumed before leaving `rest`.
fn consumed<'a>(input: &'a str, rest: &'a str) -> &'a str {
    input
        .get(..input.len().saturating_sub(rest.len()))
        .unwrap_or_default()
}

/// The first character of `input`, for error messages.
fn found(input: &str) -> String {
    match input.chars().next() {
        None => "end of file".to_owned(),
        Some(c) => format!("`{c}`"),
    }
}

/// Whitespace as dhcpd's lexer sees it (C `isspace` on ASCII).
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Bytes that end a word. Every such byte is ASCII, so a word ends on a character boundary.
fn is_word_byte(byte: u8) -> bool {
    !is_space(byte) && !matches!(byte, b';' | b'{' | b'}' | b'#' | b'"')
}

/// Splits `input` after `length` bytes; `length` always lies on a character boundary here, and a
/// split that does not is an error rather than a panic.
fn split(input: &str, length: usize) -> PResult<'_, &str> {
    match input.split_at_checked(length) {
        Some((taken, rest)) => Ok((rest, taken)),
        None => Err(nom::Err::Error(PError::from_error_kind(
            input,
            ErrorKind::Verify,
        ))),
    }
}

/// Length of the comment at the start of `bytes` (which starts with `#`): up to, not including,
/// the next `\n`.
fn comment_length(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(bytes.len())
}

// The lexical productions below scan bytes by hand: they run for every character of a file of
// tens of thousands of hosts, and a byte loop is several times faster than combinator chains.

// comment = "#" [^\n]*
fn comment(input: &str) -> PResult<'_, &str> {
    match input.as_bytes() {
        [b'#', ..] => split(input, comment_length(input.as_bytes())),
        _ => Err(nom::Err::Error(PError::from_error_kind(
            input,
            ErrorKind::Char,
        ))),
    }
}

// trivia = (whitespace | comment)*
// whitespace = [ \t\n\r\v\f]+
pub(crate) fn trivia(input: &str) -> PResult<'_, &str> {
    let bytes = input.as_bytes();
    let mut length = 0;
    while let Some(&byte) = bytes.get(length) {
        if is_space(byte) {
            length += 1;
        } else if byte == b'#' {
            length += comment_length(bytes.get(length..).unwrap_or_default());
        } else {
            break;
        }
    }
    split(input, length)
}

// line_end = [ \t]* comment? "\r"? "\n"
fn line_end(input: &str) -> PResult<'_, &str> {
    let spaces = take_while(|c| c == ' ' || c == '\t');
    recognize((spaces, opt(comment), opt(char('\r')), char('\n'))).parse(input)
}

// string = "\"" ( "\\" any_char | [^"\\] )* "\""
fn string(input: &str) -> PResult<'_, &str> {
    let bytes = input.as_bytes();
    if bytes.first() != Some(&b'"') {
        return Err(nom::Err::Error(PError::from_error_kind(
            input,
            ErrorKind::Char,
        )));
    }
    // After the opening quote the string is committed: a missing close quote is an error at the
    // opening quote, which is where a reader has to look. An escape skips one byte; if that byte
    // starts a multi-byte character, its continuation bytes are neither `"` nor `\`.
    let mut length = 1;
    while let Some(&byte) = bytes.get(length) {
        match byte {
            b'"' => return split(input, length + 1),
            b'\\' => length += 2,
            _ => length += 1,
        }
    }
    failure(input, "`\"` to close the string that starts here")
}

// word = [^ \t\n\r\v\f;{}#"]+
fn word(input: &str) -> PResult<'_, &str> {
    let length = input
        .bytes()
        .position(|byte| !is_word_byte(byte))
        .unwrap_or(input.len());
    if length == 0 {
        return Err(nom::Err::Error(PError::from_error_kind(
            input,
            ErrorKind::TakeWhile1,
        )));
    }
    split(input, length)
}

// token = string | word
pub(crate) fn token(input: &str) -> PResult<'_, &str> {
    // The first byte decides the alternative; dispatching on it skips `alt`'s retry.
    if input.starts_with('"') {
        string(input)
    } else {
        word(input)
    }
}

// record_type = "{" trivia (token trivia)* "}"
//   as in `option arch-list code 200 = { unsigned integer 16, text };`
fn record_type(input: &str) -> PResult<'_, &str> {
    let (rest, _) = char('{').parse(input)?;
    let (rest, _) = (trivia, many0_count((token, trivia))).parse(rest)?;
    match cut(char::<&str, PError<'_>>('}')).parse(rest) {
        Ok((rest, _)) => Ok((rest, consumed(input, rest))),
        Err(_) => failure(rest, "`}` to close the option's record type"),
    }
}

// head = token (trivia (token | record_type))*
//   record_type only after `=` in an `option` statement (`= { ... }`, `= array of { ... }`)
fn head(input: &str) -> PResult<'_, &str> {
    let (mut rest, first) = token(input)?;
    let option_definition = first.eq_ignore_ascii_case("option");
    let mut after_equals = false;
    loop {
        let (after_trivia, _) = trivia(rest)?;
        let next = if option_definition && after_equals && after_trivia.starts_with('{') {
            record_type(after_trivia)
        } else {
            token(after_trivia)
        };
        match next {
            Ok((after_token, token)) => {
                rest = after_token;
                after_equals |= token.ends_with('=');
            }
            Err(nom::Err::Error(_)) => break,
            Err(error) => return Err(error),
        }
    }
    Ok((rest, consumed(input, rest)))
}

/// Builds nodes with spans relative to the whole source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grammar<'a> {
    source: &'a str,
}

/// How a block relates to an `if` chain, to reject an `else` without an `if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// `if`, `elsif` or `else if`: an `elsif`/`else` may follow.
    Open,
    /// Anything else, including a final `else`.
    Closed,
}

impl<'a> Grammar<'a> {
    /// A grammar over `source`; every slice given to it must lie inside `source`.
    pub(crate) fn new(source: &'a str) -> Self {
        Self { source }
    }

    /// The span of `part`. [`crate::Config::parse`] rejects sources of 4 GiB or more, so
    /// offsets fit in `u32`; the saturation only keeps this function total.
    fn span(&self, part: &str) -> Text {
        let start = offset_in(self.source, part);
        let narrow = |offset: usize| u32::try_from(offset).unwrap_or(u32::MAX);
        Text::Span {
            start: narrow(start),
            end: narrow(start + part.len()),
        }
    }

    // config = nodes end_of_input
    pub(crate) fn config(&self, input: &'a str) -> PResult<'a, (Vec<Node>, Text)> {
        let (rest, (nodes, tail)) = self.nodes(0, input)?;
        if !rest.is_empty() {
            return failure(
                rest,
                format!(
                    "a statement or block, found {} without an open block",
                    found(rest)
                ),
            );
        }
        Ok((rest, (nodes, self.span(tail))))
    }

    // nodes = (trivia node)* trivia        (stops before "}" or at the end of input)
    fn nodes(&self, depth: usize, mut input: &'a str) -> PResult<'a, (Vec<Node>, &'a str)> {
        // Host blocks hold a handful of statements: one allocation instead of two or three.
        let mut nodes = Vec::with_capacity(if depth == 0 { 64 } else { 8 });
        let mut chain = Chain::Closed;
        loop {
            let (rest, leading) = trivia(input)?;
            if rest.is_empty() || rest.starts_with('}') {
                return Ok((rest, (nodes, leading)));
            }
            let (rest, (node, node_chain)) = self.node(depth, leading, rest, chain)?;
            nodes.push(node);
            chain = node_chain;
            input = rest;
        }
    }

    // node = head trivia (";" | "{" nodes "}") line_end?
    fn node(
        &self,
        depth: usize,
        leading: &'a str,
        input: &'a str,
        chain: Chain,
    ) -> PResult<'a, (Node, Chain)> {
        let (rest, head_text) = match head(input) {
            Ok(parsed) => parsed,
            Err(nom::Err::Error(_)) => {
                return failure(
                    input,
                    format!("a statement or block, found {}", found(input)),
                );
            }
            Err(error) => return Err(error),
        };
        let (rest, _) = trivia(rest)?;
        let (rest, kind, node_chain) =
            if let Ok((rest, _)) = char::<&str, PError<'_>>(';').parse(rest) {
                (
                    rest,
                    NodeKind::Statement(self.span(consumed(input, rest))),
                    Chain::Closed,
                )
            } else if let Ok((after_brace, _)) = char::<&str, PError<'_>>('{').parse(rest) {
                let node_chain = Self::check_chain(head_text, input, chain)?;
                if depth >= MAX_DEPTH {
                    return failure(input, format!("at most {MAX_DEPTH} nested blocks"));
                }
                let header_text = consumed(input, rest);
                let header = self.span(header_text);
                let (rest, (children, close)) = self.nodes(depth + 1, after_brace)?;
                let Ok((rest, _)) = char::<&str, PError<'_>>('}').parse(rest) else {
                    return Err(nom::Err::Failure(PError {
                        at: rest,
                        expected: Cow::Borrowed("`}` to close the block"),
                        opened_at: Some(input),
                    }));
                };
                let block = Block::new(header, header_text, children, self.span(close));
                (rest, NodeKind::Block(Box::new(block)), node_chain)
            } else {
                return failure(rest, "`;` or `{` after statement");
            };
        let (rest, trailing) = opt(line_end).parse(rest)?;
        let node = Node {
            leading: self.span(leading),
            kind,
            trailing: trailing.map_or(Text::EMPTY, |trailing| self.span(trailing)),
        };
        Ok((rest, (node, node_chain)))
    }

    /// `elsif` and `else` must follow an `if`, `elsif` or `else if` block.
    fn check_chain(
        head_text: &'a str,
        input: &'a str,
        previous: Chain,
    ) -> Result<Chain, nom::Err<PError<'a>>> {
        // Most blocks are hosts: skip the tokenizer unless the keyword can be `if`/`elsif`/`else`.
        if !matches!(
            head_text.as_bytes().first(),
            Some(b'e' | b'E' | b'i' | b'I')
        ) {
            return Ok(Chain::Closed);
        }
        let mut words = tokens(head_text);
        let first = words.next().unwrap_or_default();
        let is = |keyword: &str| first.eq_ignore_ascii_case(keyword);
        if is("elsif") || is("else") {
            if previous != Chain::Open {
                return Err(nom::Err::Failure(PError {
                    at: input,
                    expected: Cow::Owned(format!("an `if` block before `{first}`")),
                    opened_at: None,
                }));
            }
            let else_if = is("else")
                && words
                    .next()
                    .is_some_and(|word| word.eq_ignore_ascii_case("if"));
            return Ok(if is("elsif") || else_if {
                Chain::Open
            } else {
                Chain::Closed
            });
        }
        Ok(if is("if") { Chain::Open } else { Chain::Closed })
    }
}
