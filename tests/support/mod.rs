//! Helpers shared by the regression, loop-semantics, EMFILE and
//! datagram/pipe tests: temp dirs, socket pairs, a hook log, and bounded
//! "run one pass at a time until ..." loops.
//!
//! Every loop here is bounded by a pass count or a deadline and panics with
//! a clear message when the condition is not reached.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncore::{Exit, Map, RunOptions};

/// How long a bounded wait may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);

/// The wait of one pass in the bounded loops.
pub(crate) const PASS: Duration = Duration::from_millis(20);

/// A unique temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    #[track_caller]
    pub(crate) fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "asyncore-{tag}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).expect("create temp dir");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory (for a Unix socket).
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A shared, ordered log of `(channel, hook)` entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Log(Rc<RefCell<Vec<(String, String)>>>);

impl Log {
    pub(crate) fn new() -> Log {
        Log::default()
    }

    pub(crate) fn push(&self, who: &str, hook: &str) {
        self.0.borrow_mut().push((who.to_owned(), hook.to_owned()));
    }

    /// Every entry, in order.
    pub(crate) fn entries(&self) -> Vec<(String, String)> {
        self.0.borrow().clone()
    }

    /// The hooks of channel `who`, in order.
    pub(crate) fn hooks(&self, who: &str) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter(|(w, _)| w == who)
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// How many times channel `who` got `hook`.
    pub(crate) fn count(&self, who: &str, hook: &str) -> usize {
        self.0
            .borrow()
            .iter()
            .filter(|(w, h)| w == who && h == hook)
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Panics unless channel `who` got exactly one `handle_close` and no
    /// hook at all after it.
    #[track_caller]
    pub(crate) fn assert_closed_once_and_silent_after(&self, who: &str) {
        let hooks = self.hooks(who);
        let closes = hooks.iter().filter(|h| *h == "handle_close").count();
        assert_eq!(closes, 1, "{who}: handle_close count; hooks: {hooks:?}");
        assert_eq!(
            hooks.last().map(String::as_str),
            Some("handle_close"),
            "{who}: a hook ran after handle_close; hooks: {hooks:?}"
        );
    }
}

/// One pass of `map`'s loop with the given wait.
#[track_caller]
pub(crate) fn one_pass(map: &Map, timeout: Duration) -> Exit {
    map.run(&RunOptions::new().timeout(timeout).count(1))
        .expect("run one pass")
}

/// Runs `map` one pass at a time (each waiting up to [`PASS`]) until
/// `done()` holds; panics after [`DEADLINE`], or if the map empties first.
/// Returns the number of passes.
#[track_caller]
pub(crate) fn run_until(map: &Map, what: &str, done: impl FnMut() -> bool) -> usize {
    run_until_with(map, what, PASS, DEADLINE, done)
}

/// Like [`run_until`] with an explicit pass wait and deadline.
#[track_caller]
pub(crate) fn run_until_with(
    map: &Map,
    what: &str,
    pass: Duration,
    deadline: Duration,
    mut done: impl FnMut() -> bool,
) -> usize {
    let end = Instant::now() + deadline;
    let mut passes = 0;
    loop {
        if done() {
            return passes;
        }
        if Instant::now() >= end {
            panic!("timed out after {deadline:?} ({passes} passes) waiting for: {what}");
        }
        if map.is_empty() {
            panic!("the map emptied ({passes} passes) before: {what}");
        }
        one_pass(map, pass);
        passes += 1;
    }
}

/// Runs `map` one pass at a time until `step()` returns `true`; `step` runs
/// before each pass (to drive a std peer) and says whether the goal is
/// reached. Bounded like [`run_until`].
#[track_caller]
pub(crate) fn run_until_driving(map: &Map, what: &str, mut step: impl FnMut() -> bool) -> usize {
    let end = Instant::now() + DEADLINE;
    let mut passes = 0;
    loop {
        if step() {
            return passes;
        }
        if Instant::now() >= end {
            panic!("timed out after {DEADLINE:?} ({passes} passes) waiting for: {what}");
        }
        if map.is_empty() {
            panic!("the map emptied ({passes} passes) before: {what}");
        }
        one_pass(map, PASS);
        passes += 1;
    }
}

/// A connected pair of blocking std TCP streams on 127.0.0.1 (client,
/// server side).
#[track_caller]
pub(crate) fn tcp_pair() -> (TcpStream, TcpStream) {
    tcp_pair_on("127.0.0.1:0")
}

/// A connected pair of blocking std TCP streams on `bind` (an ephemeral
/// address such as `127.0.0.1:0` or `[::1]:0`).
#[track_caller]
pub(crate) fn tcp_pair_on(bind: &str) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(bind).expect("bind helper listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// An address nobody listens on: a port that was just free.
#[track_caller]
pub(crate) fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Blocks (up to [`DEADLINE`]) until `stream` has data to read, without
/// consuming it.
#[track_caller]
pub(crate) fn wait_tcp_readable(stream: &TcpStream) {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut b = [0u8; 1];
    let n = stream.peek(&mut b).expect("peek: data never arrived");
    assert_eq!(n, 1, "peek saw end of file, expected data");
    stream.set_read_timeout(None).unwrap();
}

/// Reads what a non-blocking std stream has, appending to `into`; returns
/// `true` at end of file.
pub(crate) fn drain_nonblocking(stream: &mut impl Read, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read from peer: {e}"),
        }
    }
}

/// Writes as much of `data[*off..]` as a non-blocking std stream takes.
pub(crate) fn write_nonblocking(stream: &mut impl Write, data: &[u8], off: &mut usize) {
    while *off < data.len() {
        match stream.write(&data[*off..]) {
            Ok(n) => *off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("write to peer: {e}"),
        }
    }
}

/// Deterministic test payload of `len` bytes.
pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Closes the write side of a std stream, ignoring "not connected".
pub(crate) fn shutdown_write(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
}

/// A dispatcher with every default.
#[derive(Debug)]
pub(crate) struct Inert;

impl asyncore::Dispatcher for Inert {}
