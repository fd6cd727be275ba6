//! `landfall app add`, `app remove` and `app list` as a user runs them: the user's comments and
//! order kept, and bad input refused with nothing changed.

use std::fs;

use super::cli::{fails, init, ok, snapshot};

#[test]
fn app_add_and_remove_keep_the_users_comments_and_order() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let config = dir.path().join("landfall.toml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n# Team Blue's service, owned by @blue.\n[[apps]]\nname = \"blue\" # keep me\nrepo_url = \"https://github.com/acme/blue.git\"\npath = \"deploy\"\n");
    fs::write(&config, &text).unwrap();
    fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    ok(dir.path(), &["render"]);
    fs::write(
        dir.path().join("manifests/apps/hand-written.yaml"),
        "# mine\n",
    )
    .unwrap();

    ok(
        dir.path(),
        &[
            "app",
            "add",
            "ingress",
            "--repo-url",
            "https://kubernetes.github.io/ingress-nginx",
            "--chart",
            "ingress-nginx",
            "--chart-version",
            "4.13.0",
            "--sync-wave",
            "-1",
            "--cluster-wide",
        ],
    );
    let added = fs::read_to_string(&config).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&config).unwrap().permissions())
            & 0o777;
    assert_eq!(mode, 0o644, "landfall.toml keeps its mode, {mode:o}");
    assert!(
        added.starts_with(&text),
        "the existing text changed:\n{added}"
    );
    assert!(added.ends_with("[[apps]]\nname = \"ingress\"\nrepo_url = \"https://kubernetes.github.io/ingress-nginx\"\nchart = \"ingress-nginx\"\nchart_version = \"4.13.0\"\nsync_wave = -1\ncluster_wide = true\n"), "{added}");
    let manifest = fs::read_to_string(dir.path().join("manifests/apps/ingress.yaml")).unwrap();
    assert!(
        manifest.contains("chart: \"ingress-nginx\"") && manifest.contains("sync-wave: \"-1\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("      kind: \"*\""),
        "trusted with the cluster: {manifest}"
    );

    let list = ok(dir.path(), &["app", "list"]);
    assert!(list.contains("blue") && list.contains("ingress"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["app", "list", "--json"])).unwrap();
    assert_eq!(json[1]["name"], "ingress");
    assert_eq!(json[1]["revision"], "4.13.0");
    assert_eq!(
        (&json[0]["cluster_wide"], &json[1]["cluster_wide"]),
        (&false.into(), &true.into())
    );

    ok(dir.path(), &["app", "remove", "ingress"]);
    assert_eq!(fs::read_to_string(&config).unwrap(), text);
    assert!(!dir.path().join("manifests/apps/ingress.yaml").exists());
    assert!(dir.path().join("manifests/apps/blue.yaml").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("manifests/apps/hand-written.yaml")).unwrap(),
        "# mine\n"
    );
}

/// The first app goes below the commented settings `init` writes under `[function]`: one of
/// them uncommented later is still `[function]`'s, and removing the app gives the file back.
#[test]
fn the_first_app_goes_below_the_commented_settings_of_the_last_section() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let config = dir.path().join("landfall.toml");
    let before = fs::read_to_string(&config).unwrap();
    ok(
        dir.path(),
        &[
            "app",
            "add",
            "guestbook",
            "--repo-url",
            "https://github.com/argoproj/argocd-example-apps.git",
            "--path",
            "guestbook",
        ],
    );
    let added = fs::read_to_string(&config).unwrap();
    let (above, _) = added
        .split_once("\n[[apps]]\nname = \"guestbook\"")
        .unwrap();
    assert!(above.contains("# memory_mb = 512"), "{added}");
    fs::write(
        &config,
        added.replace("# memory_mb = 512", "memory_mb = 1024"),
    )
    .unwrap();
    ok(dir.path(), &["render"]);
    ok(dir.path(), &["app", "remove", "guestbook"]);
    let removed = fs::read_to_string(&config).unwrap();
    let before = before.replace("# memory_mb = 512", "memory_mb = 1024");
    assert_eq!(removed, before);

    // Two apps removed first to last, and a comment written at the end meanwhile: the file
    // comes back byte for byte, the comment kept at the end.
    let add = |name: &str| {
        let url = format!("https://git.example.com/{name}.git");
        ok(
            dir.path(),
            &["app", "add", name, "--repo-url", &url, "--path", "deploy"],
        );
    };
    add("web");
    add("api");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("# keep me\n");
    fs::write(&config, text).unwrap();
    ok(dir.path(), &["app", "remove", "web"]);
    ok(dir.path(), &["app", "remove", "api"]);
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        format!("{before}# keep me\n")
    );
}

#[test]
fn bad_app_input_gets_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    ok(
        dir.path(),
        &[
            "app",
            "add",
            "web",
            "--repo-url",
            "https://github.com/acme/web.git",
            "--path",
            "k8s",
        ],
    );
    let before = snapshot(dir.path());

    let err = fails(
        dir.path(),
        &[
            "app",
            "add",
            "Web_App",
            "--repo-url",
            "https://x.example.com/a.git",
            "--path",
            "k8s",
        ],
        2,
    );
    assert!(
        err.contains("invalid app name \"Web_App\"") && err.contains("try \"web-app\""),
        "{err}"
    );
    let err = fails(
        dir.path(),
        &[
            "app",
            "add",
            "web",
            "--repo-url",
            "https://x.example.com/a.git",
            "--path",
            "k8s",
        ],
        2,
    );
    assert!(err.contains("app \"web\" already exists"), "{err}");
    let err = fails(
        dir.path(),
        &[
            "app",
            "add",
            "api",
            "--repo-url",
            "https://x.example.com/a.git",
            "--path",
            "../etc",
        ],
        2,
    );
    assert!(err.contains("must not leave the repository"), "{err}");
    let err = fails(dir.path(), &["app", "remove", "wbe"], 2);
    assert!(
        err.contains("there is no app \"wbe\"") && err.contains("did you mean \"web\"?"),
        "{err}"
    );
    let err = fails(
        dir.path(),
        &[
            "app",
            "add",
            "api",
            "--repo-url",
            "https://x.example.com/a.git",
        ],
        2,
    );
    assert!(err.contains("--path"), "{err}");

    assert_eq!(
        before,
        snapshot(dir.path()),
        "a refused command changed files"
    );
}
