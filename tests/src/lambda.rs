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
    pub fn start(function: &str) -> anyhow::Result<Self> {
        let program = crate::tool("cargo-lambda");
        let port = crate::free_port()?;
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
        while TcpStream::connect(emulator.addr()).is_err() {
            if let Some(status) = emulator.watch.try_wait()? {
                bail!("cargo lambda watch exited ({status}) before listening on {port}");
            }
            if Instant::now() >= deadline {
                bail!(
                    "cargo lambda watch did not listen on {port} within {}s",
                    START_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(emulator)
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
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LANDFALL_") {
                command.env_remove(name);
            }
        }
        command
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("{}/.rt/{}", self.endpoint(), self.function),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.function)
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
