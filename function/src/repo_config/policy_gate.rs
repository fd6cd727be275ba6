//! The gate a plan passes for its policy checks: whether it was checked against every set the
//! policy has now, and whether as many owners as its failing sets need approved it. Apply,
//! merge and the pull request's own `policy_check` status judge a plan by it.

use super::PolicyChecks;
use crate::run::ProjectResult;
use crate::run::policy::{Namespaces, PolicySet};

/// The failing sets of `result`, and how many approvals they need.
pub(crate) fn failing(result: &ProjectResult, checks: Option<&PolicyChecks>) -> (Vec<String>, u32) {
    let names: Vec<String> = result
        .policies
        .iter()
        .filter(|set| !set.passed())
        .map(|set| set.name.clone())
        .collect();
    let need = names
        .iter()
        .map(|name| {
            checks
                .and_then(|c| c.set(name).and_then(|s| s.approve_count))
                .unwrap_or_else(|| checks.map_or(1, |c| c.approve_count))
        })
        .max()
        .unwrap_or(0);
    (names, need)
}

/// Why a plan with `result` may not be applied yet for its policy checks; `None` when it may.
/// A plan must have been checked against every set the policy has now, with the rules each has
/// now, and, where the project is known, in the `packages` its workflow reads them in: one made
/// before a set was added or its rules changed, or for another base branch (a PR retargeted
/// from a branch whose `repos` entry turns the checks off), was not, and passes nothing it was
/// not checked against.
pub(crate) fn unapproved(
    result: Option<&ProjectResult>,
    checks: Option<&PolicyChecks>,
    packages: Option<&Namespaces>,
) -> Option<String> {
    if let Some(why) = unchecked(result, checks, packages) {
        return Some(why);
    }
    let result = result?;
    let (names, need) = failing(result, checks);
    let have = u32::try_from(result.policy_approvals.len()).unwrap_or(u32::MAX);
    if names.is_empty() || have >= need {
        return None;
    }
    Some(format!(
        "its policy checks failed ({}); it needs {need} approval(s) by a policy owner, and has \
         {have}: an owner comments `landfall approve_policies`",
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Why a plan with `result` was not checked against every set of `checks` as it is now (its
/// rules, and the `packages` where given), if it was not.
pub(crate) fn unchecked(
    result: Option<&ProjectResult>,
    checks: Option<&PolicyChecks>,
    packages: Option<&Namespaces>,
) -> Option<String> {
    let checked_against = |set: &PolicySet| {
        let digest = set.digest();
        result.is_some_and(|r| {
            r.policies.iter().any(|p| {
                p.name == set.name
                    && p.digest == digest
                    && packages.is_none_or(|packages| &p.namespaces == packages)
            })
        })
    };
    let unchecked: Vec<String> = checks
        .into_iter()
        .flat_map(|c| &c.sets)
        .filter(|s| !checked_against(&s.set))
        .map(|s| format!("`{}`", s.set.name))
        .collect();
    (!unchecked.is_empty()).then(|| {
        format!(
            "its plan was not checked against the policy set(s) {} as the policy has them now: \
             the policy (its sets, their rules or the packages they are read in), or the pull \
             request's base branch, changed since it was made. Comment `landfall plan` to plan \
             again",
            unchecked.join(", ")
        )
    })
}
