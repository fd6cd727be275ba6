//! A YAML document as a tree that remembers where every node and key starts, built from
//! `saphyr-parser` events. Config readers walk this tree so that every problem they report names
//! its line, and duplicate keys (which YAML forbids but many loaders silently collapse) are refused.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// A node with the position (1-based line and column) where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The line, 1-based.
    pub line: usize,
    /// The column, 1-based.
    pub column: usize,
    /// What the node holds.
    pub value: Value,
}

/// The content of a [`Node`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`, `~` or nothing at all.
    Null,
    /// A scalar with its text and whether it was written plain (unquoted), which decides whether
    /// `true` is a boolean or a string.
    Scalar {
        /// The text.
        text: String,
        /// Written without quotes or block style.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// The key's line, 1-based.
    pub line: usize,
    /// The key's column, 1-based.
    pub column: usize,
    /// The value.
    pub value: Node,
}

/// Why a text is not a YAML document we can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    /// The line, 1-based.
    pub line: usize,
    /// The column, 1-based.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// A short name for the node's kind, for messages ("a mapping", "a list", ...).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// The most nodes (keys and values) a document may hold, an alias counted as the nodes it
/// repeats: a repo config of thousands of projects is far smaller, and anchors that repeat
/// anchors (a "billion laughs") stop here instead of filling the memory.
pub const MAX_NODES: usize = 250_000;

/// The most text a document's scalars may hold once its aliases are expanded: an alias of a
/// long string counts its length each time.
pub const MAX_TEXT_BYTES: usize = 16 << 20;

/// The longest file read: repo configs of thousands of projects are well under it.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// The deepest a document's lists and mappings may nest: a repo config needs a handful, and
/// the tree is built by recursion.
pub const MAX_DEPTH: usize = 64;

/// Parses one YAML document; `Ok(None)` for an empty text (or only comments).
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(YamlError {
            line: 1,
            column: 1,
            message: format!(
                "the file is {} bytes; at most {} MiB is read",
                text.len(),
                MAX_DOCUMENT_BYTES >> 20
            ),
        });
    }
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        bytes: 0,
        depth: 0,
    };
    builder.document()
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Each anchor's node, and how many nodes and scalar bytes it holds.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// The nodes built so far, aliases counted by what they repeat.
    nodes: usize,
    /// The scalar text built so far, aliases counted by what they repeat.
    bytes: usize,
    /// How deep the node being built nests.
    depth: usize,
}

fn scan_error(e: &ScanError) -> YamlError {
    YamlError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_owned(),
    }
}

fn at(span: Span, message: impl Into<String>) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: message.into(),
    }
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Err(YamlError {
                line: 0,
                column: 0,
                message: "unexpected end of input".to_owned(),
            }),
        }
    }

    fn document(&mut self) -> Result<Option<Node>, YamlError> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::StreamEnd => return Ok(root),
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(at(
                            span,
                            "a second YAML document (`---`): the file must hold exactly one",
                        ));
                    }
                    let (event, span) = self.next()?;
                    root = Some(self.node(event, span)?);
                }
                other => root = Some(self.node(other, span)?),
            }
        }
    }

    /// Counts `nodes` more nodes and `bytes` more scalar text (keys too), refusing a document past
    /// [`MAX_NODES`] or [`MAX_TEXT_BYTES`].
    fn count(&mut self, (nodes, bytes): (usize, usize), span: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES || self.bytes > MAX_TEXT_BYTES {
            return Err(at(
                span,
                format!(
                    "the document holds more than {MAX_NODES} values or {} MiB of text once its \
                     aliases are expanded",
                    MAX_TEXT_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, YamlError> {
        let line = span.start.line();
        let column = span.start.col() + 1;
        let (first, first_bytes) = (self.nodes, self.bytes);
        match &event {
            Event::Alias(_) => {}
            Event::Scalar(text, ..) => self.count((1, text.len()), span)?,
            _ => self.count((1, 0), span)?,
        }
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(at(
                    span,
                    format!("lists and mappings nest deeper than {MAX_DEPTH}"),
                ));
            }
        }
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let value = if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                (value, anchor)
            }
            Event::SequenceStart(anchor, _tag) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span)?);
                }
                (Value::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _tag) => (Value::Map(self.mapping()?), anchor),
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, nodes, bytes)| (*nodes, *bytes))
                    .ok_or_else(|| at(span, "alias to an unknown anchor"))?;
                self.count(size, span)?;
                let mut node = self.anchors[&id].0.clone();
                node.line = line;
                node.column = column;
                return Ok(node);
            }
            other => return Err(at(span, format!("unexpected YAML event {other:?}"))),
        };
        if matches!(value, Value::Seq(_) | Value::Map(_)) {
            self.depth -= 1;
        }
        let node = Node {
            line,
            column,
            value,
        };
        if anchor != 0 {
            let size = (self.nodes - first, self.bytes - first_bytes);
            self.anchors.insert(anchor, (node.clone(), size.0, size.1));
        }
        Ok(node)
    }

    fn mapping(&mut self) -> Result<Vec<Entry>, YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        // Each key's line, to find a duplicate without comparing every pair.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut merges: Vec<Node> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            let (key, plain) = match event {
                Event::MappingEnd => return merged(entries, merges, seen),
                Event::Scalar(text, style, ..) => {
                    self.count((1, text.len()), span)?;
                    (text.into_owned(), style == ScalarStyle::Plain)
                }
                Event::Alias(_) | Event::SequenceStart(..) | Event::MappingStart(..) => {
                    return Err(at(span, "mapping keys must be plain strings"));
                }
                other => return Err(at(span, format!("unexpected YAML event {other:?}"))),
            };
            let line = span.start.line();
            let column = span.start.col() + 1;
            if let Some(first) = seen.insert(key.clone(), line) {
                return Err(at(
                    span,
                    format!(
                        "duplicate key `{key}` (first set on line {first}); YAML keys must be unique"
                    ),
                ));
            }
            let (event, span) = self.next()?;
            let value = self.node(event, span)?;
            if plain && key == MERGE_KEY {
                merges.push(value);
                continue;
            }
            entries.push(Entry {
                key,
                line,
                column,
                value,
            });
        }
    }
}

/// YAML's merge key (`<<: *defaults`), which Atlantis' YAML library expands and real repo
/// configs use to share project settings.
const MERGE_KEY: &str = "<<";

/// `entries` with the entries of each mapping `merges` names (a mapping, or a list of them)
/// whose keys it does not set itself: its own keys win, then the earlier merged mapping.
/// `present` holds the keys of `entries` (the mapping's duplicate check): a lookup per merged key
/// keeps a merge of a large anchored mapping linear.
fn merged(
    mut entries: Vec<Entry>,
    merges: Vec<Node>,
    mut present: HashMap<String, usize>,
) -> Result<Vec<Entry>, YamlError> {
    // The merge key itself is not one of the mapping's keys.
    present.remove(MERGE_KEY);
    for node in merges {
        let maps = match node.value {
            Value::Map(map) => vec![map],
            Value::Seq(items) => items
                .into_iter()
                .map(|item| match item.value {
                    Value::Map(map) => Ok(map),
                    _ => Err(not_mergeable(item.line, item.column)),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(not_mergeable(node.line, node.column)),
        };
        for entry in maps.into_iter().flatten() {
            if !present.contains_key(&entry.key) {
                present.insert(entry.key.clone(), entry.line);
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

fn not_mergeable(line: usize, column: usize) -> YamlError {
    YamlError {
        line,
        column,
        message: "`<<` merges a mapping (`<<: *anchor`) or a list of mappings".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn nodes_carry_the_line_they_start_on() {
        let doc = parse("version: 3\nprojects:\n- dir: a\n  workspace: w\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries[1].key, "projects");
        assert_eq!(entries[1].line, 2);
        let Value::Seq(items) = &entries[1].value.value else {
            panic!("not a seq")
        };
        let Value::Map(project) = &items[0].value else {
            panic!("not a map")
        };
        assert_eq!((project[1].key.as_str(), project[1].line), ("workspace", 4));
    }

    #[test]
    fn empty_text_is_no_document() {
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("first set on line 1"), "{err}");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
    }

    #[test]
    fn aliases_resolve_to_their_anchor() {
        let doc = parse("x: &a [1]\ny: *a\n").unwrap().unwrap();
        let Value::Map(entries) = doc.value else {
            panic!()
        };
        assert!(matches!(entries[1].value.value, Value::Seq(ref v) if v.len() == 1));
    }

    #[test]
    fn merge_keys_add_the_anchors_keys_the_mapping_does_not_set() {
        let text = "base: &base\n  dir: a\n  workflow: w\nmore: &more\n  workflow: x\n  branch: b\n\
                    p:\n  <<: [*base, *more]\n  dir: c\nq:\n  \"<<\": 1\n";
        let doc = parse(text).unwrap().unwrap();
        let Value::Map(entries) = doc.value else {
            panic!()
        };
        let Value::Map(p) = &entries[2].value.value else {
            panic!()
        };
        let got: Vec<(&str, String)> = p
            .iter()
            .map(|e| match &e.value.value {
                Value::Scalar { text, .. } => (e.key.as_str(), text.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        // Its own `dir` wins, then the first mapping's `workflow`.
        assert_eq!(
            got,
            [
                ("dir", "c".to_owned()),
                ("workflow", "w".to_owned()),
                ("branch", "b".to_owned())
            ]
        );
        // A quoted `<<` is an ordinary key; a merge of a scalar is an error at its line.
        let Value::Map(q) = &entries[3].value.value else {
            panic!()
        };
        assert_eq!(q[0].key, "<<");
        let err = parse("a: 1\nb:\n  <<: 2\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn two_documents_are_refused() {
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn quoted_true_is_a_string_and_plain_true_is_plain() {
        let doc = parse("a: 'true'\nb: true\n").unwrap().unwrap();
        let Value::Map(e) = doc.value else { panic!() };
        assert!(matches!(
            &e[0].value.value,
            Value::Scalar { plain: false, .. }
        ));
        assert!(matches!(
            &e[1].value.value,
            Value::Scalar { plain: true, .. }
        ));
    }

    #[test]
    fn aliases_that_repeat_aliases_stop_at_the_node_limit() {
        let mut lines = vec!["a0: &a0 [x, x, x, x, x, x, x, x, x, x]".to_owned()];
        for level in 1..9 {
            let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
            lines.push(format!("a{level}: &a{level} [{aliases}]"));
        }
        let text = lines.join("\n");
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("once its aliases are expanded"),
            "{err}"
        );
        assert_eq!(err.line, 6, "the alias that went past the limit: {err}");
        // One long string repeated by aliases: few values, much text.
        let long = "x".repeat(1 << 20);
        let aliases = vec!["*s"; 20].join(", ");
        let err = parse(&format!("s: &s {long}\nt: [{aliases}]\n")).unwrap_err();
        assert!(err.message.contains("MiB of text"), "{err}");
        // Lists in lists, past any config's depth.
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("nest deeper"), "{err}");
        assert!(
            parse(&format!(
                "{}{}",
                "[".repeat(MAX_DEPTH),
                "]".repeat(MAX_DEPTH)
            ))
            .is_ok()
        );
        // Keys count as values: a mapping of 130,000 keys is past the limit, not 130,000 keys
        // each compared with the others for duplicates.
        let keys = (0..130_000).fold(String::new(), |mut keys, i| {
            let _ = writeln!(keys, "k{i}:");
            keys
        });
        let Err(err) = parse(&keys) else {
            panic!("a mapping of 130,000 keys was read whole")
        };
        assert!(err.message.contains("more than 250000 values"), "{err}");
        // A file past the size limit is refused before it is parsed.
        let big = format!("a: {}\n", "x".repeat(MAX_DOCUMENT_BYTES));
        let err = parse(&big).unwrap_err();
        assert!(err.message.contains("at most 4 MiB"), "{err}");
        assert_eq!((err.line, err.column), (1, 1));
        // Anchors used a few times are read as before.
        let doc = parse("a: &a {dir: x}\nb: *a\nc: [*a, *a]\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries[1].value.value, entries[0].value.value);
    }
}
