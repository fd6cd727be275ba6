//! The authorization decision against a small model, for random senders, PRs, rules and
//! arguments: the model is the table written as plainly as possible, the decision is
//! the code the loop runs. Also: the decision never needs a lookup it then ignores, and a
//! decision made without a lookup is the one the full facts give.

use landfall_function::authz::{
    Decision, Facts, Permissions, Refusal, Request, Rule, decide, decide_without_lookup,
};
use landfall_function::command::Action;
use landfall_function::vcs::Access;
use proptest::prelude::*;

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![
        Just(Access::None),
        Just(Access::Read),
        Just(Access::Write),
        Just(Access::Admin)
    ]
}

fn rule(action_is_plan: bool) -> impl Strategy<Value = Rule> {
    (
        prop::option::of(
            access().prop_filter("none is not a policy value", |a| *a != Access::None),
        ),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(access, names_sender, has_team, pr_author)| Rule {
            access,
            users: if names_sender {
                vec!["Sender".to_owned()]
            } else {
                vec![]
            },
            teams: if has_team {
                vec!["acme/ops".to_owned()]
            } else {
                vec![]
            },
            pr_author: pr_author && action_is_plan,
        })
}

fn args() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            Just("-destroy"),
            Just("-target=a.b"),
            Just("-var"),
            Just("x=1"),
            Just("-lock=false"),
            Just("-generate-config-out=g.tf"),
            Just("-refresh=false"),
        ]
        .prop_map(str::to_owned),
        0..3,
    )
}

/// The model: who qualifies under `rule`, with everything known.
fn qualifies(rule: &Rule, access: Access, in_team: bool, author: bool) -> bool {
    rule.users.iter().any(|u| u.eq_ignore_ascii_case("sender"))
        || (rule.pr_author && author)
        || rule.access.is_some_and(|least| access >= least)
        || (in_team && !rule.teams.is_empty())
}

fn safe(args: &[String]) -> bool {
    // The value after `-var` is taken as it is (Terraform reads the next argument as the
    // value, even `-lock=false`); `-var` needs one.
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-destroy" | "-target=a.b" | "-refresh=false" => i += 1,
            "-var" if i + 1 < args.len() => i += 2,
            _ => return false,
        }
    }
    true
}

/// The model's answer for `request` by a sender with `access` (and membership of the rules'
/// teams when `in_team`).
fn model(request: &Request<'_>, access: Access, in_team: bool, rules: &Permissions) -> bool {
    let (action, automatic, fork, author, args) = (
        request.action,
        request.automatic,
        request.fork,
        request.is_author,
        request.extra_args,
    );
    let Some(rule) = rules.rule(action) else {
        return true;
    };
    if action == Action::Apply && !args.is_empty() {
        return false;
    }
    let affects_code = matches!(action, Action::Plan | Action::Apply);
    if fork && affects_code && (!rules.allow_fork_prs || automatic) {
        return false;
    }
    if !qualifies(rule, access, in_team, author && !fork) {
        return false;
    }
    if fork && !automatic && access < Access::Write {
        return false;
    }
    if action == Action::Plan
        && !args.is_empty()
        && !qualifies(&rules.apply, access, in_team, false)
    {
        return false;
    }
    safe(args)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_decision_matches_the_model(
        action in prop_oneof![Just(Action::Plan), Just(Action::Apply), Just(Action::Unlock), Just(Action::Help)],
        automatic in any::<bool>(),
        fork in any::<bool>(),
        author in any::<bool>(),
        access in access(),
        in_team in any::<bool>(),
        args in args(),
        plan in rule(true),
        apply in rule(false),
        unlock in rule(false),
        allow_fork_prs in any::<bool>(),
    ) {
        // Autoplan is a plan with no arguments.
        let automatic = automatic && action == Action::Plan;
        let args = if automatic { Vec::new() } else { args };
        let rules = Permissions { plan, apply, unlock, allow_fork_prs };
        let request = Request {
            action,
            automatic,
            fork,
            sender: "sender",
            is_author: author,
            extra_args: &args,
        };
        let facts = Facts {
            access,
            member_of: if in_team { vec!["ACME/ops".to_owned()] } else { vec![] },
        };
        let decision = decide(&request, &rules, &facts);
        let expected = model(&request, access, in_team, &rules);
        prop_assert_eq!(decision == Decision::Allow, expected, "{:?}", decision);
        if let Decision::Refuse(Refusal::NotPermitted { who, .. }) = &decision {
            prop_assert!(!who.is_empty());
        }
        // What is decided without asking the host is what the facts would have given.
        if let Some(early) = decide_without_lookup(&request, &rules) {
            prop_assert_eq!(early, decision);
        }
    }
}

#[test]
fn defaults_refuse_forks_and_need_write_access() {
    let rules = Permissions::default();
    assert!(!rules.allow_fork_prs);
    assert_eq!(rules.apply.access, Some(Access::Write));
    assert_eq!(rules.unlock.access, Some(Access::Write));
    assert!(rules.plan.pr_author && !rules.apply.pr_author);
}
