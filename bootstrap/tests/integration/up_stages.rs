//! `landfall up` finding a stage not done though something of it is there: a hook whose test
//! delivery the function refused, a function package of another Landfall version, and one
//! whose operator's policy changed.

use std::fs;

use super::up::{Fixture, IMAGE, text};

/// A hook whose test delivery the function refused (a secret the running functions do not have
/// yet) is not recorded as done (`.landfall-up/webhook.json`, which would make the next run find
/// it "up to date"): `up` says what is left and exits 3, and the next run registers and tests
/// the hook again.
#[test]
fn a_refused_test_delivery_leaves_the_hook_to_the_next_run() {
    let f = Fixture::new();
    f.fake_github_answering_pings(401, "Unauthorized");
    let out = f.up(&[]);
    let first = text(&out);
    assert_eq!(out.status.code(), Some(3), "{first}");
    assert!(first.contains("HTTP 401"), "{first}");
    assert!(first.contains("left to do:"), "{first}");
    assert!(
        !f.path(".landfall-up/webhook.json").exists(),
        "not recorded as registered"
    );
}

/// The function package is noted with the Landfall version it was put there for; one of
/// another version (an upgrade, or a package copied by hand) is not taken for this version's:
/// outside the source and without `--function-package`, the stage is left, saying why.
#[test]
fn a_function_package_of_another_version_is_not_taken_for_this_ones() {
    let f = Fixture::new();
    f.fake_github();
    // Stopped after the package (exit 3: the rest is left to do).
    let out = f.up(&["--until", "package"]);
    assert!(
        text(&out).contains("done  function package"),
        "{}",
        text(&out)
    );
    let noted = f.path("terraform/platform/landfall-function.zip.version");
    assert_eq!(
        fs::read_to_string(&noted).unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    fs::write(&noted, "0.0.1").unwrap();
    let config = f.path("landfall.toml").display().to_string();
    let backend = f.path("moto.tfbackend").display().to_string();
    let mut up = f.command(&[
        "up",
        "--config",
        &config,
        "--backend-config",
        &backend,
        "--runner-image",
        IMAGE,
        "--until",
        "package",
    ]);
    let out = up.current_dir(f.dir.path()).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains(" left  function package"), "{said}");
    assert!(said.contains("put there by Landfall 0.0.1"), "{said}");
}

/// `[function] policy` ships the operator's policy in the function package, where the rendered
/// platform tells the function to read it; a changed policy makes a new package, and the
/// package goes on without it once the key is gone.
#[test]
fn the_operators_policy_travels_in_the_function_package_and_follows_its_file() {
    use std::io::Write as _;
    let f = Fixture::new();
    f.fake_github();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"the function").unwrap();
    fs::write(f.path("bootstrap.zip"), zip.finish().unwrap().into_inner()).unwrap();
    let policy = "repos:\n- id: /.*/\n  apply_requirements: [approved]\n";
    fs::write(f.path("repos.yaml"), policy).unwrap();
    let toml = f.path("landfall.toml");
    let without = fs::read_to_string(&toml).unwrap();
    fs::write(
        &toml,
        without.replacen("[function]\n", "[function]\npolicy = \"repos.yaml\"\n", 1),
    )
    .unwrap();
    let out = f.landfall(&["render", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "+    LANDFALL_POLICY                       = \"/var/task/policy/repos.yaml\""
        ),
        "{}",
        text(&out)
    );

    let shipped = || {
        let package = fs::read(f.path("terraform/platform/landfall-function.zip")).unwrap();
        landfall::package::policy_in(&package).unwrap()
    };
    package_stage_says(&f, "done");
    assert_eq!(
        shipped(),
        [("repos.yaml".to_owned(), policy.as_bytes().to_vec())]
    );

    package_stage_says(&f, "   ok");
    let changed = policy.replace("approved", "mergeable");
    fs::write(f.path("repos.yaml"), &changed).unwrap();
    package_stage_says(&f, "done");
    assert_eq!(shipped(), [("repos.yaml".to_owned(), changed.into_bytes())]);

    // A policy the function would refuse at start-up is refused here, at its line.
    fs::write(
        f.path("repos.yaml"),
        "repos:\n- id: /.*/\n  apply_requirements: [sometimes]\n",
    )
    .unwrap();
    let out = f.landfall(&["render", "--check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("sometimes"), "{}", text(&out));

    fs::write(&toml, &without).unwrap();
    package_stage_says(&f, "done");
    assert!(
        shipped().is_empty(),
        "the policy left the package with the key"
    );
}

/// Runs `up` to the function package stage and asserts the stage's status (`done`, `   ok`).
fn package_stage_says(f: &Fixture, status: &str) {
    let out = f.up(&["--until", "package"]);
    let said = text(&out);
    assert!(
        said.contains(&format!("{status}  function package")),
        "{said}"
    );
}
