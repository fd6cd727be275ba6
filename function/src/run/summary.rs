//! A plan's summary from `terraform show -json <planfile>`: counts to add, change, destroy,
//! import, move, replace and forget, as Terraform's own `Plan:` line counts them, plus the
//! addresses and actions of the changed resources. No attribute value is ever kept, so a
//! summary cannot leak one; [`sensitive_values`] collects the values Terraform marks sensitive
//! (`before_sensitive`, `after_sensitive`, sensitive outputs and variables) so the human plan
//! text can be scrubbed of any that slip into it ([`redact`]).
//!
//! Pure and lenient: unknown fields are ignored, so plans from Terraform 0.12 to 1.15 all read;
//! a document that is not a plan is a [`SummaryError`], never a panic.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a resource change does, as one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// `["create"]`.
    Create,
    /// `["update"]`.
    Update,
    /// `["delete"]`.
    Delete,
    /// `["delete","create"]` or `["create","delete"]`.
    Replace,
    /// `["read"]` (a data source read during apply).
    Read,
    /// `["forget"]`: removed from state, not destroyed.
    Forget,
    /// `["no-op"]`: only interesting when moved or imported.
    NoOp,
    /// Anything else.
    Other,
}

impl ChangeAction {
    fn from_actions(actions: &[Value]) -> Self {
        let words: Vec<&str> = actions.iter().filter_map(Value::as_str).collect();
        match words.as_slice() {
            ["create"] => Self::Create,
            ["update"] => Self::Update,
            ["delete"] => Self::Delete,
            ["delete", "create"] | ["create", "delete"] => Self::Replace,
            ["read"] => Self::Read,
            ["forget"] => Self::Forget,
            ["no-op"] => Self::NoOp,
            _ => Self::Other,
        }
    }
}

/// One changed resource, without any of its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLine {
    /// Its address, such as `module.net.aws_vpc.this`.
    pub address: String,
    /// What happens to it.
    pub action: ChangeAction,
    /// Where it moved from, when it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// Whether it is being imported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub importing: bool,
}

/// What a plan changes, by kind, as the summary table shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCounts {
    /// Resources to create (replacements included).
    pub add: usize,
    /// Resources to update in place.
    pub change: usize,
    /// Resources to destroy (replacements included).
    pub destroy: usize,
    /// Resources to import.
    pub import: usize,
    /// Resources moved to a new address.
    pub moved: usize,
    /// Resources replaced (counted in `add` and `destroy`).
    pub replace: usize,
    /// Resources removed from state without being destroyed.
    pub forget: usize,
}

impl PlanCounts {
    /// The resources that change, move, are imported or forgotten (a replacement counts twice).
    #[must_use]
    pub fn resources(&self) -> usize {
        self.add + self.change + self.destroy + self.import + self.moved + self.forget
    }
}

/// The counts of one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// The Terraform version that made the plan, when recorded.
    pub terraform_version: Option<String>,
    /// Its resource counts, as the summary table shows them.
    #[serde(flatten)]
    pub counts: PlanCounts,
    /// Outputs that change.
    pub output_changes: usize,
    /// Whether Terraform reported the plan as errored.
    pub errored: bool,
    /// The resources that change, are moved, imported or forgotten, in plan order.
    pub resources: Vec<ResourceLine>,
    /// The resources Terraform found changed outside Terraform when it refreshed
    /// (`resource_drift`), by address: what a drift check may put back without applying any
    /// change of the code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
}

impl PlanSummary {
    /// Whether applying the plan would change anything (resources or outputs).
    #[must_use]
    pub fn has_changes(&self) -> bool {
        self.counts.resources() > 0 || self.output_changes > 0
    }

    /// One line: Terraform's `Plan:` line with the extra counts it leaves out, or `No changes.`.
    #[must_use]
    pub fn line(&self) -> String {
        if self.errored {
            return "Plan failed: Terraform reported errors.".to_owned();
        }
        if self.counts.resources() == 0 {
            return if self.output_changes > 0 {
                format!(
                    "No resource changes; {} output{} change{}.",
                    self.output_changes,
                    if self.output_changes == 1 { "" } else { "s" },
                    if self.output_changes == 1 { "s" } else { "" },
                )
            } else {
                "No changes.".to_owned()
            };
        }
        let mut line = String::from("Plan: ");
        if self.counts.import > 0 {
            let _ = write!(line, "{} to import, ", self.counts.import);
        }
        let _ = write!(
            line,
            "{} to add, {} to change, {} to destroy",
            self.counts.add, self.counts.change, self.counts.destroy
        );
        let mut extra = Vec::new();
        if self.counts.replace > 0 {
            extra.push(format!("{} to replace", self.counts.replace));
        }
        if self.counts.moved > 0 {
            extra.push(format!("{} to move", self.counts.moved));
        }
        if self.counts.forget > 0 {
            extra.push(format!("{} to forget", self.counts.forget));
        }
        if !extra.is_empty() {
            let _ = write!(line, " ({})", extra.join(", "));
        }
        line.push('.');
        line
    }
}

/// A document that is not a readable plan.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Not JSON at all.
    #[error("the plan is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not shaped like `terraform show -json` output.
    #[error("the plan JSON is malformed: {0}")]
    Shape(String),
    /// No JSON document in the text.
    #[error("no plan JSON found in the output")]
    Empty,
}

/// The JSON documents in `text`: one per line that starts with `{` (terragrunt run-all prints
/// several; wrappers print noise around them), or the whole text when it is one document.
fn documents(text: &str) -> Result<Vec<Value>, SummaryError> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok(vec![value]);
    }
    let docs = text
        .lines()
        .filter(|line| line.trim_start().starts_with('{'))
        .map(serde_json::from_str::<Value>)
        .collect::<Result<Vec<_>, _>>()?;
    if docs.is_empty() {
        Err(SummaryError::Empty)
    } else {
        Ok(docs)
    }
}

/// Summarises every plan document in `text`.
pub fn summarize_all(text: &str) -> Result<Vec<PlanSummary>, SummaryError> {
    documents(text)?.iter().map(summarize_value).collect()
}

/// Summarises `text`, which must be one plan document and nothing else, as `terraform show
/// -json` prints it: what the runner summarises must be what the policies read, and text around
/// the document (or a second one before it) is never taken for the plan.
pub fn summarize(text: &str) -> Result<PlanSummary, SummaryError> {
    if !text.contains('{') {
        return Err(SummaryError::Empty);
    }
    summarize_value(&serde_json::from_str::<Value>(text)?)
}

fn summarize_value(plan: &Value) -> Result<PlanSummary, SummaryError> {
    let Some(object) = plan.as_object() else {
        return Err(SummaryError::Shape("the document is not an object".into()));
    };
    let mut summary = PlanSummary {
        terraform_version: object
            .get("terraform_version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        errored: object
            .get("errored")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..PlanSummary::default()
    };
    let changes = match object.get("resource_changes") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(changes)) => changes.as_slice(),
        Some(_) => {
            return Err(SummaryError::Shape("resource_changes is not a list".into()));
        }
    };
    for change in changes {
        let address = change
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let detail = change.get("change");
        let action = detail
            .and_then(|c| c.get("actions"))
            .and_then(Value::as_array)
            .map_or(ChangeAction::Other, |actions| {
                ChangeAction::from_actions(actions)
            });
        let importing = detail
            .and_then(|c| c.get("importing"))
            .is_some_and(|value| !value.is_null());
        let moved_from = change
            .get("previous_address")
            .and_then(Value::as_str)
            .filter(|previous| *previous != address)
            .map(str::to_owned);
        match action {
            ChangeAction::Create => summary.counts.add += 1,
            ChangeAction::Update => summary.counts.change += 1,
            ChangeAction::Delete => summary.counts.destroy += 1,
            ChangeAction::Replace => {
                summary.counts.add += 1;
                summary.counts.destroy += 1;
                summary.counts.replace += 1;
            }
            ChangeAction::Forget => summary.counts.forget += 1,
            ChangeAction::Read | ChangeAction::NoOp | ChangeAction::Other => {}
        }
        if importing {
            summary.counts.import += 1;
        }
        if moved_from.is_some() {
            summary.counts.moved += 1;
        }
        let interesting = !matches!(
            action,
            ChangeAction::NoOp | ChangeAction::Read | ChangeAction::Other
        ) || importing
            || moved_from.is_some();
        if interesting {
            summary.resources.push(ResourceLine {
                address,
                action,
                moved_from,
                importing,
            });
        }
    }
    summary.drifted = drifted_addresses(object);
    if let Some(outputs) = object.get("output_changes").and_then(Value::as_object) {
        summary.output_changes = outputs
            .values()
            .filter(|output| {
                output
                    .get("actions")
                    .and_then(Value::as_array)
                    .is_some_and(|actions| {
                        ChangeAction::from_actions(actions) != ChangeAction::NoOp
                    })
            })
            .count();
    }
    Ok(summary)
}

/// The addresses of `resource_drift`'s entries that changed (not no-ops).
fn drifted_addresses(plan: &serde_json::Map<String, Value>) -> Vec<String> {
    plan.get("resource_drift")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|drift| {
            drift
                .pointer("/change/actions")
                .and_then(Value::as_array)
                .is_some_and(|actions| ChangeAction::from_actions(actions) != ChangeAction::NoOp)
        })
        .filter_map(|drift| drift.get("address").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Every value the plan marks sensitive (through `before_sensitive`/`after_sensitive` masks,
/// the `sensitive_values` masks of `planned_values` and `prior_state`, where a data source read
/// while planning stands alone, sensitive outputs and sensitive root variables), as the strings
/// that could appear in text.
/// Strings shorter than four characters and the words `true`, `false` and `null` are left out:
/// scrubbing those would mangle the text without hiding anything.
#[must_use]
pub fn sensitive_values(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(docs) = documents(text) else {
        return found;
    };
    for plan in &docs {
        let changes = plan
            .get("resource_changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                plan.get("resource_drift")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        for change in changes {
            let Some(detail) = change.get("change") else {
                continue;
            };
            for (value, mask) in [("before", "before_sensitive"), ("after", "after_sensitive")] {
                if let (Some(value), Some(mask)) = (detail.get(value), detail.get(mask)) {
                    masked_leaves(value, mask, &mut found);
                }
            }
        }
        if let Some(outputs) = plan.get("output_changes").and_then(Value::as_object) {
            for output in outputs.values() {
                for (value, mask) in [("before", "before_sensitive"), ("after", "after_sensitive")]
                {
                    if let (Some(value), Some(mask)) = (output.get(value), output.get(mask)) {
                        masked_leaves(value, mask, &mut found);
                    }
                }
            }
        }
        for values in [
            plan.get("planned_values"),
            plan.pointer("/prior_state/values"),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(root) = values.get("root_module") {
                module_leaves(root, &mut found);
            }
            let outputs = values.get("outputs").and_then(Value::as_object);
            for output in outputs.into_iter().flat_map(|o| o.values()) {
                if output.get("sensitive").and_then(Value::as_bool) == Some(true)
                    && let Some(value) = output.get("value")
                {
                    leaves(value, &mut found);
                }
            }
        }
        let sensitive_vars = plan
            .pointer("/configuration/root_module/variables")
            .and_then(Value::as_object);
        if let (Some(config), Some(values)) = (
            sensitive_vars,
            plan.get("variables").and_then(Value::as_object),
        ) {
            for (name, declared) in config {
                if declared.get("sensitive").and_then(Value::as_bool) == Some(true)
                    && let Some(value) = values.get(name).and_then(|v| v.get("value"))
                {
                    leaves(value, &mut found);
                }
            }
        }
    }
    found.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    found.dedup();
    found
}

/// The sensitive leaves of a module as state shows it: each resource's `values` under its
/// `sensitive_values` mask, and its child modules'.
fn module_leaves(module: &Value, found: &mut Vec<String>) {
    let resources = module.get("resources").and_then(Value::as_array);
    for resource in resources.into_iter().flatten() {
        if let (Some(values), Some(mask)) =
            (resource.get("values"), resource.get("sensitive_values"))
        {
            masked_leaves(values, mask, found);
        }
    }
    let children = module.get("child_modules").and_then(Value::as_array);
    for child in children.into_iter().flatten() {
        module_leaves(child, found);
    }
}

/// The leaves of `value` where `mask` (a sensitivity mask of the same shape, or `true` for a
/// whole subtree) says sensitive.
fn masked_leaves(value: &Value, mask: &Value, found: &mut Vec<String>) {
    match mask {
        Value::Bool(true) => leaves(value, found),
        Value::Object(mask) => {
            if let Value::Object(value) = value {
                for (key, sub_mask) in mask {
                    if let Some(sub_value) = value.get(key) {
                        masked_leaves(sub_value, sub_mask, found);
                    }
                }
            }
        }
        Value::Array(mask) => {
            if let Value::Array(value) = value {
                for (sub_value, sub_mask) in value.iter().zip(mask) {
                    masked_leaves(sub_value, sub_mask, found);
                }
            }
        }
        _ => {}
    }
}

fn leaves(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text)
            if text.chars().count() >= 4 && !matches!(text.as_str(), "true" | "false" | "null") =>
        {
            found.push(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|item| leaves(item, found)),
        Value::Object(map) => map.values().for_each(|item| leaves(item, found)),
        _ => {}
    }
}

/// The mark that replaces a sensitive value, as Terraform writes it.
pub const REDACTED: &str = "(sensitive value)";

/// `text` with every occurrence of every value in `secrets` replaced by [`REDACTED`]; longer
/// values first, so a secret containing another is replaced whole. Terraform's counts line
/// (`Plan: 1 to add, 0 to change, 3 to destroy.`) is kept whole: it holds no value, and a
/// sensitive value or a withheld one the pull request chose (`destroy`) must not hide from its
/// reviewers what the plan does.
#[must_use]
pub fn redact(text: &str, secrets: &[String]) -> String {
    let cut = Cut::new(secrets);
    // The text between counts lines is cut whole, so a value of several lines is cut too.
    let mut out = String::with_capacity(text.len());
    let (mut uncut, mut at) = (0, 0);
    for line in text.split_inclusive('\n') {
        if is_counts_line(line.trim_end()) {
            out.push_str(&cut.apply(&text[uncut..at]));
            out.push_str(line);
            uncut = at + line.len();
        }
        at += line.len();
    }
    out.push_str(&cut.apply(&text[uncut..]));
    out
}

/// Whether `line` is Terraform's counts line and nothing else: `Plan: ` and `<n> to <action>`
/// parts (`import`, `add`, `change`, `destroy`, `forget`) joined by `, `, with a final `.`.
fn is_counts_line(line: &str) -> bool {
    let Some(parts) = line
        .strip_prefix("Plan: ")
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return false;
    };
    parts.split(", ").all(|part| {
        part.split_once(" to ").is_some_and(|(n, action)| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && matches!(action, "import" | "add" | "change" | "destroy" | "forget")
        })
    })
}

/// What [`redact`] cuts, worked out once for every part of a text: each value in every form
/// it is printed in, longest first, and the lines of values of several lines.
struct Cut<'a> {
    forms: Vec<String>,
    lines: std::collections::HashSet<&'a str>,
}

impl<'a> Cut<'a> {
    fn new(secrets: &'a [String]) -> Self {
        let mut forms: Vec<String> = secrets.iter().flat_map(|s| printed_forms(s)).collect();
        forms.retain(|form| !form.is_empty());
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        // A value of several lines (a key) as a plan's heredoc shows it: each of its lines,
        // indented, on a line of its own. Only whole lines, and long ones, so that a value's
        // common lines (`apiVersion: v1`) are not cut from everything else.
        let lines = secrets
            .iter()
            .filter(|secret| secret.contains('\n'))
            .flat_map(|secret| secret.lines().map(str::trim))
            .filter(|line| line.chars().count() >= SECRET_LINE_MIN)
            .collect();
        Cut { forms, lines }
    }

    fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        if self.lines.is_empty() {
            return out;
        }
        cut_lines(&out, &self.lines)
    }
}

/// `text` with each line that is one of `lines` (as it stands, or after Terraform's diff symbol,
/// coloured or not) cut.
fn cut_lines(text: &str, lines: &std::collections::HashSet<&str>) -> String {
    // Compared as Terraform's diff writes them too: coloured, after a `+`, `-` or `~`.
    text.split_inclusive('\n')
        .map(|line| {
            let plain = without_colours(line);
            let body = plain.trim_end();
            let lead = body.trim_start();
            let bare = lead.trim_start_matches(['+', '-', '~']).trim_start();
            if lines.contains(bare) {
                let indent = &body[..body.len() - lead.len()];
                let symbol = &lead[..lead.len() - bare.len()];
                let end = if line.ends_with('\n') { "\n" } else { "" };
                format!("{indent}{symbol}{REDACTED}{end}")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// `text` without the ANSI colour and style sequences (`ESC [ ... m`, and every other CSI
/// sequence) a step that runs Terraform without `-no-color` prints, as Atlantis strips them.
#[must_use]
pub fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' || chars.peek() != Some(&'[') {
            out.push(c);
            continue;
        }
        chars.next();
        // Parameters and intermediates, then the final byte (`@` to `~`).
        for c in chars.by_ref() {
            if ('@'..='~').contains(&c) {
                break;
            }
        }
    }
    out
}

/// The shortest line of a value of several lines that is cut where it stands alone.
const SECRET_LINE_MIN: usize = 16;

/// `value` as it stands inside a JSON string: quotes, backslashes and control characters
/// escaped.
#[must_use]
pub fn json_form(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

/// The forms `secret` takes in what Terraform and the tools of a workflow print: as it is,
/// inside a JSON string (`terraform show -json`, `$SHOWFILE`, `jsonencode`: `\"`, `\\`, `\n`,
/// and Go's `\u003c`, `\u003e`, `\u0026` for `<`, `>`, `&`), and as a plan shows a string
/// (escaped so, with HCL's `$${` and `%%{` for `${` and `%{`).
fn printed_forms(secret: &str) -> Vec<String> {
    let json = json_form(secret);
    let go = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    let hcl = json.replace("${", "$${").replace("%{", "%%{");
    let mut forms = vec![secret.to_owned(), json, go, hcl];
    forms.sort();
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests;
