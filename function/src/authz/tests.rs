use super::*;

fn request(action: Action, args: &[String]) -> Request<'_> {
    Request {
        action,
        automatic: false,
        fork: false,
        sender: "mallory",
        is_author: false,
        extra_args: args,
    }
}

const READER: &Facts = &Facts {
    access: Access::Read,
    member_of: Vec::new(),
};
const WRITER: &Facts = &Facts {
    access: Access::Write,
    member_of: Vec::new(),
};

#[test]
fn import_and_state_rm_take_applys_rule_and_refuse_forks() {
    let mut rules = Permissions::default();
    for action in [Action::Import, Action::StateRm] {
        let mut r = request(action, &[]);
        // The PR's author is no writer for these, as for apply.
        r.is_author = true;
        assert!(matches!(
            decide(&r, &rules, READER),
            Decision::Refuse(Refusal::NotPermitted { .. })
        ));
        assert_eq!(decide(&r, &rules, WRITER), Decision::Allow);
        r.fork = true;
        assert_eq!(
            decide(&r, &rules, WRITER),
            Decision::Refuse(Refusal::ForkNotAllowed)
        );
    }
    rules.apply.access = Some(Access::Admin);
    assert!(matches!(
        decide(&request(Action::Import, &[]), &rules, WRITER),
        Decision::Refuse(Refusal::NotPermitted { .. })
    ));
}

#[test]
fn a_reader_may_not_apply_unlock_or_plan_another_users_pr() {
    let rules = Permissions::default();
    for action in [Action::Plan, Action::Apply, Action::Unlock] {
        let d = decide(&request(action, &[]), &rules, READER);
        assert!(
            matches!(d, Decision::Refuse(Refusal::NotPermitted { .. })),
            "{d:?}"
        );
        assert_eq!(
            decide(&request(action, &[]), &rules, WRITER),
            Decision::Allow
        );
    }
}

#[test]
fn the_author_plans_their_own_pr_without_a_lookup_but_not_a_fork() {
    let rules = Permissions::default();
    let mut r = request(Action::Plan, &[]);
    r.is_author = true;
    assert_eq!(decide_without_lookup(&r, &rules), Some(Decision::Allow));
    r.fork = true;
    r.is_author = true;
    assert_eq!(
        decide(&r, &rules, READER),
        Decision::Refuse(Refusal::ForkNotAllowed)
    );
}

#[test]
fn autoplan_of_a_fork_is_skipped_even_when_forks_are_allowed() {
    let mut rules = Permissions::default();
    let mut r = request(Action::Plan, &[]);
    r.automatic = true;
    r.fork = true;
    assert_eq!(decide_without_lookup(&r, &rules), Some(Decision::SkipFork));
    rules.allow_fork_prs = true;
    assert_eq!(decide_without_lookup(&r, &rules), Some(Decision::SkipFork));
    r.automatic = false;
    assert!(needs_access(&r, &rules));
    assert_eq!(decide(&r, &rules, WRITER), Decision::Allow);
    assert_eq!(
        decide(&r, &rules, READER),
        Decision::Refuse(Refusal::NotPermitted {
            action: Action::Plan,
            who: rules.plan.describe()
        })
    );
}

#[test]
fn apply_takes_no_arguments_and_plan_arguments_need_apply_and_the_safe_list() {
    let rules = Permissions::default();
    let args = vec!["-destroy".to_owned()];
    assert_eq!(
        decide(&request(Action::Apply, &args), &rules, WRITER),
        Decision::Refuse(Refusal::ApplyArgs)
    );
    let mut own = request(Action::Plan, &args);
    own.is_author = true;
    assert_eq!(
        decide(&own, &rules, READER),
        Decision::Refuse(Refusal::PlanArgsNeedApply)
    );
    assert_eq!(decide(&own, &rules, WRITER), Decision::Allow);
    for bad in [
        "-lock=false",
        "-generate-config-out=x.tf",
        "-state=x",
        "-out",
        "x",
    ] {
        let args = vec![bad.to_owned()];
        assert_eq!(
            decide(&request(Action::Plan, &args), &rules, WRITER),
            Decision::Refuse(Refusal::UnsafeArg(bad.to_owned())),
        );
    }
    let fine: Vec<String> = ["-var", "a=-lock=false", "-target=x.y", "-refresh=false"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(unsafe_plan_arg(&fine), None);
}

#[test]
fn a_rule_names_users_and_teams_and_may_exclude_access() {
    let rules = Permissions {
        apply: Rule {
            access: None,
            users: vec!["Alice".to_owned()],
            teams: vec!["acme/ops".to_owned()],
            pr_author: false,
        },
        ..Permissions::default()
    };
    let mut r = request(Action::Apply, &[]);
    assert!(matches!(
        decide(&r, &rules, &Facts::access(Access::Admin)),
        Decision::Refuse(_)
    ));
    assert_eq!(
        decide(
            &r,
            &rules,
            &Facts {
                access: Access::Read,
                member_of: vec!["ACME/ops".to_owned()]
            }
        ),
        Decision::Allow
    );
    r.sender = "alice";
    assert_eq!(decide_without_lookup(&r, &rules), Some(Decision::Allow));
}

#[test]
fn a_refusal_echoes_no_markdown_and_names_nobody() {
    let rules = Permissions {
        plan: Rule {
            users: vec!["release-bot".to_owned()],
            teams: vec!["acme/ops".to_owned()],
            ..Rule::writers()
        },
        ..Permissions::default()
    };
    let d = decide(&request(Action::Plan, &[]), &rules, READER);
    let Decision::Refuse(refusal) = d else {
        panic!("{d:?}")
    };
    let text = refusal.to_string();
    assert!(
        !text.contains("release-bot") && !text.contains("acme/ops"),
        "{text}"
    );
    assert!(
        text.contains("1 user(s)") && text.contains("1 team(s)"),
        "{text}"
    );
    // A writer's bad argument is echoed inside its code span, unable to leave it.
    let args = vec!["-x` @acme/oncall [notice](https://evil)\n# big".to_owned()];
    let d = decide(&request(Action::Plan, &args), &rules, WRITER);
    let Decision::Refuse(refusal) = d else {
        panic!("{d:?}")
    };
    let text = refusal.to_string();
    assert_eq!(text.matches('`').count() % 2, 0, "{text}");
    assert!(
        text.starts_with("`-x @acme/oncall [notice](https://evil)# big`"),
        "{text}"
    );
    // Someone who may not pass arguments gets no echo at all.
    let d = decide(&request(Action::Plan, &args), &rules, READER);
    assert!(
        matches!(d, Decision::Refuse(Refusal::NotPermitted { .. })),
        "{d:?}"
    );
}

#[test]
fn autoplan_by_someone_else_than_the_author_needs_their_access() {
    let rules = Permissions::default();
    let mut r = request(Action::Plan, &[]);
    r.automatic = true;
    assert!(needs_access(&r, &rules));
    assert!(matches!(decide(&r, &rules, READER), Decision::Refuse(_)));
    r.is_author = true;
    assert_eq!(decide_without_lookup(&r, &rules), Some(Decision::Allow));
}
