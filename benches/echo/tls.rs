//! The TLS rows: one certificate for every server (ours and tokio-rustls
//! share the same rustls `ServerConfig`), the tokio-rustls server, the load
//! generator's client handshake, and the handshakes-per-second scenario.
//!
//! The certificate is made at start-up with rcgen and written to a
//! temporary directory, which memory children find through
//! `ASYNCORE_BENCH_TLS_DIR`, so parent and child trust the same one.
//! Clients disable session resumption: every handshake is a full one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use asyncore::tls::{TlsAcceptor, TlsConnector, rustls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::load::{Figures, connect, percentile, thread_cpu};
use crate::servers::{ServerHandle, Shared};

/// Where a memory child finds the parent's certificate.
pub(crate) const DIR_VAR: &str = "ASYNCORE_BENCH_TLS_DIR";

/// The shared TLS identity of this run.
pub(crate) struct Identity {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) client: Arc<rustls::ClientConfig>,
    /// Holds `cert.pem` and `key.pem`.
    pub(crate) dir: PathBuf,
}

/// The run's identity: loaded from [`DIR_VAR`] if set (a memory child),
/// otherwise made now.
pub(crate) fn identity() -> &'static Identity {
    IDENTITY.get_or_init(|| {
        let dir = match std::env::var_os(DIR_VAR) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let dir =
                    std::env::temp_dir().join(format!("asyncore-bench-tls-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let made =
                    rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
                std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
                std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
                dir
            }
        };
        let acceptor =
            TlsAcceptor::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        let mut client = TlsConnector::from_ca_file(dir.join("cert.pem"))
            .unwrap()
            .config()
            .as_ref()
            .clone();
        client.resumption = rustls::client::Resumption::disabled();
        Identity {
            acceptor,
            client: Arc::new(client),
            dir,
        }
    })
}

static IDENTITY: OnceLock<Identity> = OnceLock::new();

/// Removes the certificate directory, if this process made one.
pub(crate) fn cleanup() {
    if std::env::var_os(DIR_VAR).is_none() {
        if let Some(id) = IDENTITY.get() {
            let _ = std::fs::remove_dir_all(&id.dir);
        }
    }
}

/// A client session over a connected std stream, its handshake done
/// (blocking), the stream left as the caller set it up.
pub(crate) fn client_handshake(stream: &mut StdStream) -> rustls::ClientConnection {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(identity().client.clone(), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(stream).expect("TLS handshake");
    }
    conn
}

/// tokio current-thread, tokio-rustls over the same `ServerConfig`.
pub(crate) fn run_tokio_rustls(l: std::net::TcpListener, shared: Arc<Shared>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(identity().acceptor.config().clone());
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(l).unwrap();
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                drop(tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        echo(tls).await;
                    }
                }));
                shared.accepted.fetch_add(1, Ordering::Release);
            }
        }
    });
}

async fn echo(mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Handshakes per second: one connection at a time, each a full handshake,
/// one 64-byte echo and a `close_notify`; latency is the whole exchange.
pub(crate) fn handshakes(server: &ServerHandle, warmup: Duration, secs: Duration) -> Figures {
    let message = [b'h'; 64];
    let mut latencies: Vec<u32> = Vec::new();
    let start = Instant::now();
    let warm_end = start + warmup;
    let end = warm_end + secs;
    let (mut t0, mut cpu0, mut client0) = (start, Duration::ZERO, Duration::ZERO);
    let mut measuring = false;
    let mut completed = 0u64;
    let mut total = 0u64;
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
        one_exchange(server.addr, &message);
        total += 1;
        if measuring {
            completed += 1;
            latencies.push(now.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
        }
    }
    let elapsed = t0.elapsed();
    let cpu = server.cpu().saturating_sub(cpu0);
    let client = thread_cpu().saturating_sub(client0);
    assert!(completed > 0, "no handshake completed");
    latencies.sort_unstable();
    Figures {
        rts: completed as f64 / elapsed.as_secs_f64(),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        p999_us: percentile(&latencies, 0.999),
        tail: Default::default(),
        sleeps_per_rt: f64::NAN,
        cpu_us: cpu.as_secs_f64() * 1e6 / completed as f64,
        client_us: client.as_secs_f64() * 1e6 / completed as f64,
        total,
        syscalls: f64::NAN,
        first_thread: 1.0,
    }
}

/// Connect, handshake, echo `message`, close with `close_notify`.
fn one_exchange(addr: SocketAddr, message: &[u8]) {
    let mut stream = connect(addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = client_handshake(&mut stream);
    let mut tls = rustls::Stream::new(&mut conn, &mut stream);
    tls.write_all(message).unwrap();
    let mut back = vec![0; message.len()];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(back, message, "handshake scenario: echo mismatch");
    conn.send_close_notify();
    while conn.wants_write() {
        if let Err(e) = conn.write_tls(&mut stream) {
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "close_notify: {e}");
            break;
        }
    }
}
