//! Running the real `terraform` for `landfall up`, and through [`run_logged`] the other tools:
//! one child at a time, its output appended to the stage's log file (never to the terminal),
//! Ctrl-C forwarded to it as SIGINT so Terraform stops cleanly and releases its state lock, and
//! the log's tail kept for the error when it fails.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret as _, SecretString};

/// The Terraform child running now (its pid), 0 when none.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// Whether Ctrl-C was pressed: the run stops at the next stage boundary.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Microseconds spent waiting for Terraform children, to tell our own time from Terraform's.
static TERRAFORM_MICROS: AtomicU64 = AtomicU64::new(0);

/// Microseconds spent waiting for the other tools (podman or docker, `cargo lambda`).
static TOOL_MICROS: AtomicU64 = AtomicU64::new(0);

/// The time spent in the other tools so far.
pub fn tool_time() -> Duration {
    Duration::from_micros(TOOL_MICROS.load(Ordering::SeqCst))
}

/// Adds the time since `since` to the other tools' time.
pub fn add_tool_time(since: Instant) {
    let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    TOOL_MICROS.fetch_add(micros, Ordering::SeqCst);
}

/// The time spent in Terraform so far.
pub fn terraform_time() -> Duration {
    Duration::from_micros(TERRAFORM_MICROS.load(Ordering::SeqCst))
}

fn add_terraform_time(since: Instant) {
    let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    TERRAFORM_MICROS.fetch_add(micros, Ordering::SeqCst);
}

/// Whether the user asked to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Listens for Ctrl-C for the rest of the process: each SIGINT goes to the Terraform child when
/// one runs (Terraform stops gracefully on the first, at once on the second); with no child the
/// run stops at the next stage boundary, and a second Ctrl-C then exits at once.
pub fn forward_interrupts() {
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            let child = CHILD.load(Ordering::SeqCst);
            let again = INTERRUPTED.swap(true, Ordering::SeqCst);
            if let Some(pid) = rustix::process::Pid::from_raw(child) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            } else if again {
                eprintln!("interrupted");
                std::process::exit(130);
            }
        }
    });
}

/// How Terraform ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit status 0.
    Success,
    /// `plan -detailed-exitcode` found changes (exit status 2).
    Changes,
}

/// Terraform in one stage folder, logging to one file.
#[derive(Debug)]
pub struct Terraform {
    program: PathBuf,
    dir: PathBuf,
    log: PathBuf,
}

impl Terraform {
    /// `plan -detailed-exitcode -out`, then `apply` of that plan when it has changes.
    pub async fn plan_and_apply(&self, vars: &[String]) -> anyhow::Result<bool> {
        let mut plan = args(&[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-out=landfall-up.tfplan",
        ]);
        plan.extend(vars.iter().cloned());
        let exit = self.run(&plan, true).await?;
        if exit == Exit::Success {
            return Ok(false);
        }
        self.run(
            &args(&["apply", "-input=false", "-no-color", "landfall-up.tfplan"]),
            false,
        )
        .await?;
        Ok(true)
    }

    /// `terraform` (found on `PATH` unless `program` names it) run in `dir`, logging to `log`.
    #[must_use]
    pub fn new(program: &Path, dir: &Path, log: &Path) -> Self {
        Terraform {
            program: program.to_owned(),
            dir: dir.to_owned(),
            log: log.to_owned(),
        }
    }

    /// The log file.
    #[must_use]
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Runs `terraform <args>`; fails on any exit status but 0 (and 2 when `changes_ok`).
    pub async fn run(&self, args: &[String], changes_ok: bool) -> anyhow::Result<Exit> {
        if let Some(parent) = self.log.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open the log {}", self.log.display()))?;
        writeln!(log, "\n$ terraform {}", args.join(" "))?;
        let err = log.try_clone()?;
        let started = Instant::now();
        // Its own process group: a Ctrl-C at the terminal reaches Terraform once, from us.
        let mut child = super::child_command(&self.program)
            .args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} (install Terraform or put it on PATH)",
                    self.program.display()
                )
            })?;
        CHILD.store(
            i32::try_from(child.id()).unwrap_or_default(),
            Ordering::SeqCst,
        );
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        CHILD.store(0, Ordering::SeqCst);
        add_terraform_time(started);
        match status.code() {
            Some(0) => Ok(Exit::Success),
            Some(2) if changes_ok => Ok(Exit::Changes),
            _ if interrupted() => bail!("interrupted: terraform {} stopped", args[0]),
            _ => bail!(
                "terraform {} in {} failed ({status}); the end of its log {}:\n{}",
                args[0],
                self.dir.display(),
                self.log.display(),
                tail(&self.log, 20)
            ),
        }
    }

    /// `terraform output -json`, parsed.
    pub async fn outputs(&self) -> anyhow::Result<serde_json::Value> {
        let out = tempfile::NamedTempFile::new()?;
        let path = out.path().to_owned();
        let file = File::create(&path)?;
        let started = Instant::now();
        let mut child = super::child_command(&self.program)
            .args(["output", "-json", "-no-color"])
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", self.program.display()))?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        add_terraform_time(started);
        if !status.success() {
            bail!(
                "terraform output in {} failed ({status})",
                self.dir.display()
            );
        }
        let text = fs::read(&path)?;
        serde_json::from_slice(&text).context("terraform output -json printed something else")
    }
}

/// The last `lines` lines of a log file, indented.
#[must_use]
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `program args` in `dir`, its output appended to `log` (after a `$ ...` line naming the
/// command), with `stdin` written to its standard input when given; fails with the log's tail.
pub fn run_logged(
    program: &Path,
    args: &[&str],
    dir: &Path,
    log: &Path,
    stdin: Option<&SecretString>,
) -> anyhow::Result<()> {
    if let Some(parent) = log.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    let name = program.file_name().unwrap_or_default().to_string_lossy();
    writeln!(file, "\n$ {name} {}", args.join(" "))?;
    let started = std::time::Instant::now();
    let mut child = super::child_command(program)
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if let (Some(value), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(value.expose_secret().as_bytes())
            .and_then(|()| pipe.write_all(b"\n"))
            .with_context(|| format!("cannot write to {name}'s standard input"))?;
    }
    let status = child.wait();
    add_tool_time(started);
    let status = status?;
    if !status.success() {
        bail!(
            "`{name} {}` failed ({status}); the end of its log {}:\n{}",
            args.first().copied().unwrap_or_default(),
            log.display(),
            tail(log, 20)
        );
    }
    Ok(())
}
