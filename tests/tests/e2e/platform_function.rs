//! The rendered function: two instances of one package, so that slow work cannot starve the
//! webhooks. The Function URL's function hands every event to the worker, the worker takes the
//! hand-offs and the schedules, and each has a concurrency of its own.

use std::fs;

use super::platform::{files, rendered};

/// Every `identifier` block (`resource`, `data`) of the rendered platform's Terraform, as
/// (type, name, block).
fn blocks(name: &str, identifier: &str) -> Vec<(String, String, hcl::Block)> {
    let (dir, _) = rendered(name);
    let mut found = Vec::new();
    for file in files(&dir.path().join("terraform/platform"), "tf") {
        let body = hcl::parse(&fs::read_to_string(&file).unwrap()).unwrap();
        for block in body.into_blocks() {
            let labels: Vec<String> = block
                .labels()
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect();
            if block.identifier() == identifier && labels.len() == 2 {
                found.push((labels[0].clone(), labels[1].clone(), block));
            }
        }
    }
    found
}

/// The `resources` of the statement `sid` of the function's role policy, as HCL text.
fn statement_resources(name: &str, sid: &str) -> String {
    let data = blocks(name, "data");
    let policy = resource(&data, "aws_iam_policy_document", "function");
    let statement = policy
        .body
        .blocks()
        .find(|b| {
            b.identifier() == "statement"
                && b.body.attributes().any(|a| {
                    a.key() == "sid"
                        && hcl::format::to_string(a.expr()).unwrap() == format!("\"{sid}\"")
                })
        })
        .unwrap_or_else(|| panic!("no statement {sid}"));
    attr(statement, &["resources"])
}

/// The block of resource `kind.name`.
fn resource<'a>(all: &'a [(String, String, hcl::Block)], kind: &str, name: &str) -> &'a hcl::Block {
    let Some((_, _, block)) = all.iter().find(|(k, n, _)| k == kind && n == name) else {
        panic!("no resource {kind}.{name}");
    };
    block
}

/// The expression of attribute `path` (nested blocks, then the attribute) as HCL text.
fn attr(block: &hcl::Block, path: &[&str]) -> String {
    let (last, blocks) = path.split_last().unwrap();
    let mut body = &block.body;
    for name in blocks {
        body = &body
            .blocks()
            .find(|b| b.identifier() == *name)
            .unwrap_or_else(|| panic!("no block {name} in {}", hcl::to_string(block).unwrap()))
            .body;
    }
    let attribute = body
        .attributes()
        .find(|a| a.key() == *last)
        .unwrap_or_else(|| panic!("no {last} in {}", hcl::to_string(block).unwrap()));
    hcl::format::to_string(attribute.expr()).unwrap()
}

#[test]
fn webhooks_hand_off_to_a_worker_with_a_concurrency_of_its_own() {
    for name in ["example", "full"] {
        let all = blocks(name, "resource");
        let webhook = resource(&all, "aws_lambda_function", "landfall");
        let worker = resource(&all, "aws_lambda_function", "worker");
        assert_eq!(attr(worker, &["function_name"]), "local.worker_name");

        // The webhook function is told to hand off to the worker; the worker, to post nothing
        // but to point runners at the webhook function's URL.
        let webhook_env = attr(webhook, &["environment", "variables"]);
        assert!(
            webhook_env.contains("LANDFALL_HANDOFF_FUNCTION = local.worker_name"),
            "{name}: {webhook_env}"
        );
        let worker_env = attr(worker, &["environment", "variables"]);
        assert!(
            worker_env
                .contains("LANDFALL_REPORT_URL = aws_lambda_function_url.landfall.function_url")
                && !worker_env.contains("LANDFALL_HANDOFF_FUNCTION"),
            "{name}: {worker_env}"
        );
        for env in [&webhook_env, &worker_env] {
            assert!(
                env.starts_with("merge(local.function_environment"),
                "{name}: {env}"
            );
        }

        // Each reserves its own share of what the single function had (100).
        let reserved = |block| {
            attr(block, &["reserved_concurrent_executions"])
                .parse::<u32>()
                .unwrap()
        };
        let (for_webhooks, for_work) = (reserved(webhook), reserved(worker));
        assert!(for_webhooks >= 10 && for_work >= 10, "{name}");
        assert_eq!(for_webhooks + for_work, 100, "{name}");

        // Only the webhook function has a URL; hand-offs and schedules reach the worker.
        let urls: Vec<String> = all
            .iter()
            .filter(|(kind, _, _)| kind == "aws_lambda_function_url")
            .map(|(_, _, b)| attr(b, &["function_name"]))
            .collect();
        assert_eq!(
            urls,
            ["aws_lambda_function.landfall.function_name"],
            "{name}"
        );
        assert_eq!(
            attr(
                resource(&all, "aws_lambda_function_event_invoke_config", "handoff"),
                &["function_name"]
            ),
            "aws_lambda_function.worker.function_name"
        );
        // The role may invoke the worker (and the function itself, for a package from before
        // the worker) and read the webhook function's own URL.
        let handoff = statement_resources(name, "Handoff");
        for function in ["${local.worker_name}", "${local.function_name}"] {
            assert!(
                handoff.contains(&format!(":function:{function}\"")),
                "{name}: {handoff}"
            );
        }
        let own_url = statement_resources(name, "OwnUrl");
        assert!(
            own_url.contains(":function:${local.function_name}\"") && !own_url.contains("worker"),
            "{name}: {own_url}"
        );
        for schedule in ["sweep", "drift"] {
            assert_eq!(
                attr(
                    resource(&all, "aws_scheduler_schedule", schedule),
                    &["target", "arn"]
                ),
                "aws_lambda_function.worker.arn",
                "{name}: {schedule}"
            );
        }
    }
}
