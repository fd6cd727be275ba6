//! Every unknown key of `landfall.toml` at once, and the file checked without them.
//!
//! serde stops at the first unknown key (the tables deny them), which then hid every other
//! problem in the file. Each unknown key serde names is blanked out of a copy of the text (its
//! key-value pair, or its table's header and body, turned into spaces so that every other byte
//! and line stays where it was) and the copy is read again, so that the rest of the file is
//! checked as it will be once the keys are gone.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{Document, InlineTable, Item, Table, Value};

use super::{Diagnostic, LineIndex, toml_diagnostic};

/// More unknown keys than this and the rest are left for the next run.
const MOST: usize = 32;

/// `text` read as a `T`, and the diagnostics of its unknown keys. `None` when it cannot be read
/// even without them; the diagnostics then say why too.
pub(super) fn parse_known<T: DeserializeOwned>(
    text: &str,
    lines: &LineIndex,
) -> (Option<T>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut current = text.to_owned();
    // The keys "did you mean" named, with where their tables' headers start.
    let mut suggested: Vec<(String, usize)> = Vec::new();
    loop {
        let err = match toml::from_str::<T>(&current) {
            Ok(value) => return (Some(value), diagnostics),
            Err(err) => err,
        };
        let diagnostic = toml_diagnostic(&err, lines);
        let message = err.message();
        if let Some(field) = missing_field(message)
            && let Some(table) = err.span().map(|s| s.start)
            && suggested.iter().any(|(s, at)| s == field && *at == table)
        {
            // The unknown key of that table already said so (`nmae`: did you mean `name`?).
            return (None, diagnostics);
        }
        let owned = unknown_key(message)
            .zip(err.span())
            .and_then(|(_, span)| owned_by(&current, &span));
        let Some((owned, table)) = owned.filter(|_| diagnostics.len() < MOST) else {
            diagnostics.push(diagnostic);
            return (None, diagnostics);
        };
        let blanked = blank(&current, &owned);
        if Document::parse(blanked.as_str()).is_err() {
            // Taking the key out broke the file's syntax (a dotted key, an inline table).
            diagnostics.push(diagnostic);
            return (None, diagnostics);
        }
        if let Some(closest) = diagnostic.help.as_deref().and_then(suggestion) {
            suggested.push((closest.to_owned(), table));
        }
        diagnostics.push(diagnostic);
        current = blanked;
    }
}

/// The key serde's message names as unknown.
fn unknown_key(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// The field serde's message names as missing.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// The key a "did you mean" help names.
fn suggestion(help: &str) -> Option<&str> {
    help.strip_prefix("did you mean `")?.split('`').next()
}

/// The text the key at `key` owns: its key-value pair, each pair of a dotted key (from the start
/// of its line), or its table's header and body with every table below it (each table of an
/// array); and where the header of the table the key is in starts (0 at the top level).
fn owned_by(text: &str, key: &Range<usize>) -> Option<(Vec<Range<usize>>, usize)> {
    let doc = Document::parse(text).ok()?;
    let mut places = Places::default();
    // Every table header of the document: what the top level holds, all the way down.
    let (_, mut headers) = places.walk(doc.as_table(), false);
    headers.push(text.len());
    headers.sort_unstable();
    let body_end = |start: usize| headers[headers.partition_point(|&h| h <= start)];
    let table = headers[..headers.partition_point(|&h| h <= key.start)]
        .last()
        .copied()
        .unwrap_or(0);
    let owned = places.keys.into_iter().find(|k| k.key == *key)?;
    let mut ranges: Vec<Range<usize>> = owned
        .pairs
        .into_iter()
        .map(|(pair, dotted)| {
            let start = if dotted {
                line_start(text, pair.start)
            } else {
                pair.start
            };
            with_comma(text, start..pair.end)
        })
        .collect();
    ranges.extend(owned.headers.into_iter().map(|s| s..body_end(s)));
    Some((ranges, table))
}

/// Where the text of the line `at` is on starts, after its indentation.
fn line_start(text: &str, at: usize) -> usize {
    let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
    line + (text[line..at].len() - text[line..at].trim_start().len())
}

/// Where each key of a document stands.
#[derive(Default)]
struct Places {
    keys: Vec<Place>,
}

/// A key, and the text it owns: key-value pairs (each with whether it is a dotted key's, which
/// starts its line), and the bodies of the tables whose headers start at `headers`.
struct Place {
    key: Range<usize>,
    pairs: Vec<(Range<usize>, bool)>,
    headers: Vec<usize>,
}

impl Places {
    /// Walks `table` (`dotted`: a dotted key's table) and returns the text under it: its pairs
    /// and the starts of its tables' headers.
    fn walk(&mut self, table: &Table, dotted: bool) -> (Vec<(Range<usize>, bool)>, Vec<usize>) {
        let (mut all_pairs, mut all_headers) = (Vec::new(), Vec::new());
        for (name, item) in table {
            let Some(key) = table.key(name).and_then(toml_edit::Key::span) else {
                continue;
            };
            let (pairs, headers) = match item {
                Item::Value(value) => {
                    if let Value::InlineTable(inline) = value {
                        self.walk_inline(inline);
                    }
                    let pair = value.span().map(|s| (key.start..s.end, dotted));
                    (pair.into_iter().collect(), Vec::new())
                }
                Item::Table(inner) if inner.is_dotted() => self.walk(inner, true),
                Item::Table(inner) => {
                    let header = inner.span().filter(|_| !inner.is_implicit());
                    let (pairs, mut headers) = self.walk(inner, false);
                    headers.extend(header.as_ref().map(|h| h.start));
                    // A header's table owns its pairs through its body.
                    (if header.is_some() { Vec::new() } else { pairs }, headers)
                }
                Item::ArrayOfTables(array) => {
                    let mut headers = Vec::new();
                    for inner in array {
                        headers.extend(inner.span().map(|s| s.start));
                        headers.extend(self.walk(inner, false).1);
                    }
                    (Vec::new(), headers)
                }
                Item::None => (Vec::new(), Vec::new()),
            };
            all_pairs.extend(pairs.iter().cloned());
            all_headers.extend(headers.iter().copied());
            self.keys.push(Place {
                key,
                pairs,
                headers,
            });
        }
        (all_pairs, all_headers)
    }

    /// Walks an inline table: its pairs, those of the inline tables in it.
    fn walk_inline(&mut self, table: &InlineTable) {
        for (name, value) in table {
            let Some(key) = table.key(name).and_then(toml_edit::Key::span) else {
                continue;
            };
            if let Value::InlineTable(inner) = value {
                self.walk_inline(inner);
            }
            let pairs = value.span().map(|s| (key.start..s.end, false));
            let pairs = pairs.into_iter().collect();
            self.keys.push(Place {
                key,
                pairs,
                headers: Vec::new(),
            });
        }
    }
}

/// `pair` and the comma after it, in an inline table.
fn with_comma(text: &str, pair: Range<usize>) -> Range<usize> {
    let rest = &text[pair.end..];
    let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if rest[gap..].starts_with(',') {
        pair.start..pair.end + gap + 1
    } else {
        pair
    }
}

/// `text` with the bytes of `ranges` turned into spaces, but its line breaks.
fn blank(text: &str, ranges: &[Range<usize>]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for range in ranges {
        for b in &mut bytes[range.clone()] {
            if !matches!(*b, b'\n' | b'\r') {
                *b = b' ';
            }
        }
    }
    String::from_utf8(bytes).expect("only whole characters are blanked")
}
