//! Helpers for the tests that run the example binaries as real processes
//! (`tests/examples.rs`, `tests/chat_server.rs`, `tests/smtp_sink.rs`).
//!
//! The binaries are built on first use with the same cargo, profile and
//! target directory as the test (so `cargo test --test NAME` works and never
//! runs a stale build). Every child process is killed and reaped when its
//! guard drops, and every wait has a deadline.

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single blocking socket operation of a test may take.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Building and finding the examples
// ---------------------------------------------------------------------------

/// Returns the path of example `name`. The first call builds every example
/// in `all` (which must hold `name`) with one cargo run; later calls reuse
/// that build, so each test binary builds once. All calls of one test
/// binary must pass the same `all`.
#[track_caller]
pub(crate) fn example(all: &'static [&'static str], name: &str) -> PathBuf {
    static BUILT: OnceLock<(&'static [&'static str], Result<PathBuf, String>)> = OnceLock::new();
    assert!(all.contains(&name), "example {name:?} is not in {all:?}");
    let (built, dir) = BUILT.get_or_init(|| (all, build_examples(all)));
    assert_eq!(
        *built, all,
        "this test binary asks for different sets of examples"
    );
    match dir {
        Ok(dir) => dir.join(name),
        Err(e) => panic!("cannot build the examples {all:?}: {e}"),
    }
}

/// Builds `names` with the cargo that runs this test, into the target
/// directory and profile this test binary lives in
/// (`<target>/<profile>/deps/<test>-*` -> `<target>/<profile>/examples/`).
fn build_examples(names: &[&str]) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("unexpected test binary location")?;
    let target_dir = profile_dir.parent().ok_or("no target directory")?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => return Err("unexpected profile directory".into()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    // What cargo sets for this test binary is not the environment of a
    // plain `cargo build`: build scripts that watch such a variable (ring's
    // watches CARGO_MANIFEST_DIR) would see it change and rebuild their
    // crate and all that depends on it, here and again in the next build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name == "OUT_DIR"
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || matches!(
                &*name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            )
        {
            command.env_remove(&*name);
        }
    }
    command.args(["build", "--quiet"]);
    for name in names {
        command.args(["--example", name]);
    }
    let status = command
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed: {status}"));
    }
    Ok(profile_dir.join("examples"))
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A child process that is killed and reaped when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Guard {
    /// Kills and reaps the process now (it may have exited already).
    pub(crate) fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Collects everything a pipe delivers, on a thread.
pub(crate) fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    out
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// What a finished process left behind.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

/// Runs `bin` with `args` to completion, killing it after `limit`.
#[track_caller]
pub(crate) fn run_to_end(bin: &Path, args: &[&str], limit: Duration) -> Finished {
    let child = Command::new(bin)
        .args(args)
        // The examples' log filter: what the tests expect on stderr.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut guard = Guard(child);
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut all = Vec::new();
            let _ = pipe.read_to_end(&mut all);
            all
        })
    };
    let stdout = read_all(Box::new(guard.0.stdout.take().unwrap()));
    let stderr = read_all(Box::new(guard.0.stderr.take().unwrap()));
    let mut status = None;
    let exited = wait_until(limit, || {
        status = guard.0.try_wait().expect("try_wait");
        status.is_some()
    });
    assert!(
        exited,
        "{} {args:?} still running after {limit:?}",
        bin.display()
    );
    // The process is gone, so its pipes are closed and the readers end.
    Finished {
        status: status.unwrap(),
        stdout: stdout.join().unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// Checks that `done` is an example refusing its command line the way
/// `clap` does: exit status 2, nothing on stdout, and on stderr an
/// `error: ...` naming `culprit` (the bad flag, value or missing argument)
/// and pointing at `--help`.
#[track_caller]
pub(crate) fn assert_bad_command_line(done: &Finished, args: &[&str], culprit: &str) {
    assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
    assert!(done.stdout.is_empty(), "{args:?}: stdout not empty");
    assert!(
        done.stderr.starts_with("error: "),
        "{args:?}: {}",
        done.stderr
    );
    assert!(
        done.stderr.contains(culprit),
        "{args:?}: the error does not name {culprit:?}: {}",
        done.stderr
    );
    assert!(
        done.stderr.contains("try '--help'"),
        "{args:?}: {}",
        done.stderr
    );
}

/// The soft limit on open files of this process (`None` if unlimited).
pub(crate) fn fd_soft_limit() -> Option<u64> {
    let out = Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .expect("sh -c 'ulimit -n'");
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// A running example server: killed and reaped on drop, its stderr
/// collected, its stdout drained.
pub(crate) struct Server {
    /// The example's name, which starts its first line and names it in
    /// messages.
    name: &'static str,
    guard: Guard,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `command` (the example `name`, perhaps behind a shell) and
    /// waits up to [`IO_TIMEOUT`] for its first stdout line, which must be
    /// exactly `"{name}: listening on {ADDR}{line_end}"`.
    #[track_caller]
    pub(crate) fn start(name: &'static str, mut command: Command, line_end: &str) -> Server {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut guard = Guard(child);
        let stderr = collect(guard.0.stderr.take().unwrap());
        let stdout = guard.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            if matches!(reader.read_line(&mut first), Ok(n) if n > 0) {
                let line = first.strip_suffix('\n').unwrap_or(&first);
                let _ = tx.send(line.strip_suffix('\r').unwrap_or(line).to_owned());
            }
            // No first line: the sender drops here and the wait ends now.
            drop(tx);
            // Keep draining so the server never blocks on stdout.
            let _ = io::copy(&mut reader, &mut io::sink());
        });
        // A panic from here on drops `guard`, which kills the server.
        let line = rx.recv_timeout(IO_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "{name} printed no first line ({e}); stderr: {}",
                String::from_utf8_lossy(&stderr.lock().unwrap())
            )
        });
        let addr = line
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(": listening on "))
            .and_then(|rest| rest.strip_suffix(line_end))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Server {
            name,
            guard,
            addr,
            stderr,
        }
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn pid(&self) -> u32 {
        self.guard.0.id()
    }

    /// Everything the server wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Everything the server wrote to stderr once it holds `text` (the
    /// pipe is read by another thread, which may still be behind when the
    /// server has exited), or what it holds after `limit`.
    pub(crate) fn stderr_with(&self, text: &str, limit: Duration) -> String {
        wait_until(limit, || self.stderr().contains(text));
        self.stderr()
    }

    /// Waits up to `limit` for the server to exit; its status, or `None`.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.guard.0.try_wait().expect("try_wait");
            status.is_some()
        });
        status
    }

    /// Panics if the server has exited.
    #[track_caller]
    pub(crate) fn assert_alive(&mut self) {
        if let Some(status) = self.guard.0.try_wait().expect("try_wait") {
            panic!(
                "{} exited with {status}; stderr: {}",
                self.name,
                self.stderr()
            );
        }
    }

    /// Connects a client with bounded reads and writes.
    #[track_caller]
    pub(crate) fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("cannot connect to {} at {}: {e}", self.name, self.addr));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// The number of descriptors the server has open.
    pub(crate) fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Waits until the server is back to `fds` open descriptors: every
    /// connection that ended was closed.
    #[track_caller]
    pub(crate) fn assert_fds_return_to(&self, fds: usize) {
        let mut now = 0;
        let back = wait_until(IO_TIMEOUT, || {
            now = self.open_fds();
            now == fds
        });
        assert!(back, "the server has {now} descriptors open, {fds} before");
    }

    /// The server's resident memory, in bytes.
    pub(crate) fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }
}
