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
//! `--only A,B,...` (scenarios; `E` and `TE` are the memory scenarios), `--one-core`
//! (server and load generator share one CPU), `--servers a,b` (a subset of
//! the servers by name; tokio is always run, as the reference),
//! `--features pass-stats` (then each of our loops reports its passes
//! on stderr: ready channels per wait, wait, busy and in-pass queueing
//! times), `--conns N` (connections in B and C; 50 unless given),
//! `--syscalls` (counts the server thread's system calls per round trip
//! with `perf stat`, over the measured window only), `--verbose` (each
//! run's figures on stderr).
//!
//! Multi-core rows (`B2`, `C2` with every thread floating; `B2P`, `C2P`
//! pinned): our server with 2 loops (`Workers`, `SO_REUSEPORT`) in both
//! styles, and our single loop, against tokio's multi-thread runtime with 2
//! workers; see `multi.rs`.
//!
//! TLS rows (`T64`, `T16K`, `TH`, `TE`): ours in callback and async style
//! over our TLS layer against tokio current-thread with tokio-rustls, all
//! with one rustls `ServerConfig` (ring, an rcgen ECDSA P-256 certificate);
//! the load generator speaks rustls too. `TH` is handshakes per second (a
//! new connection, a full handshake, one 64-byte echo and `close_notify`
//! per round trip) and `TE` memory per idle TLS connection.
//!
//! Scenario E (resident memory per idle connection) runs each server in a
//! child process (this binary with `--memory-child NAME`), so allocator state
//! left by one server cannot flatter the next: the parent opens the idle
//! connections, the child reports its VmRSS before and after.

mod load;
mod memory;
mod multi;
mod ours;
mod servers;
mod smol_srv;
mod syscalls;
mod tail;
mod tls;
mod tokio_srv;

use std::time::{Duration, Instant};

use load::{Figures, Scenario, drive};
use memory::{memory_child, memory_run, raise_fd_limit};
use servers::{SERVERS, Server, TLS_SERVERS, ncpus, pin_to, start_server};
use tail::Tail;

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median over `rounds` of `ours`' figure over the reference's in the
/// same round (they ran one after the other), which drift on a noisy
/// machine cancels out of better than a ratio of medians.
fn paired_median(
    ours: &[Figures],
    reference: &[Figures],
    rounds: impl Iterator<Item = usize>,
    figure: fn(&Figures) -> f64,
) -> f64 {
    median(
        rounds
            .filter_map(|i| Some(figure(ours.get(i)?) / figure(reference.get(i)?)))
            .collect(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        let kind = Server::from_name(&args[i + 1]).expect("server name");
        let settle = args
            .iter()
            .position(|a| a == "--settle-ms")
            .and_then(|i| args.get(i + 1))
            .map_or(300, |ms| ms.parse().expect("--settle-ms"));
        memory_child(kind, Duration::from_millis(settle));
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
        value("--secs").map_or(if smoke { 0.05 } else { 1.5 }, |v| v.parse().unwrap()),
    );
    // The warm-up, and how long a memory child lets its server poll new
    // connections before reading its RSS.
    let (warmup, settle) = if smoke {
        (Duration::from_millis(10), Duration::from_millis(30))
    } else {
        (Duration::from_millis(300), Duration::from_millis(300))
    };
    let only = value("--only");
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == name))
    };
    let count_syscalls = args.iter().any(|a| a == "--syscalls");
    if count_syscalls && !syscalls::available() {
        eprintln!("--syscalls needs `perf stat -e raw_syscalls:sys_enter`, which fails here");
        std::process::exit(2);
    }
    let picked = value("--servers");
    // The servers of one kind (plain or TLS), their reference always in.
    let pick = |all: &[Server]| -> Vec<Server> {
        all.iter()
            .copied()
            .filter(|s| {
                let named = |p: &str| p.split(',').any(|x| x == s.name());
                s.is_reference()
                    || match picked.as_deref() {
                        None => !s.on_request(),
                        Some(p) => named(p),
                    }
            })
            .collect()
    };
    let plain_servers = pick(&SERVERS);
    let tls_servers = pick(&TLS_SERVERS);
    raise_fd_limit();

    let (many, idle, mem_conns) = if smoke {
        (4, 100, 300)
    } else {
        (50, 5000, 10_000)
    };
    // `--conns N`: B's and C's connection count (and the multi-core rows').
    let many = value("--conns").map_or(many, |v| v.parse().expect("--conns"));
    let scenarios = [
        Scenario {
            name: "A",
            tls: false,
            what: "1 connection, 64-byte ping-pong",
            conns: 1,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "B",
            tls: false,
            what: "connections x 64 bytes, 1 in flight each",
            conns: many,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "C",
            tls: false,
            what: "connections x 16 KiB, 1 in flight each",
            conns: many,
            size: 16 * 1024,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "D0",
            tls: false,
            what: "10 busy connections x 64 bytes, no idle ones (D's baseline)",
            conns: 10,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "D",
            tls: false,
            what: "10 busy connections x 64 bytes, plus idle connections",
            conns: 10,
            size: 64,
            depth: 1,
            idle,
        },
        Scenario {
            name: "T64",
            tls: true,
            what: "TLS: connections x 64 bytes, 1 in flight each",
            conns: many,
            size: 64,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "T16K",
            tls: true,
            what: "TLS: connections x 16 KiB, 1 in flight each",
            conns: many,
            size: 16 * 1024,
            depth: 1,
            idle: 0,
        },
        Scenario {
            name: "TH",
            tls: true,
            what: "TLS handshakes: a new connection per 64-byte round trip, one at a time",
            conns: 1,
            size: 64,
            depth: 1,
            idle: 0,
        },
    ];
    let cpus = ncpus();
    let two_cores = cpus >= 2;
    // `--one-core`: server and load generator share CPU 1 (each round trip
    // is then two context switches on one core, no cross-CPU wake-up).
    let one_core = args.iter().any(|a| a == "--one-core");
    let server_cpu = if one_core { 1 } else { 0 };
    println!(
        "echo bench: {} mode, {rounds} round(s), {secs:?} measured per run, {} cpus{}",
        if smoke { "smoke" } else { "full" },
        cpus,
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
        let servers = if sc.tls { &tls_servers } else { &plain_servers };
        let tokio_at = servers.iter().position(|s| s.is_reference()).unwrap();
        let mut results: Vec<Vec<Figures>> = vec![Vec::new(); servers.len()];
        for _ in 0..rounds {
            for (k, &kind) in servers.iter().enumerate() {
                let server = start_server(kind, two_cores.then_some(server_cpu));
                let f = if sc.name == "TH" {
                    tls::handshakes(&server, warmup, secs)
                } else {
                    drive(&server, sc, warmup, secs, count_syscalls, sc.tls)
                };
                let shared = server.shared.clone();
                server.stop();
                if let Some(report) = shared.pass_report.lock().unwrap().take() {
                    eprintln!("passes {} {}: {report}", sc.name, kind.name());
                }
                if verbose {
                    eprintln!(
                        "run {} {}: {:.0} rt/s, p50/p99/p999 {:.0}/{:.0}/{:.0} us, \
                         {:.2} cpu us/rt, {:.2} syscalls/rt, {} round trips in all \
                         (warm-up included); tail: spread {:.2}, top tenth {:.2}, \
                         {:.1} per ms; {:.3} sleeps/rt",
                        sc.name,
                        kind.name(),
                        f.rts,
                        f.p50_us,
                        f.p99_us,
                        f.p999_us,
                        f.cpu_us,
                        f.syscalls,
                        f.total,
                        f.tail.spread,
                        f.tail.top_tenth,
                        f.tail.per_ms,
                        f.sleeps_per_rt,
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
            "{:<17} {:>11} {:>7} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>10} {:>7} {:>10} {:>7}{}",
            "server",
            "rt/s",
            "x tokio",
            "p50 us",
            "p99 us",
            "p999 us",
            "p50x",
            "p99x",
            "p999x",
            "cpu us/rt",
            "x tokio",
            "client us",
            "spread",
            if count_syscalls { "  syscalls/rt" } else { "" }
        );
        let med: Vec<Figures> = results
            .iter()
            .map(|r| Figures {
                rts: median(r.iter().map(|f| f.rts).collect()),
                p50_us: median(r.iter().map(|f| f.p50_us).collect()),
                p99_us: median(r.iter().map(|f| f.p99_us).collect()),
                p999_us: median(r.iter().map(|f| f.p999_us).collect()),
                cpu_us: median(r.iter().map(|f| f.cpu_us).collect()),
                client_us: median(r.iter().map(|f| f.client_us).collect()),
                syscalls: median(r.iter().map(|f| f.syscalls).collect()),
                first_thread: 1.0,
                tail: Tail {
                    spread: median(r.iter().map(|f| f.tail.spread).collect()),
                    ..Tail::default()
                },
                ..Figures::default()
            })
            .collect();
        // Each ratio is paired, round by round (see `paired_median`).
        let all_rounds = 0..results[tokio_at].len();
        let paired = |k: usize, figure: fn(&Figures) -> f64| {
            paired_median(&results[k], &results[tokio_at], all_rounds.clone(), figure)
        };
        for (k, f) in med.iter().enumerate() {
            let sys = if count_syscalls {
                format!(" {:>12.2}", f.syscalls)
            } else {
                String::new()
            };
            println!(
                "{:<17} {:>11.0} {:>7.2} {:>8.1} {:>8.1} {:>8.1} {:>6.2} {:>6.2} {:>6.2} {:>10.2} {:>7.2} {:>10.2} {:>7.2}{sys}",
                servers[k].name(),
                f.rts,
                paired(k, |f| f.rts),
                f.p50_us,
                f.p99_us,
                f.p999_us,
                paired(k, |f| f.p50_us),
                paired(k, |f| f.p99_us),
                paired(k, |f| f.p999_us),
                f.cpu_us,
                paired(k, |f| f.cpu_us),
                f.client_us,
                f.tail.spread
            );
        }
        if verbose {
            print_quiet_third(&results, tokio_at, servers);
        }
    }
    let multi = multi::Run {
        rounds,
        warmup,
        secs,
        verbose,
        syscalls: count_syscalls,
        cpus,
        many,
        picked: picked.as_deref(),
    };
    multi::run(&multi, wanted);
    for (name, servers, what) in [
        ("E", &plain_servers, "idle connection"),
        ("TE", &tls_servers, "idle TLS connection (handshake done)"),
    ] {
        if !wanted(name) {
            continue;
        }
        let conns = if name == "TE" {
            mem_conns / 2
        } else {
            mem_conns
        };
        println!(
            "\n{name}: resident memory per {what} at {conns} connections \
             (server alone in a child process; VmRSS delta from 1 to {conns} connections)"
        );
        println!("{:<17} {:>13} {:>8}", "server", "bytes/conn", "x tokio");
        let reference = servers.iter().position(|s| s.is_reference()).unwrap();
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for _ in 0..rounds.min(2) {
            for (k, &kind) in servers.iter().enumerate() {
                per[k].push(memory_run(kind, conns, settle));
            }
        }
        let med: Vec<f64> = per.into_iter().map(median).collect();
        for (k, m) in med.iter().enumerate() {
            println!(
                "{:<17} {:>13.0} {:>8.2}",
                servers[k].name(),
                m,
                m / med[reference]
            );
        }
    }
    tls::cleanup();
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
}

/// Prints each server's p99 ratio over the third of the rounds in which
/// the reference made the most round trips: the rounds least disturbed by
/// the host, where a tail of our own shows rather than the machine's
/// stalls (see "Tail latency" in `BENCHMARKS.md`).
fn print_quiet_third(results: &[Vec<Figures>], tokio_at: usize, servers: &[Server]) {
    let reference = &results[tokio_at];
    if reference.len() < 3 {
        return;
    }
    let mut rounds: Vec<usize> = (0..reference.len()).collect();
    rounds.sort_by(|&a, &b| reference[b].rts.total_cmp(&reference[a].rts));
    rounds.truncate(reference.len().div_ceil(3));
    let ratios: Vec<String> = results
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != tokio_at)
        .map(|(k, figures)| {
            let p99x = paired_median(figures, reference, rounds.iter().copied(), |f| f.p99_us);
            format!("{} {p99x:.2}", servers[k].name())
        })
        .collect();
    println!(
        "quiet third ({} of {} rounds, most round trips for the reference): p99x {}",
        rounds.len(),
        reference.len(),
        ratios.join(", ")
    );
}
