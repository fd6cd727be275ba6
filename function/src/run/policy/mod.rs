//! Policy checks, Atlantis' `policies` evaluated in-process: each policy set's Rego modules (the
//! operator's, handed to the run) over `terraform show -json` of the plan, with conftest's
//! conventions, so existing conftest policies work unchanged and no `conftest` binary is needed:
//! rules `deny`, `violation` (failures) and `warn` (warnings) in package `main` (or the
//! packages conftest's `--namespace` and `--all-namespaces` name: [`Namespaces`]), each also
//! with a `_suffix` (`deny_public_bucket`), their messages strings or objects with a `msg`.
//! Modules are read as Rego v1, else as v0 (`deny[msg] { ... }`), as conftest reads both.
//!
//! A set fails closed: a module that does not parse, an evaluation error, a plan that is not
//! JSON, or a set with no such rule at all is an error that fails the set, never a pass.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

mod input;

/// A policy set as the run gets it: its name and its modules' text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    /// The set's `name` in the policy.
    pub name: String,
    /// Its `.rego` files, by path (as the operator's folder names them) and text.
    pub modules: Vec<PolicyModule>,
    /// The packages its rules are read from.
    #[serde(default, skip_serializing_if = "Namespaces::is_main")]
    pub namespaces: Namespaces,
}

impl PolicySet {
    /// The SHA-256 of the set's rules (each module's path and text), in hex. A plan's result
    /// names it, so a plan checked before the operator changed a set's rules does not count as
    /// checked against the set as it is now.
    #[must_use]
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        for module in &self.modules {
            for part in [&module.path, &module.text] {
                hash.update((part.len() as u64).to_le_bytes());
                hash.update(part.as_bytes());
            }
        }
        hex::encode(hash.finalize())
    }
}

/// The packages a set's rules are read from, as conftest's flags choose them: `main` by
/// default, the packages `--namespace` names (`terraform.aws`), or every package of the set's
/// modules (`--all-namespaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespaces {
    /// These packages, by their dotted names.
    Named(Vec<String>),
    /// Every package of the set.
    All,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::Named(vec![PACKAGE.to_owned()])
    }
}

impl Namespaces {
    /// Whether these are conftest's default, `main` alone.
    #[must_use]
    pub fn is_main(&self) -> bool {
        *self == Namespaces::default()
    }

    /// The packages of both.
    #[must_use]
    pub fn union(self, other: Namespaces) -> Namespaces {
        match (self, other) {
            (Namespaces::Named(mut a), Namespaces::Named(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
                Namespaces::Named(a)
            }
            _ => Namespaces::All,
        }
    }

    /// Whether `name` is a package name conftest's `--namespace` can name: identifiers joined
    /// by dots (`terraform.aws`).
    #[must_use]
    pub fn valid_name(name: &str) -> bool {
        name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    }

    /// The packages to read in `engine` (its modules added), each as its path's parts.
    fn packages(&self, engine: &regorus::Engine) -> Result<Vec<Vec<String>>, String> {
        let mut packages: Vec<Vec<String>> = match self {
            Namespaces::Named(names) => names
                .iter()
                .map(|name| name.split('.').map(str::to_owned).collect())
                .collect(),
            Namespaces::All => engine
                .get_policy_package_components()
                .map_err(|err| format!("its packages cannot be listed: {err}"))?
                .into_iter()
                .map(|package| package.components)
                .collect(),
        };
        packages.sort();
        packages.dedup();
        Ok(packages)
    }
}

/// One `.rego` file of a policy set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyModule {
    /// The file, relative to the set's path.
    pub path: String,
    /// Its Rego.
    pub text: String,
}

/// What a policy set found in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySetResult {
    /// The set's name.
    pub name: String,
    /// The messages of `deny` and `violation` rules: the plan may not be applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The messages of `warn` rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the set could not be evaluated; a set with an error fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The packages read: the function takes the result only for those its run was given (a
    /// runner that predates them, which reads `main` alone, is not believed).
    #[serde(default, skip_serializing_if = "Namespaces::is_main")]
    pub namespaces: Namespaces,
    /// The [`PolicySet::digest`] of the set as the run was given it: the function takes the
    /// result only for its run's own rules, and apply only for the rules the policy has now.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

impl PolicySetResult {
    /// The result of `set` before anything is found: no failure, warning or error.
    #[must_use]
    pub fn of(set: &PolicySet) -> Self {
        PolicySetResult {
            name: set.name.clone(),
            failures: Vec::new(),
            warnings: Vec::new(),
            error: None,
            namespaces: set.namespaces.clone(),
            digest: set.digest(),
        }
    }

    /// Whether the set lets the plan be applied: no failure and no error.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.error.is_none()
    }

    fn error(set: &PolicySet, error: String) -> Self {
        PolicySetResult {
            error: Some(error),
            ..PolicySetResult::of(set)
        }
    }
}

/// The package conftest reads rules from by default.
const PACKAGE: &str = "main";

/// Evaluates every set over `plan_json` (`terraform show -json` of the plan).
#[must_use]
pub fn evaluate(sets: &[PolicySet], plan_json: &str) -> Vec<PolicySetResult> {
    if sets.is_empty() {
        return Vec::new();
    }
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let members = input::members_read(sets);
    let input = match input::rego_input(plan_json, members.as_ref(), threads) {
        Ok(input) => input,
        Err(err) => {
            let why = format!("the plan's JSON cannot be read: {err}");
            return sets
                .iter()
                .map(|set| PolicySetResult::error(set, why.clone()))
                .collect();
        }
    };
    // Sets are independent: evaluated side by side.
    let results = in_parallel(sets, threads, |set| evaluate_set(set, &input))
        .into_iter()
        .zip(sets)
        .map(|(result, set)| {
            result.unwrap_or_else(|| {
                PolicySetResult::error(set, "its evaluation panicked".to_owned())
            })
        })
        .collect();
    // Freeing a large plan's values takes a while that nobody needs to wait for (where no
    // thread can be started, the closure is dropped here, and the input with it).
    let _ = std::thread::Builder::new()
        .name("policy-input-drop".to_owned())
        .spawn(move || drop(input));
    results
}

/// `f` of every item on up to `threads` threads, each taking the next item not yet taken; the
/// results in the items' order, `None` where `f` panicked.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break done };
            done.push((
                i,
                std::panic::catch_unwind(AssertUnwindSafe(|| f(item))).ok(),
            ));
        }
    };
    let done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(items.len()))
            .map(|_| scope.spawn(work))
            .collect();
        let mut done = work();
        for helper in helpers {
            done.extend(helper.join().unwrap_or_default());
        }
        done
    });
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, result) in done {
        results[i] = result;
    }
    results
}

fn evaluate_set(set: &PolicySet, input: &regorus::Value) -> PolicySetResult {
    let mut engine = regorus::Engine::new();
    for module in &set.modules {
        if let Err(err) = add_module(&mut engine, module) {
            return PolicySetResult::error(set, err);
        }
    }
    engine.set_input(input.clone());
    let packages = match set.namespaces.packages(&engine) {
        Ok(packages) => packages,
        Err(err) => return PolicySetResult::error(set, err),
    };
    let mut result = PolicySetResult::of(set);
    let mut any_rule = false;
    for package in &packages {
        let rules = match package_rules(&mut engine, package) {
            Ok(rules) => rules,
            Err(err) => return PolicySetResult::error(set, err),
        };
        // Outside conftest's default, a message says which package it comes from.
        let from = (!set.namespaces.is_main()).then(|| package.join("."));
        for (rule, value) in rules.as_object().into_iter().flatten() {
            let list = if is_rule(rule, "deny") || is_rule(rule, "violation") {
                &mut result.failures
            } else if is_rule(rule, "warn") {
                &mut result.warnings
            } else {
                continue;
            };
            any_rule = true;
            list.extend(messages(value).into_iter().map(|message| match &from {
                Some(package) => format!("{package}: {message}"),
                None => message,
            }));
        }
    }
    if !any_rule {
        let read = match &set.namespaces {
            Namespaces::All => "any package".to_owned(),
            Namespaces::Named(names) if names.len() == 1 => format!("package `{}`", names[0]),
            Namespaces::Named(names) => format!("packages `{}`", names.join("`, `")),
        };
        result.error = Some(format!(
            "it has no `deny`, `violation` or `warn` rule in {read}: it would check nothing"
        ));
    }
    result.failures.sort();
    result.warnings.sort();
    result
}

/// The value of the package whose path is `parts` (its rules by name), `null` where no module
/// defines it. The parts are quoted into the query, so no name can change what it asks.
fn package_rules(
    engine: &mut regorus::Engine,
    parts: &[String],
) -> Result<serde_json::Value, String> {
    let mut query = "data".to_owned();
    for part in parts {
        query.push('[');
        query.push_str(&serde_json::Value::from(part.as_str()).to_string());
        query.push(']');
    }
    let value = engine
        .eval_query(query, false)
        .map_err(|err| format!("evaluating it failed: {err}"))?
        .result
        .into_iter()
        .flat_map(|r| r.expressions)
        .map(|e| e.value)
        .next();
    // A result that cannot be read (nested deeper than the JSON reader goes) fails the set: a
    // package dropped here could leave another package's rules passing alone.
    let unreadable = |err: &dyn std::fmt::Display| format!("its result cannot be read: {err}");
    match value.map(|value| value.to_json_str()) {
        Some(Ok(json)) => serde_json::from_str(&json).map_err(|e| unreadable(&e)),
        Some(Err(err)) => Err(unreadable(&err)),
        None => Ok(serde_json::Value::Null),
    }
}

/// `name` is `kind` or `kind_<something>`, as conftest matches rules.
fn is_rule(name: &str, kind: &str) -> bool {
    name.strip_prefix(kind)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
}

/// A rule's messages: the strings of a set (or a list), an object's `msg`, else its JSON.
fn messages(value: &serde_json::Value) -> Vec<String> {
    let one = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => o
            .get("msg")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| v.to_string(), str::to_owned),
        other => other.to_string(),
    };
    match value {
        serde_json::Value::Array(items) => items.iter().map(one).collect(),
        // A boolean rule that holds (`deny := true`) fails without a message of its own.
        serde_json::Value::Bool(true) => vec!["(no message)".to_owned()],
        serde_json::Value::Bool(false) | serde_json::Value::Null => Vec::new(),
        other => vec![one(other)],
    }
}

/// Adds `module` read as Rego v1, else as v0; neither: both errors.
fn add_module(engine: &mut regorus::Engine, module: &PolicyModule) -> Result<(), String> {
    engine.set_rego_v0(false);
    let Err(as_v1) = engine.add_policy(module.path.clone(), module.text.clone()) else {
        return Ok(());
    };
    engine.set_rego_v0(true);
    let added = engine.add_policy(module.path.clone(), module.text.clone());
    engine.set_rego_v0(false);
    added.map(drop).map_err(|as_v0| {
        format!(
            "`{}` is not valid Rego: as Rego v1: {as_v1}; as Rego v0: {as_v0}",
            module.path
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, text: &str) -> PolicySet {
        PolicySet {
            name: name.to_owned(),
            modules: vec![PolicyModule {
                path: format!("{name}.rego"),
                text: text.to_owned(),
            }],
            namespaces: Namespaces::default(),
        }
    }

    const PLAN: &str = r#"{"resource_changes": [
        {"address": "aws_s3_bucket.logs", "type": "aws_s3_bucket",
         "change": {"actions": ["delete"]}},
        {"address": "aws_instance.web", "type": "aws_instance",
         "change": {"actions": ["create"], "after": {"instance_type": "x1.32xlarge"}}}
    ]}"#;

    #[test]
    fn deny_violation_and_warn_rules_in_v0_and_v1_are_read_with_their_messages() {
        let v0 = set(
            "v0",
            "package main\n\ndeny[msg] {\n  rc := input.resource_changes[_]\n  rc.change.actions[_] == \"delete\"\n  msg := sprintf(\"%s would be deleted\", [rc.address])\n}\n\nwarn_size[msg] {\n  rc := input.resource_changes[_]\n  startswith(rc.change.after.instance_type, \"x1\")\n  msg := sprintf(\"%s is an x1\", [rc.address])\n}\n",
        );
        let v1 = set(
            "v1",
            "package main\n\nviolation contains {\"msg\": msg} if {\n  some rc in input.resource_changes\n  rc.type == \"aws_instance\"\n  msg := \"instances need a review\"\n}\n",
        );
        let results = evaluate(&[v0, v1], PLAN);
        assert_eq!(results[0].failures, ["aws_s3_bucket.logs would be deleted"]);
        assert_eq!(results[0].warnings, ["aws_instance.web is an x1"]);
        assert!(!results[0].passed());
        assert_eq!(results[1].failures, ["instances need a review"]);
        assert!(results[1].error.is_none());
    }

    #[test]
    fn a_set_that_cannot_be_evaluated_fails_and_never_passes() {
        let broken = set("broken", "package main\n\ndeny[msg] {\n  msg := \n");
        let nothing = set("nothing", "package main\n\nallow := true\n");
        let other = set("other", "package other\n\ndeny contains \"x\" if true\n");
        let results = evaluate(&[broken, nothing, other], PLAN);
        for r in &results {
            assert!(!r.passed(), "{r:?}");
            assert!(r.error.is_some(), "{r:?}");
        }
        assert!(
            results[0]
                .error
                .as_deref()
                .unwrap()
                .contains("is not valid Rego")
        );
        let not_json = evaluate(
            &[set("s", "package main\ndeny contains \"x\" if false\n")],
            "{",
        );
        assert!(
            not_json[0]
                .error
                .as_deref()
                .unwrap()
                .contains("cannot be read")
        );
    }

    /// conftest's `--namespace` and `--all-namespaces`: the packages read are the ones chosen,
    /// `main` only when chosen, a package without rules (a library) is no error, and each
    /// message says which package failed it.
    #[test]
    fn the_chosen_packages_are_read_and_name_their_messages() {
        let deny_in = |package: &str, what: &str| {
            format!(
                "package {package}\n\ndeny contains msg if {{\n  some rc in input.resource_changes\n  rc.type == \"{what}\"\n  msg := sprintf(\"%s is refused\", [rc.address])\n}}\n"
            )
        };
        let mut packages = set("packages", &deny_in("main", "aws_s3_bucket"));
        for (path, text) in [
            ("aws.rego", deny_in("terraform.aws", "aws_instance")),
            (
                "lib.rego",
                "package lib.names\n\nprefix := \"acme-\"\n".to_owned(),
            ),
            ("quoted.rego", deny_in("team[\"a-b\"]", "aws_s3_bucket")),
        ] {
            packages.modules.push(PolicyModule {
                path: path.to_owned(),
                text,
            });
        }
        let with = |namespaces: Namespaces| {
            let mut s = packages.clone();
            s.namespaces = namespaces;
            evaluate(&[s], PLAN).remove(0)
        };
        assert_eq!(
            with(Namespaces::default()).failures,
            ["aws_s3_bucket.logs is refused"]
        );
        let aws = with(Namespaces::Named(vec!["terraform.aws".to_owned()]));
        assert_eq!(aws.failures, ["terraform.aws: aws_instance.web is refused"]);
        let all = with(Namespaces::All);
        assert_eq!(
            all.failures,
            [
                "main: aws_s3_bucket.logs is refused",
                "team.a-b: aws_s3_bucket.logs is refused",
                "terraform.aws: aws_instance.web is refused",
            ],
            "{all:?}"
        );
        // Packages without rules check nothing: an error, never a pass.
        for nothing in [
            Namespaces::Named(vec!["lib.names".to_owned(), "gcp".to_owned()]),
            Namespaces::Named(vec!["main.x".to_owned()]),
        ] {
            let result = with(nothing);
            assert!(!result.passed(), "{result:?}");
            assert!(result.error.unwrap().contains("would check nothing"));
        }
        let mut library = set("library", "package lib.names\n\nprefix := \"acme-\"\n");
        library.namespaces = Namespaces::All;
        assert!(!evaluate(&[library], PLAN)[0].passed());
    }

    /// A package whose result cannot be read (nested deeper than the JSON reader goes) fails
    /// the set, even where another package has rules that pass.
    #[test]
    fn a_package_whose_result_cannot_be_read_fails_the_set() {
        // A plan nested as deep as the reader goes, which a rule's message nests deeper.
        let plan = format!(r#"{{"deep": {}1{}}}"#, "[".repeat(120), "]".repeat(120));
        let mut s = set(
            "deep",
            "package main\n\ndeny contains \"never\" if { input.nothing }\n",
        );
        s.modules.push(PolicyModule {
            path: "deep.rego".to_owned(),
            text: "package deep\n\ndeny contains {\"msg\": \"deep\", \"at\": [[[[[[[[[[input.deep]]]]]]]]]]} if { input.deep }\n".to_owned(),
        });
        s.namespaces = Namespaces::All;
        let result = evaluate(&[s], &plan).remove(0);
        assert!(!result.passed(), "{result:?}");
        assert!(result.error.unwrap().contains("cannot be read"));
    }

    #[test]
    fn package_names_are_identifiers_joined_by_dots() {
        for good in ["main", "terraform.aws", "_x.y_1"] {
            assert!(Namespaces::valid_name(good), "{good}");
        }
        for bad in ["", "a..b", "1a", "a-b", "main]; x := [", "data.main "] {
            assert!(!Namespaces::valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_clean_plan_passes() {
        let s = set(
            "ok",
            "package main\n\ndeny contains msg if {\n  some rc in input.resource_changes\n  rc.type == \"aws_iam_user\"\n  msg := \"no IAM users\"\n}\n",
        );
        let results = evaluate(&[s], PLAN);
        assert!(results[0].passed(), "{:?}", results[0]);
    }
}
