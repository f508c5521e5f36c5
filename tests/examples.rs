//! End-to-end tests of the examples: each runs an example binary as a real
//! process and talks to it over real sockets.
//!
//! The binaries are built on first use with the same cargo, profile and
//! target directory as this test (so `cargo test --test examples` works and
//! never runs a stale build). Every child process is killed when its guard
//! drops, and every wait has a deadline.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single blocking socket operation of a test may take.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Building and finding the examples
// ---------------------------------------------------------------------------

/// Returns the path of example `name`, building the examples on first use.
fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(build_examples);
    match dir {
        Ok(dir) => dir.join(name),
        Err(e) => panic!("cannot build the examples: {e}"),
    }
}

/// Builds the examples with the cargo that runs this test, into the target
/// directory and profile this test binary lives in
/// (`<target>/<profile>/deps/examples-*` -> `<target>/<profile>/examples/`).
fn build_examples() -> Result<PathBuf, String> {
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
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--example", "http_client"])
        .args(["--example", "echo_server", "--profile", profile])
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
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Collects everything a pipe delivers, on a thread.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
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
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
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
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `bin` with `args` to completion, killing it after `limit`.
fn run_to_end(bin: &Path, args: &[&str], limit: Duration) -> Finished {
    let child = Command::new(bin)
        .args(args)
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

/// A running echo server.
struct EchoServer {
    guard: Guard,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl EchoServer {
    /// Starts the echo server on a free port.
    fn start() -> EchoServer {
        EchoServer::spawn(Command::new(example("echo_server")))
    }

    /// Starts the echo server with at most `limit` open descriptors.
    fn start_with_fd_limit(limit: u32) -> EchoServer {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(example("echo_server"));
        EchoServer::spawn(command)
    }

    fn spawn(mut command: Command) -> EchoServer {
        let child = command
            .args(["--addr", "127.0.0.1:0", "--style", "callback"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start echo_server");
        let mut guard = Guard(child);
        let stderr = collect(guard.0.stderr.take().unwrap());
        let stdout = guard.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining the pipe.
                    continue;
                }
            }
        });
        let line = rx.recv_timeout(IO_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "echo_server printed no first line ({e}); stderr: {}",
                String::from_utf8_lossy(&stderr.lock().unwrap())
            )
        });
        let addr = line
            .strip_prefix("echo_server: listening on ")
            .and_then(|rest| rest.strip_suffix(" (style callback)"))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        EchoServer {
            guard,
            addr,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.guard.0.id()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Panics if the server has exited.
    fn assert_alive(&mut self) {
        if let Some(status) = self.guard.0.try_wait().expect("try_wait") {
            panic!("echo_server exited ({status}); stderr: {}", self.stderr());
        }
    }

    /// Connects a client with bounded reads and writes.
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("cannot connect to echo_server at {}: {e}", self.addr));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// The number of descriptors the server has open.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Waits until the server is back to `fds` open descriptors: every
    /// connection that ended was closed.
    fn assert_fds_return_to(&self, fds: usize) {
        let mut now = 0;
        let back = wait_until(IO_TIMEOUT, || {
            now = self.open_fds();
            now == fds
        });
        assert!(back, "the server has {now} descriptors open, {fds} before");
    }

    /// The server's resident memory, in bytes.
    fn rss(&self) -> u64 {
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

/// Sends `message` and reads the same bytes back.
fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).expect("write to echo_server");
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).expect("read the echo");
    assert_eq!(back, message, "the echo differs");
}

/// Bytes that are not all text: every byte value, in a long period.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The soft limit on open files of this process (`None` if unlimited).
fn fd_soft_limit() -> Option<u64> {
    let out = Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .expect("sh -c 'ulimit -n'");
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

// ---------------------------------------------------------------------------
// http_client
// ---------------------------------------------------------------------------

/// Serves one HTTP request on `listener` with `response`, on a thread;
/// the receiver gets the request head, or why there was none.
fn serve_once(listener: TcpListener, response: Vec<u8>) -> mpsc::Receiver<Result<String, String>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = (|| -> io::Result<String> {
            let (mut stream, _) = listener.accept()?;
            stream.set_read_timeout(Some(IO_TIMEOUT))?;
            stream.set_write_timeout(Some(IO_TIMEOUT))?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
                    return Err(io::Error::other("no complete request head"));
                }
                head.push(byte[0]);
            }
            stream.write_all(&response)?;
            // Dropping the stream closes it: the end of an HTTP/1.0 response.
            Ok(String::from_utf8_lossy(&head).into_owned())
        })();
        let _ = tx.send(result.map_err(|e| e.to_string()));
    });
    rx
}

/// Checks a request head: the request line, `Host` and `User-Agent`.
fn check_request(head: &str, target: &str, host: &str) {
    let mut lines = head
        .strip_suffix("\r\n\r\n")
        .expect("head end")
        .split("\r\n");
    assert_eq!(
        lines.next(),
        Some(format!("GET {target} HTTP/1.0").as_str())
    );
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').expect("header line");
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    assert_eq!(get("host").map(String::as_str), Some(host), "{head}");
    assert!(get("user-agent").is_some_and(|v| !v.is_empty()), "{head}");
}

#[test]
fn http_client_prints_the_whole_response_raw() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut response = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\
        X-Test: yes\r\n\r\n"
        .to_vec();
    response.extend(pattern(300_000));
    let request = serve_once(listener, response.clone());

    let url = format!("http://127.0.0.1:{port}/some/path?q=1#fragment");
    let done = run_to_end(&example("http_client"), &[&url], Duration::from_secs(30));
    let head = request
        .recv_timeout(IO_TIMEOUT)
        .expect("the test server finished")
        .expect("the test server got a request");
    check_request(&head, "/some/path?q=1", &format!("127.0.0.1:{port}"));
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    assert!(
        done.stdout == response,
        "stdout ({} bytes) differs from the response ({} bytes)",
        done.stdout.len(),
        response.len()
    );
}

#[test]
fn http_client_defaults_the_path() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let response = b"HTTP/1.0 404 Not Found\r\nContent-Length: 4\r\n\r\nnope".to_vec();
    let request = serve_once(listener, response.clone());

    let url = format!("http://127.0.0.1:{port}");
    let done = run_to_end(&example("http_client"), &[&url], Duration::from_secs(30));
    let head = request.recv_timeout(IO_TIMEOUT).unwrap().unwrap();
    check_request(&head, "/", &format!("127.0.0.1:{port}"));
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    assert_eq!(done.stdout, response);
}

#[test]
fn http_client_takes_ipv6_literals() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let response = b"HTTP/1.0 200 OK\r\n\r\nsix".to_vec();
    let request = serve_once(listener, response.clone());

    let url = format!("http://[::1]:{port}/v6");
    let done = run_to_end(&example("http_client"), &[&url], Duration::from_secs(30));
    let head = request.recv_timeout(IO_TIMEOUT).unwrap().unwrap();
    check_request(&head, "/v6", &format!("[::1]:{port}"));
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    assert_eq!(done.stdout, response);
}

#[test]
fn http_client_gives_up_after_its_timeout() {
    // The kernel completes the handshake from the backlog, but nobody ever
    // accepts, so no response comes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let start = Instant::now();
    let done = run_to_end(
        &example("http_client"),
        &["--timeout", "0.3", &url],
        Duration::from_secs(30),
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("timed out"), "stderr: {}", done.stderr);
    assert!(start.elapsed() >= Duration::from_millis(300));
    drop(listener);
}

#[test]
fn http_client_reports_a_refused_connection() {
    // A port that was free a moment ago: nothing listens on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let done = run_to_end(&example("http_client"), &[&url], Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stdout.is_empty());
    assert!(
        done.stderr.contains("cannot connect") && done.stderr.contains("refused"),
        "stderr: {}",
        done.stderr
    );
}

#[test]
fn http_client_rejects_bad_urls_with_status_2() {
    let bin = example("http_client");
    let bad: &[&[&str]] = &[
        &[],
        &["ftp://example.com/"],
        &["example.com"],
        &["http://"],
        &["http:///path"],
        &["http://:8080/"],
        &["http://host:99999/"],
        &["http://host:0/"],
        &["http://host:port/"],
        &["http://[::1/"],
        &["http://a b/"],
        &["--timeout", "soon", "http://127.0.0.1/"],
        &["--bogus", "http://127.0.0.1/"],
        &["http://127.0.0.1/", "http://127.0.0.1/"],
    ];
    for args in bad {
        let done = run_to_end(&bin, args, Duration::from_secs(30));
        assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
        assert!(done.stderr.contains("usage:"), "{args:?}: {}", done.stderr);
    }
}

// ---------------------------------------------------------------------------
// echo_server
// ---------------------------------------------------------------------------

#[test]
fn echo_server_refuses_the_async_style() {
    let done = run_to_end(
        &example("echo_server"),
        &["--addr", "127.0.0.1:0", "--style", "async"],
        Duration::from_secs(30),
    );
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains(
            "--style async arrives with the async executor (not built yet); use --style callback"
        ),
        "stderr: {}",
        done.stderr
    );
}

#[test]
fn echo_server_returns_after_max_passes() {
    let done = run_to_end(
        &example("echo_server"),
        &["--addr", "127.0.0.1:0", "--max-passes", "0"],
        Duration::from_secs(30),
    );
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        stdout.starts_with("echo_server: listening on 127.0.0.1:"),
        "{stdout}"
    );
}

#[test]
fn echo_server_echoes_messages_on_one_connection() {
    let mut server = EchoServer::start();
    let mut client = server.connect();
    for message in [
        &b"hello\n"[..],
        b"x",
        b"a longer line with some words in it\r\n",
        &pattern(100_000),
        b"bye\n",
    ] {
        round_trip(&mut client, message);
    }
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("EOF after half-close");
    assert!(rest.is_empty());
    server.assert_alive();
}

#[test]
fn echo_server_holds_5000_concurrent_clients() {
    const CLIENTS: usize = 5000;
    match fd_soft_limit() {
        Some(limit) if limit < 11_000 => {
            eprintln!("skipped: the open-files limit is {limit}, below 11000");
            return;
        }
        _ => {}
    }
    let mut server = EchoServer::start();
    let fds = server.open_fds();
    let start = Instant::now();
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();
    let connected = start.elapsed();
    let message = |i: usize| format!("client {i} says hello\n").into_bytes();
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&message(i)).expect("write");
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let expected = message(i);
        let mut back = vec![0; expected.len()];
        client.read_exact(&mut back).expect("read the echo");
        assert_eq!(back, expected, "client {i}");
    }
    eprintln!(
        "{CLIENTS} clients: connected in {connected:?}, all echoed in {:?}",
        start.elapsed()
    );
    server.assert_alive();
    // The server still serves a newcomer with all of them open.
    round_trip(&mut server.connect(), b"one more\n");
    drop(clients);
    server.assert_fds_return_to(fds);
}

#[test]
fn echo_server_sends_everything_back_after_a_half_close() {
    const LEN: usize = 2 * 1024 * 1024;
    let server = EchoServer::start();
    let fds = server.open_fds();
    let mut client = server.connect();
    let data = pattern(LEN);
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    // Written from a thread: the echo comes back while we still write.
    let writing = thread::spawn(move || {
        writer.write_all(&sent)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut back = Vec::with_capacity(LEN);
    client.read_to_end(&mut back).expect("read the echo to EOF");
    writing
        .join()
        .unwrap()
        .expect("write 2 MiB, then shut down");
    assert_eq!(back.len(), LEN);
    assert!(back == data, "the echo differs");
    server.assert_fds_return_to(fds);
}

#[test]
fn echo_server_survives_peers_that_reset() {
    let mut server = EchoServer::start();
    let fds = server.open_fds();
    let reset = |stream: TcpStream| {
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(stream); // SO_LINGER 0: close sends RST
    };
    for _ in 0..20 {
        // Resets right away, perhaps before the server accepted it.
        let mut client = server.connect();
        client.write_all(b"going away\n").unwrap();
        reset(client);

        // Resets with its echo unread and more coming: the server's
        // pushes and flushes meet the reset.
        let mut client = server.connect();
        round_trip(&mut client, b"hello\n");
        client.write_all(&pattern(200_000)).unwrap();
        reset(client);

        // A plain close with unread data also makes Linux send RST.
        let mut client = server.connect();
        client.write_all(&pattern(50_000)).unwrap();
        let mut first = [0u8; 1];
        client.read_exact(&mut first).unwrap();
        drop(client);
    }
    let mut client = server.connect();
    round_trip(&mut client, b"still there?\n");
    drop(client);
    server.assert_fds_return_to(fds);
    server.assert_alive();
    assert!(
        !server.stderr().contains("panicked"),
        "stderr: {}",
        server.stderr()
    );
}

#[test]
fn echo_server_bounds_memory_for_a_client_that_never_reads() {
    const FLOOD: usize = 50 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let mut server = EchoServer::start();
    let fds = server.open_fds();
    let mut other = server.connect();
    round_trip(&mut other, b"warm up\n");
    let rss_before = server.rss();

    // The flooder writes and never reads, until its writes block.
    let mut flooder = server.connect();
    flooder
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let flooding = thread::spawn(move || {
        let chunk = pattern(CHUNK);
        let mut written = 0;
        while written < FLOOD {
            match flooder.write(&chunk) {
                Ok(n) => written += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => panic!("the flooder's write failed: {e}"),
            }
        }
        (flooder, written)
    });

    // Meanwhile another client gets prompt echoes.
    let mut slowest = Duration::ZERO;
    let mut trips = 0;
    while !flooding.is_finished() || trips < 10 {
        let t = Instant::now();
        round_trip(&mut other, format!("ping {trips}\n").as_bytes());
        slowest = slowest.max(t.elapsed());
        trips += 1;
    }
    let (flooder, written) = flooding.join().unwrap();
    let rss_after = server.rss();
    eprintln!(
        "flooder wrote {} KiB before blocking; {trips} echoes meanwhile, slowest {slowest:?}; \
         RSS {} KiB -> {} KiB",
        written / 1024,
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        slowest < Duration::from_secs(2),
        "an echo took {slowest:?} while another client flooded"
    );
    assert!(
        rss_after < rss_before + 16 * 1024 * 1024,
        "RSS grew from {rss_before} to {rss_after} bytes"
    );
    round_trip(&mut other, b"after the flood\n");
    server.assert_alive();
    // Closing with unread data resets: the stalled channel must close too.
    drop((flooder, other));
    server.assert_fds_return_to(fds);
}

#[test]
fn echo_server_keeps_serving_after_running_out_of_descriptors() {
    const CLIENTS: usize = 100;
    const CLOSED: usize = 60;
    let mut server = EchoServer::start_with_fd_limit(64);
    // The first ~55 are accepted; the rest wait in the listen backlog.
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();
    let message = |i: usize| format!("client {i}\n").into_bytes();
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&message(i)).unwrap();
    }
    assert!(
        wait_until(IO_TIMEOUT, || server.stderr().contains("accept failed")),
        "the server never ran out of descriptors; stderr: {}",
        server.stderr()
    );
    server.assert_alive();

    // Freeing descriptors lets the waiting clients in.
    let start = Instant::now();
    let rest = clients.split_off(CLOSED);
    drop(clients);
    for (i, mut client) in rest.into_iter().enumerate() {
        let expected = message(CLOSED + i);
        let mut back = vec![0; expected.len()];
        client
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("client {}: {e}", CLOSED + i));
        assert_eq!(back, expected);
    }
    eprintln!(
        "the last {} clients were echoed {:?} after the first {CLOSED} left",
        CLIENTS - CLOSED,
        start.elapsed()
    );
    server.assert_alive();
}
