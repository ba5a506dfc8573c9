//! [`Config`]: a parsed dhcpd.conf that prints back byte for byte, with the host-level edit API.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::edit::{Siblings, indent_of};
use crate::host::{Host, HostMut};
use crate::parser::Grammar;
use crate::syntax::{Block, Node, NodeKind, Text, Writer, tokens, unquote};
use crate::{Error, Result};

/// Child indices from the top level down to one node.
type Path = Vec<u32>;

/// A parsed dhcpd.conf (or a file it includes).
///
/// `config.to_string()` gives back the parsed text byte for byte until it is edited; after an edit,
/// only the edited statements and blocks differ.
#[derive(Debug, Clone)]
pub struct Config {
    /// The parsed text; untouched nodes are spans of it.
    pub(crate) source: String,
    /// The top-level statements and blocks.
    pub(crate) nodes: Vec<Node>,
    /// Trivia after the last top-level node.
    pub(crate) tail: Text,
    /// The file's line ending, used for new lines.
    newline: &'static str,
    /// Host name → path of its block, built on first lookup and dropped when paths shift.
    index: OnceLock<HashMap<Box<str>, Path>>,
}

/// Parses dhcpd.conf text.
///
/// # Errors
///
/// [`Error::Parse`] with the 1-based line and column where the text stops being dhcpd.conf, e.g.
/// `line 3, column 1: expected `;` or `{` after statement`, or a block left open at the end.
pub fn parse(text: &str) -> Result<Config> {
    Config::parse(text)
}

impl Config {
    /// Parses dhcpd.conf text; see [`parse`].
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] when the text is not dhcpd.conf syntax.
    pub fn parse(text: &str) -> Result<Self> {
        if u32::try_from(text.len()).is_err() {
            return Err(Error::parse_at(
                text,
                0,
                "a file smaller than 4 GiB".to_owned(),
            ));
        }
        let grammar = Grammar::new(text);
        let (nodes, tail) = match grammar.config(text) {
            Ok((_, parsed)) => parsed,
            Err(nom::Err::Error(error) | nom::Err::Failure(error)) => {
                let offset = text.len().saturating_sub(error.at.len());
                let mut expected = error.expected.into_owned();
                if let Some(opened_at) = error.opened_at {
                    let opened = Error::parse_at(
                        text,
                        text.len().saturating_sub(opened_at.len()),
                        String::new(),
                    );
                    let header: Vec<&str> = tokens(opened_at).take(6).collect();
                    if let Error::Parse { line, column, .. } = opened {
                        expected = format!(
                            "{expected} `{}` opened at line {line}, column {column}",
                            header.join(" ")
                        );
                    }
                }
                return Err(Error::parse_at(text, offset, expected));
            }
            // Only streaming parsers report `Incomplete`; every parser here is `complete`.
            Err(nom::Err::Incomplete(_)) => {
                return Err(Error::parse_at(text, text.len(), "more input".to_owned()));
            }
        };
        let newline = match text.find('\n') {
            Some(at) if text.get(..at).is_some_and(|line| line.ends_with('\r')) => "\r\n",
            _ => "\n",
        };
        Ok(Self {
            source: text.to_owned(),
            nodes,
            tail,
            newline,
            index: OnceLock::new(),
        })
    }

    /// Every `host` block, in file order, wherever it is (top level, `group`, `subnet`,
    /// `shared-network`, ...).
    pub fn hosts(&self) -> Hosts<'_> {
        Hosts {
            source: &self.source,
            stack: vec![self.nodes.iter()],
        }
    }

    /// The host declared as `name` (compared exactly, as dhcpd does). O(1) after the first lookup.
    pub fn host(&self, name: &str) -> Option<Host<'_>> {
        let path = self.index().get(name)?;
        let block = node_at(&self.nodes, path)?.as_block()?;
        Some(Host::new(&self.source, block))
    }

    /// Edit access to the host declared as `name`. O(1) after the first lookup, so patching
    /// thousands of hosts one by one stays linear; [`Config::patch_hosts`] visits all of them.
    pub fn host_mut(&mut self, name: &str) -> Option<HostMut<'_>> {
        let path = self.index().get(name)?.clone();
        let Self {
            source,
            nodes,
            newline,
            ..
        } = self;
        host_mut_of(source, newline, node_at_mut(nodes, &path)?)
    }

    /// Calls `patch` once for every host block, in file order; one pass over the tree.
    pub fn patch_hosts(&mut self, mut patch: impl FnMut(&mut HostMut<'_>)) {
        fn walk(
            source: &str,
            newline: &'static str,
            nodes: &mut [Node],
            patch: &mut dyn FnMut(&mut HostMut<'_>),
        ) {
            for node in nodes {
                let Some(block) = node.as_block_mut() else {
                    continue;
                };
                if block.is_host(source) {
                    if let Some(mut host) = host_mut_of(source, newline, node) {
                        patch(&mut host);
                    }
                } else {
                    walk(source, newline, &mut block.children, patch);
                }
            }
        }
        let Self {
            source,
            nodes,
            newline,
            ..
        } = self;
        walk(source, newline, nodes, &mut patch);
    }

    /// Appends an empty `host name { }` block after the last host (in that host's block, with its
    /// indentation), or at the end of the file when there is none, and returns it for
    /// [`HostMut::set_statement`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHostName`] for a name dhcpd would reject, [`Error::DuplicateHost`] when the
    /// name is already declared.
    pub fn add_host(&mut self, name: &str) -> Result<HostMut<'_>> {
        if !is_host_name(name) {
            return Err(Error::InvalidHostName(name.to_owned()));
        }
        if self.index().contains_key(name) {
            return Err(Error::DuplicateHost(name.to_owned()));
        }
        let header = format!("host {name} ");
        let block = Block::new(
            Text::owned(header.as_str()),
            &header,
            Vec::new(),
            Text::owned(self.newline),
        );
        let kind = NodeKind::Block(Box::new(block));
        let last_host = last_host_path(&self.source, &self.nodes, &mut Vec::new());
        let path = {
            let (parent, index) = match &last_host {
                Some(path) => path.split_at(path.len().saturating_sub(1)),
                None => (&[][..], &[][..]),
            };
            let parent = parent.to_vec();
            let Some(mut siblings) = self.siblings_at(&parent) else {
                return Err(Error::InvalidHostName(name.to_owned()));
            };
            let new_index = match index.first() {
                Some(&index) => {
                    siblings.insert_after(index as usize, kind);
                    index as usize + 1
                }
                None => {
                    siblings.push(kind, "");
                    siblings.nodes.len().saturating_sub(1)
                }
            };
            let mut path = parent;
            path.push(u32::try_from(new_index).unwrap_or(u32::MAX));
            path
        };
        // Only nodes after the last host shifted, and none of them holds a host: the index stays
        // valid with the new entry added.
        if let Some(index) = self.index.get_mut() {
            index.insert(name.into(), path.clone());
        }
        let Self {
            source,
            nodes,
            newline,
            ..
        } = self;
        let mut node = node_at_mut(nodes, &path);
        if let Some(node) = node.as_deref_mut() {
            // The closing `}` lines up with `host`.
            let indent = indent_of(node.leading.as_str(source)).to_owned();
            if let Some(block) = node.as_block_mut() {
                block.close = Text::owned(format!("{newline}{indent}"));
            }
        }
        node.and_then(|node| host_mut_of(source, newline, node))
            .ok_or_else(|| Error::InvalidHostName(name.to_owned()))
    }

    /// Removes the block of the host declared as `name` with its line; comment lines above it
    /// stay. Returns whether a host was removed.
    pub fn remove_host(&mut self, name: &str) -> bool {
        let mut removed = false;
        self.retain_hosts(|host| {
            let keep = host.name() != name;
            removed |= !keep;
            keep
        });
        removed
    }

    /// Keeps only the hosts for which `keep` returns true; one pass over the tree.
    pub fn retain_hosts(&mut self, mut keep: impl FnMut(&Host<'_>) -> bool) {
        fn walk(siblings: &mut Siblings<'_>, keep: &mut dyn FnMut(&Host<'_>) -> bool) -> bool {
            let mut changed = false;
            let mut index = 0;
            while index < siblings.nodes.len() {
                let source = siblings.source;
                let Some(block) = siblings.nodes.get_mut(index).and_then(Node::as_block_mut) else {
                    index += 1;
                    continue;
                };
                if block.is_host(source) {
                    if !keep(&Host::new(source, block)) {
                        siblings.remove(index);
                        changed = true;
                        continue;
                    }
                } else {
                    let mut children = Siblings {
                        source,
                        nodes: &mut block.children,
                        close: &mut block.close,
                        first_starts_line: false,
                        newline: siblings.newline,
                    };
                    changed |= walk(&mut children, keep);
                }
                index += 1;
            }
            changed
        }
        let mut top = self.siblings_at(&[]).expect("the top level always exists");
        if walk(&mut top, &mut keep) {
            self.index = OnceLock::new();
        }
    }

    /// The paths of all `include "path";` statements, in file order, at any depth.
    pub fn includes(&self) -> Vec<&str> {
        fn walk<'a>(source: &'a str, nodes: &'a [Node], found: &mut Vec<&'a str>) {
            for node in nodes {
                match &node.kind {
                    NodeKind::Statement(body) => {
                        let mut words = tokens(body.as_str(source));
                        if words
                            .next()
                            .is_some_and(|word| word.eq_ignore_ascii_case("include"))
                            && let Some(path) = words.next().filter(|path| path.starts_with('"'))
                        {
                            found.push(unquote(path));
                        }
                    }
                    NodeKind::Block(block) => walk(source, &block.children, found),
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.source, &self.nodes, &mut found);
        found
    }

    /// Writes the configuration into `out`; the same text as `to_string()`.
    ///
    /// # Errors
    ///
    /// Only the errors of `out` itself.
    pub fn write_to(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut writer = Writer::new(&self.source, out);
        writer.nodes(&self.nodes)?;
        writer.finish(&self.tail)
    }

    fn index(&self) -> &HashMap<Box<str>, Path> {
        self.index.get_or_init(|| {
            let mut index = HashMap::new();
            build_index(&self.source, &self.nodes, &mut Vec::new(), &mut index);
            index
        })
    }

    /// The siblings list at `parent` (empty = top level).
    fn siblings_at(&mut self, parent: &[u32]) -> Option<Siblings<'_>> {
        let Self {
            source,
            nodes,
            tail,
            newline,
            ..
        } = self;
        if parent.is_empty() {
            return Some(Siblings {
                source,
                nodes,
                close: tail,
                first_starts_line: true,
                newline,
            });
        }
        let block = node_at_mut(nodes, parent)?.as_block_mut()?;
        Some(Siblings {
            source,
            nodes: &mut block.children,
            close: &mut block.close,
            first_starts_line: false,
            newline,
        })
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl FromStr for Config {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

/// Iterator over every host block; see [`Config::hosts`].
#[derive(Debug)]
pub struct Hosts<'a> {
    source: &'a str,
    stack: Vec<std::slice::Iter<'a, Node>>,
}

impl<'a> Iterator for Hosts<'a> {
    type Item = Host<'a>;

    fn next(&mut self) -> Option<Host<'a>> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(node) = top.next() else {
                self.stack.pop();
                continue;
            };
            let Some(block) = node.as_block() else {
                continue;
            };
            if block.is_host(self.source) {
                return Some(Host::new(self.source, block));
            }
            self.stack.push(block.children.iter());
        }
    }
}

/// Whether dhcpd accepts `name` after `host`: dot-separated identifiers.
fn is_host_name(name: &str) -> bool {
    name.split('.').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn build_index(source: &str, nodes: &[Node], path: &mut Path, index: &mut HashMap<Box<str>, Path>) {
    for (position, node) in nodes.iter().enumerate() {
        let Some(block) = node.as_block() else {
            continue;
        };
        path.push(u32::try_from(position).unwrap_or(u32::MAX));
        if block.is_host(source) {
            // dhcpd rejects a second declaration of a name; the first one is the host.
            index
                .entry(block.host_name(source).into())
                .or_insert_with(|| path.clone());
        } else {
            build_index(source, &block.children, path, index);
        }
        path.pop();
    }
}

/// The path of the last host block in file order.
fn last_host_path(source: &str, nodes: &[Node], path: &mut Path) -> Option<Path> {
    for (position, node) in nodes.iter().enumerate().rev() {
        let Some(block) = node.as_block() else {
            continue;
        };
        path.push(u32::try_from(position).unwrap_or(u32::MAX));
        if block.is_host(source) {
            return Some(path.clone());
        }
        if let Some(found) = last_host_path(source, &block.children, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}

fn node_at<'n>(nodes: &'n [Node], path: &[u32]) -> Option<&'n Node> {
    let (first, rest) = path.split_first()?;
    let node = nodes.get(*first as usize)?;
    if rest.is_empty() {
        Some(node)
    } else {
        node_at(&node.as_block()?.children, rest)
    }
}

fn node_at_mut<'n>(nodes: &'n mut [Node], path: &[u32]) -> Option<&'n mut Node> {
    let (first, rest) = path.split_first()?;
    let node = nodes.get_mut(*first as usize)?;
    if rest.is_empty() {
        Some(node)
    } else {
        node_at_mut(&mut node.as_block_mut()?.children, rest)
    }
}

/// A [`HostMut`] over `node` if it is a host block.
fn host_mut_of<'n>(
    source: &'n str,
    newline: &'static str,
    node: &'n mut Node,
) -> Option<HostMut<'n>> {
    let Node { leading, kind, .. } = node;
    let NodeKind::Block(block) = kind else {
        return None;
    };
    if !block.is_host(source) {
        return None;
    }
    Some(HostMut::new(source, block, newline, leading.as_str(source)))
}
