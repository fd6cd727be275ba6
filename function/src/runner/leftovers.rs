//! What a step leaves behind when it leaves its process group. `process::run` kills a step's
//! group when the step ends, but a process can leave the group (`setsid`, a daemon's double
//! fork) and go on rewriting files that later steps and the runner read. The runner stops
//! those too, after every process it starts:
//! - **process 1** (a Job: the image's entry point is the runner, alone in the container's PID
//!   namespace): every other process of the namespace is a step's, so `kill(-1, SIGKILL)` stops
//!   them all in one call that no fork can race, and the runner reaps them;
//! - **elsewhere** (local dispatch) the runner is a child subreaper: a process its step orphans
//!   is re-parented to the runner, not to init, and is killed, with whatever it started, round
//!   after round until the runner has no child left.
//!
//! Until [`contain`] is called (the runner's start-up) [`stop`] does nothing: other programs
//! that run processes through `process::run` (the function's tests) keep children of their own.

use std::io;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, Signal, WaitId, WaitIdOptions, getpid, kill_process, kill_process_group,
    set_child_subreaper, waitid,
};

/// How long [`stop`] keeps killing and reaping before it gives up (and says so): a process in
/// uninterruptible sleep dies only when its I/O ends.
const PATIENCE: Duration = Duration::from_secs(5);

/// How the runner finds what its steps leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Containment {
    /// The runner is process 1 of its PID namespace: every other process is a leftover.
    PidNamespace,
    /// The runner is a child subreaper: its children, once a step ended, are leftovers.
    Subreaper,
}

static CONTAINMENT: OnceLock<Containment> = OnceLock::new();

/// Makes the runner able to stop what its steps leave behind (see the module's text). Call once,
/// at start-up, before any step.
pub fn contain() -> io::Result<()> {
    let containment = if getpid().is_init() {
        Containment::PidNamespace
    } else {
        set_child_subreaper(Some(getpid()))?;
        Containment::Subreaper
    };
    let _ = CONTAINMENT.set(containment);
    Ok(())
}

/// Kills and reaps every process a finished step left, however it left its group. Call only
/// when no process the runner started is still meant to run (the step itself reaped).
pub fn stop() {
    let Some(containment) = CONTAINMENT.get() else {
        return;
    };
    let until = Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(1);
    loop {
        reap_exited();
        let left = match containment {
            Containment::PidNamespace => {
                // ESRCH: nothing else is left in the namespace.
                let _ = kill_process_group(Pid::INIT, Signal::KILL);
                has_children()
            }
            Containment::Subreaper => {
                let children = children_of(getpid());
                for &child in &children {
                    let _ = kill_process(child, Signal::KILL);
                }
                !children.is_empty()
            }
        };
        if !left {
            return;
        }
        if Instant::now() >= until {
            eprintln!(
                "landfall-runner: a process a step left behind is still running after SIGKILL"
            );
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Reaps every child that has exited, without waiting for the others.
fn reap_exited() {
    while let Ok(Some(_)) = waitid(WaitId::All, WaitIdOptions::EXITED | WaitIdOptions::NOHANG) {}
}

/// Whether the runner has a child, exited or not.
fn has_children() -> bool {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    !matches!(waitid(WaitId::All, options), Err(rustix::io::Errno::CHILD))
}

/// The processes whose parent is `parent`, from `/proc/<pid>/stat`.
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parent_in_stat(&stat))
                == Some(parent.as_raw_nonzero().get())
        })
        .filter_map(Pid::from_raw)
        .collect()
}

/// The parent's pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid ...`, where `comm` may
/// hold spaces and parentheses, so the fields are counted from its last `)`.
fn parent_in_stat(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(parent_in_stat("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (a ) b) (c) R 9 1 1"), Some(9));
        assert_eq!(parent_in_stat("42 (sh"), None);
    }

    #[test]
    fn this_process_is_found_among_its_parents_children() {
        let parent = rustix::process::getppid().expect("a parent");
        assert!(children_of(parent).contains(&getpid()));
    }
}
