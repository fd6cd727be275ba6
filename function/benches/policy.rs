//! Policy evaluation beside JSON parsing: 20 policy sets (the four test policies of
//! `tests/runner/policies`, each five times under another name) over a plan of about 5 MB,
//! measured side by side with parsing the same JSON into a `serde_json::Value`. The issue's
//! target: at most 3x. Two plans from the corpus' Terraform 0.14 plan: grown whole (every member
//! in the real proportions; the policies read only `resource_changes`, a quarter of it), and
//! grown in its resource changes only (all of it read). Prints the medians and the ratios.
#![allow(
    clippy::disallowed_methods,
    reason = "a bench's knobs are its own process's variables, not Landfall's settings"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use landfall_function::run::policy::{Namespaces, PolicyModule, PolicySet, evaluate};

const ROUNDS: usize = 15;
const TARGET_BYTES: usize = 5 * 1024 * 1024;

fn corpus_plan() -> serde_json::Value {
    let text = std::fs::read_to_string(landfall_e2e::corpus(
        "terraform-plan-json-infracost/terraform_v0.14_plan.json",
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Adds copy `round` of the corpus plan's resource changes to `plan`.
fn add_changes(plan: &mut serde_json::Value, corpus: &serde_json::Value, round: usize) {
    for change in corpus["resource_changes"].as_array().unwrap() {
        let mut change = change.clone();
        let address = change["address"].as_str().unwrap_or_default().to_owned();
        change["address"] = serde_json::Value::String(format!("module.copy{round}.{address}"));
        plan["resource_changes"]
            .as_array_mut()
            .unwrap()
            .push(change);
    }
}

/// Grows `plan` by `add` until its JSON is about 5 MB.
fn grown(
    mut plan: serde_json::Value,
    mut add: impl FnMut(&mut serde_json::Value, usize),
) -> String {
    let size = |plan: &serde_json::Value| serde_json::to_string(plan).unwrap().len();
    let before = size(&plan);
    add(&mut plan, 0);
    let step = size(&plan) - before;
    let mut round = 1;
    loop {
        let now = size(&plan);
        if now >= TARGET_BYTES {
            return serde_json::to_string(&plan).unwrap();
        }
        for _ in 0..(TARGET_BYTES - now).div_ceil(step) {
            add(&mut plan, round);
            round += 1;
        }
    }
}

/// The corpus plan with only its resource changes repeated until the JSON is about 5 MB: every
/// byte is in `resource_changes`, the member the policies read (nothing to leave out).
fn changes_only_plan() -> String {
    let corpus = corpus_plan();
    let mut plan = corpus.clone();
    plan["resource_changes"] = serde_json::Value::Array(Vec::new());
    grown(plan, |plan, round| add_changes(plan, &corpus, round))
}

/// The corpus plan as a root module calling itself as a module again and again until the JSON
/// is about 5 MB: every member grows (resource changes, planned values, prior state,
/// configuration), in the corpus plan's proportions (a quarter of it resource changes).
fn whole_plan() -> String {
    let corpus = corpus_plan();
    grown(corpus.clone(), |plan, round| {
        add_changes(plan, &corpus, round);
        let name = format!("module.copy{round}");
        for (at, from) in [
            ("/planned_values/root_module", "/planned_values/root_module"),
            (
                "/prior_state/values/root_module",
                "/prior_state/values/root_module",
            ),
        ] {
            let mut module = corpus.pointer(from).unwrap().clone();
            module["address"] = serde_json::Value::String(name.clone());
            let children = plan.pointer_mut(at).unwrap()["child_modules"]
                .as_array_mut()
                .unwrap();
            children.push(module);
        }
        let config = corpus
            .pointer("/configuration/root_module")
            .unwrap()
            .clone();
        plan.pointer_mut("/configuration/root_module/module_calls")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(
                format!("copy{round}"),
                serde_json::json!({"source": "./copy", "module": config}),
            );
    })
}

fn policy_sets() -> Vec<PolicySet> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runner/policies");
    let mut modules = Vec::new();
    for set in ["no_destroy", "tags", "instances", "gke"] {
        for entry in std::fs::read_dir(dir.join(set)).unwrap().flatten() {
            modules.push(PolicyModule {
                path: entry.path().display().to_string(),
                text: std::fs::read_to_string(entry.path()).unwrap(),
            });
        }
    }
    (0..20)
        .map(|i| PolicySet {
            name: format!("set-{i}"),
            modules: vec![modules[i % modules.len()].clone()],
            namespaces: Namespaces::default(),
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Times `sets` over `plan` beside parsing it; prints the medians and the ratio.
fn measure(what: &str, plan: &str, sets: &[PolicySet]) {
    let (mut parse, mut policies, mut input) = (Vec::new(), Vec::new(), Vec::new());
    let mut found = 0;
    for _ in 0..ROUNDS {
        // Each round starts idle: `evaluate` frees the last round's input on a thread of its own.
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let value: serde_json::Value = serde_json::from_str(plan).unwrap();
        parse.push(started.elapsed());
        drop(value);
        let started = Instant::now();
        let value = regorus::Value::from_json_str(plan).unwrap();
        input.push(started.elapsed());
        drop(value);
        let started = Instant::now();
        let results = evaluate(sets, plan);
        policies.push(started.elapsed());
        assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
        found = results
            .iter()
            .map(|r| r.failures.len() + r.warnings.len())
            .sum();
    }
    let (parse, policies, input) = (median(parse), median(policies), median(input));
    println!(
        "{what}: plan JSON {:.1} MB; 20 policy sets, {found} findings: evaluation median {policies:?} \
         (reading the whole JSON as Rego input would take {input:?}), serde_json parse median \
         {parse:?}, ratio {:.2}x (target at most 3x)",
        f64::from(u32::try_from(plan.len() / 1024).unwrap_or(u32::MAX)) / 1024.0,
        policies.as_secs_f64() / parse.as_secs_f64()
    );
}

fn main() {
    let sets = policy_sets();
    measure("whole plan grown", &whole_plan(), &sets);
    measure("resource changes only", &changes_only_plan(), &sets);
}
