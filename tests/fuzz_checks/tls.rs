//! The server side of a TLS channel fed arbitrary bytes by its peer.
//!
//! Input layout: byte 0 is flags (bit 0: the peer starts with a genuine
//! ClientHello from rustls, so the rest lands past the first flight; bit 1:
//! the peer ends without closing, leaving the handshake deadline to end
//! the channel); then chunks, each a length byte and that many bytes, each
//! written to the socket and followed by one pass of the loop.
//!
//! Checked: no panic, no hang (every run is bounded by passes), the
//! channel's hooks keep the asyncore rules (at most one `handle_close`,
//! nothing after it, at most one `handle_error` for a TLS failure since the
//! channel then closes), no plaintext reaches `handle_read` unless the
//! handshake completed (it cannot: the fuzzer has no key), and the channel
//! is gone once the peer is.

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use asyncore::tls::{TlsAcceptor, rustls};
use asyncore::{Ctx, Dispatcher, Error, Map, Result, RunOptions, Socket};

use super::Input;

/// One certificate per process: making a key costs far more than a run.
fn acceptor() -> &'static (TlsAcceptor, Arc<rustls::ClientConfig>) {
    static ACCEPTOR: OnceLock<(TlsAcceptor, Arc<rustls::ClientConfig>)> = OnceLock::new();
    ACCEPTOR.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
        let acceptor = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes())
            .unwrap()
            .with_handshake_timeout(Duration::from_millis(1));
        let client = asyncore::tls::TlsConnector::from_ca_pem(cert.as_bytes())
            .unwrap()
            .config()
            .clone();
        (acceptor, client)
    })
}

/// What the server channel saw.
#[derive(Default)]
struct Seen {
    reads: usize,
    errors: usize,
    closes: usize,
    after_close: usize,
}

struct Server(Rc<RefCell<Seen>>);

impl Server {
    fn hook(&self) {
        if self.0.borrow().closes > 0 {
            self.0.borrow_mut().after_close += 1;
        }
    }
}

impl Dispatcher for Server {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.hook();
        let mut buf = [0; 512];
        let n = cx.recv(&mut buf)?;
        if n > 0 {
            self.0.borrow_mut().reads += 1;
        }
        cx.push(&buf[..n])
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.hook();
        assert!(
            matches!(error, Error::Tls(_) | Error::Io(_)),
            "unexpected error {error:?}"
        );
        self.0.borrow_mut().errors += 1;
        cx.close();
    }

    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.hook();
        self.0.borrow_mut().closes += 1;
    }
}

/// A genuine first flight of a TLS client.
fn client_hello(config: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut hello = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut hello).unwrap();
    }
    hello
}

pub(crate) fn check_tls_server(data: &[u8]) {
    let (acceptor, client) = acceptor();
    let mut input = Input::new(data);
    let flags = input.u8();
    let map = Map::new().unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let socket = Socket::from_unix_stream(ours)
        .unwrap()
        .tls_server(acceptor)
        .unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let id = map.add(socket, Server(seen.clone())).unwrap();
    let mut peer = Some(theirs);
    peer.as_ref().unwrap().set_nonblocking(true).unwrap();
    let pass = RunOptions::new().timeout(Duration::ZERO).count(1);
    if flags & 1 != 0 {
        let _ = peer.as_mut().unwrap().write_all(&client_hello(client));
        map.run(&pass).unwrap();
    }
    while !input.is_empty() && map.contains(id) {
        let len = usize::from(input.u8());
        let chunk = input.bytes(len);
        if let Some(p) = peer.as_mut() {
            // The server may have closed its end: a failed write is fine.
            let _ = p.write_all(chunk);
        }
        map.run(&pass).unwrap();
    }
    if flags & 2 == 0 {
        drop(peer.take());
    }
    // The channel ends: at the peer's end, or at the (1 ms) handshake
    // deadline. Bounded: a hang here is a failure.
    let mut passes = 0;
    while map.contains(id) {
        assert!(
            passes < 10_000,
            "the channel outlived its peer and deadline"
        );
        map.run(&RunOptions::new().timeout(Duration::from_millis(1)).count(1))
            .unwrap();
        passes += 1;
    }
    let seen = seen.borrow();
    assert_eq!(seen.closes, 1, "exactly one handle_close");
    assert_eq!(seen.after_close, 0, "no hook after handle_close");
    assert!(seen.errors <= 1, "a failed handshake is reported once");
    assert_eq!(seen.reads, 0, "no plaintext without a handshake");
    drop(peer);
}
