//! The servers under test, each on a thread of its own, and the handle the
//! harness keeps to stop them and read their CPU time.

use std::net::{SocketAddr, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Server {
    OursCallback,
    Tokio,
    OursAsync,
    Smol,
    OursChat,
    /// Ours in callback style over our TLS layer.
    OursCallbackTls,
    /// tokio current-thread with tokio-rustls, the same rustls config.
    TokioRustls,
    /// Ours as tasks over `TlsStream`.
    OursAsyncTls,
    /// `OursCallback`, `OursAsync`, `OursChat` serving ready channels in
    /// the poller's order (`ServeOrder::Poller`), the order before issue 11
    /// (only when `--servers` names them).
    OursCallbackPo,
    OursAsyncPo,
    OursChatPo,
}

/// The order servers run in within a round (alternating, so drift on a noisy
/// machine does not favour one).
pub(crate) const SERVERS: [Server; 8] = [
    Server::OursCallback,
    Server::Tokio,
    Server::OursCallbackPo,
    Server::OursAsync,
    Server::OursAsyncPo,
    Server::Smol,
    Server::OursChat,
    Server::OursChatPo,
];

/// The TLS rows' servers, in the same alternating order; tokio-rustls is
/// their reference.
pub(crate) const TLS_SERVERS: [Server; 3] = [
    Server::OursCallbackTls,
    Server::TokioRustls,
    Server::OursAsyncTls,
];

impl Server {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Server::OursCallback => "ours-callback",
            Server::Tokio => "tokio-current",
            Server::OursAsync => "ours-async",
            Server::Smol => "async-io+exec",
            Server::OursChat => "ours-chat",
            Server::OursCallbackTls => "ours-callback-tls",
            Server::TokioRustls => "tokio-rustls",
            Server::OursAsyncTls => "ours-async-tls",
            Server::OursCallbackPo => "ours-callback-po",
            Server::OursAsyncPo => "ours-async-po",
            Server::OursChatPo => "ours-chat-po",
        }
    }

    /// Whether it runs only when `--servers` names it.
    pub(crate) fn on_request(self) -> bool {
        matches!(
            self,
            Server::OursCallbackPo | Server::OursAsyncPo | Server::OursChatPo
        )
    }

    /// The order its loop serves ready channels in (ours only).
    pub(crate) fn order(self) -> asyncore::ServeOrder {
        if self.on_request() {
            asyncore::ServeOrder::Poller
        } else {
            asyncore::ServeOrder::NewcomersFirst
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Server> {
        SERVERS
            .iter()
            .chain(&TLS_SERVERS)
            .copied()
            .find(|s| s.name() == name)
    }

    /// Whether clients must speak TLS to it.
    pub(crate) fn is_tls(self) -> bool {
        TLS_SERVERS.contains(&self)
    }

    /// Whether the others of its kind are compared with it.
    pub(crate) fn is_reference(self) -> bool {
        matches!(self, Server::Tokio | Server::TokioRustls)
    }
}

/// What a server thread shares with the harness.
#[derive(Default)]
pub(crate) struct Shared {
    /// Set before the wake-up connection: the accept loop then stops.
    pub(crate) stop: AtomicBool,
    /// Connections accepted so far.
    pub(crate) accepted: AtomicUsize,
    /// The server thread's kernel thread id (for `perf stat -t`).
    pub(crate) tid: AtomicI32,
    /// Connections accepted by each loop (the multi-core rows; empty
    /// otherwise).
    pub(crate) per_loop: Vec<AtomicUsize>,
    /// Our loop's per-pass figures, left by the server thread when its
    /// loop returns (feature `pass-stats`).
    pub(crate) pass_report: Mutex<Option<String>>,
}

impl Shared {
    /// For a server of `loops` loops, counting each loop's connections.
    pub(crate) fn with_loops(loops: usize) -> Shared {
        Shared {
            per_loop: (0..loops).map(|_| AtomicUsize::new(0)).collect(),
            ..Shared::default()
        }
    }

    /// Counts a connection accepted by loop `index`.
    pub(crate) fn count_accept(&self, index: usize) {
        if let Some(n) = self.per_loop.get(index) {
            n.fetch_add(1, Ordering::Release);
        }
        self.accepted.fetch_add(1, Ordering::Release);
    }
}

/// The server's threads' CPU clocks and kernel thread ids, each added by
/// its thread as it starts (or by the harness, for a server of one thread:
/// its id is then in `Shared::tid`).
pub(crate) type Clocks = Arc<Mutex<Vec<(libc::clockid_t, i32)>>>;

/// The calling thread's CPU clock and kernel thread id.
pub(crate) fn own_ids() -> (libc::clockid_t, i32) {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self is the live calling thread; `clock` is a valid
    // out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid");
    // SAFETY: gettid has no preconditions.
    (clock, unsafe { libc::gettid() })
}

/// A running server: one thread, or (the multi-core rows) several with a
/// way to stop them.
pub(crate) struct ServerHandle {
    pub(crate) addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    clocks: Clocks,
    /// Stops a server of several threads and waits for them.
    stopper: Option<Box<dyn FnOnce()>>,
}

impl ServerHandle {
    /// A server of several threads, each adding its clock to `clocks`;
    /// `stop` calls `stopper`.
    pub(crate) fn threads(
        addr: SocketAddr,
        shared: Arc<Shared>,
        clocks: Clocks,
        stopper: Box<dyn FnOnce()>,
    ) -> ServerHandle {
        ServerHandle {
            addr,
            shared,
            thread: None,
            clocks,
            stopper: Some(stopper),
        }
    }

    /// Each server thread's CPU time so far.
    pub(crate) fn cpu_each(&self) -> Vec<Duration> {
        let clocks = self.clocks.lock().unwrap();
        clocks
            .iter()
            .map(|&(clock, _)| {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `ts` is a valid out-pointer; the clock belongs to
                // a thread that is still running (they end only in `stop`).
                let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
                assert_eq!(rc, 0, "clock_gettime on a server thread's clock");
                Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
            })
            .collect()
    }

    /// The server's CPU time so far, summed over its threads.
    pub(crate) fn cpu(&self) -> Duration {
        self.cpu_each().into_iter().sum()
    }

    /// Times the server's threads have gone to sleep so far (voluntary
    /// context switches: a wait that blocked, or a blocking call).
    pub(crate) fn sleeps(&self) -> u64 {
        self.tids()
            .split(',')
            .filter_map(|tid| {
                let path = format!("/proc/self/task/{tid}/status");
                let status = std::fs::read_to_string(path).ok()?;
                let line = status
                    .lines()
                    .find(|l| l.starts_with("voluntary_ctxt_switches:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum()
    }

    /// The server's kernel thread ids, comma-separated (for `perf stat -t`).
    pub(crate) fn tids(&self) -> String {
        if self.stopper.is_some() {
            let clocks = self.clocks.lock().unwrap();
            let tids: Vec<String> = clocks.iter().map(|(_, tid)| tid.to_string()).collect();
            return tids.join(",");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tid = self.shared.tid.load(Ordering::Acquire);
            if tid != 0 {
                return tid.to_string();
            }
            assert!(Instant::now() < deadline, "the server thread did not start");
            std::thread::yield_now();
        }
    }

    pub(crate) fn wait_accepted(&self, n: usize, within: Duration) {
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

    pub(crate) fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(stop) = self.stopper.take() {
            stop();
            return;
        }
        // Wakes the accept loop, which sees the flag and returns.
        let _ = StdStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
    }
}

pub(crate) fn listener() -> std::net::TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(4096).unwrap();
    s.set_nonblocking(true).unwrap();
    s.into()
}

/// Lets the calling thread run on CPUs `0..cpus` (threads it spawns then
/// float too).
pub(crate) fn unpin(cpus: usize) {
    // SAFETY: as in `pin_to`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Pins the calling thread to one CPU. (No check of the CPU count here:
/// `available_parallelism` follows the affinity mask, so a thread spawned by
/// an already pinned one would see 1.)
pub(crate) fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub(crate) fn ncpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn start_server(kind: Server, pin: Option<usize>) -> ServerHandle {
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
            // SAFETY: gettid has no preconditions.
            sh.tid.store(unsafe { libc::gettid() }, Ordering::Release);
            match kind {
                Server::OursCallback
                | Server::OursChat
                | Server::OursCallbackPo
                | Server::OursChatPo => crate::ours::callback(l, sh, kind),
                Server::OursAsync | Server::OursAsyncPo => crate::ours::run_async(l, sh, kind),
                Server::Tokio => crate::tokio_srv::run(l, sh),
                Server::Smol => crate::smol_srv::run(l, sh),
                Server::OursCallbackTls => crate::ours::callback_tls(l, sh),
                Server::OursAsyncTls => crate::ours::run_async_tls(l, sh),
                Server::TokioRustls => crate::tls::run_tokio_rustls(l, sh),
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
        clocks: Arc::new(Mutex::new(vec![(clock, 0)])),
        stopper: None,
    }
}
