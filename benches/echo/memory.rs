//! Scenario E: memory per idle connection, the server alone in a child
//! process.
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::load::connect;
use crate::servers::{Server, start_server};

fn vm_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The child side: starts the server, prints `READY addr rss`, then for each
/// `COUNT n` line on stdin waits for n accepted connections, settles, and
/// prints the RSS in KiB.
pub(crate) fn memory_child(kind: Server, settle: Duration) {
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
        std::thread::sleep(settle);
        println!("RSS {}", vm_rss_kib());
        io::stdout().flush().unwrap();
    }
    std::process::exit(0);
}

/// Bytes of server RSS per idle connection, at `n` connections.
pub(crate) fn memory_run(kind: Server, n: usize, settle: Duration) -> f64 {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    if kind.is_tls() {
        command.env(crate::tls::DIR_VAR, &crate::tls::identity().dir);
    }
    let mut child = command
        .args(["--memory-child", kind.name()])
        .args(["--settle-ms", &settle.as_millis().to_string()])
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
    // Over TLS each connection finishes its handshake before it counts.
    let open = || {
        let mut stream = connect(addr);
        let tls = kind
            .is_tls()
            .then(|| crate::tls::client_handshake(&mut stream));
        (stream, tls)
    };
    let first = open();
    writeln!(stdin, "COUNT 1").unwrap();
    let rss = |out: &mut BufReader<_>| -> u64 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line.trim().strip_prefix("RSS ").unwrap().parse().unwrap()
    };
    let before = rss(&mut out);
    let conns: Vec<_> = (1..n).map(|_| open()).collect();
    writeln!(stdin, "COUNT {n}").unwrap();
    let after = rss(&mut out);
    drop(stdin);
    let _ = child.wait();
    drop(conns);
    drop(first);
    (after.saturating_sub(before) * 1024) as f64 / (n - 1) as f64
}

pub(crate) fn raise_fd_limit() {
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
