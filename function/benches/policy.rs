//! Policy evaluation beside JSON parsing: 20 policy sets (the four test policies of
//! `tests/runner/policies`, each five times under another name) over a plan of about 5 MB (the
//! corpus' Terraform 0.14 plan, its resource changes repeated), measured side by side with
//! parsing the same JSON into a `serde_json::Value`. The target: at most 3x. Prints the
//! medians and the ratio.
#![allow(
    clippy::disallowed_methods,
    reason = "a bench's knobs are its own process's variables, not Landfall's settings"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use landfall_function::run::policy::{PolicyModule, PolicySet, evaluate};

const ROUNDS: usize = 7;
const TARGET_BYTES: usize = 5 * 1024 * 1024;

/// The corpus plan with its resource changes repeated until the JSON is about 5 MB.
fn big_plan() -> String {
    let text = std::fs::read_to_string(landfall_e2e::corpus(
        "terraform-plan-json-infracost/terraform_v0.14_plan.json",
    ))
    .unwrap();
    let mut plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    let changes = plan["resource_changes"].as_array().unwrap().clone();
    let mut all = Vec::new();
    let mut round = 0;
    while serde_json::to_string(&all).unwrap().len() < TARGET_BYTES {
        for change in &changes {
            let mut change = change.clone();
            let address = change["address"].as_str().unwrap_or_default().to_owned();
            change["address"] = serde_json::Value::String(format!("module.copy{round}.{address}"));
            all.push(change);
        }
        round += 1;
    }
    plan["resource_changes"] = serde_json::Value::Array(all);
    serde_json::to_string(&plan).unwrap()
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
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() {
    let plan = big_plan();
    let sets = policy_sets();
    let (mut parse, mut policies, mut input) = (Vec::new(), Vec::new(), Vec::new());
    let mut found = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let value: serde_json::Value = serde_json::from_str(&plan).unwrap();
        parse.push(started.elapsed());
        drop(value);
        let started = Instant::now();
        let value = regorus::Value::from_json_str(&plan).unwrap();
        input.push(started.elapsed());
        drop(value);
        let started = Instant::now();
        let results = evaluate(&sets, &plan);
        policies.push(started.elapsed());
        assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
        found = results
            .iter()
            .map(|r| r.failures.len() + r.warnings.len())
            .sum();
    }
    let (parse, policies, input) = (median(parse), median(policies), median(input));
    println!(
        "plan JSON {:.1} MB; 20 policy sets, {found} findings: evaluation median {:?} (of which \
         reading the JSON as Rego input about {:?}), serde_json parse median {:?}, ratio {:.2}x \
         (target at most 3x)",
        f64::from(u32::try_from(plan.len() / 1024).unwrap_or(u32::MAX)) / 1024.0,
        policies,
        input,
        parse,
        policies.as_secs_f64() / parse.as_secs_f64()
    );
}
