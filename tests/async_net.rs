//! Async sockets over real sockets: TCP echo over IPv4, IPv6 and Unix
//! streams (accept, connect, `AsyncRead`/`AsyncWrite` on a split `&stream`,
//! half-close), connect errors, UDP and Unix datagrams, a task dropped while
//! it waits on a socket, a flood that must not starve another task,
//! `BufReader::lines`, and many concurrent connections.

mod util;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use asyncore::{
    Address, Error, Exit, Map, RunOptions, Socket, TcpListener, TcpStream, UdpSocket, UnixDatagram,
    UnixListener, UnixStream,
};
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures::{StreamExt, TryStreamExt};

use util::async_util::{DropGuard, echo_round_trip, serve_echo, within};
use util::{PEER_TIMEOUT, TempDir, ipv6_available, payload, refused_addr};

// ---------------------------------------------------------------------------
// Echo over TCP v4/v6 and Unix
// ---------------------------------------------------------------------------

fn tcp_echo(bind: &str) {
    let map = Map::new().unwrap();
    let data = payload(256 * 1024);
    within(&map, async {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let server = asyncore::spawn(async move {
            let (stream, peer) = listener.accept().await?;
            let echoed = serve_echo(stream).await?;
            io::Result::Ok((peer, echoed))
        })
        .unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        let echo = echo_round_trip(&client, &data).await.unwrap();
        assert!(echo == data, "echo differs ({} bytes back)", echo.len());
        let (peer, echoed) = server.await.unwrap().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(echoed, data.len() as u64);
    });
    assert_eq!(map.tasks(), 0);
    assert_eq!(map.len(), 0, "every socket left the map with its owner");
}

#[test]
fn tcp_echo_ipv4() {
    tcp_echo("127.0.0.1:0");
}

#[test]
fn tcp_echo_ipv6() {
    if !ipv6_available() {
        println!("note: skipping tcp_echo_ipv6: cannot bind [::1]:0 here");
        return;
    }
    tcp_echo("[::1]:0");
}

#[test]
fn unix_echo() {
    let dir = TempDir::new("async-echo");
    let path = dir.join("echo.sock");
    let map = Map::new().unwrap();
    let data = payload(256 * 1024);
    within(&map, async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = asyncore::spawn(async move {
            let (stream, peer) = listener.accept().await?;
            let echoed = serve_echo(stream).await?;
            io::Result::Ok((peer, echoed))
        })
        .unwrap();
        let client = UnixStream::connect(&path).await.unwrap();
        let echo = echo_round_trip(&client, &data).await.unwrap();
        assert!(echo == data, "echo differs ({} bytes back)", echo.len());
        let (peer, echoed) = server.await.unwrap().unwrap();
        assert_eq!(peer, Address::Unix(None), "the client is unnamed");
        assert_eq!(echoed, data.len() as u64);
    });
    assert_eq!(map.len(), 0);
}

#[test]
fn half_close_lets_the_peer_answer_after_end_of_file() {
    let map = Map::new().unwrap();
    within(&map, async {
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(b"question").await.unwrap();
        (&a).close().await.unwrap();
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"question", "b saw end of file after the data");
        // a's write side is shut, its read side is open.
        (&b).write_all(b"answer").await.unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        (&a).read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer");
        // Writing after the half-close fails.
        let err = (&a).write_all(b"late").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    });
}

// ---------------------------------------------------------------------------
// Connect errors, wrapping sockets
// ---------------------------------------------------------------------------

#[test]
fn connect_refused_is_connection_refused() {
    let map = Map::new().unwrap();
    let addr = refused_addr();
    let err = within(&map, TcpStream::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(map.len(), 0, "the failed socket left the map");

    // Unix: a socket file nobody listens on, and no file at all.
    let dir = TempDir::new("refused");
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let err = within(&map, UnixStream::connect(&stale)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let err = within(&map, UnixStream::connect(dir.join("missing.sock"))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert_eq!(map.len(), 0);
}

#[test]
fn from_socket_checks_the_kind() {
    let map = Map::new().unwrap();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let err = TcpStream::from_socket(&map, listener).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let udp = Socket::udp_bind("127.0.0.1:0").unwrap();
    let err = TcpListener::from_socket(&map, udp).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(map.len(), 0);
    let listener =
        TcpListener::from_socket(&map, Socket::tcp_listen("127.0.0.1:0").unwrap()).unwrap();
    assert_eq!(map.len(), 1, "from_socket adds to the given map");
    drop(listener);
    assert_eq!(map.len(), 0, "dropping it leaves the map");
}

#[test]
fn writing_to_a_reset_peer_fails_instead_of_hanging() {
    let map = Map::new().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let client = within(&map, TcpStream::connect(addr)).unwrap();
    let (peer, _) = std_listener.accept().unwrap();
    util::linger_zero(&peer);
    drop(peer);
    let err = within(&map, async {
        let chunk = [7u8; 16 * 1024];
        loop {
            if let Err(e) = (&client).write_all(&chunk).await {
                return e;
            }
        }
    });
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Datagrams
// ---------------------------------------------------------------------------

fn udp_ping_pong(bind: &str) {
    let map = Map::new().unwrap();
    within(&map, async {
        let a = UdpSocket::bind(bind).unwrap();
        let b = UdpSocket::bind(bind).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // The receiver waits first, so the datagram arrives while it is
        // parked in the loop.
        let server = asyncore::spawn(async move {
            let mut buf = [0u8; 1500];
            let mut senders = Vec::new();
            for _ in 0..20 {
                let (n, from) = b.recv_from(&mut buf).await?;
                let reply = buf[..n].to_ascii_uppercase();
                b.send_to(&reply, from).await?;
                senders.push(from);
            }
            io::Result::Ok(senders)
        })
        .unwrap();
        let mut buf = [0u8; 1500];
        for i in 0..20 {
            let msg = format!("ping {i}");
            assert_eq!(a.send_to(msg.as_bytes(), b_addr).await.unwrap(), msg.len());
            let (n, from): (usize, SocketAddr) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, b_addr);
            assert_eq!(&buf[..n], msg.to_ascii_uppercase().as_bytes());
        }
        let senders = server.await.unwrap().unwrap();
        assert_eq!(senders, vec![a_addr; 20]);
    });
    assert_eq!(map.len(), 0);
}

#[test]
fn udp_send_to_recv_from_ipv4() {
    udp_ping_pong("127.0.0.1:0");
}

#[test]
fn udp_send_to_recv_from_ipv6() {
    if !ipv6_available() {
        println!("note: skipping udp_send_to_recv_from_ipv6: no [::1]");
        return;
    }
    udp_ping_pong("[::1]:0");
}

#[test]
fn unix_datagrams_carry_their_sender() {
    let dir = TempDir::new("async-dgram");
    let (pa, pb) = (dir.join("a.sock"), dir.join("b.sock"));
    let map = Map::new().unwrap();
    within(&map, async {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        let pb2 = pb.clone();
        let receiver = asyncore::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, first) = b.recv_from(&mut buf).await?;
            b.send_to(&buf[..n], first.as_path().unwrap()).await?;
            let (n, from) = b.recv_from(&mut buf).await?;
            io::Result::Ok((first, buf[..n].to_vec(), from))
        })
        .unwrap();
        assert_eq!(a.send_to(b"hello", &pb2).await.unwrap(), 5);
        let mut buf = [0u8; 64];
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.as_path(), Some(pb2.as_path()));
        // An unbound sender is unnamed.
        let anon = UnixDatagram::unbound().unwrap();
        anon.send_to(b"anon", &pb2).await.unwrap();
        let (first, data, from) = receiver.await.unwrap().unwrap();
        assert_eq!(first.as_path(), Some(pa.as_path()));
        assert_eq!(data, b"anon");
        assert_eq!(from, Address::Unix(None));
    });
}

// ---------------------------------------------------------------------------
// Dropping a task (or the map, or the channel) while a task waits
// ---------------------------------------------------------------------------

/// A std listener and an async client connected to it in `map`; returns
/// the client and the accepted std peer (with a read timeout).
fn connected(map: &Map) -> (TcpStream, std::net::TcpStream) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let client = within(map, TcpStream::connect(addr)).unwrap();
    let (peer, _) = std_listener.accept().unwrap();
    peer.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    (client, peer)
}

#[track_caller]
fn assert_peer_sees_eof(peer: &mut std::net::TcpStream) {
    let mut buf = [0u8; 16];
    match peer.read(&mut buf) {
        Ok(0) => {}
        other => panic!("expected end of file at the peer, got {other:?}"),
    }
}

#[test]
fn cancelling_a_task_blocked_in_read_closes_its_socket() {
    let map = Map::new().unwrap();
    let (client, mut peer) = connected(&map);
    assert_eq!(map.len(), 1);
    let dropped = Rc::new(Cell::new(false));
    let guard = DropGuard(dropped.clone());
    let handle = map.spawn(async move {
        let _guard = guard;
        let mut buf = [0u8; 16];
        (&client).read(&mut buf).await
    });
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(3))
            .unwrap(),
        Exit::CountExhausted,
        "the task waits for input"
    );
    assert!(!dropped.get());
    handle.cancel();
    let exit = map
        .run(&RunOptions::new().timeout(Duration::ZERO).count(5))
        .unwrap();
    assert_eq!(exit, Exit::Empty, "no task and no channel left");
    assert!(dropped.get(), "the task's future was dropped");
    assert_eq!(map.len(), 0, "the socket left the map");
    assert_peer_sees_eof(&mut peer);
    assert!(matches!(
        futures::FutureExt::now_or_never(handle),
        Some(Err(Error::Cancelled))
    ));
}

#[test]
fn dropping_the_map_with_a_task_blocked_in_read_closes_its_socket() {
    let map = Map::new().unwrap();
    let (client, mut peer) = connected(&map);
    let dropped = Rc::new(Cell::new(false));
    let guard = DropGuard(dropped.clone());
    let _handle = map.spawn(async move {
        let _guard = guard;
        let mut buf = [0u8; 16];
        (&client).read(&mut buf).await
    });
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(2))
        .unwrap();
    assert!(!dropped.get());
    drop(map);
    assert!(dropped.get(), "the task went with the map");
    assert_peer_sees_eof(&mut peer);
}

#[test]
fn closing_the_channels_wakes_a_waiting_task_with_not_connected() {
    let map = Map::new().unwrap();
    let (client, mut peer) = connected(&map);
    let handle = map.spawn(async move {
        let mut buf = [0u8; 16];
        (&client).read(&mut buf).await
    });
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(2))
        .unwrap();
    assert!(!handle.is_finished());
    map.close_all();
    assert_eq!(map.len(), 0);
    let outcome = within(&map, handle).unwrap();
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    assert_peer_sees_eof(&mut peer);
}

// ---------------------------------------------------------------------------
// Fairness under a flood (the cooperative budget)
// ---------------------------------------------------------------------------

#[test]
fn a_flooded_socket_cannot_starve_another_task() {
    const ROUNDS: usize = 200;
    let map = Map::new().unwrap();
    let flood_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (flood_addr, echo_addr) = (
        flood_listener.local_addr().unwrap(),
        echo_listener.local_addr().unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let (s, w) = (stop.clone(), written.clone());
    // Writes as fast as it can until told to stop, the reader goes away, or
    // 20 s pass (so a starving loop cannot hang the test).
    let flooder = thread::spawn(move || {
        let (mut stream, _) = flood_listener.accept().unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        let cap = Instant::now() + Duration::from_secs(20);
        while !s.load(Ordering::Relaxed) && Instant::now() < cap {
            match stream.write(&chunk) {
                Ok(n) => {
                    w.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
    });
    let echoer = thread::spawn(move || {
        let (mut stream, _) = echo_listener.accept().unwrap();
        stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        let mut buf = [0u8; 256];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write_all(&buf[..n]).unwrap(),
            }
        }
    });

    let read_total = Rc::new(Cell::new(0u64));
    let total = read_total.clone();
    let (reader, rounds, read_during) = within(&map, async move {
        let flood = TcpStream::connect(flood_addr).await.unwrap();
        let ping = TcpStream::connect(echo_addr).await.unwrap();
        ping.set_nodelay(true).unwrap();
        // Task 1: reads the flood forever, in reads small enough that the
        // socket never runs dry (so only the budget makes it yield).
        let reader = asyncore::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                let n = (&flood).read(&mut buf).await?;
                if n == 0 {
                    return io::Result::Ok(());
                }
                total.set(total.get() + n as u64);
            }
        })
        .unwrap();
        // Task 2: round trips on another socket.
        let total = read_total.clone();
        let pinger = asyncore::spawn(async move {
            // Wait for the flood to flow first.
            while total.get() == 0 {
                asyncore::sleep(Duration::from_millis(1)).await;
            }
            let before = total.get();
            let mut buf = [0u8; 8];
            for i in 0..ROUNDS as u64 {
                (&ping).write_all(&i.to_be_bytes()).await?;
                (&ping).read_exact(&mut buf).await?;
                assert_eq!(u64::from_be_bytes(buf), i);
            }
            io::Result::Ok((ROUNDS, total.get() - before))
        })
        .unwrap();
        let (rounds, read_during) = pinger.await.unwrap().unwrap();
        (reader, rounds, read_during)
    });
    assert_eq!(rounds, ROUNDS);
    assert!(
        read_during > 0,
        "the flood was read while the round trips went on"
    );
    stop.store(true, Ordering::Relaxed);
    reader.cancel();
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(3))
        .unwrap();
    assert_eq!(map.len(), 0);
    flooder.join().unwrap();
    echoer.join().unwrap();
    assert!(written.load(Ordering::Relaxed) > 0);
}

// ---------------------------------------------------------------------------
// BufReader::lines, many connections
// ---------------------------------------------------------------------------

#[test]
fn lines_over_a_bufreader() {
    let map = Map::new().unwrap();
    let long = "x".repeat(100_000);
    let expected = vec![
        "alpha".to_owned(),
        "beta".to_owned(),
        String::new(),
        long.clone(),
        "last without newline".to_owned(),
    ];
    let lines: Vec<String> = within(&map, async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = asyncore::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let text = format!("alpha\nbeta\r\n\n{long}\nlast without newline");
            // In small pieces, so lines span reads.
            for piece in text.as_bytes().chunks(777) {
                (&stream).write_all(piece).await?;
            }
            (&stream).close().await
        })
        .unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let lines = BufReader::new(client).lines().try_collect().await.unwrap();
        writer.await.unwrap().unwrap();
        lines
    });
    assert_eq!(lines, expected);
}

#[test]
fn many_concurrent_connections() {
    const CLIENTS: usize = 200;
    let map = Map::new().unwrap();
    let (served, results) = within(&map, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = asyncore::spawn(async move {
            let mut connections = Vec::new();
            for _ in 0..CLIENTS {
                let (stream, _) = listener.accept().await?;
                connections.push(asyncore::spawn(serve_echo(stream))?);
            }
            drop(listener);
            let mut total = 0;
            for connection in connections {
                total += connection.await.map_err(io::Error::from)??;
            }
            io::Result::Ok(total)
        })
        .unwrap();
        let clients = (0..CLIENTS).map(|i| {
            asyncore::spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                let msg = format!("client {i};").repeat(i % 50 + 1);
                let echo = echo_round_trip(&stream, msg.as_bytes()).await?;
                assert_eq!(echo, msg.as_bytes(), "client {i}");
                io::Result::Ok(msg.len())
            })
            .unwrap()
        });
        let results = futures::stream::iter(clients)
            .then(|h| h)
            .collect::<Vec<_>>()
            .await;
        (server.await.unwrap().unwrap(), results)
    });
    let mut sent = 0;
    for (i, r) in results.into_iter().enumerate() {
        sent += r
            .unwrap_or_else(|e| panic!("client {i}: {e}"))
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
    }
    assert_eq!(served, sent as u64);
    assert_eq!(map.len(), 0);
    assert_eq!(map.tasks(), 0);
}

#[test]
fn two_tasks_waiting_to_read_one_socket_are_both_woken() {
    let map = Map::new().unwrap();
    let outcome = map
        .block_on(asyncore::timeout(Duration::from_secs(2), async {
            let shared = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = shared.local_addr().unwrap();
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let socket = shared.clone();
                    asyncore::spawn(async move {
                        let mut buf = [0u8; 16];
                        let (n, _) = socket.recv_from(&mut buf).await?;
                        io::Result::Ok(buf[..n].to_vec())
                    })
                    .unwrap()
                })
                .collect();
            // Both receivers are parked on the socket before anything comes.
            asyncore::sleep(Duration::from_millis(5)).await;
            sender.send_to(b"one", addr).await.unwrap();
            sender.send_to(b"two", addr).await.unwrap();
            futures::future::join_all(receivers).await
        }))
        .unwrap();
    let mut got: Vec<Vec<u8>> = outcome
        .expect("a receiver was never woken")
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
}
