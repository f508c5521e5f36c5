//! Helpers shared by the integration tests: bounded loop runs, shared logs
//! for dispatchers, temporary directories, socket pairs and families,
//! blocking and non-blocking std peers, and test payloads.
//!
//! Every helper that can wait is bounded: loops run one pass at a time up to
//! a deadline, helper threads read with a timeout. Nothing sleeps to
//! synchronise. Helpers that can fail panic with a message pointing at the
//! calling test (`#[track_caller]`).

// Each test binary (`tests/*.rs`) compiles this module on its own and uses
// only a subset of it, so every binary would warn about the rest.
#![allow(dead_code)]

pub(crate) mod async_util;
pub(crate) mod process;
#[cfg(feature = "tls")]
pub(crate) mod tls;

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncore::{Address, Exit, Map, RunOptions, Socket};
use socket2::SockRef;

/// How long a bounded wait may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);

/// The wait of one pass in [`run_until`] and [`run_passes`].
pub(crate) const PASS: Duration = Duration::from_millis(10);

/// Read timeout of blocking helper peers, so a broken test fails instead of
/// hanging.
pub(crate) const PEER_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Running the loop
// ---------------------------------------------------------------------------

/// Runs one pass of `map`'s loop that waits up to `timeout`.
#[track_caller]
pub(crate) fn one_pass(map: &Map, timeout: Duration) -> Exit {
    map.run(&RunOptions::new().timeout(timeout).count(1))
        .unwrap_or_else(|e| panic!("run of one pass failed: {e}"))
}

/// Runs exactly `count` passes (fewer if the map empties or the loop is
/// stopped) of at most [`PASS`] each, returning why the loop ended.
#[track_caller]
pub(crate) fn run_passes(map: &Map, count: u64) -> Exit {
    map.run(&RunOptions::new().timeout(PASS).count(count))
        .unwrap_or_else(|e| panic!("run of {count} passes failed: {e}"))
}

/// Runs `map` one pass at a time (each waiting up to [`PASS`]) until
/// `done()` holds; panics after [`DEADLINE`], or if the map empties first.
/// `done` runs before each pass, so it may also drive a std peer.
#[track_caller]
pub(crate) fn run_until(map: &Map, what: &str, done: impl FnMut() -> bool) {
    run_until_within(map, what, DEADLINE, done);
}

/// Like [`run_until`], with `limit` instead of [`DEADLINE`].
#[track_caller]
pub(crate) fn run_until_within(
    map: &Map,
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    let mut passes = 0;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} ({passes} passes, {} channels left in the map) \
             waiting for: {what}",
            map.len()
        );
        assert!(
            !map.is_empty(),
            "the map emptied ({passes} passes) before: {what}"
        );
        map.run(&RunOptions::new().timeout(PASS).count(1))
            .unwrap_or_else(|e| panic!("run failed while waiting for {what}: {e}"));
        passes += 1;
    }
}

/// Runs until the map is empty, bounded by [`DEADLINE`].
#[track_caller]
pub(crate) fn run_until_empty(map: &Map, what: &str) {
    run_until(map, what, || map.is_empty());
}

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

/// An ordered log of what happened, shared between a test and its
/// dispatchers (the map is single-threaded, so `Rc<RefCell<..>>` is enough).
/// Use it as an [`EventLog`] or a [`HookLog`].
pub(crate) struct Log<E>(Rc<RefCell<Vec<E>>>);

/// A log of plain events, such as `"client: handle_read"` or `"sent 5"`.
pub(crate) type EventLog = Log<String>;

/// A log of `(channel, hook)` entries.
pub(crate) type HookLog = Log<(String, String)>;

impl<E: Clone> Log<E> {
    pub(crate) fn new() -> Log<E> {
        Log(Rc::default())
    }

    /// Every entry so far, in order.
    pub(crate) fn entries(&self) -> Vec<E> {
        self.0.borrow().clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.borrow().len()
    }

    fn count_where(&self, f: impl Fn(&E) -> bool) -> usize {
        self.0.borrow().iter().filter(|e| f(e)).count()
    }
}

impl<E> Clone for Log<E> {
    fn clone(&self) -> Log<E> {
        Log(Rc::clone(&self.0))
    }
}

impl<E: fmt::Debug> fmt::Debug for Log<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.borrow().iter()).finish()
    }
}

impl EventLog {
    /// Records one event.
    pub(crate) fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// How many events equal `event`.
    pub(crate) fn count(&self, event: &str) -> usize {
        self.count_where(|e| e == event)
    }

    /// Whether some event equals `event`.
    pub(crate) fn contains(&self, event: &str) -> bool {
        self.count(event) > 0
    }

    /// The events that start with `prefix`.
    pub(crate) fn starting_with(&self, prefix: &str) -> Vec<String> {
        let events = self.0.borrow();
        events
            .iter()
            .filter(|e| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The position of the first event equal to `event`.
    pub(crate) fn position(&self, event: &str) -> Option<usize> {
        self.0.borrow().iter().position(|e| e == event)
    }
}

impl HookLog {
    /// Records that channel `who` got `hook`.
    pub(crate) fn push(&self, who: &str, hook: &str) {
        self.0.borrow_mut().push((who.to_owned(), hook.to_owned()));
    }

    /// The hooks of channel `who`, in order.
    pub(crate) fn hooks(&self, who: &str) -> Vec<String> {
        let entries = self.0.borrow();
        entries
            .iter()
            .filter(|(w, _)| w == who)
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// How many times channel `who` got `hook`.
    pub(crate) fn count(&self, who: &str, hook: &str) -> usize {
        self.count_where(|(w, h)| w == who && h == hook)
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

// ---------------------------------------------------------------------------
// Data and files
// ---------------------------------------------------------------------------

/// Deterministic test payload of `len` bytes, with a long period so that
/// lost, repeated or misordered chunks show.
pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A fresh directory under `std::env::temp_dir()` (for Unix socket paths),
/// removed with its contents on drop.
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
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    /// A path inside the directory.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `flags:` field of `/proc/self/fdinfo/<fd>` (octal open flags).
#[track_caller]
pub(crate) fn fd_flags(fd: std::os::fd::RawFd) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .unwrap_or_else(|e| panic!("cannot read fdinfo of fd {fd}: {e}"));
    let field = info
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .unwrap_or_else(|| panic!("no flags line in fdinfo of fd {fd}: {info}"));
    u32::from_str_radix(field.trim(), 8).expect("octal flags")
}

/// `O_NONBLOCK` and `O_CLOEXEC` as they appear in fdinfo (octal 04000 and
/// 02000000 on Linux).
pub(crate) const O_NONBLOCK: u32 = 0o4000;
pub(crate) const O_CLOEXEC: u32 = 0o2000000;

// ---------------------------------------------------------------------------
// Socket pairs and std peers
// ---------------------------------------------------------------------------

/// A connected pair of blocking std TCP streams on 127.0.0.1: (client,
/// server side).
#[track_caller]
pub(crate) fn std_tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind helper listener");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// A connected TCP pair on 127.0.0.1: the server side as an asyncore
/// socket, the client side as a blocking std stream with [`PEER_TIMEOUT`].
#[track_caller]
pub(crate) fn tcp_pair() -> (Socket, TcpStream) {
    let (peer, ours) = std_tcp_pair();
    peer.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    (
        Socket::from_tcp_stream(ours).expect("from_tcp_stream"),
        peer,
    )
}

/// A connected Unix stream pair: one end as an asyncore socket, the other
/// as a blocking std stream with [`PEER_TIMEOUT`].
#[track_caller]
pub(crate) fn unix_pair() -> (Socket, UnixStream) {
    let (ours, peer) = UnixStream::pair().expect("socketpair");
    peer.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    (
        Socket::from_unix_stream(ours).expect("from_unix_stream"),
        peer,
    )
}

/// An address nobody listens on: a port that was just free.
#[track_caller]
pub(crate) fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Makes a std TCP stream reset its connection when dropped (SO_LINGER 0).
#[track_caller]
pub(crate) fn linger_zero(stream: &TcpStream) {
    SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
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
#[track_caller]
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
#[track_caller]
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

/// A dispatcher with every default.
#[derive(Debug)]
pub(crate) struct Inert;

impl asyncore::Dispatcher for Inert {}

// ---------------------------------------------------------------------------
// Socket families
// ---------------------------------------------------------------------------

/// A socket family a test runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Ipv4,
    Ipv6,
    Unix,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
            Family::Unix => "Unix",
        })
    }
}

/// Whether this machine can bind `[::1]:0`.
pub(crate) fn ipv6_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| TcpListener::bind("[::1]:0").is_ok())
}

impl Family {
    /// The family a test-function suffix names (`ipv4`, `ipv6`, `unix`).
    #[track_caller]
    pub(crate) fn named(name: &str) -> Family {
        match name {
            "ipv4" => Family::Ipv4,
            "ipv6" => Family::Ipv6,
            "unix" => Family::Unix,
            other => panic!("unknown family {other}"),
        }
    }

    /// Whether the family can be used here (IPv6 may be missing).
    pub(crate) fn available(self) -> bool {
        match self {
            Family::Ipv6 => ipv6_available(),
            Family::Ipv4 | Family::Unix => true,
        }
    }

    pub(crate) fn is_inet(self) -> bool {
        self != Family::Unix
    }

    /// The loopback address with port 0, for internet families.
    #[track_caller]
    pub(crate) fn loopback(self) -> SocketAddr {
        match self {
            Family::Ipv4 => "127.0.0.1:0".parse().unwrap(),
            Family::Ipv6 => "[::1]:0".parse().unwrap(),
            Family::Unix => panic!("no loopback address for Unix sockets"),
        }
    }

    /// Creates an asyncore listener on an ephemeral port (or a fresh path)
    /// and returns it with the endpoint clients connect to.
    #[track_caller]
    pub(crate) fn listen(self) -> (Socket, Endpoint) {
        match self {
            Family::Ipv4 | Family::Ipv6 => {
                let socket = Socket::tcp_listen(self.loopback()).expect("tcp_listen");
                let addr = socket.local_addr().expect("local_addr");
                assert_ne!(addr.as_inet().unwrap().port(), 0, "ephemeral port");
                (socket, Endpoint { addr, dir: None })
            }
            Family::Unix => {
                let dir = TempDir::new("sock");
                let path = dir.join("listener.sock");
                let socket = Socket::unix_listen(&path).expect("unix_listen");
                (
                    socket,
                    Endpoint {
                        addr: Address::from(path.as_path()),
                        dir: Some(dir),
                    },
                )
            }
        }
    }

    /// Creates a blocking std listener and returns it with its endpoint.
    #[track_caller]
    pub(crate) fn std_listen(self) -> (StdListener, Endpoint) {
        match self {
            Family::Ipv4 | Family::Ipv6 => {
                let listener = TcpListener::bind(self.loopback()).expect("bind");
                let addr = Address::from(listener.local_addr().unwrap());
                (StdListener::Tcp(listener), Endpoint { addr, dir: None })
            }
            Family::Unix => {
                let dir = TempDir::new("sock");
                let path = dir.join("std-listener.sock");
                let listener = UnixListener::bind(&path).expect("bind unix");
                (
                    StdListener::Unix(listener),
                    Endpoint {
                        addr: Address::from(path.as_path()),
                        dir: Some(dir),
                    },
                )
            }
        }
    }
}

/// Runs `test` for `family`, or prints a note and returns if the family is
/// unavailable on this machine.
pub(crate) fn run_for(case: &str, family: Family, test: fn(Family)) {
    if !family.available() {
        println!("note: skipping {case} for {family}: cannot bind [::1]:0 on this machine");
        return;
    }
    test(family);
}

/// Where a listener can be reached; keeps a Unix socket's directory alive.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: Address,
    dir: Option<TempDir>,
}

impl Endpoint {
    /// Starts a non-blocking asyncore connect to the endpoint.
    #[track_caller]
    pub(crate) fn connect(&self) -> Socket {
        match &self.addr {
            Address::Inet(addr) => Socket::tcp_connect(*addr).expect("tcp_connect"),
            Address::Unix(Some(path)) => Socket::unix_connect(path).expect("unix_connect"),
            other => panic!("cannot connect to {other}"),
        }
    }

    #[track_caller]
    pub(crate) fn inet(&self) -> SocketAddr {
        self.addr.as_inet().expect("an internet endpoint")
    }
}

/// A blocking listener of either family, for helper threads.
#[derive(Debug)]
pub(crate) enum StdListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl StdListener {
    /// Accepts one connection, with [`PEER_TIMEOUT`] as its read timeout.
    #[track_caller]
    pub(crate) fn accept(&self) -> StdStream {
        let stream = match self {
            StdListener::Tcp(l) => StdStream::Tcp(l.accept().expect("accept").0),
            StdListener::Unix(l) => StdStream::Unix(l.accept().expect("accept").0),
        };
        stream.set_read_timeout(Some(PEER_TIMEOUT));
        stream
    }
}

/// A blocking stream of either family.
#[derive(Debug)]
pub(crate) enum StdStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl StdStream {
    #[track_caller]
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) {
        match self {
            StdStream::Tcp(s) => s.set_read_timeout(timeout),
            StdStream::Unix(s) => s.set_read_timeout(timeout),
        }
        .expect("set_read_timeout");
    }

    /// Reads until end of file; panics on a read error or timeout.
    #[track_caller]
    pub(crate) fn read_to_eof(&mut self) -> Vec<u8> {
        let mut data = Vec::new();
        self.read_to_end(&mut data)
            .unwrap_or_else(|e| panic!("peer read failed after {} bytes: {e}", data.len()));
        data
    }
}

impl Read for StdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StdStream::Tcp(s) => s.read(buf),
            StdStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for StdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdStream::Tcp(s) => s.write(buf),
            StdStream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
