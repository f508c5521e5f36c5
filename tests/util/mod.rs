//! Shared helpers for the integration tests: socket families, temporary
//! directories for Unix socket paths, blocking peers for helper threads, a
//! bounded `run_until`, and a shared event log for dispatchers.
//!
//! Every helper that can wait is bounded: loops run one pass at a time up to
//! a deadline, helper threads read with a timeout. Nothing sleeps to
//! synchronise.

// Each test binary that includes this module uses only part of it, and its
// items are `pub` for the including test crate, which exports nothing.
#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncore::{Address, Exit, Map, RunOptions, Socket};

/// How long `run_until` waits before it gives up.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// The wait of one pass in `run_until` and `run_passes`.
pub const PASS_TIMEOUT: Duration = Duration::from_millis(10);

/// Read timeout of blocking helper peers, so a broken test fails instead of
/// hanging.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one pass at a time until `cond` holds; panics with `what` once
/// [`DEADLINE`] has passed.
#[track_caller]
pub fn run_until(map: &Map, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        if Instant::now() >= deadline {
            panic!(
                "timed out after {DEADLINE:?} waiting for {what} ({} channels left in the map)",
                map.len()
            );
        }
        map.run(&RunOptions::new().timeout(PASS_TIMEOUT).count(1))
            .unwrap_or_else(|e| panic!("run failed while waiting for {what}: {e}"));
    }
}

/// Runs until the map is empty, bounded by [`DEADLINE`].
#[track_caller]
pub fn run_until_empty(map: &Map, what: &str) {
    run_until(map, what, || map.is_empty());
}

/// Runs exactly `count` passes (fewer if the map empties or the loop is
/// stopped) of at most [`PASS_TIMEOUT`] each, returning why the loop ended.
#[track_caller]
pub fn run_passes(map: &Map, count: u64) -> Exit {
    map.run(&RunOptions::new().timeout(PASS_TIMEOUT).count(count))
        .unwrap_or_else(|e| panic!("run failed: {e}"))
}

/// A log of what happened, shared between the test and its dispatchers
/// (the map is single-threaded, so `Rc<RefCell<..>>` is enough).
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    /// Records one event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// Returns a copy of every event so far.
    pub fn events(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// Returns how many events equal `event`.
    pub fn count(&self, event: &str) -> usize {
        self.0.borrow().iter().filter(|e| *e == event).count()
    }

    /// Returns `true` if some event equals `event`.
    pub fn contains(&self, event: &str) -> bool {
        self.count(event) > 0
    }

    /// Returns the events that start with `prefix`.
    pub fn starting_with(&self, prefix: &str) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Returns the position of the first event equal to `event`.
    pub fn position(&self, event: &str) -> Option<usize> {
        self.0.borrow().iter().position(|e| e == event)
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.borrow().iter()).finish()
    }
}

/// A fresh directory under `std::env::temp_dir()`, named after the process
/// id and a counter, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("asyncore-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A socket family the smoke tests run for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
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
pub fn ipv6_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| TcpListener::bind("[::1]:0").is_ok())
}

impl Family {
    /// The family a test-function suffix names (`ipv4`, `ipv6`, `unix`).
    pub fn named(name: &str) -> Family {
        match name {
            "ipv4" => Family::Ipv4,
            "ipv6" => Family::Ipv6,
            "unix" => Family::Unix,
            other => panic!("unknown family {other}"),
        }
    }

    /// Whether the family can be used here (IPv6 may be missing).
    pub fn available(self) -> bool {
        match self {
            Family::Ipv6 => ipv6_available(),
            Family::Ipv4 | Family::Unix => true,
        }
    }

    pub fn is_inet(self) -> bool {
        self != Family::Unix
    }

    /// The loopback address with port 0, for internet families.
    pub fn loopback(self) -> SocketAddr {
        match self {
            Family::Ipv4 => "127.0.0.1:0".parse().unwrap(),
            Family::Ipv6 => "[::1]:0".parse().unwrap(),
            Family::Unix => panic!("no loopback address for Unix sockets"),
        }
    }

    /// Creates an asyncore listener on an ephemeral port (or a fresh path)
    /// and returns it with the endpoint clients connect to.
    pub fn listen(self) -> (Socket, Endpoint) {
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
    pub fn std_listen(self) -> (StdListener, Endpoint) {
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
pub fn run_for(case: &str, family: Family, test: fn(Family)) {
    if !family.available() {
        println!("note: skipping {case} for {family}: cannot bind [::1]:0 on this machine");
        return;
    }
    test(family);
}

/// Where a listener can be reached; keeps a Unix socket's directory alive.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: Address,
    dir: Option<TempDir>,
}

impl Endpoint {
    /// Starts a non-blocking asyncore connect to the endpoint.
    pub fn connect(&self) -> Socket {
        match &self.addr {
            Address::Inet(addr) => Socket::tcp_connect(*addr).expect("tcp_connect"),
            Address::Unix(Some(path)) => Socket::unix_connect(path).expect("unix_connect"),
            other => panic!("cannot connect to {other}"),
        }
    }

    /// Connects a blocking std stream to the endpoint (the listener's
    /// backlog takes it without the loop running).
    pub fn connect_std(&self) -> StdStream {
        let stream = match &self.addr {
            Address::Inet(addr) => StdStream::Tcp(TcpStream::connect(addr).expect("connect")),
            Address::Unix(Some(path)) => {
                StdStream::Unix(UnixStream::connect(path).expect("connect unix"))
            }
            other => panic!("cannot connect to {other}"),
        };
        stream.set_read_timeout(Some(PEER_TIMEOUT));
        stream
    }

    pub fn inet(&self) -> SocketAddr {
        self.addr.as_inet().expect("an internet endpoint")
    }
}

/// A blocking listener of either family, for helper threads.
#[derive(Debug)]
pub enum StdListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl StdListener {
    /// Accepts one connection, with [`PEER_TIMEOUT`] as its read timeout.
    pub fn accept(&self) -> StdStream {
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
pub enum StdStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl StdStream {
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        match self {
            StdStream::Tcp(s) => s.set_read_timeout(timeout),
            StdStream::Unix(s) => s.set_read_timeout(timeout),
        }
        .expect("set_read_timeout");
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            StdStream::Tcp(s) => s.shutdown(how),
            StdStream::Unix(s) => s.shutdown(how),
        }
    }

    /// Reads until end of file; panics on a read error or timeout.
    #[track_caller]
    pub fn read_to_eof(&mut self) -> Vec<u8> {
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

/// A connected TCP pair on 127.0.0.1: one end as an asyncore socket, the
/// other as a blocking std stream with a read timeout.
pub fn tcp_pair() -> (Socket, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let peer = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (ours, _) = listener.accept().expect("accept");
    peer.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    (
        Socket::from_tcp_stream(ours).expect("from_tcp_stream"),
        peer,
    )
}

/// A connected Unix stream pair: one end as an asyncore socket, the other
/// as a blocking std stream with a read timeout.
pub fn unix_pair() -> (Socket, UnixStream) {
    let (ours, peer) = UnixStream::pair().expect("socketpair");
    peer.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    (
        Socket::from_unix_stream(ours).expect("from_unix_stream"),
        peer,
    )
}

/// The `flags:` field of `/proc/self/fdinfo/<fd>` (octal open flags).
pub fn fd_flags(fd: std::os::fd::RawFd) -> u32 {
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
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_CLOEXEC: u32 = 0o2000000;

/// Returns a pattern of `len` bytes that makes misordered or lost data
/// visible.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}
