//! The plan's JSON as Rego input, read no further than the policies can see: only the top-level
//! members the modules name (`input.resource_changes`, `input["planned_values"]`), unless a
//! module uses `input` some other way, and large arrays converted on several threads.
//!
//! What is left out cannot change a result: a Rego module reaches the input document only
//! through the word `input`, so a module in which every `input` is followed by a literal member
//! reads nothing else. Anything less plain (`input` alone, `input[k]`, `walk(input)`, a space
//! before the dot) keeps the whole document. The members left out are only checked to be JSON
//! in form (a number too large for a float there is not an error, as no policy reads it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::PolicySet;

/// Below this many bytes a document is read in one piece, on one thread.
const SPLIT_BYTES: usize = 256 * 1024;
/// About how much JSON text one conversion job takes.
const CHUNK_BYTES: usize = 64 * 1024;
/// The key serde_json gives a number it keeps as text; regorus reads such an object as a number.
const NUMBER_MARKER: &str = "$serde_json::private::Number";

/// The top-level members of `input` that `sets` can read, or `None` for the whole document.
pub(super) fn members_read(sets: &[PolicySet]) -> Option<BTreeSet<String>> {
    let mut members = BTreeSet::new();
    for module in sets.iter().flat_map(|set| &set.modules) {
        members.extend(members_named(&module.text)?);
    }
    Some(members)
}

/// The members `text` names after `input`, or `None` when it uses `input` some other way.
/// Comments and the insides of strings are not code: an `input` there names nothing.
fn members_named(text: &str) -> Option<BTreeSet<String>> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let code = code_only(text)?;
    let bytes = code.as_bytes();
    let mut members = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("input") {
        let (start, end) = (from + found, from + found + "input".len());
        from = end;
        let before = start.checked_sub(1).map(|i| bytes[i]);
        // Part of another name (`inputs`, `my_input`), or a member of something else (`x.input`).
        if before.is_some_and(|b| word(b) || b == b'.') || bytes.get(end).copied().is_some_and(word)
        {
            continue;
        }
        let rest = &code[end..];
        let member = if let Some(after) = rest.strip_prefix('.') {
            let len = after.bytes().take_while(|&b| word(b)).count();
            (len > 0).then(|| &after[..len])
        } else if let Some(after) = rest.strip_prefix("[\"") {
            // The string's inside is blanked in `code`: its text is read from `text`.
            let open = end + 2;
            after
                .find("\"]")
                .map(|len| &text[open..open + len])
                .filter(|name| !name.contains(['\\', '"']))
        } else {
            None
        };
        members.insert(member?.to_owned());
    }
    Some(members)
}

/// `text` with its comments and the insides of its strings (`"..."`, `` `...` ``) blanked, byte
/// for byte, so that positions in one are positions in the other (`None`, read as "the whole
/// document", if that were ever not text).
fn code_only(text: &str) -> Option<String> {
    enum In {
        Code,
        Comment,
        Quoted { escaped: bool },
        Raw,
    }
    let mut state = In::Code;
    let mut code = Vec::with_capacity(text.len());
    for &b in text.as_bytes() {
        let (next, keep) = match state {
            In::Code => match b {
                b'#' => (In::Comment, false),
                b'"' => (In::Quoted { escaped: false }, true),
                b'`' => (In::Raw, true),
                _ => (In::Code, true),
            },
            In::Comment if b == b'\n' => (In::Code, true),
            In::Comment => (In::Comment, false),
            In::Quoted { escaped: false } if b == b'"' => (In::Code, true),
            In::Quoted { escaped } => (
                In::Quoted {
                    escaped: !escaped && b == b'\\',
                },
                false,
            ),
            In::Raw if b == b'`' => (In::Code, true),
            In::Raw => (In::Raw, false),
        };
        state = next;
        code.push(if keep { b } else { b' ' });
    }
    // Only ASCII bytes were put in, and whole characters left as they were.
    String::from_utf8(code).ok()
}

/// Reads `json` as a Rego value: only `members` of a top-level object (all when `None`), the
/// arrays' elements converted on `threads` threads when the document is large.
pub(super) fn rego_input(
    json: &str,
    members: Option<&BTreeSet<String>>,
    threads: usize,
) -> anyhow::Result<regorus::Value> {
    read(json, members, threads, (SPLIT_BYTES, CHUNK_BYTES))
}

fn read(
    json: &str,
    members: Option<&BTreeSet<String>>,
    threads: usize,
    (split_bytes, chunk_bytes): (usize, usize),
) -> anyhow::Result<regorus::Value> {
    // regorus reads an object whose first key is serde_json's private number marker as that
    // number; such a document is read as regorus reads it, whole.
    if json.len() < split_bytes
        || (threads < 2 && members.is_none())
        || json.contains(NUMBER_MARKER)
    {
        return regorus::Value::from_json_str(json);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let node = NodeSeed { keep: members }.deserialize(&mut de)?;
    de.end()?;
    let mut jobs = Vec::new();
    node.jobs(chunk_bytes, &mut jobs);
    let mut converted = Vec::with_capacity(jobs.len());
    for value in super::in_parallel(&jobs, threads, |text| regorus::Value::from_json_str(text)) {
        converted.push(value.ok_or_else(|| anyhow::anyhow!("reading a part of it panicked"))??);
    }
    node.assemble(chunk_bytes, &mut converted.into_iter())
}

/// A document down to its arrays, whose elements stay raw JSON until converted.
enum Node<'a> {
    Object(Vec<(String, Node<'a>)>),
    Array(Vec<&'a RawValue>),
    Scalar(regorus::Value),
}

impl Node<'_> {
    /// Each array's elements as JSON arrays of about `chunk_bytes`, in document order.
    fn jobs(&self, chunk_bytes: usize, jobs: &mut Vec<String>) {
        match self {
            Node::Object(members) => members.iter().for_each(|(_, n)| n.jobs(chunk_bytes, jobs)),
            Node::Array(items) => {
                for run in runs(items, chunk_bytes) {
                    let size = run.iter().map(|item| item.get().len() + 1).sum::<usize>();
                    let mut text = String::with_capacity(size + 2);
                    text.push('[');
                    for (i, item) in run.iter().enumerate() {
                        if i > 0 {
                            text.push(',');
                        }
                        text.push_str(item.get());
                    }
                    text.push(']');
                    jobs.push(text);
                }
            }
            Node::Scalar(_) => {}
        }
    }

    /// The value, the arrays' runs taken from `converted` in the order [`Node::jobs`] made them.
    fn assemble(
        self,
        chunk_bytes: usize,
        converted: &mut impl Iterator<Item = regorus::Value>,
    ) -> anyhow::Result<regorus::Value> {
        Ok(match self {
            Node::Scalar(value) => value,
            Node::Object(members) => {
                let mut object = BTreeMap::new();
                for (key, node) in members {
                    object.insert(key.into(), node.assemble(chunk_bytes, converted)?);
                }
                regorus::Value::from(object)
            }
            Node::Array(items) => {
                let mut all = Vec::with_capacity(items.len());
                for _ in runs(&items, chunk_bytes) {
                    let run = converted
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("a part of the document was not read"))?;
                    all.extend(run.as_array()?.iter().cloned());
                }
                regorus::Value::from(all)
            }
        })
    }
}

/// `items` cut into runs of about `chunk_bytes` of text (one empty run for no items).
fn runs<'s, 'a>(items: &'s [&'a RawValue], chunk_bytes: usize) -> Vec<&'s [&'a RawValue]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        size += item.get().len();
        if size >= chunk_bytes {
            out.push(&items[start..=i]);
            (start, size) = (i + 1, 0);
        }
    }
    if start < items.len() || items.is_empty() {
        out.push(&items[start..]);
    }
    out
}

/// Reads a value as a [`Node`]; `keep` (for the top level) names the members to keep.
struct NodeSeed<'k> {
    keep: Option<&'k BTreeSet<String>>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Node<'de>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.keep.is_some_and(|keep| !keep.contains(&key)) {
                map.next_value::<IgnoredAny>()?;
            } else {
                members.push((key, map.next_value_seed(NodeSeed { keep: None })?));
            }
        }
        Ok(Node::Object(members))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Scalar(regorus::Value::Null))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Scalar(regorus::Value::Bool(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Scalar(regorus::Value::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Scalar(regorus::Value::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        if !v.is_finite() {
            return Err(E::custom("a number that is not finite"));
        }
        Ok(Node::Scalar(regorus::Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Scalar(regorus::Value::from(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::policy::PolicyModule;

    fn sets(texts: &[&str]) -> Vec<PolicySet> {
        vec![PolicySet {
            name: "s".to_owned(),
            modules: texts
                .iter()
                .map(|text| PolicyModule {
                    path: "p.rego".to_owned(),
                    text: (*text).to_owned(),
                })
                .collect(),
            namespaces: crate::run::policy::Namespaces::default(),
        }]
    }

    #[test]
    fn only_members_named_after_input_are_read_and_any_other_use_reads_everything() {
        let read = |texts: &[&str]| members_read(&sets(texts));
        let named = read(&[
            "package main\n# Reads the input: input alone, walk(input).\nimport input.planned_values as pv\ndeny[msg] {\n  rc := input.resource_changes[_]\n  input[\"prior_state\"].x\n  my_input := 1\n  rc.input == 2\n  inputs := 3\n  msg := \"x\"\n}\n",
            "package main\nwarn contains m if { some c in input.configuration.root_module; m := \"y\" }\n",
            "package main\nwarn contains m if { m := sprintf(\"the input %s, \\\"input\\\" # input\", [`input`]) }\n",
        ]);
        assert_eq!(
            named.unwrap().into_iter().collect::<Vec<_>>(),
            [
                "configuration",
                "planned_values",
                "prior_state",
                "resource_changes"
            ]
        );
        for whole in [
            "deny[m] { walk(input, [p, v]); m := \"x\" }",
            "deny[m] { x := input; m := x.a }",
            "deny[m] { k := \"resource_changes\"; input[k]; m := \"x\" }",
            "deny[m] { input .resource_changes; m := \"x\" }",
            "deny[m] { input[\"a\\\"b\"]; m := \"x\" }",
            "import input\ndeny[m] { m := input.a }",
            "deny[m] { m := object.get(input, \"a\", 1) }",
            "deny[m] { data.x with input as {}; m := 1 }",
            "deny[m] { m := \"#\"; x := input }",
            "deny[m] { m := `#\"`; x := input }",
            "deny[m] { m := \"\\\"#\"; x := input }",
        ] {
            assert_eq!(
                read(&["deny[m] { input.a; m := 1 }", whole]),
                None,
                "{whole}"
            );
        }
    }

    /// Every corpus plan reads back as `from_json_str` reads it, whole or in small runs; pruned,
    /// it holds exactly the members kept.
    #[test]
    fn a_plan_read_in_parts_is_the_plan_read_whole() {
        let dir = landfall_e2e::corpus("terraform-show-json");
        let mut plans = Vec::new();
        for folder in [dir, landfall_e2e::corpus("terraform-plan-json-infracost")] {
            for entry in std::fs::read_dir(folder).unwrap().flatten() {
                let path = entry.path();
                let files = if path.is_dir() {
                    std::fs::read_dir(&path)
                        .unwrap()
                        .flatten()
                        .map(|e| e.path())
                        .collect()
                } else {
                    vec![path]
                };
                plans.extend(
                    files
                        .into_iter()
                        .filter(|p| p.extension().is_some_and(|e| e == "json")),
                );
            }
        }
        assert!(plans.len() > 10, "{plans:?}");
        for plan in plans {
            let json = std::fs::read_to_string(&plan).unwrap();
            let Ok(whole) = regorus::Value::from_json_str(&json) else {
                assert!(read(&json, None, 3, (0, 512)).is_err(), "{plan:?}");
                continue;
            };
            let parts = read(&json, None, 3, (0, 512)).unwrap();
            assert_eq!(parts, whole, "{plan:?}");
            let keep = BTreeSet::from(["resource_changes".to_owned(), "nothing".to_owned()]);
            let pruned = read(&json, Some(&keep), 2, (0, 100)).unwrap();
            if let Ok(object) = whole.as_object() {
                let kept: Vec<_> = object
                    .iter()
                    .filter(|(k, _)| *k == &regorus::Value::from("resource_changes"))
                    .collect();
                let pruned = pruned.as_object().unwrap();
                assert_eq!(pruned.iter().collect::<Vec<_>>(), kept, "{plan:?}");
            }
        }
    }

    #[test]
    fn an_object_regorus_reads_as_a_number_is_read_as_regorus_reads_it() {
        let json = r#"{"a": {"$serde_json::private::Number": "5"}, "b": [1, 2]}"#;
        let whole = regorus::Value::from_json_str(json).unwrap();
        assert_eq!(read(json, None, 2, (0, 1)).unwrap(), whole);
        let keep = BTreeSet::from(["a".to_owned()]);
        assert_eq!(read(json, Some(&keep), 2, (0, 1)).unwrap(), whole);
    }

    #[test]
    fn what_is_not_json_is_an_error_however_it_is_read() {
        for bad in ["{", "{\"a\": [1, 2,]}", "[1, 2] x", "{\"a\": 1e999}"] {
            assert!(read(bad, None, 2, (0, 1)).is_err(), "{bad}");
            let keep = BTreeSet::from(["a".to_owned()]);
            assert!(read(bad, Some(&keep), 2, (0, 1)).is_err(), "{bad}");
        }
    }
}
