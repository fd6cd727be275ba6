use super::*;

#[test]
fn a_replacement_counts_as_one_add_and_one_destroy() {
    let summary = summarize(
        r#"{"resource_changes":[{"address":"a.b","change":{"actions":["delete","create"]}}]}"#,
    )
    .unwrap();
    assert_eq!(
        (
            summary.counts.add,
            summary.counts.destroy,
            summary.counts.replace
        ),
        (1, 1, 1)
    );
    assert_eq!(
        summary.line(),
        "Plan: 1 to add, 0 to change, 1 to destroy (1 to replace)."
    );
}

#[test]
fn resource_changes_that_are_not_a_list_are_refused_without_panicking() {
    let err = summarize(r#"{"resource_changes": "invalid"}"#).unwrap_err();
    assert!(matches!(err, SummaryError::Shape(_)), "{err}");
}

#[test]
fn text_without_json_is_refused() {
    assert!(matches!(summarize("Error: no"), Err(SummaryError::Empty)));
}

#[test]
fn a_plan_is_one_document_and_nothing_around_it() {
    let real = r#"{"resource_changes":[{"address":"a.b","change":{"actions":["create"]}}]}"#;
    let forged = r#"{"resource_changes":[]}"#;
    assert_eq!(summarize(&format!("{real}\n")).unwrap().counts.add, 1);
    for text in [
        format!("{forged}\n{real}\n"),
        format!("noise\n{real}"),
        format!("{real}\n{forged}"),
    ] {
        assert!(
            matches!(summarize(&text), Err(SummaryError::Json(_))),
            "{text}"
        );
    }
    // Several documents stay readable where they are expected (terragrunt run-all).
    assert_eq!(
        summarize_all(&format!("{forged}\n{real}")).unwrap().len(),
        2
    );
}

#[test]
fn values_under_a_sensitive_mask_are_collected_and_scrubbed() {
    let plan = r#"{"resource_changes":[{"address":"x.y","change":{"actions":["create"],
        "before":null,"after":{"name":"public","password":"hunter22","tags":["a","topsecret"]},
        "before_sensitive":false,"after_sensitive":{"password":true,"tags":[false,true]}}}]}"#;
    let secrets = sensitive_values(plan);
    assert_eq!(secrets, ["topsecret", "hunter22"]);
    assert_eq!(
        redact("password = hunter22, name = public", &secrets),
        "password = (sensitive value), name = public"
    );
}

/// A data source read while planning (a secret for a provider block) is only in
/// `prior_state` and `planned_values`, in child modules too, with their own masks.
#[test]
fn data_sources_and_outputs_of_the_states_shown_are_collected() {
    let plan = r#"{"prior_state":{"values":{
          "outputs":{"db":{"sensitive":true,"value":"output-secret"},"region":{"sensitive":false,"value":"eu-west-1"}},
          "root_module":{"resources":[{"address":"data.aws_secretsmanager_secret_version.db","mode":"data",
            "values":{"arn":"arn:aws:x","secret_string":"prior-secret"},"sensitive_values":{"secret_string":true}}],
          "child_modules":[{"address":"module.m","resources":[{"address":"module.m.data.x.y","mode":"data",
            "values":{"list":["open","child-secret"]},"sensitive_values":{"list":[false,true]}}]}]}}},
        "planned_values":{"root_module":{"resources":[{"address":"x.z",
            "values":{"token":"planned-secret"},"sensitive_values":{"token":true}}]}}}"#;
    assert_eq!(
        sensitive_values(plan),
        [
            "planned-secret",
            "output-secret",
            "child-secret",
            "prior-secret"
        ]
    );
}

/// A value the pull request made sensitive (or withheld) cannot blank the counts line; it
/// is cut everywhere else, and a line that only looks like the counts line is cut too.
#[test]
fn the_counts_line_is_never_cut() {
    let secrets = ["destroy".to_owned(), "1 to add".to_owned()];
    let text = "  # x.y will be destroyed\nPlan: 1 to add, 0 to change, 3 to destroy.\nPlan: 1 to add, the rest to destroy.\n";
    assert_eq!(
        redact(text, &secrets),
        "  # x.y will be (sensitive value)ed\nPlan: 1 to add, 0 to change, 3 to destroy.\nPlan: (sensitive value), the rest to (sensitive value).\n"
    );
    assert_eq!(
        redact(
            "Plan: 1 to import, 2 to add, 0 to change, 0 to destroy.",
            &secrets
        ),
        "Plan: 1 to import, 2 to add, 0 to change, 0 to destroy."
    );
    // A value of several lines beside a counts line is cut whole.
    let key = ["-----BEGIN KEY-----\nc2VjcmV0\n-----END KEY-----".to_owned()];
    assert_eq!(
        redact(
            "-----BEGIN KEY-----\nc2VjcmV0\n-----END KEY-----\nPlan: 1 to add, 0 to change, 0 to destroy.\n",
            &key
        ),
        "(sensitive value)\nPlan: 1 to add, 0 to change, 0 to destroy.\n"
    );
}

#[test]
fn sensitive_root_variables_are_collected() {
    let plan = r#"{"variables":{"token":{"value":"abcd-1234"},"region":{"value":"eu-west-1"}},
        "configuration":{"root_module":{"variables":{"token":{"sensitive":true},"region":{}}}}}"#;
    assert_eq!(sensitive_values(plan), ["abcd-1234"]);
}

proptest::proptest! {
    #[test]
    fn summarising_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = summarize_all(&text);
        let _ = sensitive_values(&text);
    }
}

/// A value is cut in the forms Terraform and its tools print it: escaped in JSON (Go's HTML
/// escapes included), in HCL's template syntax, and line by line where it has several lines.
#[test]
fn a_value_is_cut_as_json_hcl_and_a_heredoc_print_it() {
    let secret = "p&ss<\"w\\rd\">${x}".to_owned();
    let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----".to_owned();
    let texts = [
        r#"{"env":"p&ss<\"w\\rd\">${x}"}"#,
        r#"{"env":"p\u0026ss\u003c\"w\\rd\"\u003e${x}"}"#,
        r#"+ command = "p&ss<\"w\\rd\">$${x}""#,
        "+ key = <<-EOT\n      -----BEGIN KEY-----\n      MIIEvQIBADANBgkqhkiG9w0B\n      AQEFAASCBKcwggSjAgEAAoIB\n      -----END KEY-----\n  EOT",
        r#"{"key":"-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"}"#,
    ];
    for text in texts {
        let cut = redact(text, &[secret.clone(), key.clone()]);
        for part in [
            "p&ss",
            "p\\u0026ss",
            "MIIEvQIBADANBgkqhkiG9w0B",
            "AQEFAASCBKcwggSjAgEAAoIB",
        ] {
            assert!(!cut.contains(part), "{part} in {cut}");
        }
        assert!(cut.contains(REDACTED), "{cut}");
    }
    // A value's common lines are cut only where they stand alone and are long: not the short
    // ones, nor inside other lines.
    let kubeconfig =
        "apiVersion: v1\nkind: Config\ncurrent-context: prod-admin@cluster\n".to_owned();
    let text = "apiVersion: v1\nkind: Config\n# current-context: prod-admin@cluster here\n  current-context: prod-admin@cluster\n";
    assert_eq!(
        redact(text, std::slice::from_ref(&kubeconfig)),
        "apiVersion: v1\nkind: Config\n# current-context: prod-admin@cluster here\n  (sensitive value)\n"
    );
    // ... and as Terraform's diff of a changed value writes them: after `-` or `+`, coloured.
    let diff = "      - current-context: prod-admin@cluster\n      \u{1b}[32m+\u{1b}[0m current-context: prod-admin@cluster\n";
    assert_eq!(
        redact(diff, &[kubeconfig]),
        "      - (sensitive value)\n      + (sensitive value)\n"
    );
}
