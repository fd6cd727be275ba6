use super::*;

const MINIMAL: &str = r#"
[platform]
name = "acme"
region = "eu-west-1"

[gitops]
repo_url = "https://github.com/acme/platform.git"

[function]
repo_allowlist = ["acme/*"]
"#;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("landfall.toml")).map_err(|e| e.to_string())
}

#[test]
fn a_minimal_file_gets_defaults_for_everything_else() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.state_bucket(), "acme-tfstate-eu-west-1");
    assert_eq!(c.state_lock_table(), "acme-tflock");
    assert_eq!(c.network.vpc_cidr.get_ref(), "10.0.0.0/16");
    assert_eq!(c.argocd.namespace.get_ref(), "argocd");
    assert!(c.apps.is_empty());
}

#[test]
fn an_unknown_key_names_the_line_and_the_likely_key() {
    let text = MINIMAL.replace("region =", "regoin =");
    let err = parse(&text).unwrap_err();
    assert!(
        err.starts_with("landfall.toml:4: unknown field `regoin`"),
        "{err}"
    );
    assert!(err.contains("did you mean `region`?"), "{err}");
}

#[test]
fn a_missing_required_field_names_it() {
    let err = parse("[platform]\nname = \"acme\"\n[gitops]\nrepo_url = \"https://x/y.git\"\n")
        .unwrap_err();
    assert!(err.contains("missing field `region`"), "{err}");
    assert!(err.contains("help: add `region = ...`"), "{err}");
}

#[test]
fn an_invalid_cidr_is_reported_at_its_line_with_the_fix() {
    let text = format!("{MINIMAL}\n[network]\nvpc_cidr = \"10.0.0.1/16\"\n");
    let err = parse(&text).unwrap_err();
    assert!(err.starts_with("landfall.toml:13: "), "{err}");
    assert!(err.contains("10.0.0.0/16"), "{err}");
}

#[test]
fn a_private_block_for_runners_that_reaches_the_cluster_is_refused_at_its_line() {
    let text = format!(
        "{MINIMAL}\n[network]\nvpc_cidr = \"10.0.0.0/16\"\nrunner_private_egress = [\n  \"192.168.40.0/24\",\n  \"10.0.8.0/24\",\n  \"1.2.3.0/24\",\n]\n"
    );
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("landfall.toml:16: runner_private_egress: \"10.0.8.0/24\" overlaps the VPC"),
        "{err}"
    );
    assert!(
        err.contains("landfall.toml:17: runner_private_egress: \"1.2.3.0/24\" is not inside"),
        "{err}"
    );
    assert!(!err.contains(":12:"), "{err}");
}

#[test]
fn unknown_keys_hide_no_other_problem_and_keep_every_line() {
    // Three unknown keys (a pair, a table with its body, a dotted key in an array of tables)
    // and, after them, a value the validators refuse.
    let text = format!(
        "{}\n[extras]\nanything = 1\nmore = [\n  2,\n]\n\n[[apps]]\nname = \"web\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\nhelm.values = \"v.yaml\"\n",
        MINIMAL
            .replace("region =", "regoin = \"eu-west-1\"\nregion =")
            .replace(
                "[gitops]",
                "[network]\nvpc_cidr = \"10.0.0.0/33\"\n\n[gitops]"
            )
    );
    let err = parse(&text).unwrap_err();
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("  help")).collect();
    let at = |line: usize, what: &str| {
        let wanted = format!("landfall.toml:{line}: {what}");
        assert!(
            lines.iter().any(|l| l.starts_with(&wanted)),
            "{wanted} in\n{err}"
        );
    };
    at(4, "unknown field `regoin`");
    at(8, "invalid CIDR \"10.0.0.0/33\"");
    at(16, "unknown field `extras`");
    at(26, "unknown field `helm`");
    assert_eq!(lines.len(), 4, "{err}");
    // In the order of the file.
    let order: Vec<&str> = lines
        .iter()
        .map(|l| l.split(':').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(order, ["4", "8", "16", "26"], "{err}");
    assert!(err.contains("did you mean `region`?"), "{err}");
}

#[test]
fn a_dotted_key_written_twice_takes_only_its_own_lines_out() {
    // `extra.a` and `extra.b` are one unknown table, written on two lines around a bad value.
    let text =
        format!("{MINIMAL}\n[network]\nextra.a = 1\nvpc_cidr = \"10.0.0.0/33\"\n  extra.b = 2\n");
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("landfall.toml:13: unknown field `extra`"),
        "{err}"
    );
    assert!(err.contains("landfall.toml:14: invalid CIDR"), "{err}");
}

#[test]
fn a_misspelt_required_key_is_one_problem_not_two() {
    let text = MINIMAL.replace("name = \"acme\"", "nmae = \"acme\"");
    let err = parse(&text).unwrap_err();
    assert!(
        err.starts_with("landfall.toml:3: unknown field `nmae`"),
        "{err}"
    );
    assert!(err.contains("did you mean `name`?"), "{err}");
    assert!(!err.contains("missing field"), "{err}");
    // An app without a `name` is another table's problem: it is not taken for the first.
    let text = format!("{text}\n[[apps]]\nrepo_url = \"https://x/y.git\"\n");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("missing field `name`"), "{err}");
}

#[test]
fn an_unknown_key_of_an_inline_table_is_reported_with_the_rest() {
    let text = MINIMAL.replace(
        "[platform]\nname = \"acme\"\nregion = \"eu-west-1\"",
        "platform = { name = \"acme\", bogus = 1, region = \"eu-wset-1\" }\n\n",
    );
    let err = parse(&text).unwrap_err();
    assert!(
        err.starts_with("landfall.toml:2: unknown field `bogus`"),
        "{err}"
    );
    assert!(err.contains("unknown AWS region \"eu-wset-1\""), "{err}");
}

#[test]
fn an_unknown_region_suggests_the_closest() {
    let err = parse(&MINIMAL.replace("eu-west-1", "eu-wset-1")).unwrap_err();
    assert!(
        err.contains("landfall.toml:4: unknown AWS region \"eu-wset-1\""),
        "{err}"
    );
    assert!(err.contains("eu-west-1"), "{err}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = format!(
        "{MINIMAL}\n[[apps]]\nname = \"Bad_Name\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n\n[[apps]]\nname = \"dup\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n\n[[apps]]\nname = \"dup\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n"
    );
    let err = parse(&text).unwrap_err();
    assert!(err.contains(":13: invalid app name \"Bad_Name\""), "{err}");
    assert!(err.contains("try \"bad-name\""), "{err}");
    assert!(
        err.contains(":23: duplicate app \"dup\": it is already defined on line 18"),
        "{err}"
    );
}

#[test]
fn a_chart_without_version_is_refused() {
    let text = format!(
        "{MINIMAL}\n[[apps]]\nname = \"x\"\nrepo_url = \"https://charts.example.com\"\nchart = \"x\"\n"
    );
    let err = parse(&text).unwrap_err();
    assert!(err.contains("names a chart but no chart_version"), "{err}");
}

#[test]
fn a_chart_app_with_a_revision_is_refused_not_rendered_without_it() {
    let text = format!(
        "{MINIMAL}\n[[apps]]\nname = \"x\"\nrepo_url = \"https://charts.example.com\"\nchart = \"x\"\nchart_version = \"1.2.3\"\nrevision = \"v1\"\n"
    );
    let err = parse(&text).unwrap_err();
    assert!(err.contains("sets revision with a chart"), "{err}");
    parse(&text.replace("revision = \"v1\"\n", "")).unwrap();
}

#[test]
fn the_function_settings_are_checked_by_the_functions_own_parsers() {
    let with = |function: &str| format!("{MINIMAL}{function}\n");
    let bare = |function: &str| {
        let minimal = MINIMAL.replace("repo_allowlist = [\"acme/*\"]\n", "");
        format!("{minimal}{function}\n")
    };
    // Forgejo speaks Gitea's dialect, and the function takes its name.
    parse(&with("vcs = \"forgejo\"")).unwrap();
    let err = parse(&with("vcs = \"sourcehut\"")).unwrap_err();
    assert!(err.contains("unknown VCS \"sourcehut\""), "{err}");
    // A glob the function could not build is refused here, not at the function's start-up.
    let err = parse(&bare("repo_allowlist = [\"acme/[infra\"]")).unwrap_err();
    assert!(
        err.contains("invalid repo_allowlist entry \"acme/[infra\""),
        "{err}"
    );
    parse(&bare("repo_allowlist = [\"acme/*\", \"github.com/ops/*\"]")).unwrap();
    // An empty list (or none) would let every repository in: refused.
    for function in ["repo_allowlist = []", ""] {
        let err = parse(&bare(function)).unwrap_err();
        assert!(err.contains("repo_allowlist is empty or missing"), "{err}");
    }
}

#[test]
fn line_index_counts_from_one() {
    let idx = LineIndex::new("a\nb\nc");
    assert_eq!(idx.line(0), 1);
    assert_eq!(idx.line(2), 2);
    assert_eq!(idx.line(4), 3);
}

#[test]
fn the_runner_image_defaults_to_the_platform_repository_and_an_explicit_one_is_kept() {
    assert!(parse(MINIMAL).unwrap().function.runner_image.is_none());
    let text = format!("{MINIMAL}runner_image = \"registry.example.com/r:1\"\n");
    let c = parse(&text).unwrap();
    assert_eq!(
        c.function
            .runner_image
            .as_ref()
            .map(|i| i.get_ref().as_str()),
        Some("registry.example.com/r:1")
    );
    let err = parse(&text.replace("registry.example.com/r:1", " ")).unwrap_err();
    assert!(err.contains("runner_image is empty"), "{err}");
}

#[test]
fn an_app_syncs_after_landfalls_own_waves() {
    let app = |wave: i32| {
        format!(
            "{MINIMAL}\n[[apps]]\nname = \"web\"\nrepo_url = \"https://x.example.com/a.git\"\npath = \"a\"\nsync_wave = {wave}\n"
        )
    };
    parse(&app(-199)).unwrap();
    for wave in [-200, -1_000_000] {
        let err = parse(&app(wave)).unwrap_err();
        assert!(
            err.contains("not after Landfall's own") && err.contains("use -199 or more"),
            "{err}"
        );
    }
}

#[test]
fn an_app_cannot_take_the_name_or_the_file_of_landfalls_own_apps() {
    let app = |name: &str| {
        format!(
            "\n[[apps]]\nname = \"{name}\"\nrepo_url = \"https://x.example.com/a.git\"\npath = \"a\"\n"
        )
    };
    // The runner's file keeps its name when its namespace is another.
    let tf_runs = MINIMAL.replace(
        "[function]\n",
        "[function]\nrunner_namespace = \"tf-runs\"\n",
    );
    for (config, name, owner) in [
        (MINIMAL.to_owned(), PLATFORM_APP, "platform"),
        (MINIMAL.to_owned(), "landfall-root", "root"),
        (MINIMAL.to_owned(), "landfall-runner", "runner"),
        (tf_runs.clone(), "landfall-runner", "runner"),
        (tf_runs, "tf-runs", "runner"),
    ] {
        let err = parse(&format!("{config}{}", app(name))).unwrap_err();
        assert!(
            err.contains(&format!("taken by the Landfall {owner} app")),
            "{name}: {err}"
        );
    }
}

#[test]
fn the_drift_check_interval_is_read_by_the_functions_own_schedule_parser() {
    assert_eq!(
        parse(MINIMAL)
            .unwrap()
            .function
            .drift_check_interval
            .get_ref(),
        "rate(1 hour)"
    );
    let ok = format!("{MINIMAL}drift_check_interval = \"cron(0 * * * ? *)\"\n");
    assert!(parse(&ok).is_ok());
    let text = format!("{MINIMAL}drift_check_interval = \"rate(1 hours)\"\n");
    let err = parse(&text).unwrap_err();
    assert!(
        err.starts_with("landfall.toml:11: invalid drift_check_interval"),
        "{err}"
    );
    assert!(err.contains("`rate(1 hour)`"), "{err}");
}

#[test]
fn no_app_deploys_into_argo_cds_the_runners_or_kubernetes_own_namespaces() {
    let app = |fields: &str| {
        format!("{MINIMAL}\n[[apps]]\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n{fields}\n")
    };
    for (fields, why) in [
        ("name = \"x\"\nnamespace = \"argocd\"", "Argo CD's"),
        (
            "name = \"x\"\nnamespace = \"landfall-runner\"",
            "where the Landfall runners run",
        ),
        ("name = \"kube-system\"", "one of Kubernetes' own"),
        (
            "name = \"x\"\nnamespace = \"kube-node-lease\"",
            "one of Kubernetes' own",
        ),
    ] {
        let err = parse(&app(fields)).unwrap_err();
        assert!(
            err.contains(why) && err.contains("would deploy into namespace"),
            "{fields}: {err}"
        );
    }
    let err = parse(&app("name = \"default\"")).unwrap_err();
    assert!(err.contains("taken by Argo CD's own project"), "{err}");
    parse(&app("name = \"x\"\nnamespace = \"default\"")).unwrap();
}

#[test]
fn a_state_key_must_be_plain_and_not_the_bootstrap_stages() {
    let with = |key: &str| format!("{MINIMAL}\n[state]\nkey = {key:?}\n");
    parse(&with("platform/terraform.tfstate")).unwrap();
    for key in ["p/a\"b.tfstate", "p/${x}", "*", "p//x", "/p", "p/", "p/a b"] {
        let err = parse(&with(key)).unwrap_err();
        assert!(err.contains("invalid state key"), "{key}: {err}");
    }
    let err = parse(&with("bootstrap/terraform.tfstate")).unwrap_err();
    assert!(err.contains("the bootstrap stage's"), "{err}");
}

#[test]
fn the_runners_namespace_is_their_own() {
    let with = |section: &str| format!("{MINIMAL}{section}\n");
    for namespace in ["argocd", "kube-system", "default"] {
        let err = parse(&with(&format!("runner_namespace = {namespace:?}"))).unwrap_err();
        assert!(
            err.contains("network policy would cut off"),
            "{namespace}: {err}"
        );
    }
    let err = parse(&format!(
        "{MINIMAL}runner_namespace = \"ops\"\n[argocd]\nnamespace = \"ops\"\n"
    ))
    .unwrap_err();
    assert!(err.contains("network policy would cut off"), "{err}");
    let err = parse(&format!("{MINIMAL}[argocd]\nnamespace = \"Argo_CD\"\n")).unwrap_err();
    assert!(err.contains("invalid [argocd] namespace"), "{err}");
    parse(&with("runner_namespace = \"tf-runs\"")).unwrap();
}

#[test]
fn a_repository_url_with_credentials_is_refused_and_never_shown() {
    let text = MINIMAL.replace(
        "https://github.com/acme/platform.git",
        "https://gitlab-ci-token:s3cr3t@gitlab.com/acme/platform.git",
    );
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("holds credentials") && !err.contains("s3cr3t"),
        "{err}"
    );
    let err = parse(&format!(
        "{MINIMAL}vcs_url = \"https://ghp_s3cr3t@ghe.example.com/api/v3\"\n"
    ))
    .unwrap_err();
    assert!(
        err.contains("credentials") && !err.contains("s3cr3t"),
        "{err}"
    );
}

#[test]
fn a_vcs_url_must_be_its_hosts_api_base_and_allowlist_entries_must_name_repositories() {
    let with = |keys: &str| format!("{MINIMAL}{keys}\n");
    let err = parse(&with(
        "vcs = \"gitlab\"\nvcs_url = \"https://gitlab.example.com\"",
    ))
    .unwrap_err();
    assert!(
        err.contains("is not the host's API base URL") && err.contains("/api/v4"),
        "{err}"
    );
    parse(&with(
        "vcs = \"gitlab\"\nvcs_url = \"https://gitlab.example.com/api/v4\"",
    ))
    .unwrap();
    // Plain http sends the token in the clear, except to this machine.
    let err = parse(&with(
        "vcs = \"gitlab\"\nvcs_url = \"http://gitlab.internal.example/api/v4\"",
    ))
    .unwrap_err();
    assert!(err.contains("is plain http"), "{err}");
    parse(&with(
        "vcs = \"gitlab\"\nvcs_url = \"http://127.0.0.1:8929/api/v4\"",
    ))
    .unwrap();
    let err = parse(&with("vcs = \"bitbucket-server\"")).unwrap_err();
    assert!(
        err.contains("needs vcs_url") && err.contains("Bitbucket server"),
        "{err}"
    );
    let bare = |function: &str| {
        let minimal = MINIMAL.replace("repo_allowlist = [\"acme/*\"]\n", "");
        format!("{minimal}{function}\n")
    };
    for entry in ["https://github.com/acme/*", "acme"] {
        let err = parse(&bare(&format!("repo_allowlist = [\"{entry}\"]"))).unwrap_err();
        assert!(err.contains("matches no repository"), "{entry}: {err}");
    }
}

#[test]
fn the_operators_switches_are_checked_by_the_functions_own_parsers() {
    let with = |keys: &str| format!("{MINIMAL}{keys}\n");
    parse(&with("allow_commands = [\"plan\", \"apply\", \"import\"]\nbot_user = \"@landfall-bot\"\ndisable_autoplan = true")).unwrap();
    let err = parse(&with("allow_commands = [\"plan\", \"destroy\"]")).unwrap_err();
    assert!(
        err.contains("invalid allow_commands") && err.contains("`destroy` is not a command"),
        "{err}"
    );
    let err = parse(&with("allow_commands = []")).unwrap_err();
    assert!(err.contains("invalid allow_commands"), "{err}");
    let err = parse(&with("bot_user = \"two words\"")).unwrap_err();
    assert!(err.contains("invalid bot_user"), "{err}");
    parse(&with("vcs_status_name = \"atlantis\"")).unwrap();
    let err = parse(&with("vcs_status_name = \"atlantis/plan\"")).unwrap_err();
    assert!(err.contains("invalid vcs_status_name"), "{err}");
}

#[test]
fn a_policy_that_is_missing_or_invalid_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("landfall.toml");
    let text = format!("{MINIMAL}policy = \"repos.yaml\"\n");
    // Commands that neither render nor deploy (`down`, `app list`) need no policy file.
    Config::parse(&text, &toml).unwrap();
    let err = Config::parse_to_render(&text, &toml)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":11: policy \"repos.yaml\"") && err.contains("No such file"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("repos.yaml"),
        "repos:\n- id: /.*/\n  plan_requirements: [never]\n",
    )
    .unwrap();
    let err = Config::parse_to_render(&text, &toml)
        .unwrap_err()
        .to_string();
    assert!(err.contains("never"), "{err}");
    std::fs::write(dir.path().join("repos.yaml"), "repos:\n- id: /.*/\n").unwrap();
    Config::parse_to_render(&text, &toml).unwrap();
}

#[test]
fn instance_types_of_two_architectures_are_refused() {
    let with = |types: &str| format!("{MINIMAL}\n[cluster]\ninstance_types = {types}\n");
    parse(&with("[\"m7g.large\", \"c6gn.xlarge\"]")).unwrap();
    parse(&with("[\"m6i.large\", \"g5.xlarge\"]")).unwrap();
    parse(&with("[\"a1.large\", \"m6g.large\"]")).unwrap();
    let err = parse(&with("[\"m7g.large\", \"m6i.large\"]")).unwrap_err();
    assert!(err.contains("mixes Graviton (arm64) and x86_64"), "{err}");
}

#[test]
fn an_apps_pod_security_level_is_one_of_the_three_and_one_per_namespace() {
    let app = |name: &str, extra: &str| {
        format!(
            "\n[[apps]]\nname = \"{name}\"\nrepo_url = \"https://x.example.com/a.git\"\npath = \"a\"\nnamespace = \"shop\"\n{extra}"
        )
    };
    let config = parse(&format!(
        "{MINIMAL}{}",
        app("web", "pod_security = \"privileged\"\n")
    ))
    .unwrap();
    assert_eq!(
        config.apps[0].get_ref().pod_security(),
        crate::config::PodSecurity::Privileged
    );
    let err = parse(&format!(
        "{MINIMAL}{}",
        app("web", "pod_security = \"lax\"\n")
    ))
    .unwrap_err();
    assert!(
        err.contains("restricted") && err.contains("privileged"),
        "{err}"
    );
    let err = parse(&format!(
        "{MINIMAL}{}",
        app(
            "web",
            "pod_security = \"restricted\"\ncluster_wide = true\n"
        )
    ))
    .unwrap_err();
    assert!(err.contains("cluster_wide"), "{err}");
    let err = parse(&format!(
        "{MINIMAL}{}{}",
        app("web", "pod_security = \"restricted\"\n"),
        app("api", "")
    ))
    .unwrap_err();
    assert!(err.contains("another Pod Security level"), "{err}");
}

#[test]
fn kubernetes_before_1_30_is_refused() {
    let with =
        |version: &str| format!("{MINIMAL}\n[cluster]\nkubernetes_version = \"{version}\"\n");
    assert!(parse(&with("1.29")).unwrap_err().contains("1.30 or later"));
    parse(&with("1.30")).unwrap();
}
