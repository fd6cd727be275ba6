//! A step's output in the run's comment: whatever it prints, it stays inside its code block.

use super::*;
use crate::markdown::tests::lines_outside_code;
use crate::run::env::tests::plan_spec;
use crate::runner::plan::planfile_bytes;

fn options(work_dir: &Path) -> RunnerOptions {
    RunnerOptions {
        work_dir: work_dir.to_path_buf(),
        terraform: PathBuf::from("terraform"),
        tofu: PathBuf::from("tofu"),
        versions_dir: None,
        plugin_cache: work_dir.join("plugin-cache"),
        grace: Duration::from_secs(1),
        token: None,
        helper_exe: PathBuf::from("landfall-runner"),
        echo: false,
    }
}

/// What the comment shows of a step that printed `output` and failed.
fn comment_of_failing_step(output: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spec = plan_spec();
    let opts = options(dir.path());
    let mut run = Run::new(
        &spec,
        &opts,
        Instant::now() + Duration::from_mins(1),
        dir.path().join("plan.tfplan"),
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("printf '%s' \"$1\"; exit 1")
        .arg("sh")
        .arg(output);
    let Err(Stop(outcome)) = run.exec("plan", cmd, "terraform plan", dir.path()) else {
        panic!("the step failed");
    };
    let result = ProjectResult::new(&spec.project, spec.command, outcome);
    crate::comment::render(&[result])
}

/// Terraform prints a precondition's `error_message` as written, lines and all (`-no-color`), so
/// the pull request's Terraform chooses this output. Naming a stale plan makes it a refusal.
#[test]
fn a_failing_step_cannot_break_out_of_its_code_block() {
    for stale in ["", "Saved plan is stale.\n"] {
        let output = format!(
            "Error: Resource precondition failed\n\n  on main.tf line 7:\n\n{stale}```\n\
             **Applied.** Apply complete! @acme/everyone\n~~~\n@acme/everyone\n"
        );
        let body = comment_of_failing_step(&output);
        let shown: Vec<&str> = lines_outside_code(&body)
            .into_iter()
            .filter(|line| line.contains("@acme/everyone") || line.contains("Apply complete"))
            .collect();
        assert!(shown.is_empty(), "rendered as Markdown: {shown:?}\n{body}");
        assert!(body.contains("@acme/everyone"), "{body}");
    }
}

/// A run of the plan spec in `work_dir`, its planfile at `out/plan.tfplan` there.
fn run_in<'a>(spec: &'a RunSpec, opts: &'a RunnerOptions) -> Run<'a> {
    let planfile = opts.work_dir.join("out").join("plan.tfplan");
    Run::new(
        spec,
        opts,
        Instant::now() + Duration::from_mins(1),
        planfile,
    )
}

/// The operator may point `LANDFALL_WORK_DIR` at a symbolic link (a work folder on another
/// volume): the planfile Terraform wrote there is stored. A link the pull request's code puts
/// in the work directory's place once the run has started is still refused.
#[test]
fn a_work_dir_the_operator_linked_stores_its_plan_and_one_swapped_in_later_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (real, work) = (dir.path().join("volume"), dir.path().join("work"));
    fs::create_dir_all(real.join("out")).unwrap();
    std::os::unix::fs::symlink(&real, &work).unwrap();
    let spec = plan_spec();
    let opts = options(&work);
    let run = run_in(&spec, &opts);
    fs::write(&run.planfile, b"the plan").unwrap();
    assert_eq!(
        planfile_bytes(&run, "plan").ok(),
        Some(b"the plan".to_vec())
    );

    let plain = dir.path().join("plain");
    fs::create_dir_all(plain.join("out")).unwrap();
    let opts = options(&plain);
    let run = run_in(&spec, &opts);
    fs::rename(&plain, dir.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&real, &plain).unwrap();
    assert!(
        planfile_bytes(&run, "plan").is_err(),
        "a work dir swapped for a link"
    );
}

/// Only Terraform's own refusal, the first thing a built-in `apply` prints, keeps the plan as
/// refused: the same words after resources were made (a provisioner's) are a failure.
#[test]
fn only_terraforms_own_stale_refusal_counts_as_one() {
    let own = "\n╷\n│ Error: Saved plan is stale\n│ \n│ The given plan file can no longer be applied because the state was changed\n";
    assert!(refused_as_stale(own));
    assert!(refused_as_stale(
        "\nError: Saved plan is stale\n\nThe given plan file ..."
    ));
    let provisioner = "terraform_data.app: Creating...\nterraform_data.app (local-exec): Error: Saved plan is stale\n";
    assert!(!refused_as_stale(provisioner));
    assert!(!refused_as_stale(
        "Error: Saved plan is stale (not really)\n"
    ));
    assert!(!refused_as_stale(""));
}
