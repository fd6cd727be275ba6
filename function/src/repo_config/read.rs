//! Typed reads from a [`yaml::Node`](super::yaml::Node) that record a [`Diagnostic`] instead of
//! failing, so one pass reports every problem of a file.

use super::diag::Diagnostic;
use super::yaml::{Entry, Node, Value};

/// A value with the line that set it, so the policy can name the line it refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// The line of its key.
    pub line: usize,
}

/// Reads nodes of one file, collecting diagnostics.
#[derive(Debug)]
pub(crate) struct Reader {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Reader {
    pub fn new(file: &str) -> Self {
        Reader {
            file: file.to_owned(),
            diagnostics: Vec::new(),
        }
    }

    pub fn error(&mut self, line: usize, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(&self.file, line, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    pub fn warning(&mut self, line: usize, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::warning(&self.file, line, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Reports that `what` is not `expected` (such as "a list") but the kind `node` is.
    fn wrong_kind<T>(&mut self, node: &Node, what: &str, expected: &str) -> Option<T> {
        let kind = node.kind();
        self.error(
            node.line,
            format!("{what} must be {expected}, found {kind}"),
        );
        None
    }

    /// The entries of a mapping, or an error naming `what` it should be.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            _ => self.wrong_kind(node, what, "a mapping"),
        }
    }

    /// The items of a list.
    pub fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => self.wrong_kind(node, what, "a list"),
        }
    }

    /// The items of a list read by `read`, leaving out those it refuses; a `null` value is an
    /// empty list.
    pub fn list<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut read: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Vec<T> {
        if node.value == Value::Null {
            return Vec::new();
        }
        let items = self.seq(node, what).unwrap_or_default();
        items.iter().filter_map(|item| read(self, item)).collect()
    }

    /// A string: any scalar (numbers and booleans read as their text).
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => self.wrong_kind(node, what, "a string"),
        }
    }

    /// A non-empty string.
    pub fn non_empty(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        if s.trim().is_empty() {
            self.error(node.line, format!("{what} must not be empty"));
            return None;
        }
        Some(s)
    }

    /// A boolean written plain `true` or `false`.
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar { text, plain: true } if text == "true" => Some(true),
            Value::Scalar { text, plain: true } if text == "false" => Some(false),
            _ => {
                self.error(node.line, format!("{what} must be true or false"));
                None
            }
        }
    }

    /// An integer.
    pub fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        if let Value::Scalar { text, plain: true } = &node.value {
            if let Ok(n) = text.parse() {
                return Some(n);
            }
            let message = format!("{what} must be an integer, found `{text}`");
            self.error(node.line, message);
            return None;
        }
        self.error(node.line, format!("{what} must be an integer"));
        None
    }

    /// A list of strings; a `null` value is an empty list.
    pub fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        if node.value == Value::Null {
            return Some(Vec::new());
        }
        let items = self.seq(node, what)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.string(item, &format!("each entry of {what}"))?);
        }
        Some(out)
    }

    /// Reports a key that is neither known nor an Atlantis key we skip, suggesting the closest
    /// known key.
    pub fn unknown_key(&mut self, entry: &Entry, context: &str, known: &[&str]) {
        let suggestion = known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, &entry.key), *k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k);
        let d = self.error(
            entry.line,
            format!("unknown key `{}` in {context}", entry.key),
        );
        d.help = Some(match suggestion {
            Some(k) => format!("did you mean `{k}`?"),
            None => format!("the keys allowed here are: {}", known.join(", ")),
        });
    }

    /// Reports an Atlantis key that Landfall does not support yet; it is ignored.
    pub fn unsupported_key(&mut self, entry: &Entry, context: &str) {
        let key = entry.key.clone();
        self.warning(
            entry.line,
            format!("`{key}` in {context} is an Atlantis key that Landfall does not support yet; it is ignored"),
        )
        .help = Some(format!("remove `{key}` to silence this warning"));
    }
}
