//! A project's workflow: the steps a plan or an apply runs, and the environment variables each
//! step sees. The default plan is `init` then `plan`; the default apply is `init` then `apply`
//! (every run starts from a fresh clone, so an apply initialises too). Custom steps come from
//! the repo config or the operator's policy, in Atlantis' vocabulary: `init`, `plan`, `apply`
//! with `extra_args`, `show`, `run` (a shell command), `env` and `multienv`.
//!
//! Only `run` steps and `env` and `multienv` steps' commands go through a shell (`sh -c` unless
//! the step names its `shell` and `shellArgs`), because their text is an operator- or
//! repo-defined command line. Everything a commenter typed reaches Terraform as argv entries,
//! never a shell.

use std::path::Path;

use crate::run::{RunSpec, Step};

/// The Terraform argv of a built-in step, after the binary: fixed flags, the workflow's
/// `extra_args`, then the comment's `comment_args` (all but `init`), then the planfile for
/// apply, or `--` and the `operands` for `import` and `state rm` (so an address is never read
/// as a flag). `None` for `show`, `run`, `env` and `multienv`.
#[must_use]
pub fn terraform_args(
    step: &Step,
    planfile: &Path,
    comment_args: &[String],
    operands: &[String],
) -> Option<Vec<String>> {
    let planfile = planfile.display().to_string();
    let (mut args, extra, with_comment): (Vec<String>, &[String], bool) = match step {
        Step::Init { extra_args } => (
            vec!["init".into(), "-input=false".into(), "-no-color".into()],
            extra_args,
            false,
        ),
        Step::Plan { extra_args } => (
            vec![
                "plan".into(),
                "-input=false".into(),
                "-no-color".into(),
                format!("-out={planfile}"),
            ],
            extra_args,
            true,
        ),
        Step::Apply { extra_args } => (
            vec!["apply".into(), "-input=false".into(), "-no-color".into()],
            extra_args,
            true,
        ),
        Step::Import { extra_args } => (
            vec!["import".into(), "-input=false".into(), "-no-color".into()],
            extra_args,
            true,
        ),
        Step::StateRm { extra_args } => (
            vec!["state".into(), "rm".into(), "-no-color".into()],
            extra_args,
            true,
        ),
        Step::Show | Step::Run(_) | Step::Env { .. } | Step::Multienv(_) => return None,
    };
    args.extend(extra.iter().cloned());
    if with_comment {
        args.extend(comment_args.iter().cloned());
    }
    match step {
        Step::Apply { .. } => args.push(planfile),
        Step::Import { .. } | Step::StateRm { .. } => {
            args.push("--".into());
            args.extend(operands.iter().cloned());
        }
        _ => {}
    }
    Some(args)
}

/// `arg` with each `$NAME` and `${NAME}` replaced by the variable's value, as Atlantis expands a
/// workflow's `extra_args` (never a commenter's arguments, which reach Terraform as typed):
/// `-backend-config=key=${PROJECT_NAME}/terraform.tfstate`. `lookup` gives a variable's
/// value; one it does not know is an error naming it (Atlantis would pass an empty string).
/// `$$` is a `$`; a `$` not followed by a name, or `${` not closed, stays as it is.
pub fn expand(arg: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('$') {
            out.push('$');
            rest = more;
            continue;
        }
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if end > 0 && braced[..end].chars().all(is_name_char) => {
                    (&braced[..end], end + 2)
                }
                _ => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            out.push('$');
            rest = after;
            continue;
        }
        let value = lookup(name).ok_or_else(|| {
            format!("`{arg}` names ${name}, which is not set in the step's environment")
        })?;
        out.push_str(&value);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Atlantis' automatic variable file: when the project directory `dir` has
/// `env/<workspace>.tfvars`, the built-in `plan` step adds `-var-file=env/<workspace>.tfvars`
/// (relative to `dir`, where Terraform runs) after every other argument, as Atlantis does.
/// `Ok(None)` when there is no such file. A file that leads out of the clone `root` through a
/// symbolic link (the file's or a folder's) is refused: Terraform would read, and the plan
/// keep, a file of the runner's that is not the repository's.
pub fn workspace_var_file(
    root: &Path,
    dir: &Path,
    workspace: &str,
) -> Result<Option<String>, String> {
    let relative = format!("env/{workspace}.tfvars");
    // The workspace is a plain name (letters, digits, '-', '_', '.'): no separator, so this is
    // one file in `env`.
    let Ok(target) = dir.join(&relative).canonicalize() else {
        return Ok(None);
    };
    let inside = root
        .canonicalize()
        .is_ok_and(|root| target.starts_with(root));
    if inside {
        Ok(Some(format!("-var-file={relative}")))
    } else {
        Err(format!(
            "{relative} (Atlantis' variable file for workspace `{workspace}`) is a symbolic link, \
             or is in a folder that is one, that leads outside the repository: Landfall does not \
             pass it to Terraform. Make it a file in the repository."
        ))
    }
}

/// Splits `owner/name` at its last `/` (GitLab's nested groups stay in the owner).
fn owner_and_name(full: &str) -> (&str, &str) {
    full.rsplit_once('/').unwrap_or(("", full))
}

/// Atlantis' `COMMENT_ARGS`: every character of every argument backslash-escaped, arguments
/// joined by commas, so a script can split them safely.
#[must_use]
pub fn comment_args_var(args: &[String]) -> String {
    args.iter()
        .map(|arg| {
            arg.chars().fold(String::new(), |mut out, c| {
                out.push('\\');
                out.push(c);
                out
            })
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The pull request's web page (`PULL_URL`); empty for a drift check, which has none.
fn pull_url(spec: &RunSpec) -> String {
    if spec.is_drift() {
        return String::new();
    }
    let api = super::options::vcs_url(spec);
    crate::vcs::pull_request_url(spec.provider, api.as_deref(), &spec.repo, spec.pr)
}

/// The variables every step sees, named as Atlantis names them, so custom workflows written
/// for Atlantis run unchanged.
#[must_use]
pub fn step_env(
    spec: &RunSpec,
    project_dir: &Path,
    planfile: &Path,
) -> Vec<(&'static str, String)> {
    let (base_owner, base_name) = owner_and_name(spec.repo.as_str());
    let (head_owner, head_name) = owner_and_name(spec.head_repo.as_str());
    let showfile = planfile.with_extension("json");
    vec![
        ("WORKSPACE", spec.project.workspace.clone()),
        (
            "ATLANTIS_TERRAFORM_VERSION",
            spec.project.terraform_version.clone().unwrap_or_default(),
        ),
        (
            "ATLANTIS_TERRAFORM_DISTRIBUTION",
            spec.project.distribution.as_str().to_owned(),
        ),
        ("DIR", project_dir.display().to_string()),
        ("PLANFILE", planfile.display().to_string()),
        ("SHOWFILE", showfile.display().to_string()),
        ("BASE_REPO_NAME", base_name.to_owned()),
        ("BASE_REPO_OWNER", base_owner.to_owned()),
        ("HEAD_REPO_NAME", head_name.to_owned()),
        ("HEAD_REPO_OWNER", head_owner.to_owned()),
        ("HEAD_BRANCH_NAME", spec.head_branch.clone()),
        ("HEAD_COMMIT", spec.head_sha.to_string()),
        ("BASE_BRANCH_NAME", spec.base_branch.clone()),
        (
            "PROJECT_NAME",
            spec.project.name.clone().unwrap_or_default(),
        ),
        ("PULL_NUM", spec.pr.to_string()),
        ("PULL_AUTHOR", spec.pull_author.clone()),
        ("PULL_URL", pull_url(spec)),
        ("REPO_REL_DIR", spec.project.dir.clone()),
        ("USER_NAME", spec.user.clone()),
        ("COMMENT_ARGS", comment_args_var(&spec.extra_args)),
        ("COMMAND_NAME", spec.command.as_str().to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::run::env::tests::plan_spec;
    use crate::run::{RunCommand, RunOutput, default_steps};

    #[test]
    fn workflow_arguments_expand_variables_as_atlantis_does() {
        let vars = |name: &str| match name {
            "PROJECT_NAME" => Some("network".to_owned()),
            "WORKSPACE" => Some("staging".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        for (arg, expanded) in [
            (
                "-backend-config=key=${PROJECT_NAME}/terraform.tfstate",
                "-backend-config=key=network/terraform.tfstate",
            ),
            ("-var-file=$WORKSPACE.tfvars", "-var-file=staging.tfvars"),
            ("-var=a=$EMPTY", "-var=a="),
            ("$WORKSPACE$PROJECT_NAME", "stagingnetwork"),
            // Not a variable: kept as written.
            ("cost$", "cost$"),
            ("a$ b", "a$ b"),
            ("$1x", "$1x"),
            ("${}", "${}"),
            ("${WORKSPACE", "${WORKSPACE"),
            ("${not-a-name}", "${not-a-name}"),
            ("$$WORKSPACE", "$WORKSPACE"),
            ("a$$$WORKSPACE", "a$staging"),
            ("-lock=false", "-lock=false"),
        ] {
            assert_eq!(expand(arg, vars).as_deref(), Ok(expanded), "{arg}");
        }
        let err = expand("-var=t=${TOKEN}", vars).unwrap_err();
        assert!(err.contains("TOKEN") && err.contains("not set"), "{err}");
    }

    #[test]
    fn a_run_steps_output_setting_picks_what_the_comment_shows() {
        let output = "aws_s3_bucket.a: Refreshing state... [id=a]\n\nNo changes.";
        assert_eq!(RunOutput::Show.shown(output).as_deref(), Some(output));
        assert_eq!(RunOutput::Hide.shown(output), None);
        assert_eq!(
            RunOutput::StripRefreshing.shown(output).as_deref(),
            Some("\nNo changes.")
        );
    }

    #[test]
    fn the_default_plan_is_init_then_plan_with_the_planfile() {
        let steps = default_steps(RunCommand::Plan);
        let planfile = PathBuf::from("/work/out/plan.tfplan");
        let argv: Vec<_> = steps
            .iter()
            .map(|step| terraform_args(step, &planfile, &["-target=a".to_owned()], &[]).unwrap())
            .collect();
        assert_eq!(argv[0], ["init", "-input=false", "-no-color"]);
        assert_eq!(
            argv[1],
            [
                "plan",
                "-input=false",
                "-no-color",
                "-out=/work/out/plan.tfplan",
                "-target=a"
            ]
        );
    }

    #[test]
    fn apply_takes_the_planfile_last() {
        let argv = terraform_args(
            &Step::Apply {
                extra_args: vec!["-parallelism=2".to_owned()],
            },
            Path::new("p.tfplan"),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "apply",
                "-input=false",
                "-no-color",
                "-parallelism=2",
                "p.tfplan"
            ]
        );
    }

    #[test]
    fn import_and_state_rm_take_their_operands_after_a_double_dash() {
        let operands = ["-state=/etc/x".to_owned(), "id-1".to_owned()];
        let argv = terraform_args(
            &Step::Import {
                extra_args: Vec::new(),
            },
            Path::new("p.tfplan"),
            &["-var=a=b".to_owned()],
            &operands,
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "import",
                "-input=false",
                "-no-color",
                "-var=a=b",
                "--",
                "-state=/etc/x",
                "id-1"
            ]
        );
        let argv = terraform_args(
            &Step::StateRm {
                extra_args: Vec::new(),
            },
            Path::new("p.tfplan"),
            &[],
            &["a.b".to_owned(), "c.d".to_owned()],
        )
        .unwrap();
        assert_eq!(argv, ["state", "rm", "-no-color", "--", "a.b", "c.d"]);
    }

    #[test]
    fn a_plan_reads_the_workspaces_var_file_when_the_project_has_one() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("envs/app");
        std::fs::create_dir_all(dir.join("env")).unwrap();
        assert_eq!(workspace_var_file(root.path(), &dir, "prod"), Ok(None));
        std::fs::write(dir.join("env/prod.tfvars"), "size = 2\n").unwrap();
        assert_eq!(
            workspace_var_file(root.path(), &dir, "prod"),
            Ok(Some("-var-file=env/prod.tfvars".to_owned()))
        );
        assert_eq!(workspace_var_file(root.path(), &dir, "staging"), Ok(None));
        // A link that stays in the repository is followed, as Terraform would.
        std::fs::write(root.path().join("shared.tfvars"), "size = 3\n").unwrap();
        std::os::unix::fs::symlink("../../../shared.tfvars", dir.join("env/staging.tfvars"))
            .unwrap();
        assert_eq!(
            workspace_var_file(root.path(), &dir, "staging"),
            Ok(Some("-var-file=env/staging.tfvars".to_owned()))
        );
    }

    #[test]
    fn a_var_file_that_leads_out_of_the_repository_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.tfvars"), "token = \"x\"\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("app");
        std::fs::create_dir_all(dir.join("env")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.tfvars"),
            dir.join("env/prod.tfvars"),
        )
        .unwrap();
        let err = workspace_var_file(root.path(), &dir, "prod").unwrap_err();
        assert!(err.contains("outside the repository"), "{err}");
        // Also through a linked folder.
        let other = root.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::os::unix::fs::symlink(outside.path(), other.join("env")).unwrap();
        std::fs::rename(
            outside.path().join("secret.tfvars"),
            outside.path().join("dev.tfvars"),
        )
        .unwrap();
        assert!(workspace_var_file(root.path(), &other, "dev").is_err());
    }

    #[test]
    fn comment_args_are_escaped_as_atlantis_does() {
        assert_eq!(
            comment_args_var(&["-target=a".to_owned(), "x y".to_owned()]),
            "\\-\\t\\a\\r\\g\\e\\t\\=\\a,\\x\\ \\y"
        );
    }

    #[test]
    fn steps_see_atlantis_variables() {
        let mut spec = plan_spec();
        spec.repo = crate::event::RepoName::new("group/sub/infra");
        let env = step_env(
            &spec,
            Path::new("/w/repo/envs/prod"),
            Path::new("/w/out/p.tfplan"),
        );
        let get = |name: &str| env.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get("BASE_REPO_OWNER"), "group/sub");
        assert_eq!(get("BASE_REPO_NAME"), "infra");
        assert_eq!(get("PULL_NUM"), "42");
        assert_eq!(
            get("PULL_URL"),
            "https://github.com/group/sub/infra/pull/42"
        );
        assert_eq!(get("PROJECT_NAME"), "prod");
        assert_eq!(get("PLANFILE"), "/w/out/p.tfplan");
        assert_eq!(get("SHOWFILE"), "/w/out/p.json");
        assert_eq!(get("HEAD_COMMIT"), spec.head_sha.as_str());
        // Atlantis' documented Terragrunt workflow builds its binary's name from this.
        assert_eq!(get("ATLANTIS_TERRAFORM_DISTRIBUTION"), "terraform");
    }

    #[test]
    fn workflow_steps_read_as_json() {
        let steps: Vec<Step> = serde_json::from_str(
            r#"[{"step":"init"},{"step":"run","command":"terragrunt plan -out $PLANFILE"},
                {"step":"env","name":"A","value":"b"}]"#,
        )
        .unwrap();
        assert_eq!(steps[0], Step::Init { extra_args: vec![] });
        assert_eq!(steps[1].name(), "run");
    }
}
