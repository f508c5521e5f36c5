//! 2 000 peers that open a TLS connection and never finish the handshake
//! (half of them stall after part of a ClientHello) cost bounded memory,
//! do not delay a real client, and all end at the handshake deadline.
//!
//! Alone in its test binary: it measures the process's resident memory.
#![cfg(feature = "tls")]

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use asyncore::tls::{TlsAcceptor, TlsConnector};
use asyncore::{Address, Ctx, Dispatcher, Error, Map, Result, Socket};
use util::EventLog;

const PEERS: usize = 2000;

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Listener {
    acceptor: TlsAcceptor,
    log: EventLog,
}

impl Dispatcher for Listener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
        cx.add(socket.tls_server(&self.acceptor)?, Echo(self.log.clone()))?;
        Ok(())
    }
}

struct Echo(EventLog);

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0; 1024];
        let n = cx.recv(&mut buf)?;
        cx.push(&buf[..n])
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        if matches!(
            error,
            Error::Tls(asyncore::tls::TlsError::HandshakeTimedOut(_))
        ) {
            self.0.push("timed out");
        }
        cx.close();
    }
}

struct Client {
    log: EventLog,
}

impl Dispatcher for Client {
    fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        cx.push(b"ping")
    }

    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0; 16];
        let n = cx.recv(&mut buf)?;
        if &buf[..n] == b"ping" {
            self.log.push("client: pong");
            cx.close();
        }
        Ok(())
    }
}

#[test]
fn two_thousand_stalled_handshakes_cost_bounded_memory_and_delay_no_one() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
    let timeout = Duration::from_secs(3);
    let acceptor = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes())
        .unwrap()
        .with_handshake_timeout(timeout);
    let connector = TlsConnector::from_ca_pem(cert.as_bytes()).unwrap();
    let map = Map::new().unwrap();
    let log = EventLog::new();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    map.add(
        listener,
        Listener {
            acceptor,
            log: log.clone(),
        },
    )
    .unwrap();

    // The peers connect from a helper thread while the loop accepts.
    let opened = std::sync::Arc::new(AtomicBool::new(false));
    let flag = opened.clone();
    let peers = std::thread::spawn(move || {
        let mut peers = Vec::with_capacity(PEERS);
        for i in 0..PEERS {
            let mut peer = TcpStream::connect(addr).unwrap();
            if i % 2 == 1 {
                // A handshake record header and a few bytes, then nothing.
                peer.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                    .unwrap();
            }
            peers.push(peer);
        }
        flag.store(true, Ordering::SeqCst);
        peers
    });
    let before = vm_rss_kib();
    util::run_until_within(&map, "2 000 stalled peers accepted", timeout, || {
        opened.load(Ordering::SeqCst) && map.len() == PEERS + 1
    });
    let peers = peers.join().unwrap();
    let grown = vm_rss_kib().saturating_sub(before);

    // A real client meanwhile is served at once.
    let started = Instant::now();
    let socket = Socket::tcp_connect(addr)
        .unwrap()
        .tls_client(&connector, "localhost")
        .unwrap();
    map.add(socket, Client { log: log.clone() }).unwrap();
    util::run_until(&map, "the real client's echo", || {
        log.contains("client: pong")
    });
    let served_in = started.elapsed();
    assert!(
        served_in < Duration::from_secs(1),
        "a real client waited {served_in:?} behind stalled handshakes"
    );

    // Bounded: rustls's state for a connection that has not finished its
    // handshake is a few KiB; 64 KiB per peer would mean buffers growing
    // with what peers send.
    if before > 0 {
        let per_peer = grown * 1024 / PEERS as u64;
        assert!(per_peer < 64 * 1024, "{per_peer} bytes per stalled peer");
        println!("resident memory per stalled TLS peer: about {per_peer} bytes");
    }

    // Every stalled handshake ends at its deadline; only the listener stays.
    util::run_until_within(
        &map,
        "every stalled handshake to time out",
        timeout * 3,
        || map.len() == 1,
    );
    assert_eq!(log.count("timed out"), PEERS, "each reported once");
    drop(peers);
}
