//! The runner image stage of `landfall up` against moto's ECR: run inside the Landfall source
//! with a fake `podman` on PATH that records its argv and standard input (and, on `push`, puts
//! the image into moto's repository as a registry would), the real `landfall` builds, tags, logs
//! in with the password from `GetAuthorizationToken` on stdin only, pushes, hands the reference
//! to the platform stage, and skips the push once the tag is in ECR. The test platform stage
//! cannot hold an `aws_ecr_repository` (no AWS provider here), so the test creates the
//! repository that the targeted apply would.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use landfall_e2e::{path_with_tools, repo_root, tools_dir};

use super::up::{Fixture, state_object, text};

/// moto's account and its ECR password for it.
const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const PASSWORD: &str = "123456789012-auth-token";

const FAKE_PODMAN: &str = r#"
import json, sys, boto3
argv = sys.argv[1:]
with open(RECORD, "a") as f:
    f.write(json.dumps({"argv": argv, "stdin": sys.stdin.read()}) + "\n")
if argv[0] == "push":
    repository, tag = argv[1].split("/", 1)[1].rsplit(":", 1)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                           "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
                "layers": []}
    boto3.client("ecr").put_image(repositoryName=repository, imageTag=tag,
                                  imageManifest=json.dumps(manifest))
print("fake podman: " + argv[0])
"#;

fn records(f: &Fixture) -> Vec<serde_json::Value> {
    fs::read_to_string(f.path("podman.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn argv(record: &serde_json::Value) -> Vec<&str> {
    record["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// A fake `podman` in a folder of its own; returns PATH with that folder first.
fn fake_podman(f: &Fixture) -> std::ffi::OsString {
    let bin = f.path("bin");
    fs::create_dir(&bin).unwrap();
    let podman = bin.join("podman");
    fs::write(
        &podman,
        format!(
            "#!{}\nRECORD = {:?}\n{FAKE_PODMAN}",
            tools_dir().join("venv/bin/python").display(),
            f.path("podman.jsonl").display().to_string()
        ),
    )
    .unwrap();
    fs::set_permissions(&podman, fs::Permissions::from_mode(0o755)).unwrap();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path_with_tools())))
        .unwrap()
}

/// The password reached `login` on stdin, and no argv, output or log file holds it.
fn assert_password_only_on_stdin(f: &Fixture, calls: &[serde_json::Value], said: &str) {
    assert_eq!(
        calls[2]["stdin"],
        format!("{PASSWORD}\n"),
        "the password reaches login on stdin"
    );
    for call in calls {
        assert!(
            !call["argv"].to_string().contains(PASSWORD),
            "the password is in no argv"
        );
    }
    assert!(!said.contains(PASSWORD));
    for entry in fs::read_dir(f.path(".landfall-up")).unwrap() {
        let file = entry.unwrap().path();
        let content = fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&content).contains(PASSWORD),
            "the password is in {}",
            file.display()
        );
    }
}

/// The platform stage got `-var runner_image=<reference>`, and its state holds it.
fn assert_platform_runs(f: &Fixture, reference: &str) {
    let platform_log = fs::read_to_string(f.path(".landfall-up/platform.log")).unwrap();
    assert!(
        platform_log.contains(&format!("-var=runner_image={reference}")),
        "{platform_log}"
    );
    let platform: serde_json::Value =
        serde_json::from_slice(&state_object(f, "platform/terraform.tfstate").unwrap()).unwrap();
    let image = platform["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "image")
        .unwrap();
    assert_eq!(
        image["instances"][0]["attributes"]["input"]["value"],
        reference
    );
}

#[test]
fn up_builds_logs_in_on_stdin_pushes_once_and_hands_the_image_to_the_platform() {
    let f = Fixture::new();
    f.fake_github();

    // Outside the Landfall source, with no --runner-image: a clear error at the image stage,
    // before the platform.
    let out = f.up_in(f.dir.path(), &[]).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(" FAIL  runner image"), "{said}");
    assert!(
        said.contains("this is not the Landfall source") && said.contains("--runner-image REF"),
        "{said}"
    );
    assert!(state_object(&f, "platform/terraform.tfstate").is_none());

    let path = fake_podman(&f);
    let source = repo_root();
    let up = || {
        let mut cmd = f.up_in(
            &source,
            &["--runner-build-arg", "TERRAGRUNT_VERSION=0.99.0"],
        );
        cmd.env("PATH", &path);
        cmd.output().unwrap()
    };
    // No repository yet: the platform's is applied alone first. The test stage has none to
    // create, so the stage fails saying so, having built nothing.
    let said = text(&up());
    assert!(
        said.contains(" FAIL  runner image")
            && said.contains("did not create the ECR repository t1/landfall-runner"),
        "{said}"
    );
    let image_log = fs::read_to_string(f.path(".landfall-up/image.log")).unwrap();
    assert!(
        image_log.contains("-target=aws_ecr_repository.runner"),
        "{image_log}"
    );
    assert!(
        records(&f).is_empty(),
        "nothing built before the repository exists"
    );
    f.helper(&["ecr-repository", "t1/landfall-runner"]);
    let reference = format!(
        "{REGISTRY}/t1/landfall-runner:{}",
        env!("CARGO_PKG_VERSION")
    );

    let mut plan = f.up_in(&source, &["--plan"]);
    let said = text(&plan.env("PATH", &path).output().unwrap());
    assert!(
        said.contains("todo  runner image")
            && said.contains(&format!(
                "build images/runner/Containerfile with podman, push {reference}"
            )),
        "{said}"
    );
    assert!(records(&f).is_empty(), "--plan runs no podman");

    let out = up();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains(" done  runner image"), "{said}");
    let calls = records(&f);
    let containerfile = source.join("images/runner/Containerfile");
    let local = format!("landfall-runner:{}", env!("CARGO_PKG_VERSION"));
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "build",
            // The default nodes (m6i.large) run x86: built for them on any machine.
            "--platform",
            "linux/amd64",
            "-f",
            containerfile.to_str().unwrap(),
            "-t",
            &local,
            "--build-arg",
            "TERRAGRUNT_VERSION=0.99.0",
            ".",
        ],
        vec!["tag", &local, &reference],
        vec!["login", "--username", "AWS", "--password-stdin", REGISTRY],
        vec!["push", &reference],
    ];
    assert_eq!(calls.iter().map(argv).collect::<Vec<_>>(), expected);
    assert_password_only_on_stdin(&f, &calls, &said);
    let image_log = fs::read_to_string(f.path(".landfall-up/image.log")).unwrap();
    assert!(
        image_log.contains("fake podman: push"),
        "the tool's output is logged"
    );
    assert_platform_runs(&f, &reference);

    // The tag is in ECR now (immutable): the next run pushes nothing and changes nothing.
    let out = up();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("   ok  runner image") && said.contains("already there"),
        "{said}"
    );
    assert!(!said.contains(" done "), "{said}");
    assert_eq!(records(&f).len(), 4, "no second build or push");
}
