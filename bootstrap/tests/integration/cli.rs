//! The `landfall` binary as a user runs it: init, render, render --check, app add/remove/list,
//! demo, and what each leaves on disk when the input is bad.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

fn landfall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_landfall"))
        .current_dir(dir)
        .args(args)
        .env_remove("LANDFALL_CONFIG")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .expect("landfall runs")
}

pub(crate) fn ok(dir: &Path, args: &[&str]) -> String {
    let out = landfall(dir, args);
    assert!(
        out.status.success(),
        "landfall {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = landfall(dir, args);
    assert_eq!(out.status.code(), Some(code), "landfall {args:?}: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// Every file under `dir` with its content and modification time.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let meta = entry.metadata().unwrap();
                files.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    (fs::read(&path).unwrap(), meta.modified().unwrap()),
                );
            }
        }
    }
    files
}

pub(crate) fn init(dir: &Path) {
    ok(
        dir,
        &[
            "init",
            "--repo-allowlist",
            "acme/*",
            "--name",
            "acme",
            "--region",
            "eu-west-1",
            "--repo-url",
            "https://github.com/acme/platform.git",
        ],
    );
}

#[test]
fn init_writes_a_commented_config_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let text = fs::read_to_string(dir.path().join("landfall.toml")).unwrap();
    assert!(text.contains("name = \"acme\""));
    assert!(text.contains("# Prefix of every AWS resource name"));
    let err = fails(
        dir.path(),
        &[
            "init",
            "--repo-allowlist",
            "acme/*",
            "--repo-url",
            "https://x.example.com/a.git",
        ],
        2,
    );
    assert!(
        err.contains("landfall.toml already exists; pass --force"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("landfall.toml")).unwrap(),
        text
    );
    ok(
        dir.path(),
        &[
            "init",
            "--repo-allowlist",
            "acme/*",
            "--force",
            "--name",
            "other",
            "--repo-url",
            "https://x.example.com/a.git",
        ],
    );
    assert!(
        fs::read_to_string(dir.path().join("landfall.toml"))
            .unwrap()
            .contains("name = \"other\"")
    );
}

#[test]
fn init_names_the_bad_flag() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        dir.path(),
        &[
            "init",
            "--repo-allowlist",
            "acme/*",
            "--name",
            "acme",
            "--region",
            "mars-1",
            "--repo-url",
            "https://x.example.com/a.git",
        ],
        2,
    );
    assert!(
        err.contains("invalid --region: unknown AWS region \"mars-1\""),
        "{err}"
    );
    let err = fails(
        dir.path(),
        &[
            "init",
            "--repo-allowlist",
            "acme/*",
            "--name",
            "acme",
            "--vpc-cidr",
            "10.0.0.0/8",
            "--repo-url",
            "https://x.example.com/a.git",
        ],
        2,
    );
    assert!(err.contains("invalid --vpc-cidr"), "{err}");
    assert!(!dir.path().join("landfall.toml").exists());
}

#[test]
fn init_without_a_repo_url_uses_the_origin_remote_or_says_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        dir.path(),
        &["init", "--name", "acme", "--repo-allowlist", "acme/*"],
        2,
    );
    assert!(err.contains("pass --repo-url"), "{err}");
    let git = |args: &[&str]| {
        assert!(
            Command::new("git")
                .current_dir(dir.path())
                .args(args)
                .status()
                .unwrap()
                .success()
        );
    };
    git(&["init", "-q"]);
    git(&[
        "remote",
        "add",
        "origin",
        "git@github.com:acme/platform.git",
    ]);
    ok(
        dir.path(),
        &["init", "--name", "acme", "--repo-allowlist", "acme/*"],
    );
    let text = fs::read_to_string(dir.path().join("landfall.toml")).unwrap();
    assert!(
        text.contains("repo_url = \"git@github.com:acme/platform.git\""),
        "{text}"
    );
}

#[test]
fn render_then_rerender_writes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let first = ok(dir.path(), &["render"]);
    assert!(
        first.contains("created ./terraform/platform/backend.tf"),
        "{first}"
    );
    let before = snapshot(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = ok(dir.path(), &["render"]);
    assert_eq!(second.trim(), ". is up to date");
    assert_eq!(
        before,
        snapshot(dir.path()),
        "an unchanged config rewrote files"
    );
}

#[test]
fn render_check_prints_a_diff_and_fails_only_when_something_would_change() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let out = landfall(dir.path(), &["render", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(
        diff.contains("--- /dev/null\n+++ b/terraform/platform/backend.tf\n"),
        "{diff}"
    );
    assert!(
        !dir.path().join("terraform").exists(),
        "--check wrote files"
    );

    ok(dir.path(), &["render"]);
    assert!(ok(dir.path(), &["render", "--check"]).contains("up to date"));

    let config = dir.path().join("landfall.toml");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("revision = \"HEAD\"", "revision = \"main\"");
    fs::write(&config, text).unwrap();
    let out = landfall(dir.path(), &["render", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(
        diff.contains("-    targetRevision: \"HEAD\"\n+    targetRevision: \"main\"\n"),
        "{diff}"
    );
}

#[test]
fn a_failed_render_leaves_the_output_folder_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    ok(dir.path(), &["render"]);
    let config = dir.path().join("landfall.toml");
    let good = fs::read_to_string(&config).unwrap();

    // An invalid value: reported with file, line and fix; nothing written.
    fs::write(
        &config,
        good.replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"10.0.0.0/33\""),
    )
    .unwrap();
    let before = snapshot(dir.path());
    let err = fails(dir.path(), &["render"], 2);
    let line = good
        .lines()
        .position(|l| l.starts_with("vpc_cidr"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "landfall.toml:{line}: invalid CIDR \"10.0.0.0/33\""
        )),
        "{err}"
    );
    assert!(err.contains("help: write an IPv4 block"), "{err}");
    assert_eq!(before, snapshot(dir.path()));

    // A hand-written file where a new app's manifest would go: refused before anything is written.
    fs::write(
        &config,
        good.replace("revision = \"HEAD\"", "revision = \"main\""),
    )
    .unwrap();
    fs::write(dir.path().join("manifests/apps/shop.yaml"), "# mine\n").unwrap();
    let mut with_app = fs::read_to_string(&config).unwrap();
    with_app.push_str("\n[[apps]]\nname = \"shop\"\nrepo_url = \"https://x.example.com/shop.git\"\npath = \"k8s\"\n");
    fs::write(&config, with_app).unwrap();
    let before = snapshot(dir.path());
    let err = fails(dir.path(), &["render"], 2);
    assert!(
        err.contains("manifests/apps/shop.yaml exists and was not generated by landfall"),
        "{err}"
    );
    assert_eq!(
        before,
        snapshot(dir.path()),
        "a refused render changed files"
    );
}

#[test]
fn unknown_keys_and_missing_fields_name_the_line_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let config = dir.path().join("landfall.toml");
    let good = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        good.replace("kubernetes_version =", "kubernetes_versoin ="),
    )
    .unwrap();
    let err = fails(dir.path(), &["render"], 2);
    let line = good
        .lines()
        .position(|l| l.starts_with("kubernetes_version"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "landfall.toml:{line}: unknown field `kubernetes_versoin`"
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `kubernetes_version`?"), "{err}");

    fs::write(&config, good.replace("repo_url = ", "# repo_url = ")).unwrap();
    let err = fails(dir.path(), &["render"], 2);
    assert!(err.contains("missing field `repo_url`"), "{err}");
    let err = fails(dir.path(), &["render", "--config", "missing.toml"], 2);
    assert!(err.contains("cannot read missing.toml"), "{err}");
}

#[test]
fn demo_renders_the_example_platform_and_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["demo", "--out", "example"]);
    assert!(
        out.contains("Rendered the example platform \"demo\" into example"),
        "{out}"
    );
    assert!(out.contains("terraform/platform/"), "{out}");
    for file in [
        "landfall.toml",
        "terraform/bootstrap/main.tf",
        "terraform/platform/landfall.tf",
        "manifests/root-app.yaml",
        "manifests/apps/guestbook.yaml",
    ] {
        assert!(dir.path().join("example").join(file).is_file(), "{file}");
    }
    // Running it again keeps the (possibly edited) configuration and renders from it.
    let config = dir.path().join("example/landfall.toml");
    let edited = fs::read_to_string(&config)
        .unwrap()
        .replace("name = \"demo\"", "name = \"edited\"");
    fs::write(&config, edited).unwrap();
    ok(dir.path(), &["demo", "--out", "example"]);
    assert!(
        fs::read_to_string(dir.path().join("example/terraform/platform/network.tf"))
            .unwrap()
            .contains("name     = \"edited\"")
    );
}

#[test]
fn help_teaches_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(dir.path(), &["--help"]);
    for command in ["init", "render", "app", "demo"] {
        assert!(help.contains(command), "{help}");
    }
    let add = ok(dir.path(), &["app", "add", "--help"]);
    assert!(
        add.contains("Examples:") && add.contains("--chart-version"),
        "{add}"
    );
    let render = ok(dir.path(), &["render", "--help"]);
    assert!(render.contains("Exit status"), "{render}");
}

#[test]
fn help_output_is_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["render", "--help"],
        &["app", "add", "--help"],
        &["app", "remove", "--help"],
        &["app", "list", "--help"],
        &["demo", "--help"],
        &["up", "--help"],
        &["down", "--help"],
    ] {
        let name = format!("help__{}", args[..args.len() - 1].join("_"));
        let name = if name == "help__" {
            "help__landfall".to_owned()
        } else {
            name
        };
        let help = ok(dir.path(), args);
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, help);
        });
    }
}
