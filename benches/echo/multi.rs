//! The multi-core rows (issue 9): our server with two loops (one map per
//! thread through `Workers::start`, one `SO_REUSEPORT` listener each), in
//! callback and async style, against tokio's multi-thread runtime with two
//! workers and against our single loop; scenarios B and C.
//!
//! * `B2`, `C2`: every thread floats (server threads and load generator
//!   may run on any CPU).
//! * `B2P`, `C2P`: loop (or tokio worker) k is pinned to CPU k % 2, the
//!   load generator to CPU 1, a single loop to CPU 0.
//!
//! The load generator is `load::drive`, as for every row: every echoed
//! byte is verified. Server CPU is summed over all the server's threads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncore::Socket;
use asyncore::workers::Workers;

use crate::load::{Figures, Scenario, drive};
use crate::servers::{
    Clocks, Server, ServerHandle, Shared, listener, own_ids, pin_to, start_server, unpin,
};

/// A server of the multi-core rows.
#[derive(Clone, Copy)]
enum Kind {
    /// Ours, in this style (`OursCallback` or `OursAsync`), with 2 loops.
    Loops(Server),
    /// tokio's multi-thread runtime, 2 workers: the reference.
    TokioMulti,
    /// Ours with one loop: the server of the one-thread rows.
    Single(Server),
}

/// The alternating order within a round.
const KINDS: [(&str, Kind); 5] = [
    ("ours-callback-x2", Kind::Loops(Server::OursCallback)),
    ("tokio-multi-x2", Kind::TokioMulti),
    ("ours-async-x2", Kind::Loops(Server::OursAsync)),
    ("ours-callback", Kind::Single(Server::OursCallback)),
    ("ours-async", Kind::Single(Server::OursAsync)),
];

/// Threads per multi-threaded server.
const LOOPS: usize = 2;

/// What the harness hands over.
pub(crate) struct Run<'a> {
    pub(crate) rounds: usize,
    pub(crate) warmup: Duration,
    pub(crate) secs: Duration,
    pub(crate) verbose: bool,
    /// `--syscalls`: counted over all the server's threads.
    pub(crate) syscalls: bool,
    /// The machine's CPUs (counted before the harness pinned itself).
    pub(crate) cpus: usize,
    /// Connections in B and C.
    pub(crate) many: usize,
    /// `--servers`, if given.
    pub(crate) picked: Option<&'a str>,
}

/// Where the threads run: everywhere, or pinned (with two CPUs or more).
#[derive(Clone, Copy)]
enum Placement {
    Float(usize),
    Pinned,
}

impl Placement {
    /// Places the calling server thread, loop `index` of its server.
    fn place(self, index: usize) {
        match self {
            Placement::Float(cpus) => unpin(cpus),
            Placement::Pinned => pin_to(index % 2),
        }
    }
}

/// Runs the multi-core scenarios that `wanted` picks.
pub(crate) fn run(opts: &Run<'_>, wanted: impl Fn(&str) -> bool) {
    let kinds: Vec<(&str, Kind)> = KINDS
        .iter()
        .copied()
        .filter(|(name, kind)| {
            matches!(kind, Kind::TokioMulti)
                || opts.picked.is_none_or(|p| p.split(',').any(|x| x == *name))
        })
        .collect();
    for (name, size, pinned) in [
        ("B2", 64, false),
        ("C2", 16 * 1024, false),
        ("B2P", 64, true),
        ("C2P", 16 * 1024, true),
    ] {
        if !wanted(name) {
            continue;
        }
        let sc = Scenario {
            name,
            tls: false,
            what: if size == 64 {
                "B with 2 loops: connections x 64 bytes, 1 in flight each"
            } else {
                "C with 2 loops: connections x 16 KiB, 1 in flight each"
            },
            conns: opts.many,
            size,
            depth: 1,
            idle: 0,
        };
        let placement = if pinned && opts.cpus >= 2 {
            Placement::Pinned
        } else {
            Placement::Float(opts.cpus)
        };
        // The load generator (this thread) first: a single loop's thread
        // inherits its mask when floating.
        match placement {
            Placement::Float(cpus) => unpin(cpus),
            Placement::Pinned => pin_to(1),
        }
        scenario(opts, &sc, &kinds, placement);
        // Back to where the other rows expect the harness.
        if opts.cpus >= 2 {
            pin_to(1);
        }
    }
}

fn scenario(opts: &Run<'_>, sc: &Scenario, kinds: &[(&str, Kind)], placement: Placement) {
    // Figures, and the first loop's share of the connections, per run.
    let mut results: Vec<Vec<(Figures, f64)>> = vec![Vec::new(); kinds.len()];
    for _ in 0..opts.rounds {
        for (k, &(name, kind)) in kinds.iter().enumerate() {
            let server = start(kind, placement);
            let f = drive(&server, sc, opts.warmup, opts.secs, opts.syscalls, false);
            let per: Vec<usize> = server
                .shared
                .per_loop
                .iter()
                .map(|n| n.load(std::sync::atomic::Ordering::Acquire))
                .collect();
            let first = per.first().map_or(1.0, |&n| n as f64 / sc.conns as f64);
            server.stop();
            if opts.verbose {
                eprintln!(
                    "run {} {name}: {:.0} rt/s, {:.2} cpu us/rt, connections per loop {per:?}, \
                     first thread {:.0}% of the cpu",
                    sc.name,
                    f.rts,
                    f.cpu_us,
                    f.first_thread * 100.0
                );
            }
            results[k].push((f, first));
        }
    }
    let placed = match placement {
        Placement::Float(_) => "every thread floats (unpinned)",
        Placement::Pinned => "loops on cpus 0 and 1, load generator on cpu 1",
    };
    println!(
        "\n{}: {} (N={}, S={}); {placed}; median of {}",
        sc.name, sc.what, sc.conns, sc.size, opts.rounds
    );
    println!(
        "{:<17} {:>11} {:>7} {:>9} {:>9} {:>11} {:>8} {:>10} {:>9} {:>9}{}",
        "server",
        "rt/s",
        "x tokio",
        "p50 us",
        "p99 us",
        "cpu us/rt",
        "x tokio",
        "client us",
        "conns",
        "cpu split",
        if opts.syscalls { "  syscalls/rt" } else { "" }
    );
    let median = |r: &[(Figures, f64)], f: fn(&(Figures, f64)) -> f64| {
        crate::median(r.iter().map(f).collect())
    };
    let med: Vec<(Figures, f64)> = results
        .iter()
        .map(|r| {
            let figures = Figures {
                rts: median(r, |x| x.0.rts),
                p50_us: median(r, |x| x.0.p50_us),
                p99_us: median(r, |x| x.0.p99_us),
                p999_us: median(r, |x| x.0.p999_us),
                tail: Default::default(),
                sleeps_per_rt: f64::NAN,
                cpu_us: median(r, |x| x.0.cpu_us),
                client_us: median(r, |x| x.0.client_us),
                total: 0,
                syscalls: median(r, |x| x.0.syscalls),
                first_thread: median(r, |x| x.0.first_thread),
            };
            (figures, median(r, |x| x.1))
        })
        .collect();
    let tokio_at = kinds
        .iter()
        .position(|(_, k)| matches!(k, Kind::TokioMulti))
        .unwrap();
    let tokio = med[tokio_at].0;
    for (&(name, kind), &(f, first)) in kinds.iter().zip(&med) {
        let split = |share: f64| format!("{:.0}%/{:.0}%", share * 100.0, (1.0 - share) * 100.0);
        let (conns, cpu) = match kind {
            Kind::Loops(_) => (split(first), split(f.first_thread)),
            // tokio: one listener; tasks move between the workers.
            Kind::TokioMulti => ("-".into(), split(f.first_thread)),
            Kind::Single(_) => ("100%".into(), "100%".into()),
        };
        let sys = if opts.syscalls {
            format!(" {:>12.2}", f.syscalls)
        } else {
            String::new()
        };
        println!(
            "{:<17} {:>11.0} {:>7.2} {:>9.1} {:>9.1} {:>11.2} {:>8.2} {:>10.2} {conns:>9} {cpu:>9}{sys}",
            name,
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

fn start(kind: Kind, placement: Placement) -> ServerHandle {
    match kind {
        Kind::Loops(style) => start_loops(style, placement),
        Kind::TokioMulti => {
            let l = listener();
            let addr = l.local_addr().unwrap();
            let shared = Arc::new(Shared::default());
            let clocks = Clocks::default();
            let rt = crate::tokio_srv::start_multi(
                l,
                shared.clone(),
                LOOPS,
                move |index| placement.place(index),
                clocks.clone(),
            );
            wait_for(|| clocks.lock().unwrap().len() >= LOOPS);
            let stop = move || rt.shutdown_timeout(Duration::from_secs(5));
            ServerHandle::threads(addr, shared, clocks, Box::new(stop))
        }
        Kind::Single(style) => {
            let pin = matches!(placement, Placement::Pinned).then_some(0);
            start_server(style, pin)
        }
    }
}

/// Ours with `LOOPS` loops: `Workers::start`, one `SO_REUSEPORT` listener
/// per loop, each made before any worker starts, so the kernel spreads the
/// connections over all of them from the first.
fn start_loops(style: Server, placement: Placement) -> ServerHandle {
    let first = Socket::tcp_listen_reuseport("127.0.0.1:0").unwrap();
    let addr = first.local_addr().unwrap().as_inet().unwrap();
    let mut listeners = vec![Some(first)];
    for _ in 1..LOOPS {
        listeners.push(Some(Socket::tcp_listen_reuseport(addr).unwrap()));
    }
    let listeners = Mutex::new(listeners);
    let shared = Arc::new(Shared::with_loops(LOOPS));
    // Each loop's index, with its thread's clock and id, in the order the
    // threads start.
    type Started = Vec<(usize, (libc::clockid_t, i32))>;
    let started: Arc<Mutex<Started>> = Arc::default();
    let (sh, st) = (shared.clone(), started.clone());
    let workers = Workers::start(LOOPS, move |map, index| {
        placement.place(index);
        st.lock().unwrap().push((index, own_ids()));
        let sock = listeners.lock().unwrap()[index]
            .take()
            .expect("one listener per loop");
        match style {
            Server::OursAsync => crate::ours::spawn_async(map, sock, sh.clone(), index),
            _ => crate::ours::add_callback(map, sock, sh.clone(), index, false),
        }
        Ok(())
    })
    .expect("starting the workers");
    wait_for(|| started.lock().unwrap().len() == LOOPS);
    let mut started = started.lock().unwrap().clone();
    started.sort_unstable();
    let clocks: Clocks = Arc::new(Mutex::new(started.into_iter().map(|(_, c)| c).collect()));
    let stop = move || {
        workers.stop();
        for outcome in workers.join() {
            outcome.expect("a worker failed");
        }
    };
    ServerHandle::threads(addr, shared, clocks, Box::new(stop))
}

/// Waits until the server's threads have started (`started` says so).
fn wait_for(started: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started() {
        assert!(
            Instant::now() < deadline,
            "the server's threads did not start"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
