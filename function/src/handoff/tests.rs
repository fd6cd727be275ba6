//! The hand-off payloads: sealed, opened, refused when changed.

use super::*;

fn key() -> SecretString {
    SecretString::from("webhook-secret")
}

fn comment_event() -> Event {
    let mut event = Event::new(
        Provider::Github,
        EventKind::Commented(parse_comment("landfall apply -p prod")),
    );
    event.delivery = Some(DeliveryId::new("d-1"));
    event.repo = Some(RepoName::new("acme/infra"));
    event.number = Some(PullRequestNumber(7));
    event.sender = Some("octocat".to_owned());
    event.sender_id = Some("{b6d5-uuid}".to_owned());
    event.head_repo = Some(RepoName::new("fork/infra"));
    event.body_sha256 = Some("ab".repeat(32));
    event.comment = Some("landfall apply -p prod".to_owned());
    event.comment_id = Some(CommentId("9/2".to_owned()));
    event.clone_url = Some("https://github.com/acme/infra.git".to_owned());
    event.installation = Some(42);
    event
}

#[test]
fn a_settled_run_travels_sealed_and_only_its_own_seal_opens_it() {
    let spec = crate::run::env::tests::plan_spec();
    let payload = seal_settled(&spec, &key());
    assert!(is_settled(&payload) && !is_handoff(&payload));
    assert_eq!(open_settled(&payload, &key()).unwrap(), spec);

    let other_key = SecretString::from("another-secret");
    assert!(matches!(
        open_settled(&payload, &other_key),
        Err(HandoffError::BadSeal)
    ));
    let mut changed = payload.clone();
    changed[SETTLED_KEY]["spec"]["pr"] = serde_json::json!(8);
    assert!(matches!(
        open_settled(&changed, &key()),
        Err(HandoffError::BadSeal)
    ));
    // An event's seal, moved onto a run, opens nothing: each kind has its own domain.
    let event = seal(&comment_event(), &key()).unwrap();
    let mut moved = payload;
    moved[SETTLED_KEY]["seal"] = event[PAYLOAD_KEY]["seal"].clone();
    assert!(matches!(
        open_settled(&moved, &key()),
        Err(HandoffError::BadSeal)
    ));
    assert!(matches!(
        open_settled(&event, &key()),
        Err(HandoffError::Malformed(_))
    ));
}

/// The hand-off `vars` configure, and where it goes: (function, qualifier).
fn target(vars: &[(&str, &str)]) -> anyhow::Result<Option<(String, Option<String>)>> {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    };
    Ok(LambdaHandoff::from_lookup(&lookup, &key())?.map(|h| (h.function, h.qualifier)))
}

#[test]
fn hand_offs_go_to_the_function_itself_unless_a_worker_is_named() {
    let lambda = [
        (env_vars::AWS_LAMBDA_FUNCTION_NAME, "acme-landfall"),
        (env_vars::AWS_LAMBDA_FUNCTION_VERSION, "7"),
    ];
    assert_eq!(
        target(&lambda).unwrap(),
        Some(("acme-landfall".to_owned(), Some("7".to_owned())))
    );
    let worker = [lambda.as_slice(), &[(env_vars::HANDOFF_FUNCTION, "acme-landfall-worker")]]
        .concat();
    assert_eq!(
        target(&worker).unwrap(),
        Some(("acme-landfall-worker".to_owned(), None))
    );
    let arn = "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:acme-worker:live";
    let by_arn = [lambda.as_slice(), &[(env_vars::HANDOFF_FUNCTION, arn)]].concat();
    assert_eq!(target(&by_arn).unwrap(), Some((arn.to_owned(), None)));
    // Not under Lambda, or inline: no hand-off, wherever it would go.
    assert_eq!(target(&worker[2..]).unwrap(), None);
    let inline = [worker.as_slice(), &[(env_vars::HANDOFF, "inline")]].concat();
    assert_eq!(target(&inline).unwrap(), None);
}

#[test]
fn a_hand_off_function_that_lambda_would_not_take_stops_start_up() {
    for bad in [
        "acme landfall",
        "https://lambda.example.com/worker",
        "arn:aws:lambda:us-east-1:123:function:worker",
        "arn:aws:s3:::bucket",
        "arn:aws:lambda:us-east-1:123456789012:function:w:1:2",
        &"w".repeat(65),
    ] {
        let vars = [
            (env_vars::AWS_LAMBDA_FUNCTION_NAME, "acme-landfall"),
            (env_vars::HANDOFF_FUNCTION, bad),
        ];
        let err = target(&vars).unwrap_err().to_string();
        assert!(err.contains("LANDFALL_HANDOFF_FUNCTION is invalid"), "{bad}: {err}");
    }
}

#[test]
fn every_actionable_event_survives_the_hand_off() {
    let mut events = vec![comment_event()];
    for kind in [
        EventKind::Opened,
        EventKind::Pushed,
        EventKind::Ready,
        EventKind::Reopened,
        EventKind::Closed,
        EventKind::Merged,
    ] {
        let mut event = Event::new(Provider::Gitlab, kind);
        event.repo = Some(RepoName::new("group/sub/infra"));
        event.number = Some(PullRequestNumber(3));
        event.head_sha = Some(CommitSha::new("a".repeat(40)));
        event.head_branch = Some("feature".to_owned());
        event.base_branch = Some("main".to_owned());
        event.pr_author = Some("dev".to_owned());
        event.sender_id = Some("17".to_owned());
        event.head_repo = Some(RepoName::new("group/sub/infra"));
        event.draft = true;
        events.push(event);
    }
    // Every field of `Event` is set in some event above: a new field must be added here
    // (and to the hand-off) before this compiles.
    let Event {
        provider: _,
        delivery: _,
        kind: _,
        repo: _,
        number: _,
        head_sha: _,
        head_branch: _,
        base_branch: _,
        pr_author: _,
        sender: _,
        sender_id: _,
        head_repo: _,
        comment: _,
        comment_id: _,
        clone_url: _,
        body_sha256: _,
        installation: _,
        draft: _,
    } = &events[0];
    // A hand-off of a pull request that is not a draft is sealed as before the field existed,
    // so one queued across a deploy still opens.
    let mut ready = events[0].clone();
    ready.draft = false;
    let payload = seal(&ready, &key()).expect("actionable");
    assert!(
        payload[PAYLOAD_KEY]["event"].get("draft").is_none(),
        "{payload}"
    );
    for event in events {
        let payload = seal(&event, &key()).expect("actionable");
        assert!(is_handoff(&payload));
        assert_eq!(open(&payload, &key()).unwrap(), event);
    }
}

#[test]
fn events_with_nothing_to_do_are_not_handed_off() {
    assert!(seal(&Event::new(Provider::Github, EventKind::Ping), &key()).is_none());
    assert!(
        seal(
            &Event::new(Provider::Github, EventKind::Commented(None)),
            &key()
        )
        .is_none()
    );
}

#[test]
fn a_changed_or_foreign_hand_off_is_refused() {
    let payload = seal(&comment_event(), &key()).unwrap();
    assert!(matches!(
        open(&payload, &SecretString::from("other")),
        Err(HandoffError::BadSeal)
    ));
    let mut forged = payload.clone();
    forged[PAYLOAD_KEY]["event"]["comment"] = "landfall apply -p other".into();
    assert!(matches!(open(&forged, &key()), Err(HandoffError::BadSeal)));
    let mut truncated = payload.clone();
    truncated[PAYLOAD_KEY]["seal"] = "00".into();
    assert!(matches!(
        open(&truncated, &key()),
        Err(HandoffError::BadSeal)
    ));
    assert!(matches!(
        open(&serde_json::json!({ "version": "2.0" }), &key()),
        Err(HandoffError::Malformed(_))
    ));
    let mut unknown = payload;
    unknown[PAYLOAD_KEY]["event"]["kind"] = "ping".into();
    assert!(open(&unknown, &key()).is_err());
}

/// A comment command redriven from the dead-letter queue hours later is not run: its
/// commenter asked in another state of the pull request. A pull request event is still taken.
#[test]
fn a_comment_command_sealed_hours_ago_is_not_opened() {
    let payload = seal(&comment_event(), &key()).unwrap();
    let sealed = payload[PAYLOAD_KEY]["event"]["sealed_at"].as_u64().unwrap();
    assert!(open_at(&payload, &key(), sealed + 600).is_ok(), "Lambda's own retries");
    let late = sealed + MAX_COMMAND_AGE_SECS + 1;
    assert!(matches!(
        open_at(&payload, &key(), late),
        Err(HandoffError::StaleCommand { .. })
    ));
    // The time is sealed: moving it changes the seal.
    let mut moved = payload;
    moved[PAYLOAD_KEY]["event"]["sealed_at"] = serde_json::json!(late);
    assert!(matches!(open_at(&moved, &key(), late), Err(HandoffError::BadSeal)));
    let mut push = comment_event();
    push.kind = EventKind::Pushed;
    push.head_sha = Some(CommitSha::new("a".repeat(40)));
    let payload = seal(&push, &key()).unwrap();
    assert!(open_at(&payload, &key(), late + sealed).is_ok());
}
