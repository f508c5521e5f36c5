//! Channels that are not TCP streams: UDP (v4 and v6), Unix datagram and
//! stream sockets, pipes, and fds the poller refuses.

mod util;

use std::cell::RefCell;
use std::io;
use std::net::{Shutdown, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::rc::Rc;

use asyncore::{
    Address, Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket, SocketKind,
};

use util::{DEADLINE, HookLog, Inert, TempDir, payload, run_until};

/// Echoes datagrams to their sender, recording who sent them.
struct DatagramEcho {
    senders: Rc<RefCell<Vec<Address>>>,
}

impl Dispatcher for DatagramEcho {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 2048];
        let (n, from) = cx.recv_from(&mut buf)?;
        cx.send_to(&buf[..n], &from)?;
        self.senders.borrow_mut().push(from);
        Ok(())
    }
    fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
        panic!("datagram echo: unexpected error {error}");
    }
}

/// Receives everything waiting on a non-blocking std UDP socket.
fn udp_drain(socket: &UdpSocket, into: &mut Vec<(Vec<u8>, std::net::SocketAddr)>) {
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => into.push((buf[..n].to_vec(), from)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("udp recv: {e}"),
        }
    }
}

fn udp_echo(bind: &str) {
    let Ok(client) = UdpSocket::bind(bind) else {
        println!("skipped: cannot bind {bind} (no such address family here)");
        return;
    };
    client.set_nonblocking(true).unwrap();
    let map = Map::new().unwrap();
    let senders = Rc::new(RefCell::new(Vec::new()));
    let server = Socket::udp_bind(bind).unwrap();
    assert_eq!(server.kind(), SocketKind::Datagram);
    let server_addr = server.local_addr().unwrap().as_inet().unwrap();
    let id = map
        .add(
            server,
            DatagramEcho {
                senders: senders.clone(),
            },
        )
        .unwrap();
    assert_eq!(map.kind(id), Some(SocketKind::Datagram));
    assert_eq!(map.local_addr(id).unwrap(), Address::Inet(server_addr));

    let messages: [&[u8]; 3] = [b"one", b"", b"three, the last"];
    for m in messages {
        client.send_to(m, server_addr).unwrap();
    }
    let mut got = Vec::new();
    run_until(&map, "three echoed datagrams", || {
        udp_drain(&client, &mut got);
        got.len() >= messages.len()
    });
    // Datagram boundaries survive, an empty datagram included (and it is
    // not end of file: the channel is still open).
    let payloads: Vec<&[u8]> = got.iter().map(|(d, _)| d.as_slice()).collect();
    assert_eq!(payloads, messages);
    assert!(got.iter().all(|(_, from)| *from == server_addr));
    let client_addr = Address::Inet(client.local_addr().unwrap());
    assert_eq!(*senders.borrow(), vec![client_addr; 3]);
    assert!(map.contains(id));
}

#[test]
fn udp_echo_ipv4() {
    udp_echo("127.0.0.1:0");
}

#[test]
fn udp_echo_ipv6() {
    udp_echo("[::1]:0");
}

#[test]
fn unix_datagram_bound_paths_echo() {
    let dir = TempDir::new("udgram");
    let server_path = dir.join("server.sock");
    let client_path = dir.join("client.sock");
    let map = Map::new().unwrap();
    let senders = Rc::new(RefCell::new(Vec::new()));
    let id = map
        .add(
            Socket::unix_datagram_bind(&server_path).unwrap(),
            DatagramEcho {
                senders: senders.clone(),
            },
        )
        .unwrap();
    assert_eq!(
        map.local_addr(id).unwrap().as_path(),
        Some(server_path.as_path())
    );
    let client = UnixDatagram::bind(&client_path).unwrap();
    client.set_nonblocking(true).unwrap();
    client.send_to(b"ping over a path", &server_path).unwrap();
    let mut got = Vec::new();
    run_until(&map, "the echo over Unix datagrams", || {
        let mut buf = [0u8; 256];
        match client.recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!(from.as_pathname(), Some(server_path.as_path()));
                got.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("recv: {e}"),
        }
    });
    assert_eq!(got, b"ping over a path");
    assert_eq!(
        *senders.borrow(),
        [Address::Unix(Some(client_path.clone()))]
    );
    assert_eq!(senders.borrow()[0].as_path(), Some(client_path.as_path()));
}

#[test]
fn unix_datagram_pair_ping_pong() {
    /// Sends its datagrams once writable, then collects replies.
    struct Pinger {
        log: HookLog,
        sent: bool,
    }
    impl Dispatcher for Pinger {
        fn writable(&self) -> bool {
            !self.sent
        }
        fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            for d in [&b"ping1"[..], b"ping2", b""] {
                assert_eq!(cx.send(d)?, d.len());
            }
            self.sent = true;
            Ok(())
        }
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 64];
            let n = cx.recv(&mut buf)?;
            self.log.push("A", &String::from_utf8_lossy(&buf[..n]));
            Ok(())
        }
        fn handle_eof(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
            self.log.push("A", "handle_eof");
            Ok(())
        }
    }
    /// Answers each datagram with a "pong" of the same number.
    struct Ponger(HookLog);
    impl Dispatcher for Ponger {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 64];
            let (n, from) = cx.recv_from(&mut buf)?;
            // A socket pair's peer has no name.
            assert_eq!(from, Address::Unix(None));
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.0.push("B", &format!("got {text:?}"));
            cx.send(text.replace("ping", "pong").as_bytes())?;
            Ok(())
        }
        fn handle_eof(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
            self.0.push("B", "handle_eof");
            Ok(())
        }
    }

    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (a, b) = Socket::unix_datagram_pair().unwrap();
    let a = map
        .add(
            a,
            Pinger {
                log: log.clone(),
                sent: false,
            },
        )
        .unwrap();
    let b = map.add(b, Ponger(log.clone())).unwrap();
    run_until(&map, "three pongs", || log.hooks("A").len() >= 3);
    assert_eq!(
        log.hooks("B"),
        [r#"got "ping1""#, r#"got "ping2""#, r#"got """#]
    );
    // The empty datagram comes back as an empty datagram, not as EOF.
    assert_eq!(log.hooks("A"), ["pong1", "pong2", ""]);
    assert!(map.contains(a) && map.contains(b));
}

#[test]
fn unix_stream_pair_echo_then_half_close() {
    struct Client {
        log: HookLog,
        got: Vec<u8>,
    }
    impl Dispatcher for Client {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 64];
            let n = cx.recv(&mut buf)?;
            self.got.extend_from_slice(&buf[..n]);
            if n > 0 && self.got == b"hello, pair" {
                self.log.push("A", "echo complete");
                cx.shutdown(Shutdown::Write)?;
            }
            Ok(())
        }
        fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.log.push("A", "handle_eof");
            cx.close_when_done()
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.log.push("A", "handle_close");
        }
    }
    struct Echo(HookLog);
    impl Dispatcher for Echo {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 64];
            let n = cx.recv(&mut buf)?;
            cx.push(&buf[..n])
        }
        fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.0.push("B", "handle_eof");
            cx.close_when_done()
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.0.push("B", "handle_close");
        }
    }

    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (a, b) = Socket::unix_stream_pair().unwrap();
    assert_eq!(a.kind(), SocketKind::Stream);
    let a = map
        .add(
            a,
            Client {
                log: log.clone(),
                got: Vec::new(),
            },
        )
        .unwrap();
    map.add(b, Echo(log.clone())).unwrap();
    assert!(map.is_connected(a));
    map.push(a, b"hello, pair").unwrap();
    // A shuts down its write side after the echo; B sees EOF and closes;
    // A then sees EOF and closes: the map empties.
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(50))
        .unwrap();
    assert_eq!(exit, Exit::Empty);
    assert_eq!(
        log.hooks("A"),
        ["echo complete", "handle_eof", "handle_close"]
    );
    assert_eq!(log.hooks("B"), ["handle_eof", "handle_close"]);
}

#[test]
fn pipe_channels_carry_data_and_eof() {
    const LEN: usize = 256 * 1024; // more than a pipe buffer: output queues
    #[derive(Default)]
    struct Seen {
        got: Vec<u8>,
        hooks: Vec<String>,
    }
    struct Reader(Rc<RefCell<Seen>>);
    impl Dispatcher for Reader {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            assert_eq!(cx.kind(), Some(SocketKind::Pipe));
            let mut small = [0u8; 4];
            let e = cx.recv_from(&mut small).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            let mut buf = [0u8; 8192];
            let n = cx.recv(&mut buf)?;
            self.0.borrow_mut().got.extend_from_slice(&buf[..n]);
            Ok(())
        }
        fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.0.borrow_mut().hooks.push("handle_eof".into());
            cx.close_when_done()
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.0.borrow_mut().hooks.push("handle_close".into());
        }
        fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
            self.0
                .borrow_mut()
                .hooks
                .push(format!("handle_error {error}"));
        }
    }
    struct Writer(HookLog);
    impl Dispatcher for Writer {
        fn readable(&self) -> bool {
            false // a write end has nothing to read
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.0.push("W", "handle_close");
        }
        fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
            self.0.push("W", &format!("handle_error {error}"));
        }
    }

    let map = Map::new().unwrap();
    let log = HookLog::new();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let (r, w) = Socket::pipe().unwrap();
    assert_eq!((r.kind(), w.kind()), (SocketKind::Pipe, SocketKind::Pipe));
    let r = map.add(r, Reader(seen.clone())).unwrap();
    let w = map.add(w, Writer(log.clone())).unwrap();
    assert!(map.is_connected(r) && map.is_connected(w));
    assert!(map.local_addr(w).is_err(), "a pipe has no socket address");

    let data = payload(LEN);
    map.push(w, &data).unwrap();
    assert!(
        map.pending_output(w) > 0,
        "the pipe buffer is smaller than that"
    );
    // The write end closes once flushed; the reader then sees EOF.
    map.close_when_done(w).unwrap();
    assert!(matches!(map.push(w, b"late"), Err(Error::Closing(_))));
    run_until(&map, "the reader closes after EOF", || {
        seen.borrow().hooks.iter().any(|h| h == "handle_close")
    });
    let seen = seen.borrow();
    assert_eq!(seen.hooks, ["handle_eof", "handle_close"]);
    assert_eq!(seen.got.len(), LEN);
    assert!(seen.got == data, "the pipe reader got different bytes");
    assert_eq!(log.hooks("W"), ["handle_close"]);
    assert!(map.is_empty());
}

#[test]
fn push_on_datagram_or_listener_is_unsupported() {
    let map = Map::new().unwrap();
    let udp = map
        .add(Socket::udp_bind("127.0.0.1:0").unwrap(), Inert)
        .unwrap();
    assert!(
        matches!(map.push(udp, b"x"), Err(Error::Unsupported(_))),
        "{:?}",
        map.push(udp, b"x")
    );
    let (unix_a, _unix_b) = Socket::unix_datagram_pair().unwrap();
    let unix = map.add(unix_a, Inert).unwrap();
    assert!(matches!(map.push(unix, b"x"), Err(Error::Unsupported(_))));
    let listener = map
        .add(Socket::tcp_listen("127.0.0.1:0").unwrap(), Inert)
        .unwrap();
    assert!(matches!(
        map.push(listener, b"x"),
        Err(Error::Unsupported(_))
    ));
    // Refused, not closed.
    assert!(map.contains(udp) && map.contains(unix) && map.contains(listener));
    assert_eq!(map.pending_output(udp), 0);
}

#[test]
fn regular_file_is_refused_by_epoll_with_an_error() {
    let dir = TempDir::new("regular");
    let path = dir.join("plain.txt");
    std::fs::write(&path, b"not pollable by epoll").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let socket = Socket::from_fd(file.into()).unwrap();
    assert_eq!(socket.kind(), SocketKind::Pipe);
    let map = Map::new().unwrap();
    let result = map.add(socket, Inert);
    if cfg!(polling_test_poll_backend) {
        // poll(2) accepts regular files (always ready).
        let id = result.expect("poll(2) takes regular files");
        assert!(map.close(id));
    } else {
        let err = result.expect_err("epoll must refuse a regular file");
        println!("refused: {err}");
        assert_eq!(
            err.as_io().and_then(io::Error::raw_os_error),
            Some(1),
            "expected EPERM: {err:?}"
        );
    }
    assert!(map.is_empty());
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
}
