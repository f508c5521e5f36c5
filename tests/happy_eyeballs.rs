//! Connecting by host name without blocking the loop, and Happy Eyeballs
//! (RFC 8305) over several addresses, in both faces, on real loopback
//! sockets.
//!
//! A deliberate difference from Python's asyncore (guide, difference 21):
//! there, `connect(("localhost", port))` ran `getaddrinfo` inside the loop
//! and used one address; here the lookup runs on a helper thread and every
//! address is tried.
//!
//! The blackholed IPv6 address is a listener on `[::1]` whose backlog is
//! full: the kernel drops further SYNs, so a connect there neither
//! succeeds nor fails, exactly like an unreachable path.

mod util;

use std::cell::RefCell;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{ConnectError, Ctx, Dispatcher, Error, Map, Socket, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use util::async_util::within;
use util::{PEER_TIMEOUT, ipv6_available, refused_addr, run_until, run_until_empty};

/// What a client saw: its hooks, in order, with the peer on connect.
#[derive(Default)]
struct Seen {
    hooks: Vec<String>,
    peer: Option<SocketAddr>,
    connected_at: Option<Instant>,
    error: Option<String>,
    attempts: Vec<SocketAddr>,
}

/// Connects, records the peer, sends `ping`, closes.
struct Client(Rc<RefCell<Seen>>);

impl Dispatcher for Client {
    fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> asyncore::Result<()> {
        let mut seen = self.0.borrow_mut();
        seen.hooks.push("connect".into());
        seen.peer = cx.peer_addr()?.as_inet();
        seen.connected_at = Some(Instant::now());
        cx.push(b"ping")?;
        cx.close_when_done()
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        let mut seen = self.0.borrow_mut();
        seen.hooks.push("error".into());
        if let Error::Connect(e) = &error {
            if let Some(c) = e.get_ref().and_then(|i| i.downcast_ref::<ConnectError>()) {
                seen.attempts = c.attempts().iter().map(|(a, _)| *a).collect();
            }
        }
        seen.error = Some(error.to_string());
        cx.close();
    }

    fn handle_close(&mut self, cx: &mut Ctx<'_>) {
        self.0.borrow_mut().hooks.push("close".into());
        cx.close();
    }
}

/// A std listener on 127.0.0.1 with a thread that accepts one connection
/// and returns what it read.
fn v4_server() -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    });
    (addr, reader)
}

/// A `[::1]` address whose SYNs go unanswered: a listener with a backlog
/// of 0 filled until a connect times out. Keep the guard alive.
fn blackholed_v6() -> (SocketAddr, Vec<std::net::TcpStream>, socket2::Socket) {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    let any: SocketAddr = "[::1]:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..64 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
                return (addr, fillers, listener);
            }
        }
    }
    panic!("the backlog of {addr} never filled");
}

#[test]
fn localhost_reaches_a_server_bound_to_127_0_0_1_only() {
    let (addr, reader) = v4_server();
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    map.add(
        Socket::tcp_connect(format!("localhost:{}", addr.port())).unwrap(),
        Client(seen.clone()),
    )
    .unwrap();
    run_until_empty(&map, "the client to connect, send and close");
    assert_eq!(seen.borrow().hooks, ["connect", "close"]);
    assert_eq!(seen.borrow().peer, Some(addr));
    assert_eq!(reader.join().unwrap(), b"ping");
}

#[test]
fn a_refused_first_address_falls_through_to_the_next() {
    if !ipv6_available() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let (addr, reader) = v4_server();
    // Nobody listens on [::1] at this port: refused at once, so the next
    // attempt starts without waiting for the 250 ms delay.
    let v6: SocketAddr = format!("[::1]:{}", refused_addr().port()).parse().unwrap();
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let started = Instant::now();
    map.add(
        Socket::tcp_connect(&[v6, addr][..]).unwrap(),
        Client(seen.clone()),
    )
    .unwrap();
    run_until_empty(&map, "the client to fall through to IPv4");
    assert_eq!(seen.borrow().hooks, ["connect", "close"]);
    assert_eq!(seen.borrow().peer, Some(addr));
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reader.join().unwrap(), b"ping");
}

#[test]
fn a_blackholed_v6_address_loses_to_v4_after_the_head_start() {
    if !ipv6_available() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let (v6, _fillers, _listener) = blackholed_v6();
    let (v4, reader) = v4_server();
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let started = Instant::now();
    let id = map
        .add(
            Socket::tcp_connect(vec![v6, v4]).unwrap(),
            Client(seen.clone()),
        )
        .unwrap();
    assert!(map.is_connecting(id));
    // Empty only once the losing attempt is closed too.
    run_until_empty(&map, "the IPv4 attempt to win and the client to close");
    let seen = seen.borrow();
    assert_eq!(seen.hooks, ["connect", "close"]);
    assert_eq!(seen.peer, Some(v4));
    // IPv6 had its 250 ms head start; IPv4 did not wait for its SYN timeout.
    let waited = seen.connected_at.unwrap() - started;
    assert!(waited >= Duration::from_millis(240), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(reader.join().unwrap(), b"ping");
}

#[test]
fn the_async_face_races_the_same_way() {
    if !ipv6_available() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let (v6, _fillers, _listener) = blackholed_v6();
    let (v4, reader) = v4_server();
    let map = Map::new().unwrap();
    let started = Instant::now();
    let peer = within(&map, async {
        let mut stream = TcpStream::connect([v6, v4].as_slice()).await?;
        let peer = stream.peer_addr()?;
        stream.write_all(b"ping").await?;
        stream.close().await?;
        std::io::Result::Ok(peer)
    })
    .unwrap();
    assert_eq!(peer, v4);
    assert!(started.elapsed() >= Duration::from_millis(240));
    assert_eq!(map.len(), 0, "the losing attempt is closed");
    assert_eq!(reader.join().unwrap(), b"ping");
}

#[test]
fn the_async_face_resolves_localhost_off_the_loop() {
    let listener = asyncore::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The listener is in the thread's default map; so is the client.
    let echoed = asyncore::block_on(asyncore::timeout(util::async_util::LIMIT, async move {
        let server = asyncore::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            let mut buf = [0; 4];
            s.read_exact(&mut buf).await?;
            s.write_all(&buf).await?;
            std::io::Result::Ok(())
        })?;
        let mut client = TcpStream::connect(("localhost", port)).await?;
        client.write_all(b"pong").await?;
        let mut buf = [0; 4];
        client.read_exact(&mut buf).await?;
        server.await.map_err(std::io::Error::other)??;
        std::io::Result::Ok(buf)
    }))
    .unwrap()
    .expect("timed out")
    .unwrap();
    assert_eq!(&echoed, b"pong");
}

#[test]
fn when_every_address_fails_the_error_names_each() {
    let a = refused_addr();
    let b: SocketAddr = if ipv6_available() {
        format!("[::1]:{}", refused_addr().port()).parse().unwrap()
    } else {
        refused_addr()
    };
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    map.add(
        Socket::tcp_connect(vec![a, b]).unwrap(),
        Client(seen.clone()),
    )
    .unwrap();
    run_until_empty(&map, "both attempts to fail");
    let seen = seen.borrow();
    assert_eq!(seen.hooks, ["error", "close"]);
    let text = seen.error.clone().unwrap();
    assert!(
        text.contains(&a.to_string()) && text.contains(&b.to_string()),
        "{text}"
    );
    // Interleaved: the second family goes second whatever the order given.
    assert_eq!(seen.attempts.len(), 2);
    assert!(seen.attempts.contains(&a) && seen.attempts.contains(&b));

    // The async face gives the same error.
    let map = Map::new().unwrap();
    let e = within(&map, TcpStream::connect(vec![a, b])).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    let c = e.get_ref().unwrap().downcast_ref::<ConnectError>().unwrap();
    assert_eq!(c.attempts().len(), 2);
}

#[test]
fn an_unknown_host_is_an_error_naming_it() {
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    map.add(
        Socket::tcp_connect("no-such-host.invalid:80").unwrap(),
        Client(seen.clone()),
    )
    .unwrap();
    run_until_empty(&map, "the lookup to fail");
    assert_eq!(seen.borrow().hooks, ["error", "close"]);
    let text = seen.borrow().error.clone().unwrap();
    assert!(text.contains("no-such-host.invalid"), "{text}");
}

#[test]
fn closing_a_resolving_channel_closes_its_attempts() {
    if !ipv6_available() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let (v6, _fillers, _listener) = blackholed_v6();
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let id = map
        .add(
            Socket::tcp_connect(vec![v6, v6]).unwrap(),
            Client(seen.clone()),
        )
        .unwrap();
    // The attempt is under way: the client and its attempt.
    run_until(&map, "the first attempt to start", || map.len() == 2);
    assert!(map.close(id));
    run_until_empty(&map, "the attempt to close with its channel");
    assert_eq!(seen.borrow().hooks, ["close"]);
}

#[test]
fn strings_without_a_port_are_refused_at_once() {
    for bad in ["localhost", "localhost:http", "[::1]"] {
        let e = Socket::tcp_connect(bad).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
}

#[test]
fn lookup_host_answers_from_a_helper_thread() {
    let map = Map::new().unwrap();
    let addrs = within(&map, asyncore::lookup_host("localhost", 7)).unwrap();
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 7));
    // A literal is answered too (getaddrinfo parses it).
    let addrs = within(&map, asyncore::lookup_host("127.0.0.1", 9)).unwrap();
    assert_eq!(addrs, ["127.0.0.1:9".parse::<SocketAddr>().unwrap()]);
}
