//! Running one child process under the run's deadline: its output captured (and echoed to the
//! runner's stderr, so a Job's log shows it), and, past the deadline, stopped the way Terraform
//! expects: SIGINT to its process group (Terraform then finishes or cancels its current
//! operations and releases the state lock), and SIGKILL after a grace period. When it ends, by
//! itself or not, its process group is killed: a step's background processes die with it, and
//! in the runner so does what left the group (`leftovers.rs`).

use std::io::{self, Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process_group, waitid};

/// Set when the run is cancelled (`landfall cancel`: SIGINT to a local runner, SIGTERM when its
/// Job is deleted): the running step is stopped as at the deadline, and no other step starts.
static CANCEL_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the run to stop (see [`CANCEL_REQUESTED`]).
pub fn request_cancel() {
    CANCEL_REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether the run was asked to stop.
#[must_use]
pub fn cancel_requested() -> bool {
    CANCEL_REQUESTED.load(Ordering::SeqCst)
}

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output, or stdout and stderr interleaved when merged.
    pub output: Vec<u8>,
    /// Its standard error, when not merged.
    pub stderr: Vec<u8>,
    /// Whether it was stopped at the deadline (or by a cancel).
    pub timed_out: bool,
    /// Whether it was stopped because the run was cancelled.
    pub cancelled: bool,
}

impl Finished {
    /// The output as text (lossy).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Standard error as text (lossy).
    #[must_use]
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Whether stderr joins stdout (human output) or stays apart (`show -json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// One stream, in the order written.
    Merged,
    /// Stdout alone; stderr separately.
    Split,
}

/// Where a child's output is copied as it arrives: nowhere, or the runner's stderr (the Job's
/// log) with these values cut, line by line so that no value is split between two writes.
pub type Echo = Option<Vec<String>>;

fn reader(mut from: impl Read + Send + 'static, echo: Echo) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0_u8; 16 * 1024];
        // Where the output not echoed yet starts in `all`.
        let mut echoed = 0;
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if let Some(cut) = &echo {
                        echoed = echo_lines(&all, echoed, cut, false);
                    }
                }
            }
        }
        if let Some(cut) = &echo {
            echo_lines(&all, echoed, cut, true);
        }
        all
    })
}

/// Writes the whole lines of `all` from `from` (everything, at the end) to stderr with `cut`
/// cut; returns where the output not written yet starts. Where a value to cut has several
/// lines, nothing is written before the end: no boundary between two writes is then safe.
fn echo_lines(all: &[u8], from: usize, cut: &[String], end: bool) -> usize {
    let upto = if end || cut.is_empty() {
        all.len()
    } else if cut.iter().any(|value| value.contains('\n')) {
        return from;
    } else {
        match all[from..].iter().rposition(|&b| b == b'\n') {
            Some(last) => from + last + 1,
            None => return from,
        }
    };
    let text = &all[from..upto];
    if cut.is_empty() {
        let _ = io::stderr().write_all(text);
    } else {
        let text = crate::run::summary::redact(&String::from_utf8_lossy(text), cut);
        let _ = io::stderr().write_all(text.as_bytes());
    }
    upto
}

fn signal_group(child: &Child, signal: Signal) {
    // The child leads its own group (process_group(0)), so its pid is the group id.
    let pid = Pid::from_child(child);
    let _ = kill_process_group(pid, signal);
}

/// Whether `child` has exited, without reaping it: until it is reaped its pid names no other
/// process, so its process group can still be signalled safely.
fn exited(child: &Child) -> io::Result<bool> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match waitid(WaitId::Pid(Pid::from_child(child)), options) {
        Ok(status) => Ok(status.is_some()),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// How the wait for a child ended.
#[derive(Default)]
struct Stopped {
    timed_out: bool,
    cancelled: bool,
}

/// Waits until `child` exits, without reaping it; past `deadline` (or on a cancel) SIGINT to
/// its group, and SIGKILL `grace` later.
fn wait_unreaped(child: &Child, deadline: Instant, grace: Duration) -> io::Result<Stopped> {
    let mut stopped = Stopped::default();
    let mut kill_at: Option<Instant> = None;
    let mut pause = Duration::from_millis(1);
    while !exited(child)? {
        let now = Instant::now();
        match kill_at {
            None if now >= deadline || cancel_requested() => {
                stopped.timed_out = true;
                stopped.cancelled = cancel_requested();
                signal_group(child, Signal::INT);
                kill_at = Some(now + grace);
            }
            Some(at) if now >= at => signal_group(child, Signal::KILL),
            _ => {}
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
    Ok(stopped)
}

fn could_not_start(err: &io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("could not start: {err}"))
}

/// Runs `cmd` to completion or until `deadline` (then SIGINT, and SIGKILL `grace` later).
/// However it ends, its whole process group is then killed: nothing it started in the
/// background (`cmd &`) outlives it to touch the files later steps and the runner read. In the
/// runner, what left the group is killed too, and an error says so if that failed.
/// `echo` copies the output (stderr alone, split) to the runner's stderr as it arrives.
pub fn run(
    mut cmd: Command,
    capture: Capture,
    deadline: Instant,
    grace: Duration,
    echo: Echo,
) -> io::Result<Finished> {
    cmd.stdin(Stdio::null()).process_group(0);
    let (out_reader, err_reader);
    let mut child = match capture {
        Capture::Merged => {
            let (read, write) = io::pipe()?;
            cmd.stdout(write.try_clone()?).stderr(write);
            let child = cmd.spawn().map_err(|e| could_not_start(&e))?;
            // Drop the command, and with it our copies of the pipe's write end, so the reader
            // sees end-of-file when the child's copies close.
            drop(cmd);
            out_reader = reader(read, echo);
            err_reader = None;
            child
        }
        Capture::Split => {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| could_not_start(&e))?;
            drop(cmd);
            out_reader = reader(child.stdout.take().expect("stdout is piped"), None);
            err_reader = Some(reader(child.stderr.take().expect("stderr is piped"), echo));
            child
        }
    };
    let waited = wait_unreaped(&child, deadline, grace);
    // The child leads its group and is not reaped yet, so the group is still its own: kill
    // what is left of it (and the child itself, if waiting failed), in every path. This also
    // keeps a leftover from holding the pipes open.
    signal_group(&child, Signal::KILL);
    let status = child.wait();
    // And what left the group (`setsid`), once the runner contains it: before the output is
    // read, since a leftover holding the pipes open would keep the readers waiting.
    let leftovers = super::leftovers::stop();
    let Stopped {
        timed_out,
        cancelled,
    } = waited?;
    let status = status?;
    leftovers?;
    let output = out_reader.join().unwrap_or_default();
    let stderr = err_reader
        .map(|handle| handle.join().unwrap_or_default())
        .unwrap_or_default();
    Ok(Finished {
        status,
        output,
        stderr,
        timed_out,
        cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    /// Runs `script` far from any deadline.
    fn run_sh(script: &str, capture: Capture) -> Finished {
        let far = Instant::now() + Duration::from_mins(1);
        run(sh(script), capture, far, Duration::ZERO, None).unwrap()
    }

    #[test]
    fn merged_output_keeps_both_streams() {
        let done = run_sh("echo out; echo err >&2", Capture::Merged);
        assert!(done.status.success());
        assert_eq!(done.text(), "out\nerr\n");
    }

    #[test]
    fn split_output_keeps_stdout_apart() {
        let done = run_sh("echo out; echo err >&2; exit 3", Capture::Split);
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.text(), "out\n");
        assert_eq!(done.stderr_text(), "err\n");
    }

    /// A step that ends normally takes what it started in the background with it: a leftover
    /// would otherwise rewrite files (the planfile) after the step, while the runner reads them.
    #[test]
    fn a_background_process_dies_with_the_step_that_started_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("planfile");
        std::fs::write(&file, "reviewed").unwrap();
        let script = format!(
            "sh -c 'sleep 1; echo swapped > \"$1\"' sh '{}' >/dev/null 2>&1 &",
            file.display()
        );
        let done = run_sh(&script, Capture::Merged);
        assert!(done.status.success() && !done.timed_out);
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "reviewed");
    }

    /// Runs `cmd` until `limit`, then stops it with `grace`; checks that it was stopped, well
    /// before its 30-second sleep would have ended.
    fn run_past(cmd: Command, limit: Duration, grace: Duration) -> Finished {
        let started = Instant::now();
        let done = run(cmd, Capture::Merged, started + limit, grace, None).unwrap();
        assert!(done.timed_out);
        assert!(started.elapsed() < Duration::from_secs(20));
        done
    }

    #[test]
    fn a_process_past_its_deadline_gets_sigint_first() {
        // A shell started with SIGINT ignored (as under `cmd &` in a script) cannot trap it, so
        // give it the default disposition whatever the test process inherited.
        let mut cmd = Command::new("env");
        cmd.args(["--default-signal=INT", "sh", "-c"])
            .arg("trap 'echo interrupted; exit 130' INT; sleep 30 & wait");
        let done = run_past(
            cmd,
            // Long enough for a loaded machine's shell to have set its trap before the signal.
            Duration::from_secs(2),
            Duration::from_secs(20),
        );
        assert_eq!(done.text(), "interrupted\n");
    }

    #[test]
    fn a_process_that_ignores_sigint_is_killed_after_the_grace_period() {
        let done = run_past(
            sh("trap '' INT; sleep 30"),
            Duration::from_millis(200),
            Duration::from_millis(300),
        );
        assert!(!done.status.success());
    }
}
