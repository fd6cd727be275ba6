//! A workflow's `policy_check` stage, where Atlantis passes conftest its flags. In the policy's
//! own (server-side) workflows a `policy_check` step's `extra_args` may choose the packages the
//! policy sets' rules are read from (`--namespace`/`-n`, `--all-namespaces`), and may name a
//! set's own folder with `-p` (Landfall evaluates each set on its own anyway). Any other argument
//! or step is an error: it would not run, and policies conftest fails could pass. A repository's
//! file may not have a stage of its own: which rules gate its plans is the operator's choice.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use super::policy_checks::PolicyChecks;
use super::read::Reader;
use super::workflow::Workflow;
use super::yaml::{Node, Value};
use crate::run::policy::Namespaces;

/// What a `policy_check` stage chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyCheckStage {
    /// The packages the sets' rules are read from.
    pub namespaces: Namespaces,
    /// The folders `-p` names, as written: each must be the folder of every policy set.
    pub policy_paths: Vec<String>,
    /// The stage's line.
    pub line: usize,
}

impl PolicyCheckStage {
    /// The stage reading the packages of both `a` and `b`, either of them `None` for conftest's
    /// default, `main`; `None` when both are.
    #[must_use]
    pub fn joined(a: Option<&PolicyCheckStage>, b: Option<PolicyCheckStage>) -> Option<Self> {
        let line = b.as_ref().or(a)?.line;
        let a = a.map(|a| a.namespaces.clone()).unwrap_or_default();
        let b = b.map(|b| b.namespaces).unwrap_or_default();
        Some(PolicyCheckStage {
            namespaces: a.union(b),
            policy_paths: Vec::new(),
            line,
        })
    }
}

/// Reads the `policy_check` stage at `node` (of workflow `workflow`, key at `line`).
/// `server_side`: the stage is in the operator's policy, not a repository's file.
pub(super) fn read_policy_check_stage(
    r: &mut Reader,
    node: &Node,
    line: usize,
    workflow: &str,
    server_side: bool,
) -> Option<PolicyCheckStage> {
    let what = format!("the `policy_check` stage of workflow `{workflow}`");
    if is_default_policy_check(node) {
        r.warning(
            line,
            format!(
                "{what} is Atlantis' default, which is what Landfall runs: the operator's \
                 policy sets, with their `package main` rules; the stage is not needed"
            ),
        )
        .help = Some("remove the stage to silence this warning".to_owned());
        return None;
    }
    if !server_side {
        r.error(
            line,
            format!(
                "{what} is not supported in a repository's file: Landfall evaluates the \
                 operator's policy sets itself, and which of their packages gate a plan is the \
                 operator's choice"
            ),
        )
        .help = Some(
            "remove the stage; the operator can set conftest's `--namespace` or \
             `--all-namespaces` in a `policy_check` stage of a workflow in the policy file"
                .to_owned(),
        );
        return None;
    }
    let mut chosen = None;
    for entry in r.map(node, &what)? {
        if entry.key != "steps" {
            r.unknown_key(entry, &what, &["steps"]);
            continue;
        }
        for item in r.seq(&entry.value, &format!("`steps` of {what}"))? {
            let StageStep::PolicyCheck(args) = read_step(r, item, &what)? else {
                continue;
            };
            if chosen.is_some() {
                r.error(
                    item.line,
                    format!("{what} has more than one `policy_check` step"),
                )
                .help = Some("give one step all the arguments".to_owned());
                return None;
            }
            match conftest_flags(&args) {
                Ok((namespaces, policy_paths)) => {
                    chosen = Some(PolicyCheckStage {
                        namespaces: namespaces.unwrap_or_default(),
                        policy_paths,
                        line: item.line,
                    });
                }
                Err(problem) => {
                    r.error(
                        item.line,
                        format!("the `policy_check` step of {what}: {problem}"),
                    )
                    .help = Some(ARGS_HELP.to_owned());
                    return None;
                }
            }
        }
    }
    chosen
}

const ARGS_HELP: &str = "Landfall evaluates the policy sets itself, with no conftest: it reads \
    `--namespace NAME` (`-n`, names joined by commas, repeated), `--all-namespaces`, and `-p` \
    naming the policy sets' own folder";

/// Whether a `policy_check` stage is Atlantis' default (`steps: [show, policy_check]`, or a
/// part of it, with no arguments): what Landfall evaluates anyway.
fn is_default_policy_check(node: &Node) -> bool {
    let steps = match &node.value {
        Value::Null => return true,
        Value::Map(entries) if entries.len() == 1 && entries[0].key == "steps" => &entries[0].value,
        _ => return false,
    };
    match &steps.value {
        Value::Null => true,
        Value::Seq(items) => items.iter().all(|item| {
            matches!(&item.value, Value::Scalar { text, .. } if text == "show" || text == "policy_check")
        }),
        _ => false,
    }
}

/// A step of the stage.
enum StageStep {
    /// `show`: Landfall reads the plan's JSON itself.
    Show,
    /// `policy_check`, its `extra_args` split into words.
    PolicyCheck(Vec<String>),
}

/// One step of the stage; `None` after an error.
fn read_step(r: &mut Reader, node: &Node, what: &str) -> Option<StageStep> {
    let (name, value) = match &node.value {
        Value::Scalar { text, .. } => (text.as_str(), None),
        Value::Map(entries) if entries.len() == 1 => {
            (entries[0].key.as_str(), Some(&entries[0].value))
        }
        _ => ("", None),
    };
    let value = value.filter(|v| v.value != Value::Null);
    match (name, value) {
        ("show", None) => Some(StageStep::Show),
        ("policy_check", None) => Some(StageStep::PolicyCheck(Vec::new())),
        ("policy_check", Some(value)) => {
            let mut words = Vec::new();
            for e in r.map(value, "step `policy_check`")? {
                if e.key != "extra_args" {
                    r.unknown_key(e, "step `policy_check`", &["extra_args"]);
                    continue;
                }
                for arg in r.strings(&e.value, "`extra_args` of step `policy_check`")? {
                    // As Atlantis reads each entry: words, quotes keeping spaces.
                    let Ok(split) = shell_words::split(&arg) else {
                        r.error(
                            e.line,
                            format!("an `extra_args` entry of {what} has an unterminated quote"),
                        );
                        return None;
                    };
                    words.extend(split);
                }
            }
            Some(StageStep::PolicyCheck(words))
        }
        _ => {
            r.error(
                node.line,
                format!("{what} may hold only `show` and `policy_check` steps"),
            )
            .help = Some(ARGS_HELP.to_owned());
            None
        }
    }
}

/// conftest's flags among `words`: the packages chosen (`None`: conftest's default) and the
/// `-p` folders; the first word Landfall cannot honour is an error.
fn conftest_flags(words: &[String]) -> Result<(Option<Namespaces>, Vec<String>), String> {
    let mut named: Option<Vec<String>> = None;
    let mut all = false;
    let mut paths = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        // pflag's spellings: `--flag=value`, `-n=value` and `-nvalue`.
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") || flag.len() == 2 => (flag, Some(value)),
            _ if word.starts_with('-') && !word.starts_with("--") && word.len() > 2 => {
                match (word.get(..2), word.get(2..)) {
                    (Some(flag), Some(value)) => (flag, Some(value)),
                    _ => (word.as_str(), None),
                }
            }
            _ => (word.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .map(str::to_owned)
                .or_else(|| words.next().cloned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("`{flag}` needs {what}"))
        };
        match flag {
            "--all-namespaces" => {
                all = match inline {
                    None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
                    Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
                    Some(_) => return Err(format!("`{word}` takes `true` or `false`")),
                };
            }
            "-n" | "--namespace" => {
                for name in value("a package name")?.split(',') {
                    if !Namespaces::valid_name(name) {
                        return Err(format!(
                            "`{name}` is not a package name (identifiers joined by dots)"
                        ));
                    }
                    named.get_or_insert_default().push(name.to_owned());
                }
            }
            "-p" | "--policy" => paths.extend(value("a folder")?.split(',').map(str::to_owned)),
            _ => return Err(format!("`{word}` is not an argument Landfall can honour")),
        }
    }
    let namespaces = if all {
        Some(Namespaces::All)
    } else {
        named.map(Namespaces::Named)
    };
    Ok((namespaces, paths))
}

/// Checks each `-p` of the workflows' stages against the policy sets: conftest would read a
/// folder that is not a set's own into every set's check, which Landfall does not do.
pub(super) fn check_policy_paths(
    r: &mut Reader,
    workflows: &BTreeMap<String, Workflow>,
    checks: Option<&PolicyChecks>,
) {
    let sets = checks.map_or(&[][..], |c| &c.sets[..]);
    for (name, workflow) in workflows {
        let Some(stage) = &workflow.policy_check else {
            continue;
        };
        for path in &stage.policy_paths {
            if let Some(other) = sets.iter().find(|set| !same_folder(&set.path, path)) {
                r.error(
                    stage.line,
                    format!(
                        "`-p {path}` in the `policy_check` stage of workflow `{name}` is not the \
                         folder of policy set `{}` (`{}`): conftest would add its policies to \
                         that set's check, which Landfall does not do",
                        other.set.name, other.path
                    ),
                )
                .help = Some(
                    "make the folder a policy set of its own under `policies.policy_sets`, or \
                     remove the `-p`"
                        .to_owned(),
                );
            }
        }
    }
}

/// Whether `a` and `b` name the same folder as written (`./x/` and `x` do).
fn same_folder(a: &str, b: &str) -> bool {
    let parts = |path| {
        Path::new(path)
            .components()
            .filter(|c| *c != Component::CurDir)
    };
    parts(a).eq(parts(b))
}
