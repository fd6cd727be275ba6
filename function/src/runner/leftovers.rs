//! What a step leaves behind when it leaves its process group. `process::run` kills a step's
//! group when the step ends, but a process can leave the group (`setsid`, a daemon's double
//! fork) and go on rewriting files that later steps and the runner read. The runner stops
//! those too, after every process it starts:
//! - **process 1** (a Job: the image's entry point is the runner, alone in the container's PID
//!   namespace): every other process of the namespace is a step's, so `kill(-1, SIGKILL)` stops
//!   them all in one call that no fork can race, and the runner reaps them;
//! - **elsewhere** (local dispatch) the runner is a child subreaper: a process its step orphans
//!   is re-parented to the runner, not to init. Each round stops (SIGSTOP) every descendant of
//!   the runner found in `/proc`; once a round finds them all stopped, none can fork again, and
//!   all are killed at once. This is as far as an unprivileged process can reach:
//!   a setuid program, or work handed to a daemon that was already running (`at`, a user's
//!   systemd), is out of it; local dispatch is for your own repositories.
//!
//! What is still running after [`PATIENCE`] fails the step: nothing after it runs, and no
//! planfile of that run is stored.
//!
//! Until [`contain`] is called (the runner's start-up) [`stop`] does nothing: other programs
//! that run processes through `process::run` (the function's tests) keep children of their own.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, Signal, WaitId, WaitIdOptions, getpid, kill_process, kill_process_group,
    set_child_subreaper, waitid,
};

/// How long [`stop`] keeps killing and reaping before it fails the step: a process in
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
///
/// # Errors
///
/// When a leftover is still running after [`PATIENCE`].
pub fn stop() -> io::Result<()> {
    let Some(containment) = CONTAINMENT.get() else {
        return Ok(());
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
                // Stopped first, round after round: a stopped process forks no more, so once a
                // round finds every descendant stopped, none is left to start another, and all
                // are killed at once. Each is stopped as soon as it is found: a process has one
                // read, not a whole round, to fork between being found and being stopped. One
                // in uninterruptible sleep (`D`) counts as stopped: it runs nothing until it
                // wakes, and then stops first. A shell's `vfork` parent waits so until its
                // child execs, and never does when the child was stopped before it could.
                let descendants = descendants_of(getpid(), |process, state| match state {
                    'T' | 't' => {}
                    // A zombie is unmoved by it; a process whose main thread ended dies.
                    'Z' => drop(kill_process(process, Signal::KILL)),
                    _ => drop(kill_process(process, Signal::STOP)),
                });
                if descendants
                    .iter()
                    .all(|&(_, state)| matches!(state, 'T' | 't' | 'D'))
                {
                    for &(process, _) in &descendants {
                        let _ = kill_process(process, Signal::KILL);
                    }
                }
                // Not `!descendants.is_empty()`: `/proc` is read one entry at a time, so a round
                // can miss a process forked by one that exits while the round reads (a chain
                // of them). Every leftover is the runner's child or below a live one, so
                // none is left only once the runner has no child at all.
                has_children()
            }
        };
        if !left {
            return Ok(());
        }
        if Instant::now() >= until {
            // Whatever the rounds reached, stopped or not, is not left stopped.
            let mut seen = Vec::new();
            if *containment == Containment::Subreaper {
                let zombies = |process, state| {
                    if state == 'Z' {
                        let _ = kill_process(process, Signal::KILL);
                    }
                };
                for (process, state) in descendants_of(getpid(), zombies) {
                    let _ = kill_process(process, Signal::KILL);
                    seen.push(format!("{} {state}", process.as_raw_nonzero()));
                }
            }
            seen.truncate(8);
            return Err(io::Error::other(format!(
                "it left a process running that could not be killed within {} s, so nothing \
                 after this step runs (left: {})",
                PATIENCE.as_secs(),
                if seen.is_empty() {
                    "none found below the runner".to_owned()
                } else {
                    seen.join(", ")
                }
            )));
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

/// Every live process below `root` (children, their children...) with its state as read (`T`:
/// stopped, `t`: stopped by a tracer). Each process found, zombies (`Z`) too, is passed to
/// `found` as soon as it is read; zombies are left out of the list. Read from each process's
/// `/proc/<pid>/task/<tid>/children`, so a round costs the descendants, not every process of the
/// machine; on a kernel without those files, from one pass over all of `/proc`.
fn descendants_of(root: Pid, mut found: impl FnMut(Pid, char)) -> Vec<(Pid, char)> {
    let root = root.as_raw_nonzero().get();
    let mut all = Vec::new();
    let mut seen = HashSet::from([root]);
    let mut next = vec![root];
    let mut listed = |pid: i32, state: char, next: &mut Vec<i32>| {
        if seen.insert(pid)
            && let Some(process) = Pid::from_raw(pid)
        {
            found(process, state);
            next.push(pid);
            // A zombie only waits to be reaped, but `Z` is also what a process whose main
            // thread ended shows while its other threads run: each is passed to `found` and
            // walked, and only the others count as the live ones.
            if state != 'Z' {
                all.push((process, state));
            }
        }
    };
    if !std::path::Path::new("/proc/thread-self/children").exists() {
        let by_parent = every_process_by_parent();
        while let Some(parent) = next.pop() {
            for &(pid, state) in by_parent.get(&parent).into_iter().flatten() {
                listed(pid, state, &mut next);
            }
        }
        return all;
    }
    while let Some(parent) = next.pop() {
        for pid in children_of(parent) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
            if let Some((state, _)) = stat.ok().as_deref().and_then(state_and_parent) {
                listed(pid, state, &mut next);
            }
        }
    }
    all
}

/// The children of every thread of `parent` (orphans are handed to any thread of a subreaper);
/// a thread or process gone while it is read has none. Needs a kernel with `children` files
/// (`CONFIG_PROC_CHILDREN`, as every distribution's).
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
        return Vec::new();
    };
    threads
        .filter_map(Result::ok)
        .filter_map(|thread| std::fs::read_to_string(thread.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every process of the machine by its parent's pid, with its state: one pass over `/proc`.
fn every_process_by_parent() -> HashMap<i32, Vec<(i32, char)>> {
    let mut children: HashMap<i32, Vec<(i32, char)>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return children;
    };
    for pid in entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        if let Some((state, parent)) = stat.ok().as_deref().and_then(state_and_parent) {
            children.entry(parent).or_default().push((pid, state));
        }
    }
    children
}

/// The state and the parent's pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid ...`,
/// where `comm` may hold spaces and parentheses, so the fields are counted from its last `)`.
fn state_and_parent(stat: &str) -> Option<(char, i32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(state_and_parent("42 (sh) S 7 42 42 0"), Some(('S', 7)));
        assert_eq!(state_and_parent("42 (a ) b) (c) T 9 1 1"), Some(('T', 9)));
        assert_eq!(state_and_parent("42 (sh"), None);
    }

    #[test]
    fn a_process_is_found_among_its_parents_descendants_and_so_are_its_children() {
        let parent = rustix::process::getppid().expect("a parent");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let child_pid = Pid::from_child(&child);
        let pids = |root| {
            descendants_of(root, |_, _| ())
                .into_iter()
                .map(|(pid, _)| pid)
                .collect::<Vec<_>>()
        };
        let below_parent = pids(parent);
        let below_this = pids(getpid());
        // The pass over all of `/proc`, for kernels without `children` files, finds it too.
        let by_parent = every_process_by_parent();
        let this = getpid().as_raw_nonzero().get();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(below_parent.contains(&getpid()) && below_parent.contains(&child_pid));
        assert!(below_this.contains(&child_pid) && !below_this.contains(&getpid()));
        assert!(
            by_parent[&this]
                .iter()
                .any(|&(pid, _)| Pid::from_raw(pid) == Some(child_pid))
        );
    }
}
