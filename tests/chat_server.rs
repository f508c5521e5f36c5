//! End-to-end tests of the `chat_server` example: the binary runs as a real
//! process and clients talk to it over TCP with `std` sockets.
//!
//! The example is built on first use with the cargo, profile and target
//! directory of this test. Every server is killed when its guard drops, and
//! every socket read has a timeout.

mod util;

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use util::process::{self, IO_TIMEOUT};

// ---------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------

/// Returns the path of the `chat_server` example, building it on first use.
fn binary() -> PathBuf {
    process::example(&["chat_server"], "chat_server")
}

/// A running `chat_server`, killed on drop.
struct Server(process::Server);

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut command = Command::new(binary());
        command.args(["--addr", "127.0.0.1:0"]).args(extra);
        Server(process::Server::start("chat_server", command, ""))
    }

    /// The server's resident memory, in bytes.
    fn rss(&self) -> u64 {
        self.0.rss()
    }

    fn assert_alive(&mut self) {
        self.0.assert_alive();
    }

    /// Connects a member and reads its welcome, so it is in the room when
    /// this returns.
    fn join(&self) -> Member {
        let stream = self.0.connect();
        let mut member = Member {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            name: String::new(),
        };
        let welcome = member.line().expect("a welcome line");
        member.name = welcome
            .strip_prefix("* welcome ")
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("unexpected welcome {welcome:?}"))
            .to_owned();
        member
    }
}

// ---------------------------------------------------------------------------
// Chat clients
// ---------------------------------------------------------------------------

struct Member {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    /// `#N`, from the welcome.
    name: String,
}

impl Member {
    /// Sends raw bytes.
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to chat_server");
    }

    fn say(&mut self, text: &str) {
        self.send(format!("{text}\n").as_bytes());
    }

    /// The next line without its CRLF; `None` at end of stream.
    #[track_caller]
    fn line(&mut self) -> Option<String> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| panic!("{}: reading a line: {e}", self.name));
        if n == 0 {
            return None;
        }
        let text = String::from_utf8(line).expect("UTF-8 line");
        let text = text
            .strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("{}: line without CRLF: {text:?}", self.name));
        assert!(!text.contains('\r'), "stray CR in {text:?}");
        Some(text.to_owned())
    }

    /// The next line that is not a notice (`* ...`).
    #[track_caller]
    fn message(&mut self) -> String {
        loop {
            let line = self
                .line()
                .unwrap_or_else(|| panic!("{}: the server closed the connection", self.name));
            if !line.starts_with("* ") {
                return line;
            }
        }
    }

    /// Reads until `want` arrives, skipping notices, and fails on any other
    /// message.
    #[track_caller]
    fn expect_message(&mut self, want: &str) {
        let got = self.message();
        assert_eq!(got, want, "{} got the wrong message", self.name);
    }

    /// Reads lines until one equals `want`; returns the lines before it.
    #[track_caller]
    fn expect_line(&mut self, want: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            match self.line() {
                Some(line) if line == want => return before,
                Some(line) => before.push(line),
                None => panic!("{}: no {want:?} before EOF; got {before:?}", self.name),
            }
        }
    }

    /// Reads until the server closes; returns the lines that came first.
    /// A reset counts as a close.
    fn lines_to_end(&mut self) -> Vec<String> {
        let mut all = Vec::new();
        self.reader
            .read_to_end(&mut all)
            .or_else(|e| match e.kind() {
                io::ErrorKind::ConnectionReset => Ok(0),
                _ => Err(e),
            })
            .expect("read to the end");
        String::from_utf8_lossy(&all)
            .split_terminator("\r\n")
            .map(str::to_owned)
            .collect()
    }
}

/// Reads everything `stream` delivers on a thread, until EOF or an error;
/// the handle returns the byte count.
fn drain(mut stream: TcpStream) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn broadcast_reaches_the_others_but_not_the_sender() {
    let server = Server::start(&[]);
    let mut a = server.join();
    let mut b = server.join();
    let mut c = server.join();
    let joined = |m: &Member| {
        format!(
            "* {} joined from {}",
            m.name,
            m.stream.local_addr().unwrap()
        )
    };
    assert!(a.expect_line(&joined(&b)).is_empty());
    assert!(a.expect_line(&joined(&c)).is_empty());
    assert!(b.expect_line(&joined(&c)).is_empty());

    a.say("hello from a");
    b.expect_message(&format!("[{}] hello from a", a.name));
    c.expect_message(&format!("[{}] hello from a", a.name));
    // CRLF line ends are fine too, and the CR does not travel.
    b.send(b"hi from b\r\n");
    // a's next message is b's, not its own line (which would come first).
    a.expect_message(&format!("[{}] hi from b", b.name));
    c.expect_message(&format!("[{}] hi from b", b.name));
    // Empty lines are ignored; several lines in one write are several
    // messages.
    c.send(b"\n\r\none\ntwo\r\n");
    for m in [&mut a, &mut b] {
        m.expect_message(&format!("[{}] one", c.name));
        m.expect_message(&format!("[{}] two", c.name));
    }
    a.say("bye");
    b.expect_message(&format!("[{}] bye", a.name));
    c.expect_message(&format!("[{}] bye", a.name));
}

#[test]
fn members_see_joins_leaves_and_can_list_and_quit() {
    let server = Server::start(&[]);
    let mut a = server.join();
    let mut b = server.join();
    a.expect_line(&format!(
        "* {} joined from {}",
        b.name,
        b.stream.local_addr().unwrap()
    ));
    b.say("/who");
    assert_eq!(
        b.line().unwrap(),
        format!("* here: {} {} (you are {})", a.name, b.name, b.name)
    );
    b.say("/nope");
    assert!(b.line().unwrap().starts_with("* unknown command"));
    b.say("/quit");
    assert_eq!(b.lines_to_end(), ["* bye"]);
    a.expect_line(&format!("* {} left", b.name));

    // A half-close still delivers a last line without its line end.
    let mut c = server.join();
    a.expect_line(&format!(
        "* {} joined from {}",
        c.name,
        c.stream.local_addr().unwrap()
    ));
    c.send(b"no line end");
    c.stream.shutdown(Shutdown::Write).unwrap();
    a.expect_message(&format!("[{}] no line end", c.name));
    a.expect_line(&format!("* {} left", c.name));
    assert!(c.lines_to_end().is_empty());

    // A dropped connection is noticed too.
    let d = server.join();
    let name = d.name.clone();
    drop(d);
    a.expect_line(&format!("* {name} left"));

    // So is a reset (SO_LINGER 0: close sends RST).
    let e = server.join();
    let name = e.name.clone();
    socket2::SockRef::from(&e.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(e);
    a.expect_line(&format!("* {name} left"));
}

#[test]
fn a_line_over_the_limit_gets_an_error_and_the_connection_closes() {
    let server = Server::start(&["--max-line", "100"]);
    let mut a = server.join();
    let mut b = server.join();
    // Exactly at the limit, with either line end: fine.
    let fits = "x".repeat(100);
    a.say(&fits);
    a.send(format!("{fits}\r\n").as_bytes());
    b.expect_message(&format!("[{}] {fits}", a.name));
    b.expect_message(&format!("[{}] {fits}", a.name));

    // One byte over: an error, then the server closes.
    a.say(&"y".repeat(101));
    let lines = a.lines_to_end();
    let messages: Vec<&String> = lines.iter().filter(|l| !l.starts_with("* ")).collect();
    assert_eq!(
        messages,
        ["error: line too long (at least 101 bytes, limit 100)"],
        "{lines:?}"
    );
    b.expect_line(&format!("* {} left: line too long", a.name));

    // A line that never ends: the error comes as soon as the limit is
    // passed, whatever the client still sends.
    let mut c = server.join();
    b.expect_line(&format!(
        "* {} joined from {}",
        c.name,
        c.stream.local_addr().unwrap()
    ));
    let mut writer = c.stream.try_clone().unwrap();
    let writing = thread::spawn(move || {
        let chunk = vec![b'z'; 64 * 1024];
        // Fails once the server has closed: that is the point.
        for _ in 0..64 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let first = c.line().expect("an error line");
    assert!(
        first.starts_with("error: line too long (at least ")
            && first.ends_with(" bytes, limit 100)"),
        "{first:?}"
    );
    let _ = c.lines_to_end();
    writing.join().unwrap();
    b.expect_line(&format!("* {} left: line too long", c.name));

    // Nothing of the long lines reached anybody.
    b.say("still here?");
    let mut d = server.join();
    d.say("yes");
    b.expect_message(&format!("[{}] yes", d.name));
}

#[test]
fn a_client_that_never_reads_does_not_delay_the_others_or_grow_memory() {
    const FLOOD: usize = 32 * 1024 * 1024;
    const LINE: usize = 1000;
    let mut server = Server::start(&[]);
    // The stalled member: joins, then never reads again.
    let stalled = server.join();
    let flooder = server.join();
    let mut pinger = server.join();
    let mut watcher = server.join();
    let rss_before = server.rss();

    // The flooder and the pinger receive the flood too; they drain it.
    let flooder_drain = drain(flooder.stream.try_clone().unwrap());
    let pinger_drain = drain(pinger.stream.try_clone().unwrap());
    let flooding = {
        let mut stream = flooder.stream.try_clone().unwrap();
        thread::spawn(move || {
            let mut line = vec![b'f'; LINE - 1];
            line.push(b'\n');
            let lines = line.repeat(64);
            let mut sent = 0;
            while sent < FLOOD {
                stream.write_all(&lines).expect("flood");
                sent += lines.len();
            }
            stream.write_all(b"flood done\n").expect("flood");
            sent / LINE
        })
    };

    // The watcher reads everything, noting when each ping arrives.
    let (pings_tx, pings_rx) = mpsc::channel();
    let watching = {
        let prefix = format!("[{}] ping ", pinger.name);
        let flood_prefix = format!("[{}] fff", flooder.name);
        let flood_done = format!("[{}] flood done", flooder.name);
        let stalled_dropped = format!("* {} dropped: not reading", stalled.name);
        thread::spawn(move || {
            let mut flood_lines = 0;
            let mut dropped = false;
            let (mut pings_done, mut flood_over) = (false, false);
            while !(pings_done && flood_over) {
                let Some(line) = watcher.line() else { break };
                if let Some(n) = line.strip_prefix(&prefix) {
                    let n: usize = n.parse().unwrap();
                    let _ = pings_tx.send((n, Instant::now()));
                    pings_done = n == usize::MAX / 2;
                } else if line == flood_done {
                    flood_over = true;
                } else if line.starts_with(&flood_prefix) {
                    flood_lines += 1;
                } else if line.starts_with(&stalled_dropped) {
                    dropped = true;
                }
            }
            (flood_lines, dropped)
        })
    };

    // Pings while the flood goes on: each must arrive promptly.
    let mut sent_at = Vec::new();
    let start = Instant::now();
    while !flooding.is_finished() || sent_at.len() < 10 {
        sent_at.push(Instant::now());
        pinger.say(&format!("ping {}", sent_at.len() - 1));
        thread::sleep(Duration::from_millis(20));
    }
    let flood_lines = flooding.join().unwrap();
    let flood_time = start.elapsed();
    let rss_after = server.rss();
    pinger.say(&format!("ping {}", usize::MAX / 2));
    let mut slowest = Duration::ZERO;
    for (i, sent) in sent_at.iter().enumerate() {
        let (n, got) = pings_rx.recv_timeout(IO_TIMEOUT).expect("a ping");
        assert_eq!(n, i, "pings out of order");
        slowest = slowest.max(got.duration_since(*sent));
    }
    let (watched, dropped) = watching.join().unwrap();
    eprintln!(
        "{flood_lines} flood lines in {flood_time:?}, {} pings, slowest {slowest:?}; \
         RSS {} KiB -> {} KiB",
        sent_at.len(),
        rss_before / 1024,
        rss_after / 1024
    );
    assert_eq!(watched, flood_lines, "the watcher missed flood lines");
    assert!(dropped, "the stalled member was not dropped");
    assert!(
        slowest < Duration::from_secs(3),
        "a ping took {slowest:?} while a member stalled"
    );
    assert!(
        rss_after < rss_before + 16 * 1024 * 1024,
        "RSS grew from {rss_before} to {rss_after} bytes"
    );

    // The stalled member gets what the kernel held for it, then EOF.
    let mut stalled = stalled;
    stalled.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut held = Vec::new();
    let _ = stalled.reader.read_to_end(&mut held);
    assert!(
        held.len() < FLOOD / 2,
        "the stalled member got {} bytes",
        held.len()
    );
    server.assert_alive();
    flooder.stream.shutdown(Shutdown::Both).unwrap();
    pinger.stream.shutdown(Shutdown::Both).unwrap();
    flooder_drain.join().unwrap();
    pinger_drain.join().unwrap();
    server.assert_alive();
}

#[test]
fn many_members_each_hear_everybody_else() {
    const MEMBERS: usize = 100;
    let mut server = Server::start(&[]);
    let mut members: Vec<Member> = (0..MEMBERS).map(|_| server.join()).collect();
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), MEMBERS, "names are not unique");
    for member in &mut members {
        let text = format!("hello from {}", member.name);
        member.say(&text);
    }
    let start = Instant::now();
    thread::scope(|scope| {
        for member in &mut members {
            let names = &names;
            scope.spawn(move || {
                let mut want: BTreeSet<String> = names
                    .iter()
                    .filter(|&n| *n != member.name)
                    .map(|n| format!("[{n}] hello from {n}"))
                    .collect();
                while !want.is_empty() {
                    let got = member.message();
                    assert!(want.remove(&got), "{}: unexpected {got:?}", member.name);
                }
            });
        }
    });
    eprintln!(
        "{MEMBERS} members heard {} messages in {:?}",
        MEMBERS * (MEMBERS - 1),
        start.elapsed()
    );
    server.assert_alive();
}

#[test]
fn bad_arguments_exit_with_status_2() {
    for (args, culprit) in [
        (&["--max-line", "0"][..], "'0' for '--max-line"),
        (&["--max-line=0"], "'0' for '--max-line"),
        (&["--max-line", "lots"], "'lots' for '--max-line"),
        (&["--max-passes"], "'--max-passes"),
        (&["--bogus"], "'--bogus'"),
    ] {
        let done = process::run_to_end(&binary(), args, Duration::from_secs(30));
        process::assert_bad_command_line(&done, args, culprit);
    }
    let out = Command::new(binary())
        .args(["--addr", "127.0.0.1:0", "--max-passes", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run chat_server");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("chat_server: listening on 127.0.0.1:")
    );
}

#[test]
fn on_sigterm_every_member_gets_a_closing_line_and_the_server_exits_0() {
    let mut server = Server::start(&[]);
    // `join` returns once the member's welcome arrived: all are in.
    let mut members: Vec<Member> = (0..3).map(|_| server.join()).collect();
    let killed = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -TERM {}", server.0.pid()))
        .status()
        .unwrap();
    assert!(killed.success());
    for member in &mut members {
        let lines = member.lines_to_end();
        assert!(
            lines.iter().any(|l| l == "* the server is shutting down"),
            "{}: {lines:?}",
            member.name
        );
    }
    drop(members);
    let status = server.0.wait_exit(std::time::Duration::from_secs(5));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        server.0.stderr()
    );
    let stderr = server
        .0
        .stderr_with("chat_server: shut down:", std::time::Duration::from_secs(5));
    assert!(stderr.contains("chat_server: shut down:"), "{stderr}");
}
