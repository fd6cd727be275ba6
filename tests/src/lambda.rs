//! The real Lambda runtime emulator, `cargo lambda watch`, serving a function binary the test
//! built already.
//!
//! The emulator runs with `--only-lambda-apis`: it serves the Runtime API, the Invoke API and
//! Function URLs (`/lambda-url/<function>/`) exactly as when it builds the function itself, but
//! the function instances are the test's own binary (`CARGO_BIN_EXE_...`), polling
//! `/.rt/<function>`. Letting the emulator build the function instead would compile the whole
//! dependency tree a second time (its feature set differs from the test build's), which costs a
//! CI run many minutes and gigabytes of disk.

use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long [`LambdaEmulator::start`] waits for the emulator to listen.
const START_TIMEOUT: Duration = Duration::from_mins(1);
/// How long a port that another process answers on is watched before trying another one.
const FOREIGN_GRACE: Duration = Duration::from_secs(3);

/// `cargo lambda watch --only-lambda-apis` on a free loopback port, and the function instances
/// started against it; all of them are killed when dropped, whatever the test's outcome.
#[derive(Debug)]
pub struct LambdaEmulator {
    watch: Child,
    instances: Vec<Child>,
    port: u16,
    function: String,
    /// Where the instances started from now on write their standard output (their logs).
    log: Option<std::path::PathBuf>,
}

impl LambdaEmulator {
    /// Starts the emulator for the function named `function` and waits until it listens.
    ///
    /// `cargo lambda watch` cannot be given port 0 (it would listen on its default, 9000), so a
    /// free port is chosen first and can be taken by another test's server before the emulator
    /// binds it: the emulator then exits, and until it does, a connection would reach the other
    /// server. The emulator counts as started only when the listening socket on its port is its
    /// own (`/proc`); otherwise it is stopped and started again on another port.
    pub fn start(function: &str) -> anyhow::Result<Self> {
        const ATTEMPTS: usize = 5;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match Self::start_on(function, crate::free_port()?)? {
                Ok(emulator) => return Ok(emulator),
                Err(taken) => last = Some(taken),
            }
        }
        bail!(
            "cargo lambda watch did not start in {ATTEMPTS} attempts, each on a new port (last: {})",
            last.unwrap_or_default()
        )
    }

    /// One attempt on `port`: the emulator, or why another port should be tried (it exited, or
    /// another process answers on this one).
    fn start_on(function: &str, port: u16) -> anyhow::Result<Result<Self, String>> {
        let program = crate::tool("cargo-lambda");
        let mut command = Command::new(&program);
        command
            .args(["lambda", "watch", "--only-lambda-apis"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            // It reads the workspace's metadata, even when it builds nothing.
            .current_dir(crate::repo_root())
            .env("PATH", crate::path_with_tools())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own process group, so that dropping it stops whatever it started.
            .process_group(0);
        let watch = command
            .spawn()
            .with_context(|| format!("spawning {}", program.display()))?;
        let mut emulator = LambdaEmulator {
            watch,
            instances: Vec::new(),
            port,
            function: function.to_owned(),
            log: None,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut foreign_since = None;
        loop {
            if let Some(status) = emulator.watch.try_wait()? {
                // The caller tries another port.
                return Ok(Err(format!("exited ({status}) before listening on {port}")));
            }
            if TcpStream::connect(emulator.addr()).is_ok() {
                if listens_on(emulator.watch.id(), port)? {
                    return Ok(Ok(emulator));
                }
                // Someone else's server: the emulator fails to bind and exits, or is stopped
                // (when dropped) if it has not within a few seconds.
                let since = *foreign_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= FOREIGN_GRACE {
                    return Ok(Err(format!("another process listens on {port}")));
                }
            } else if Instant::now() >= deadline {
                bail!(
                    "cargo lambda watch did not listen on {port} within {}s",
                    START_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:<port>`, where invocations and Function URL requests go.
    #[must_use]
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_LAMBDA`: the emulator's Invoke API.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The path of the function's URL, `/lambda-url/<function>/`.
    #[must_use]
    pub fn function_url_path(&self) -> String {
        format!("/lambda-url/{}/", self.function)
    }

    /// Instances started from now on append their standard output (the function's JSON logs)
    /// to `path`.
    pub fn log_to(&mut self, path: &Path) {
        self.log = Some(path.to_path_buf());
    }

    /// Starts one instance of the function from `binary`, with the variables Lambda sets and
    /// `env`; every instance started polls the same queue, as concurrent Lambda instances do.
    /// `LANDFALL_*` variables of the test's own environment are not passed on: only `env`
    /// configures the function.
    pub fn start_instance(&mut self, binary: &Path, env: &[(&str, String)]) -> anyhow::Result<()> {
        let function = self.function.clone();
        self.start_instance_of(&function, binary, env)
    }

    /// As [`LambdaEmulator::start_instance`], for another function the emulator serves: the
    /// instance polls `function`'s queue, which its Invoke API fills
    /// (`/2015-03-31/functions/<function>/invocations`).
    pub fn start_instance_of(
        &mut self,
        function: &str,
        binary: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<()> {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LANDFALL_") {
                command.env_remove(name);
            }
        }
        command
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("{}/.rt/{function}", self.endpoint()),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(match &self.log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .with_context(|| format!("opening {}", path.display()))?,
                ),
                None => Stdio::null(),
            })
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        self.instances.push(child);
        Ok(())
    }
}

/// Whether process `pid` holds the socket listening on loopback `port` (IPv4): the socket's
/// inode from `/proc/net/tcp` (state `0A`, LISTEN) among the process's descriptors.
fn listens_on(pid: u32, port: u16) -> anyhow::Result<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").context("reading /proc/net/tcp")?;
    let local = format!("0100007F:{port:04X}");
    let Some(inode) = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
            .then(|| fields.get(9).map(|inode| (*inode).to_owned()))
            .flatten()
    }) else {
        return Ok(false);
    };
    let socket = format!("socket:[{inode}]");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing the descriptors of process {pid}"))?;
    Ok(fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == socket.as_str())
    }))
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            let _ = instance.kill();
            let _ = instance.wait();
        }
        let group = format!("-{}", self.watch.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.watch.kill();
        let _ = self.watch.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::net::{Ipv4Addr, TcpListener};

    use super::*;

    #[test]
    fn a_listening_socket_is_told_apart_by_the_process_that_holds_it() {
        let own = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let own_port = own.local_addr().unwrap().port();
        assert!(listens_on(std::process::id(), own_port).unwrap());

        // Another process's listener on loopback: its, not ours.
        let mut other = Command::new("python3")
            .args([
                "-c",
                "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nprint(s.getsockname()[1], flush=True)\ntime.sleep(60)",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(other.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let other_port: u16 = line.trim().parse().unwrap();
        let theirs = listens_on(other.id(), other_port).unwrap();
        let ours = listens_on(std::process::id(), other_port).unwrap();
        other.kill().unwrap();
        other.wait().unwrap();
        assert!(theirs, "the other process holds its listener");
        assert!(!ours, "this process does not");

        drop(own);
        assert!(
            !listens_on(std::process::id(), own_port).unwrap(),
            "nothing listens once the listener is closed"
        );
    }
}
