//! End-to-end tests of the examples: each runs an example binary as a real
//! process and talks to it over real sockets.
//!
//! The binaries are built on first use with the same cargo, profile and
//! target directory as this test (so `cargo test --test examples` works and
//! never runs a stale build). Every child process is killed when its guard
//! drops, and every wait has a deadline.

mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use util::process::{
    self, IO_TIMEOUT, Server, assert_bad_command_line, fd_soft_limit, run_to_end, wait_until,
};

// ---------------------------------------------------------------------------
// The examples
// ---------------------------------------------------------------------------

/// Every example; the `--help` test runs them all.
const EXAMPLES: &[&str] = &[
    "http_client",
    "echo_server",
    "mixed",
    "chat_server",
    "smtp_sink",
    "idle_passes",
    "gen_cert",
];

/// Returns the path of example `name`; the first call builds the examples
/// this binary runs.
fn example(name: &str) -> PathBuf {
    process::example(EXAMPLES, name)
}

// ---------------------------------------------------------------------------
// The command lines
// ---------------------------------------------------------------------------

#[test]
fn every_example_prints_its_help_and_exits_0() {
    // Each example with the options and arguments its help must list.
    let cases: &[(&str, &[&str])] = &[
        (
            "echo_server",
            &[
                "--addr <HOST:PORT>",
                "--style <STYLE>",
                "--max-passes <N>",
                "--tls-cert <FILE>",
                "--tls-key <FILE>",
                "--threads <N>",
            ],
        ),
        (
            "chat_server",
            &["--addr <HOST:PORT>", "--max-line <N>", "--max-passes <N>"],
        ),
        (
            "smtp_sink",
            &[
                "--maildir <DIR>",
                "--addr <HOST:PORT>",
                "--max-size <BYTES>",
                "--hostname <NAME>",
                "--max-passes <N>",
            ],
        ),
        (
            "http_client",
            &["--timeout <SECS>", "--cafile <FILE>", "<URL>"],
        ),
        ("gen_cert", &["--out <DIR>", "--name <NAME>"]),
        ("idle_passes", &["[CHANNELS]", "[PASSES]"]),
        ("mixed", &["--help"]),
    ];
    assert_eq!(cases.len(), EXAMPLES.len(), "an example has no case");
    for (name, flags) in cases {
        for help in ["--help", "-h"] {
            let done = run_to_end(&example(name), &[help], Duration::from_secs(30));
            let stdout = String::from_utf8_lossy(&done.stdout);
            assert!(done.status.success(), "{name} {help}: {}", done.stderr);
            assert!(
                stdout.contains(&format!("Usage: {name}")),
                "{name} {help}: {stdout}"
            );
            for flag in *flags {
                assert!(stdout.contains(flag), "{name} {help}: no {flag}: {stdout}");
            }
            assert!(done.stderr.is_empty(), "{name} {help}: {}", done.stderr);
        }
    }
}

/// The two faces `echo_server --style` serves with.
#[derive(Clone, Copy, Debug)]
enum Style {
    Callback,
    Async,
}

impl Style {
    /// The `--style` value.
    fn name(self) -> &'static str {
        match self {
            Style::Callback => "callback",
            Style::Async => "async",
        }
    }
}

/// Defines one `#[test]` per style for each named function taking a
/// [`Style`]: `callback::NAME` and `async_style::NAME`.
macro_rules! for_both_styles {
    ($($name:ident),* $(,)?) => {
        mod callback {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Style::Callback);
                }
            )*
        }
        mod async_style {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Style::Async);
                }
            )*
        }
    };
}

for_both_styles!(
    echo_server_returns_after_max_passes,
    echo_server_echoes_messages_on_one_connection,
    echo_server_holds_5000_concurrent_clients,
    echo_server_sends_everything_back_after_a_half_close,
    echo_server_survives_peers_that_reset,
    echo_server_bounds_memory_for_a_client_that_never_reads,
    echo_server_keeps_serving_after_running_out_of_descriptors,
);

/// Starts the echo server in `style` on a free port.
fn echo_server(style: Style) -> Server {
    start_echo_server(Command::new(example("echo_server")), style)
}

/// Starts the echo server in `style` with at most `limit` open descriptors.
fn echo_server_with_fd_limit(style: Style, limit: u32) -> Server {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(example("echo_server"));
    start_echo_server(command, style)
}

fn start_echo_server(mut command: Command, style: Style) -> Server {
    command.args(["--addr", "127.0.0.1:0", "--style", style.name()]);
    Server::start(
        "echo_server",
        command,
        &format!(" (style {})", style.name()),
    )
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
fn http_client_reaches_localhost_on_127_0_0_1_only() {
    // `localhost` is resolved off the loop and every address tried, so a
    // server on 127.0.0.1 alone is reached even where ::1 comes first.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let response = b"HTTP/1.0 200 OK\r\n\r\nby name".to_vec();
    let request = serve_once(listener, response.clone());

    let url = format!("http://localhost:{port}/");
    let done = run_to_end(&example("http_client"), &[&url], Duration::from_secs(30));
    let head = request.recv_timeout(IO_TIMEOUT).unwrap().unwrap();
    check_request(&head, "/", &format!("localhost:{port}"));
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    assert_eq!(done.stdout, response);
}

#[test]
fn http_client_fetches_from_python_http_server_by_localhost() {
    let dir = util::TempDir::new("http-server");
    std::fs::write(dir.join("hello.txt"), b"served by python\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawned = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(dir.join(""))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        eprintln!("skipped: no python3");
        return;
    };
    let _server = process::Guard(child);
    let up = wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "python3 -m http.server never listened on {port}");
    let url = format!("http://localhost:{port}/hello.txt");
    let done = run_to_end(&example("http_client"), &[&url], Duration::from_secs(30));
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(out.starts_with("HTTP/1.0 200"), "{out}");
    assert!(out.ends_with("served by python\n"), "{out}");
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
    // Each bad command line with what the error must name.
    let bad: &[(&[&str], &str)] = &[
        (&[], "<URL>"),
        (&["ftp://example.com/"], "must start with http://"),
        (&["example.com"], "must start with http:// or https://"),
        (
            &["httpss://example.com/"],
            "must start with http:// or https://",
        ),
        (&["https://"], "empty host"),
        (&["https://:443/"], "empty host"),
        (&["https://host:0/"], "bad port \"0\""),
        (&["http://"], "empty host"),
        (&["http:///path"], "empty host"),
        (&["http://:8080/"], "empty host"),
        (&["http://host:99999/"], "bad port \"99999\""),
        (&["http://host:0/"], "bad port \"0\""),
        (&["http://host:port/"], "bad port \"port\""),
        (&["http://[::1/"], "unterminated ["),
        (&["http://a b/"], "spaces or control characters"),
        (
            &["--timeout", "soon", "http://127.0.0.1/"],
            "'soon' for '--timeout",
        ),
        (
            &["--timeout", "0", "http://127.0.0.1/"],
            "'0' for '--timeout",
        ),
        (&["--bogus", "http://127.0.0.1/"], "'--bogus'"),
        (
            &["http://127.0.0.1/", "http://127.0.0.2/"],
            "'http://127.0.0.2/'",
        ),
    ];
    for (args, culprit) in bad {
        let done = run_to_end(&bin, args, Duration::from_secs(30));
        assert_bad_command_line(&done, args, culprit);
    }
}

// ---------------------------------------------------------------------------
// echo_server
// ---------------------------------------------------------------------------

#[test]
fn echo_server_rejects_an_unknown_style_with_status_2() {
    for (args, culprit) in [
        (&["--style", "threads"][..], "'threads' for '--style"),
        (&["--style"], "'--style"),
        (&["--style=threads"], "'threads' for '--style"),
    ] {
        let mut argv = vec!["--addr", "127.0.0.1:0"];
        argv.extend_from_slice(args);
        let done = run_to_end(&example("echo_server"), &argv, Duration::from_secs(30));
        assert_bad_command_line(&done, &argv, culprit);
        assert!(
            done.stderr.contains("[possible values: callback, async]"),
            "{args:?}: {}",
            done.stderr
        );
    }
}

#[test]
fn echo_server_rejects_unknown_and_bad_flags_with_status_2() {
    for (args, culprit) in [
        (&["--bogus"][..], "'--bogus'"),
        (&["--max-passes", "many"], "'many' for '--max-passes"),
        (&["--max-passes"], "'--max-passes"),
        (&["extra"], "'extra'"),
    ] {
        let done = run_to_end(&example("echo_server"), args, Duration::from_secs(30));
        assert_bad_command_line(&done, args, culprit);
    }
}

fn echo_server_returns_after_max_passes(style: Style) {
    let done = run_to_end(
        &example("echo_server"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--style",
            style.name(),
            "--max-passes",
            "0",
        ],
        Duration::from_secs(30),
    );
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    let stdout = String::from_utf8_lossy(&done.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("echo_server: listening on 127.0.0.1:")
            && first.ends_with(&format!(" (style {})", style.name())),
        "{stdout}"
    );
}

fn echo_server_echoes_messages_on_one_connection(style: Style) {
    let mut server = echo_server(style);
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

fn echo_server_holds_5000_concurrent_clients(style: Style) {
    const CLIENTS: usize = 5000;
    match fd_soft_limit() {
        Some(limit) if limit < 11_000 => {
            eprintln!("skipped: the open-files limit is {limit}, below 11000");
            return;
        }
        _ => {}
    }
    let mut server = echo_server(style);
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
        "{style:?}: {CLIENTS} clients: connected in {connected:?}, all echoed in {:?}",
        start.elapsed()
    );
    server.assert_alive();
    // The server still serves a newcomer with all of them open.
    round_trip(&mut server.connect(), b"one more\n");
    drop(clients);
    server.assert_fds_return_to(fds);
}

fn echo_server_sends_everything_back_after_a_half_close(style: Style) {
    const LEN: usize = 2 * 1024 * 1024;
    let server = echo_server(style);
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

fn echo_server_survives_peers_that_reset(style: Style) {
    let mut server = echo_server(style);
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

fn echo_server_bounds_memory_for_a_client_that_never_reads(style: Style) {
    const FLOOD: usize = 50 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let mut server = echo_server(style);
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
        "{style:?}: flooder wrote {} KiB before blocking; {trips} echoes meanwhile, slowest {slowest:?}; \
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

fn echo_server_keeps_serving_after_running_out_of_descriptors(style: Style) {
    const CLIENTS: usize = 100;
    const CLOSED: usize = 60;
    let mut server = echo_server_with_fd_limit(style, 64);
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
        "{style:?}: the last {} clients were echoed {:?} after the first {CLOSED} left",
        CLIENTS - CLOSED,
        start.elapsed()
    );
    server.assert_alive();
}

// ---------------------------------------------------------------------------
// mixed
// ---------------------------------------------------------------------------

#[test]
fn mixed_checks_callback_and_async_sides_and_exits_0() {
    let done = run_to_end(&example("mixed"), &[], Duration::from_secs(30));
    assert!(done.status.success(), "{}: {}", done.status, done.stderr);
    let stdout = String::from_utf8_lossy(&done.stdout);
    let mut lines = stdout.lines();
    let summary = lines.next().unwrap_or_default();
    assert!(
        summary.starts_with(
            "mixed: ok: 1000 echoes to 20 async clients, 10 chat messages between alice and \
             bob, 10 replies from a handed-off async task in "
        ),
        "stdout: {stdout}"
    );
    assert_eq!(lines.next(), None, "stdout: {stdout}");
    assert!(done.stderr.is_empty(), "stderr: {}", done.stderr);
}

/// SIGTERM under load: the server stops accepting, echoes back what it
/// read, ends each connection cleanly and exits 0 within 5 s with its
/// summary on stderr, with one loop or several.
fn echo_server_shuts_down_gracefully_on_sigterm(style: Style, threads: &[&str]) {
    let mut command = Command::new(example("echo_server"));
    command.arg("--threads").args(threads);
    let mut server = start_echo_server(command, style);
    let mut client = server.connect();
    let data = pattern(256 * 1024);
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    // The write may fail once the server shuts down mid-way: what it read
    // before is what must come back. Then the client ends its side, so the
    // server's drain ends by the peer's FIN, not at its 4 s deadline (which
    // left this test 0.9 s of slack on a loaded machine).
    let writing = thread::spawn(move || {
        let _ = writer.write_all(&sent);
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut echoed = vec![0u8; 1024];
    client.read_exact(&mut echoed).unwrap();
    let killed = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -TERM {}", server.pid()))
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("a clean end, not a reset");
    echoed.extend_from_slice(&rest);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        server.stderr()
    );
    assert!(
        echoed == data[..echoed.len()],
        "the echo is a byte-exact prefix"
    );
    let stderr = server.stderr_with("echo_server: shut down:", Duration::from_secs(5));
    assert!(
        stderr.contains("echo_server: shut down:") && stderr.contains(" 0 forced at the deadline"),
        "{stderr}"
    );
    drop(client);
    writing.join().unwrap();
}

#[test]
fn echo_server_shuts_down_gracefully_on_sigterm_callback_1_thread() {
    echo_server_shuts_down_gracefully_on_sigterm(Style::Callback, &["1"]);
}

#[test]
fn echo_server_shuts_down_gracefully_on_sigterm_async_1_thread() {
    echo_server_shuts_down_gracefully_on_sigterm(Style::Async, &["1"]);
}

#[test]
fn echo_server_shuts_down_gracefully_on_sigterm_callback_2_threads() {
    echo_server_shuts_down_gracefully_on_sigterm(Style::Callback, &["2"]);
}

#[test]
fn echo_server_shuts_down_gracefully_on_sigterm_async_2_threads() {
    echo_server_shuts_down_gracefully_on_sigterm(Style::Async, &["2"]);
}

// With one acceptor handing connections to the loops in turn (what runs
// where the kernel does not balance SO_REUSEPORT).
#[test]
fn echo_server_hands_connections_to_its_loops_in_both_styles() {
    for style in [Style::Callback, Style::Async] {
        let mut command = Command::new(example("echo_server"));
        command.args(["--threads", "4", "--accept-handoff"]);
        let server = start_echo_server(command, style);
        let mut clients: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            round_trip(client, format!("client {i} via the hand-off\n").as_bytes());
        }
    }
}

#[test]
fn echo_server_shuts_down_gracefully_on_sigterm_callback_handoff() {
    echo_server_shuts_down_gracefully_on_sigterm(Style::Callback, &["2", "--accept-handoff"]);
}

#[test]
fn echo_server_shuts_down_gracefully_on_sigterm_async_handoff() {
    echo_server_shuts_down_gracefully_on_sigterm(Style::Async, &["2", "--accept-handoff"]);
}
