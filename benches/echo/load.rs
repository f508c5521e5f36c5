//! The load generator: one thread, N connections with D messages of S bytes
//! in flight each, every echoed byte verified.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::time::{Duration, Instant};

use asyncore::tls::rustls;
use polling::{Event, Events, PollMode, Poller};

use crate::servers::ServerHandle;
use crate::syscalls::SyscallCounter;
use crate::tail::{Sample, Tail, analyse};

/// A load to put on a server.
#[derive(Clone, Copy)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    /// Against the TLS servers (`TLS_SERVERS`) instead of the plain ones.
    pub(crate) tls: bool,
    pub(crate) what: &'static str,
    pub(crate) conns: usize,
    pub(crate) size: usize,
    pub(crate) depth: usize,
    pub(crate) idle: usize,
}

/// One run's figures.
#[derive(Clone, Copy, Default)]
pub(crate) struct Figures {
    pub(crate) rts: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    /// How the slowest round trips are spread (`--verbose`).
    pub(crate) tail: Tail,
    /// Times the server went to sleep per round trip (`--verbose`).
    pub(crate) sleeps_per_rt: f64,
    pub(crate) cpu_us: f64,
    /// The load generator's CPU time per round trip.
    pub(crate) client_us: f64,
    /// Round trips including the warm-up.
    pub(crate) total: u64,
    /// The server thread's system calls per round trip in the measured
    /// window (NaN unless counted).
    pub(crate) syscalls: f64,
    /// The share of the server's CPU time in the window that its first
    /// thread took (1 for a server of one thread).
    pub(crate) first_thread: f64,
}

/// One client connection.
struct Conn {
    stream: StdStream,
    /// The TLS session, for the TLS rows.
    tls: Option<rustls::ClientConnection>,
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
            match self.write_some() {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) => panic!("client write failed: {e}"),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        match self.send_records() {
            Ok(()) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(e) => panic!("client write failed: {e}"),
        }
    }

    /// Writes some of the pending output (encrypted, over TLS).
    fn write_some(&mut self) -> io::Result<usize> {
        let data = &self.out[self.out_pos..];
        let Some(tls) = self.tls.as_mut() else {
            return self.stream.write(data);
        };
        let n = tls.writer().write(data)?;
        self.send_records()?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends the TLS records rustls holds; would-block while some remain.
    fn send_records(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            while tls.wants_write() {
                tls.write_tls(&mut self.stream)?;
            }
        }
        Ok(())
    }

    /// Reads some echoed plaintext: decrypted over TLS, where a whole
    /// record may have to arrive first (would-block until then).
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return self.stream.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            if tls.read_tls(&mut self.stream)? == 0 {
                return Ok(0);
            }
            tls.process_new_packets().map_err(io::Error::other)?;
        }
    }
}

pub(crate) fn connect(addr: SocketAddr) -> StdStream {
    let s = StdStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// Runs one scenario against a running server (speaking TLS to it if
/// `tls`).
pub(crate) fn drive(
    server: &ServerHandle,
    sc: &Scenario,
    warmup: Duration,
    secs: Duration,
    count_syscalls: bool,
    tls: bool,
) -> Figures {
    // Idle connections first (scenario D): connected, never used.
    let idle: Vec<StdStream> = (0..sc.idle).map(|_| connect(server.addr)).collect();
    let poller = Poller::new().unwrap();
    let mut conns: Vec<Conn> = (0..sc.conns)
        .map(|i| {
            let mut stream = connect(server.addr);
            let tls = tls.then(|| crate::tls::client_handshake(&mut stream));
            stream.set_nonblocking(true).unwrap();
            Conn {
                stream,
                tls,
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
    let mut counter = count_syscalls.then(|| SyscallCounter::attach(&server.tids()));
    for (i, c) in conns.iter().enumerate() {
        // SAFETY: each stream lives in `conns` until after it is deleted from
        // the poller below.
        unsafe { poller.add_with_mode(&c.stream, Event::readable(i), PollMode::Level) }.unwrap();
    }

    let mut events = Events::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut samples: Vec<Sample> = Vec::with_capacity(1 << 20);
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
    let (mut t0, mut cpu0, mut client0) = (start, Vec::new(), Duration::ZERO);
    let mut sleeps0 = 0;
    loop {
        let now = Instant::now();
        if !measuring && now >= warm_end {
            measuring = true;
            t0 = now;
            if let Some(c) = counter.as_mut() {
                c.enable();
            }
            cpu0 = server.cpu_each();
            sleeps0 = server.sleeps();
            client0 = thread_cpu();
            completed = 0;
            samples.clear();
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
                    let n = match c.read_some(&mut buf) {
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
                                samples.push(Sample {
                                    ns: (now - sent).as_nanos().min(u32::MAX as u128) as u32,
                                    conn: i as u16,
                                    at_us: (now - t0).as_micros() as u32,
                                });
                            }
                            c.queue_message(now);
                        }
                    }
                    // A short read drained the socket; over TLS, rustls may
                    // still hold decrypted bytes: read until it would block.
                    if n < buf.len() && c.tls.is_none() {
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
    let sleeps = server.sleeps().saturating_sub(sleeps0);
    let each: Vec<Duration> = server
        .cpu_each()
        .iter()
        .zip(&cpu0)
        .map(|(now, then)| now.saturating_sub(*then))
        .collect();
    let cpu: Duration = each.iter().sum();
    let client = thread_cpu().saturating_sub(client0);
    if let Some(c) = counter.as_mut() {
        c.disable();
    }
    let syscalls = counter.map_or(f64::NAN, |c| c.finish() as f64 / completed.max(1) as f64);
    for c in &conns {
        poller.delete(&c.stream).unwrap();
    }
    drop(conns);
    drop(idle);
    assert!(completed > 0, "{}: no round trip completed", sc.name);
    let tail = analyse(&samples, sc.conns);
    let mut latencies: Vec<u32> = samples.iter().map(|s| s.ns).collect();
    latencies.sort_unstable();
    Figures {
        rts: completed as f64 / elapsed.as_secs_f64(),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        p999_us: percentile(&latencies, 0.999),
        tail,
        sleeps_per_rt: sleeps as f64 / completed.max(1) as f64,
        cpu_us: cpu.as_secs_f64() * 1e6 / completed as f64,
        client_us: client.as_secs_f64() * 1e6 / completed as f64,
        total,
        syscalls,
        first_thread: each[0].as_secs_f64() / cpu.as_secs_f64().max(1e-9),
    }
}

/// The `p` quantile of sorted latencies (ns), in microseconds.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64 / 1e3
}

/// The calling thread's CPU time so far.
pub(crate) fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
