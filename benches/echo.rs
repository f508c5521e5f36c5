//! Echo server benchmark (issue 5): our loop in callback style, async style
//! and as a chat channel (line echo), against tokio's current-thread runtime
//! and async-io + async-executor, each server on one thread of its own.
//!
//! A load generator of our own (one thread, `polling` in level mode over
//! non-blocking std sockets) drives N connections with D messages of S bytes
//! in flight each, verifies every echoed byte, and reports round trips per
//! second, p50/p99 latency and the server thread's CPU time per round trip
//! (from the thread's CPU clock, `pthread_getcpuclockid`). Server and load
//! generator are pinned to different cores when there are two or more.
//!
//! ```text
//! cargo bench --bench echo              # full run, a few minutes
//! cargo bench --bench echo -- --smoke   # every server and scenario, briefly
//! ```
//!
//! Options: `--smoke`, `--rounds N`, `--secs X` (measured seconds per run),
//! `--only A,B,...` (scenarios; `E` is the memory scenario), `--one-core`
//! (server and load generator share one CPU), `--verbose`
//! (prints each run's round trips including the warm-up on stderr, to divide
//! system call counts by: server threads are named after their server, so
//! `perf stat --per-thread -e raw_syscalls:sys_enter` attributes them).
//!
//! Scenario E (resident memory per idle connection) runs each server in a
//! child process (this binary with `--memory-child NAME`), so allocator state
//! left by one server cannot flatter the next: the parent opens the idle
//! connections, the child reports its VmRSS before and after.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    OursCallback,
    Tokio,
    OursAsync,
    Smol,
    OursChat,
}

/// The order servers run in within a round (alternating, so drift on a noisy
/// machine does not favour one).
const SERVERS: [Server; 5] = [
    Server::OursCallback,
    Server::Tokio,
    Server::OursAsync,
    Server::Smol,
    Server::OursChat,
];

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::OursCallback => "ours-callback",
            Server::Tokio => "tokio-current",
            Server::OursAsync => "ours-async",
            Server::Smol => "async-io+exec",
            Server::OursChat => "ours-chat",
        }
    }

    fn from_name(name: &str) -> Option<Server> {
        SERVERS.iter().copied().find(|s| s.name() == name)
    }
}

/// What a server thread shares with the harness.
#[derive(Default)]
struct Shared {
    /// Set before the wake-up connection: the accept loop then stops.
    stop: AtomicBool,
    /// Connections accepted so far.
    accepted: AtomicUsize,
}

/// A running server thread.
struct ServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    clock: libc::clockid_t,
}

impl ServerHandle {
    /// The server thread's CPU time so far.
    fn cpu(&self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; the clock belongs to a thread
        // that is still running (it is joined only in `stop`).
        let rc = unsafe { libc::clock_gettime(self.clock, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime on the server thread's clock");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    fn wait_accepted(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.shared.accepted.load(Ordering::Acquire) < n {
            assert!(
                Instant::now() < deadline,
                "server accepted only {} of {n} connections",
                self.shared.accepted.load(Ordering::Acquire)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wakes the accept loop, which sees the flag and returns.
        let _ = StdStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
    }
}

fn listener() -> std::net::TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(4096).unwrap();
    s.set_nonblocking(true).unwrap();
    s.into()
}

/// Pins the calling thread to one CPU. (No check of the CPU count here:
/// `available_parallelism` follows the affinity mask, so a thread spawned by
/// an already pinned one would see 1.)
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn ncpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn start_server(kind: Server, pin: Option<usize>) -> ServerHandle {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let shared = Arc::new(Shared::default());
    let sh = shared.clone();
    let thread = std::thread::Builder::new()
        .name(kind.name().into())
        .spawn(move || {
            if let Some(cpu) = pin {
                pin_to(cpu);
            }
            match kind {
                Server::OursCallback | Server::OursChat => ours::callback(l, sh, kind),
                Server::OursAsync => ours::run_async(l, sh),
                Server::Tokio => tokio_srv::run(l, sh),
                Server::Smol => smol_srv::run(l, sh),
            }
        })
        .unwrap();
    let mut clock: libc::clockid_t = 0;
    {
        use std::os::unix::thread::JoinHandleExt;
        // SAFETY: the pthread_t belongs to a live, not yet joined thread and
        // `clock` is a valid out-pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(thread.as_pthread_t(), &mut clock) };
        assert_eq!(rc, 0, "pthread_getcpuclockid");
    }
    ServerHandle {
        addr,
        shared,
        thread: Some(thread),
        clock,
    }
}

mod ours {
    use super::*;
    use asyncore::chat::{Chat, ChatChannel, ChatCtx};
    use asyncore::{
        Address, Ctx, Dispatcher, Error, Map, RemoteHandle, Result, RunOptions, Socket,
        TcpListener, TcpStream,
    };
    use futures::io::AsyncWriteExt;

    struct Listener {
        shared: Arc<Shared>,
        chat: bool,
    }

    impl Dispatcher for Listener {
        fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
            if self.shared.stop.load(Ordering::Acquire) {
                cx.map().stop();
                return Ok(());
            }
            let _ = socket.set_nodelay(true);
            let added = if self.chat {
                let ch = ChatChannel::new(LineEcho { line: Vec::new() }).with_terminator("\n");
                cx.add(socket, ch)
            } else {
                cx.add(socket, Echo)
            };
            added.expect("adding a connection");
            self.shared.accepted.fetch_add(1, Ordering::Release);
            Ok(())
        }
    }

    /// The echo of examples/echo_server.rs: a stack buffer, then `push`.
    struct Echo;

    impl Dispatcher for Echo {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 16 * 1024];
            let n = cx.recv(&mut buf)?;
            cx.push(&buf[..n])
        }

        fn handle_error(&mut self, cx: &mut Ctx<'_>, _: Error) {
            cx.close();
        }
    }

    /// A line echo on the asynchat layer: each line comes back with its
    /// newline.
    struct LineEcho {
        line: Vec<u8>,
    }

    impl Chat for LineEcho {
        fn collect_incoming_data(&mut self, _: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
            self.line.extend_from_slice(data);
            Ok(())
        }

        fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
            self.line.push(b'\n');
            let r = cx.push(&self.line);
            self.line.clear();
            r
        }

        fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, _: Error) {
            cx.close();
        }
    }

    pub(super) fn callback(l: std::net::TcpListener, shared: Arc<Shared>, kind: Server) {
        let map = Map::new().unwrap();
        let sock = Socket::from_tcp_listener(l).unwrap();
        let chat = kind == Server::OursChat;
        map.add(sock, Listener { shared, chat }).unwrap();
        let _ = map.run(&RunOptions::new());
    }

    pub(super) fn run_async(l: std::net::TcpListener, shared: Arc<Shared>) {
        let map = Map::new().unwrap();
        let sock = Socket::from_tcp_listener(l).unwrap();
        let listener = TcpListener::from_socket(&map, sock).unwrap();
        let remote = map.remote();
        drop(map.spawn(accept_loop(listener, remote, shared)));
        let _ = map.run(&RunOptions::new());
    }

    async fn accept_loop(listener: TcpListener, remote: RemoteHandle, shared: Arc<Shared>) {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                if shared.stop.load(Ordering::Acquire) {
                    remote.stop();
                    return;
                }
                let _ = stream.set_nodelay(true);
                drop(asyncore::spawn(echo(stream)).expect("spawn"));
                shared.accepted.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// The async echo of examples/echo_server.rs: `readable()`, then
    /// `try_read` into a stack buffer and `try_write` back.
    async fn echo(mut stream: TcpStream) {
        loop {
            if stream.readable().await.is_err() {
                return;
            }
            let unsent = {
                let mut buf = [0u8; 16 * 1024];
                match stream.try_read(&mut buf) {
                    Ok(0) => None,
                    Ok(n) => {
                        let sent = match stream.try_write(&buf[..n]) {
                            Ok(sent) => sent,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                            Err(_) => return,
                        };
                        Some(buf[sent..n].to_vec())
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(Vec::new()),
                    Err(_) => return,
                }
            };
            match unsent {
                None => {
                    let _ = stream.close().await;
                    return;
                }
                Some(u) if !u.is_empty() => {
                    if stream.write_all(&u).await.is_err() {
                        return;
                    }
                }
                Some(_) => {}
            }
        }
    }
}

mod tokio_srv {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub(super) fn run(l: std::net::TcpListener, shared: Arc<Shared>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(l).unwrap();
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    if shared.stop.load(Ordering::Acquire) {
                        return;
                    }
                    let _ = stream.set_nodelay(true);
                    drop(tokio::spawn(echo(stream)));
                    shared.accepted.fetch_add(1, Ordering::Release);
                }
            }
        });
    }

    /// The usual tokio echo: a per-connection buffer, `read`, `write_all`.
    async fn echo(mut stream: tokio::net::TcpStream) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

mod smol_srv {
    use super::*;
    use async_executor::LocalExecutor;
    use async_io::Async;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    pub(super) fn run(l: std::net::TcpListener, shared: Arc<Shared>) {
        let ex = LocalExecutor::new();
        let listener = Async::new(l).unwrap();
        async_io::block_on(ex.run(async {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    if shared.stop.load(Ordering::Acquire) {
                        return;
                    }
                    let _ = stream.get_ref().set_nodelay(true);
                    ex.spawn(echo(stream)).detach();
                    shared.accepted.fetch_add(1, Ordering::Release);
                }
            }
        }));
    }

    /// The usual smol echo: a per-connection buffer, `read`, `write_all`.
    async fn echo(mut stream: Async<StdStream>) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------

/// A load to put on a server.
#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    what: &'static str,
    conns: usize,
    size: usize,
    depth: usize,
    idle: usize,
}

/// One run's figures.
#[derive(Clone, Copy, Default)]
struct Figures {
    rts: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: f64,
    /// The load generator's CPU time per round trip.
    client_us: f64,
    /// Round trips including the warm-up (for counting system calls).
    total: u64,
}

/// One client connection.
struct Conn {
    stream: StdStream,
    /// Bytes of message `seq` other than its 8-digit sequence number.
    template: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    want_write: bool,
    next_seq: u64,
    recv_seq: u64,
    recv_off: usize,
    sent_at: VecDeque<Instant>,
}

fn template(conn: usize, size: usize) -> Vec<u8> {
    assert!(size >= 10, "messages need at least 10 bytes");
    let mut t: Vec<u8> = (0..size)
        .map(|j| b'a' + ((conn * 7 + j) % 26) as u8)
        .collect();
    t[size - 1] = b'\n';
    t
}

fn seq_digit(seq: u64, i: usize) -> u8 {
    b"0123456789abcdef"[((seq >> (4 * (7 - i))) & 0xf) as usize]
}

impl Conn {
    fn queue_message(&mut self, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let start = self.out.len();
        self.out.extend_from_slice(&self.template);
        for i in 0..8 {
            self.out[start + i] = seq_digit(seq, i);
        }
        self.sent_at.push_back(now);
    }

    /// Checks `data`, which continues message `recv_seq` at `recv_off`.
    fn verify(&self, data: &[u8]) {
        let mut off = self.recv_off;
        let mut d = data;
        while off < 8 && !d.is_empty() {
            assert_eq!(d[0], seq_digit(self.recv_seq, off), "echo mismatch");
            off += 1;
            d = &d[1..];
        }
        assert!(
            d == &self.template[off..off + d.len()],
            "echo mismatch in message {}",
            self.recv_seq
        );
    }

    /// Writes what it can; returns whether output is left.
    fn flush(&mut self) -> bool {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) => panic!("client write failed: {e}"),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        false
    }
}

fn connect(addr: SocketAddr) -> StdStream {
    let s = StdStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// Runs one scenario against a running server.
fn drive(server: &ServerHandle, sc: &Scenario, warmup: Duration, secs: Duration) -> Figures {
    // Idle connections first (scenario D): connected, never used.
    let idle: Vec<StdStream> = (0..sc.idle).map(|_| connect(server.addr)).collect();
    let poller = Poller::new().unwrap();
    let mut conns: Vec<Conn> = (0..sc.conns)
        .map(|i| {
            let stream = connect(server.addr);
            stream.set_nonblocking(true).unwrap();
            Conn {
                stream,
                template: template(i, sc.size),
                out: Vec::new(),
                out_pos: 0,
                want_write: false,
                next_seq: 0,
                recv_seq: 0,
                recv_off: 0,
                sent_at: VecDeque::new(),
            }
        })
        .collect();
    server.wait_accepted(sc.idle + sc.conns, Duration::from_secs(30));
    for (i, c) in conns.iter().enumerate() {
        // SAFETY: each stream lives in `conns` until after it is deleted from
        // the poller below.
        unsafe { poller.add_with_mode(&c.stream, Event::readable(i), PollMode::Level) }.unwrap();
    }

    let mut events = Events::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut completed: u64 = 0;
    let mut total: u64 = 0;
    let start = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        for _ in 0..sc.depth {
            c.queue_message(start);
        }
        if c.flush() {
            c.want_write = true;
            poller
                .modify_with_mode(&c.stream, Event::all(i), PollMode::Level)
                .unwrap();
        }
    }
    let warm_end = start + warmup;
    let end = warm_end + secs;
    let mut measuring = false;
    let (mut t0, mut cpu0, mut client0) = (start, Duration::ZERO, Duration::ZERO);
    loop {
        let now = Instant::now();
        if !measuring && now >= warm_end {
            measuring = true;
            t0 = now;
            cpu0 = server.cpu();
            client0 = thread_cpu();
            completed = 0;
            latencies.clear();
        }
        if now >= end {
            break;
        }
        events.clear();
        poller
            .wait(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        let now = Instant::now();
        for ev in events.iter() {
            let i = ev.key;
            let c = &mut conns[i];
            if ev.readable {
                loop {
                    let n = match c.stream.read(&mut buf) {
                        Ok(0) => panic!("{}: server closed a connection", sc.name),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("client read failed: {e}"),
                    };
                    let mut data = &buf[..n];
                    while !data.is_empty() {
                        let m = data.len().min(sc.size - c.recv_off);
                        c.verify(&data[..m]);
                        c.recv_off += m;
                        data = &data[m..];
                        if c.recv_off == sc.size {
                            c.recv_off = 0;
                            c.recv_seq += 1;
                            let sent = c.sent_at.pop_front().expect("an echo nobody sent");
                            total += 1;
                            if measuring {
                                completed += 1;
                                latencies
                                    .push((now - sent).as_nanos().min(u32::MAX as u128) as u32);
                            }
                            c.queue_message(now);
                        }
                    }
                    if n < buf.len() {
                        break;
                    }
                }
            }
            if ev.writable || !c.out.is_empty() {
                let left = c.flush();
                if left != c.want_write {
                    c.want_write = left;
                    let interest = if left {
                        Event::all(i)
                    } else {
                        Event::readable(i)
                    };
                    poller
                        .modify_with_mode(&c.stream, interest, PollMode::Level)
                        .unwrap();
                }
            }
        }
    }
    let elapsed = t0.elapsed();
    let cpu = server.cpu().saturating_sub(cpu0);
    let client = thread_cpu().saturating_sub(client0);
    for c in &conns {
        poller.delete(&c.stream).unwrap();
    }
    drop(conns);
    drop(idle);
    assert!(completed > 0, "{}: no round trip completed", sc.name);
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    Figures {
        rts: completed as f64 / elapsed.as_secs_f64(),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us: cpu.as_secs_f64() * 1e6 / completed as f64,
        client_us: client.as_secs_f64() * 1e6 / completed as f64,
        total,
    }
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// ---------------------------------------------------------------------------
// Scenario E: memory per idle connection, server in a child process
// ---------------------------------------------------------------------------

fn vm_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The child side: starts the server, prints `READY addr rss`, then for each
/// `COUNT n` line on stdin waits for n accepted connections, settles, and
/// prints the RSS in KiB.
fn memory_child(kind: Server) {
    raise_fd_limit();
    let server = start_server(kind, None);
    std::thread::sleep(Duration::from_millis(50));
    println!("READY {} {}", server.addr, vm_rss_kib());
    io::stdout().flush().unwrap();
    for line in io::stdin().lock().lines() {
        let line = line.unwrap();
        let Some(n) = line.strip_prefix("COUNT ") else {
            break;
        };
        server.wait_accepted(n.parse().unwrap(), Duration::from_secs(60));
        // Lets the server poll every new connection (tasks start lazily).
        std::thread::sleep(Duration::from_millis(300));
        println!("RSS {}", vm_rss_kib());
        io::stdout().flush().unwrap();
    }
    std::process::exit(0);
}

/// Bytes of server RSS per idle connection, at `n` connections.
fn memory_run(kind: Server, n: usize) -> f64 {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--memory-child", kind.name()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning the memory child");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace().skip(1);
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let _rss_ready: u64 = parts.next().unwrap().parse().unwrap();
    // A baseline with one connection, so one-off costs of the first
    // connection (task machinery, buffers that grow once) are not counted.
    let first = connect(addr);
    writeln!(stdin, "COUNT 1").unwrap();
    let rss = |out: &mut BufReader<_>| -> u64 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line.trim().strip_prefix("RSS ").unwrap().parse().unwrap()
    };
    let before = rss(&mut out);
    let conns: Vec<StdStream> = (1..n).map(|_| connect(addr)).collect();
    writeln!(stdin, "COUNT {n}").unwrap();
    let after = rss(&mut out);
    drop(stdin);
    let _ = child.wait();
    drop(conns);
    drop(first);
    (after.saturating_sub(before) * 1024) as f64 / (n - 1) as f64
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

// ---------------------------------------------------------------------------
// Main: scenarios, rounds, tables
// ---------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        let kind = Server::from_name(&args[i + 1]).expect("server name");
        memory_child(kind);
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let verbose = args.iter().any(|a| a == "--verbose");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rounds: usize = value("--rounds").map_or(if smoke { 1 } else { 3 }, |v| v.parse().unwrap());
    let secs = Duration::from_secs_f64(
        value("--secs").map_or(if smoke { 0.1 } else { 1.5 }, |v| v.parse().unwrap()),
    );
    let warmup = if smoke {
        Duration::from_millis(20)
    } else {
        Duration::from_millis(300)
    };
    let only = value("--only");
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == name))
    };
    raise_fd_limit();

    let (many, idle, mem_conns) = if smoke {
        (4, 100, 500)
    } else {
        (50, 5000, 10_000)
    };
    let scenarios = [
        Scenario {
            name: "A",
            what: "1 connection, 64-byte ping-pong",
            conns: 1,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "B",
            what: "connections x 64 bytes, 1 in flight each",
            conns: many,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "C",
            what: "connections x 16 KiB, 1 in flight each",
            conns: many,
            size: 16 * 1024,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "D0",
            what: "10 busy connections x 64 bytes, no idle ones (D's baseline)",
            conns: 10,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "D",
            what: "10 busy connections x 64 bytes, plus idle connections",
            conns: 10,
            size: 64,
            depth: 1,
            idle,
        },
    ];
    let two_cores = ncpus() >= 2;
    // `--one-core`: server and load generator share CPU 1 (each round trip
    // is then two context switches on one core, no cross-CPU wake-up).
    let one_core = args.iter().any(|a| a == "--one-core");
    let server_cpu = if one_core { 1 } else { 0 };
    println!(
        "echo bench: {} mode, {rounds} round(s), {secs:?} measured per run, {} cpus{}",
        if smoke { "smoke" } else { "full" },
        ncpus(),
        match (two_cores, one_core) {
            (true, false) => " (server pinned to cpu 0, load generator to cpu 1)",
            (true, true) => " (server and load generator both pinned to cpu 1)",
            _ => "",
        }
    );
    if two_cores {
        pin_to(1);
    }
    let started = Instant::now();
    for sc in scenarios.iter().filter(|s| wanted(s.name)) {
        let mut results: Vec<Vec<Figures>> = vec![Vec::new(); SERVERS.len()];
        for _ in 0..rounds {
            for (k, &kind) in SERVERS.iter().enumerate() {
                let server = start_server(kind, two_cores.then_some(server_cpu));
                let f = drive(&server, sc, warmup, secs);
                server.stop();
                if verbose {
                    eprintln!(
                        "run {} {}: {} round trips in all (warm-up included)",
                        sc.name,
                        kind.name(),
                        f.total
                    );
                }
                results[k].push(f);
            }
        }
        println!(
            "\n{}: {} (N={}, S={}, D={}, idle={}); median of {rounds}",
            sc.name, sc.what, sc.conns, sc.size, sc.depth, sc.idle
        );
        println!(
            "{:<15} {:>11} {:>7} {:>9} {:>9} {:>11} {:>8} {:>10}",
            "server", "rt/s", "x tokio", "p50 us", "p99 us", "cpu us/rt", "x tokio", "client us"
        );
        let med: Vec<Figures> = results
            .iter()
            .map(|r| Figures {
                rts: median(r.iter().map(|f| f.rts).collect()),
                p50_us: median(r.iter().map(|f| f.p50_us).collect()),
                p99_us: median(r.iter().map(|f| f.p99_us).collect()),
                cpu_us: median(r.iter().map(|f| f.cpu_us).collect()),
                client_us: median(r.iter().map(|f| f.client_us).collect()),
                total: 0,
            })
            .collect();
        let tokio = med[1];
        for (k, f) in med.iter().enumerate() {
            println!(
                "{:<15} {:>11.0} {:>7.2} {:>9.1} {:>9.1} {:>11.2} {:>8.2} {:>10.2}",
                SERVERS[k].name(),
                f.rts,
                f.rts / tokio.rts,
                f.p50_us,
                f.p99_us,
                f.cpu_us,
                f.cpu_us / tokio.cpu_us,
                f.client_us
            );
        }
    }
    if wanted("E") {
        println!(
            "\nE: resident memory per idle connection at {mem_conns} connections \
             (server alone in a child process; VmRSS delta from 1 to {mem_conns} connections)"
        );
        println!("{:<15} {:>13} {:>8}", "server", "bytes/conn", "x tokio");
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); SERVERS.len()];
        for _ in 0..rounds.min(2) {
            for (k, &kind) in SERVERS.iter().enumerate() {
                per[k].push(memory_run(kind, mem_conns));
            }
        }
        let med: Vec<f64> = per.into_iter().map(median).collect();
        for (k, m) in med.iter().enumerate() {
            println!("{:<15} {:>13.0} {:>8.2}", SERVERS[k].name(), m, m / med[1]);
        }
    }
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
}
