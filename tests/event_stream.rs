//! `EventStream`/`ChannelEvent` over real sockets: a TCP client's life
//! (Connected, Writable on request, Readable with its data, Eof, Closed,
//! then the end), a refused connect, listeners yielding `Accepted` for every
//! family (the accepted socket served as another event stream or as a
//! callback channel) with a bounded accept queue, readiness that is
//! coalesced and does not make the loop spin while the task is away,
//! `set_interest(false, false)`, out-of-band data, half-close,
//! `push`/`close_when_done`, disconnects, dropping the stream, a map that
//! is gone, and UDP through `recv_from`/`send_to`.

mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::thread;
use std::time::{Duration, Instant};

use asyncore::{
    Address, ChannelEvent, Ctx, Dispatcher, Error, EventStream, Exit, Map, Result, Socket,
};
use futures::{FutureExt, StreamExt};
use socket2::SockRef;

use util::async_util::{within, yield_to_loop};
use util::{
    EventLog, Family, PASS, StdStream, linger_zero, one_pass, payload, refused_addr, run_for,
    run_until, tcp_pair, unix_pair,
};

/// A short name for an event, for assertions and messages.
fn label(event: &ChannelEvent) -> String {
    match event {
        ChannelEvent::Connected => "Connected".into(),
        ChannelEvent::Readable => "Readable".into(),
        ChannelEvent::Writable => "Writable".into(),
        ChannelEvent::Accepted(..) => "Accepted".into(),
        ChannelEvent::Exceptional => "Exceptional".into(),
        ChannelEvent::Eof => "Eof".into(),
        ChannelEvent::Error(e) => format!("Error({e})"),
        ChannelEvent::Closed => "Closed".into(),
        other => format!("{other:?}"),
    }
}

/// Awaits the next event; the stream must not have ended.
async fn next_event(events: &mut EventStream) -> ChannelEvent {
    events.next().await.expect("the event stream ended early")
}

/// Awaits the next event and checks its label.
async fn expect_event(events: &mut EventStream, want: &str) {
    let got = next_event(events).await;
    assert_eq!(label(&got), want, "unexpected event {got:?}");
}

/// Whether the stream has an event ready right now (polled once, without
/// letting the loop run).
fn has_ready_event(events: &mut EventStream) -> Option<String> {
    events
        .next()
        .now_or_never()
        .map(|e| e.as_ref().map_or_else(|| "<end>".to_owned(), label))
}

/// Reads from the stream until `len` bytes arrived, waiting for `Readable`
/// whenever a recv would block. Any other event fails the test.
async fn recv_exact(events: &mut EventStream, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while got.len() < len {
        match events.recv(&mut buf) {
            Ok(0) => panic!("end of file after {} of {len} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                expect_event(events, "Readable").await;
            }
            Err(e) => panic!("recv failed after {} bytes: {e}", got.len()),
        }
    }
    got
}

/// Runs `passes` passes of at most [`PASS`] each and returns how long they
/// took; each must have run (the map must not empty or stop).
fn timed_passes(map: &Map, passes: u32, mut between: impl FnMut(u32)) -> Duration {
    let start = Instant::now();
    for i in 0..passes {
        between(i);
        assert_eq!(one_pass(map, PASS), Exit::CountExhausted);
    }
    start.elapsed()
}

/// The least time `passes` idle passes must take: half of their waits
/// (generous for early wake-ups; a spinning loop takes microseconds).
fn idle_floor(passes: u32) -> Duration {
    PASS * passes / 2
}

/// Echoes what it reads; logs each push.
struct Echo {
    log: EventLog,
}

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 4096];
        let n = cx.recv(&mut buf)?;
        cx.push(&buf[..n])?;
        self.log.push(format!("echoed {n}"));
        Ok(())
    }
}

/// A blocking std client connected to `addr` (an endpoint of `family`).
fn std_connect(addr: &Address) -> StdStream {
    let stream = match addr {
        Address::Inet(a) => StdStream::Tcp(TcpStream::connect(a).expect("connect")),
        Address::Unix(Some(path)) => {
            StdStream::Unix(UnixStream::connect(path).expect("connect unix"))
        }
        other => panic!("cannot connect to {other}"),
    };
    stream.set_read_timeout(Some(util::PEER_TIMEOUT));
    stream
}

fn std_local_addr(stream: &StdStream) -> Option<std::net::SocketAddr> {
    match stream {
        StdStream::Tcp(s) => Some(s.local_addr().unwrap()),
        StdStream::Unix(_) => None,
    }
}

// ---------------------------------------------------------------------------
// A client's life
// ---------------------------------------------------------------------------

/// A TCP client as an event stream: `Connected`; nothing more until write
/// interest is set, then `Writable`; the peer's data as `Readable` and
/// `recv`; the peer's shutdown as `Readable`, `recv` returning 0, then
/// `Eof` (the channel can still send); after `close`, `Closed` and the end
/// of the stream, for good.
#[test]
fn tcp_client_connected_writable_readable_eof_closed_then_none() {
    let map = Map::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut events = map.add_events(Socket::tcp_connect(addr).unwrap()).unwrap();
    let id = events.id();

    within(&map, async {
        expect_event(&mut events, "Connected").await;
        // Only input interest by default: no Writable, no Readable.
        for _ in 0..3 {
            yield_to_loop().await;
        }
        assert_eq!(has_ready_event(&mut events), None);
        events.set_interest(true, true);
        expect_event(&mut events, "Writable").await;
        events.set_interest(true, false);
    });
    assert!(map.is_connected(id));

    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
    peer.write_all(b"hello from the peer").unwrap();
    within(&map, async {
        expect_event(&mut events, "Readable").await;
        let got = recv_exact(&mut events, 19).await;
        assert_eq!(got, b"hello from the peer");
    });

    peer.shutdown(Shutdown::Write).unwrap();
    within(&map, async {
        expect_event(&mut events, "Readable").await;
        let mut buf = [0u8; 16];
        assert_eq!(events.recv(&mut buf).unwrap(), 0);
        expect_event(&mut events, "Eof").await;
        // Half-closed: our side still sends.
        events.push(b"still here").unwrap();
    });
    let mut reply = [0u8; 10];
    peer.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"still here");

    within(&map, async {
        events.close();
        expect_event(&mut events, "Closed").await;
        assert!(events.next().await.is_none());
        assert!(events.next().await.is_none(), "None again after the end");
    });
    assert!(!map.contains(id));
    let mut buf = [0u8; 4];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the peer sees end of file");
}

/// A refused connect: `Error(e)` with `e.is_connect()` (the cause is the
/// refusal), then `Closed`, then the end.
#[test]
fn tcp_connect_refused_gives_connect_error_then_closed() {
    let map = Map::new().unwrap();
    let socket = match Socket::tcp_connect(refused_addr()) {
        Ok(socket) => socket,
        Err(e) => {
            // Allowed by the docs: the kernel may refuse at once.
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            return;
        }
    };
    let mut events = map.add_events(socket).unwrap();
    let id = events.id();
    within(&map, async {
        match next_event(&mut events).await {
            ChannelEvent::Error(e) => {
                assert!(e.is_connect(), "not a connect error: {e:?}");
                assert_eq!(
                    e.as_io().map(io::Error::kind),
                    Some(io::ErrorKind::ConnectionRefused),
                    "{e:?}"
                );
            }
            other => panic!("expected Error, got {other:?}"),
        }
        expect_event(&mut events, "Closed").await;
        assert!(events.next().await.is_none());
    });
    assert!(!map.contains(id));
    assert!(map.is_empty());
}

/// `shutdown(Write)` half-closes: the peer sees end of file while the
/// stream still reads the peer's reply.
#[test]
fn shutdown_write_half_closes_and_the_stream_still_reads() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    events.shutdown(Shutdown::Write).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "peer sees end of file");
    peer.write_all(b"reply").unwrap();
    within(&map, async {
        expect_event(&mut events, "Readable").await;
        assert_eq!(recv_exact(&mut events, 5).await, b"reply");
    });
    assert!(map.contains(events.id()));
}

/// `push` sends at once and queues the rest; `close_when_done` closes once
/// everything is sent (and refuses more output meanwhile): the peer gets
/// every byte, then end of file, and the stream ends with `Closed`.
#[test]
fn push_then_close_when_done_delivers_everything_then_closed() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = unix_pair();
    let data = payload(2 * 1024 * 1024);
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).map(|_| got)
    });
    let mut events = map.add_events(socket).unwrap();
    let id = events.id();
    let seen = within(&map, async {
        events.push(&data).unwrap();
        assert!(
            map.pending_output(id) > 0,
            "2 MiB should not fit in a socket buffer at once"
        );
        events.close_when_done().unwrap();
        assert!(
            matches!(events.push(b"late"), Err(Error::Closing(_))),
            "output after close_when_done must be refused"
        );
        let mut seen = Vec::new();
        while let Some(event) = events.next().await {
            seen.push(label(&event));
        }
        seen
    });
    assert_eq!(seen.last().map(String::as_str), Some("Closed"), "{seen:?}");
    assert!(
        seen.iter().all(|e| !e.starts_with("Error")),
        "no error expected: {seen:?}"
    );
    let got = reader.join().unwrap().expect("peer read");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the pushed bytes arrived altered");
    assert!(!map.contains(id));
}

/// A peer that resets the connection: the stream ends with `Closed` and no
/// `Error` (a disconnect is a plain close).
#[test]
fn peer_reset_closes_without_an_error() {
    let map = Map::new().unwrap();
    let (socket, peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    // Unread data on the peer's side makes the close a reset for sure.
    events.push(b"unread").unwrap();
    linger_zero(&peer);
    drop(peer);
    let seen = within(&map, async {
        let mut seen = Vec::new();
        while let Some(event) = events.next().await {
            if matches!(event, ChannelEvent::Readable) {
                let mut buf = [0u8; 64];
                match events.recv(&mut buf) {
                    Ok(n) => seen.push(format!("recv {n}")),
                    Err(e) => seen.push(format!("recv error {:?}", e.kind())),
                }
            }
            if matches!(event, ChannelEvent::Eof) {
                events.close();
            }
            seen.push(label(&event));
        }
        seen
    });
    assert_eq!(seen.last().map(String::as_str), Some("Closed"), "{seen:?}");
    assert!(
        seen.iter().all(|e| !e.starts_with("Error")),
        "a reset must not be reported as an error: {seen:?}"
    );
}

// ---------------------------------------------------------------------------
// Listeners
// ---------------------------------------------------------------------------

/// A listener's stream yields one `Accepted(socket, addr)` per connection,
/// with the client's address; one accepted socket becomes another event
/// stream, the other a callback channel, and both serve their client.
fn accepted_per_connection(family: Family) {
    let map = Map::new().unwrap();
    let (listener, endpoint) = family.listen();
    let mut events = map.add_events(listener).unwrap();
    let mut c1 = std_connect(&endpoint.addr);
    let mut c2 = std_connect(&endpoint.addr);

    let accepted = within(&map, async {
        let mut accepted = Vec::new();
        while accepted.len() < 2 {
            match next_event(&mut events).await {
                ChannelEvent::Accepted(socket, addr) => accepted.push((socket, addr)),
                other => panic!("expected Accepted, got {other:?}"),
            }
        }
        for _ in 0..3 {
            yield_to_loop().await;
        }
        assert_eq!(has_ready_event(&mut events), None, "only two connections");
        accepted
    });
    let mut accepted = accepted.into_iter();
    let (s1, a1) = accepted.next().unwrap();
    let (s2, a2) = accepted.next().unwrap();
    if family.is_inet() {
        // The backlog is FIFO: c1 first.
        assert_eq!(a1.as_inet(), std_local_addr(&c1), "{family}");
        assert_eq!(a2.as_inet(), std_local_addr(&c2), "{family}");
    }

    // The first as another event stream.
    let mut first = map.add_events(s1).unwrap();
    c1.write_all(b"one").unwrap();
    within(&map, async {
        expect_event(&mut first, "Readable").await;
        assert_eq!(recv_exact(&mut first, 3).await, b"one");
        first.push(b"ONE").unwrap();
    });
    let mut reply = [0u8; 3];
    c1.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ONE");

    // The second as a callback channel.
    let log = EventLog::new();
    let echo = map.add(s2, Echo { log: log.clone() }).unwrap();
    c2.write_all(b"two").unwrap();
    run_until(&map, "the echo channel echoed", || log.contains("echoed 3"));
    c2.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"two");
    assert!(map.contains(echo));

    drop(first);
    let mut buf = [0u8; 4];
    assert_eq!(
        c1.read(&mut buf).unwrap(),
        0,
        "dropping the stream closed it"
    );
    drop(endpoint);
}

#[test]
fn listener_yields_accepted_per_connection_ipv4() {
    run_for("accepted", Family::Ipv4, accepted_per_connection);
}

#[test]
fn listener_yields_accepted_per_connection_ipv6() {
    run_for("accepted", Family::Ipv6, accepted_per_connection);
}

#[test]
fn listener_yields_accepted_per_connection_unix() {
    run_for("accepted", Family::Unix, accepted_per_connection);
}

/// Counts the `Accepted` events ready now (without running the loop), up
/// to the first non-ready poll; keeps the sockets open.
fn drain_accepted(events: &mut EventStream, sockets: &mut Vec<Socket>) -> usize {
    let mut n = 0;
    while let Some(event) = events.next().now_or_never() {
        match event {
            Some(ChannelEvent::Accepted(socket, _)) => {
                sockets.push(socket);
                n += 1;
            }
            other => panic!("expected Accepted, got {other:?}"),
        }
    }
    n
}

/// Connects `n` blocking clients to `addr`.
fn connect_clients(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
}

/// A listener whose consumer is away stops accepting: with 200 clients
/// pending, idle passes queue fewer than all of them and the loop does not
/// spin; every connection is accepted once the consumer catches up.
#[test]
fn listener_stops_accepting_while_the_consumer_is_away() {
    const CLIENTS: usize = 200;
    let map = Map::new().unwrap();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    let mut events = map.add_events(listener).unwrap();
    let _clients = connect_clients(addr, CLIENTS);

    // The first pass accepts; the later ones must wait (nothing to do).
    assert_eq!(one_pass(&map, PASS), Exit::CountExhausted);
    let elapsed = timed_passes(&map, 5, |_| {});
    assert!(
        elapsed >= idle_floor(5),
        "the loop spun with a full accept queue: 5 passes in {elapsed:?}"
    );
    let mut sockets = Vec::new();
    let queued = drain_accepted(&mut events, &mut sockets);
    assert!(queued > 0, "the first pass accepted nothing");
    assert!(
        queued < CLIENTS,
        "all {CLIENTS} connections were accepted with nobody taking them"
    );

    // The consumer takes them as they come: every connection arrives.
    let more = within(&map, async {
        let mut more = 0;
        while queued + more < CLIENTS {
            match next_event(&mut events).await {
                ChannelEvent::Accepted(socket, _) => {
                    sockets.push(socket);
                    more += 1;
                }
                other => panic!("expected Accepted, got {other:?}"),
            }
        }
        more
    });
    assert_eq!(queued + more, CLIENTS);
}

/// The accept queue is bounded as documented (64 connections, the
/// `MAX_ACCEPTED` of src/events.rs): with 100 clients pending and nobody
/// taking events, at most 64 `Accepted` events are queued.
#[test]
fn listener_accept_queue_is_bounded_by_64() {
    const CLIENTS: usize = 100;
    let map = Map::new().unwrap();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    let mut events = map.add_events(listener).unwrap();
    let _clients = connect_clients(addr, CLIENTS);
    for _ in 0..3 {
        one_pass(&map, PASS);
    }
    let mut sockets = Vec::new();
    let queued = drain_accepted(&mut events, &mut sockets);
    assert!(queued > 0);
    assert!(
        queued <= 64,
        "{queued} accepted connections queued, documented maximum 64"
    );
}

// ---------------------------------------------------------------------------
// Readiness: coalesced, bounded, switchable
// ---------------------------------------------------------------------------

/// While the task does not poll the stream, the peer sends a chunk before
/// every pass: readiness is reported to the stream once and then the
/// channel stops asking, so the passes wait (the loop does not spin); when
/// the task polls it gets one `Readable`, not one per pass, and `recv`
/// returns every chunk.
#[test]
fn readiness_is_coalesced_and_the_loop_does_not_spin_while_the_task_is_away() {
    const PASSES: u32 = 8;
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    let chunk = |i: u32| format!("<chunk {i:02}>").into_bytes();
    let mut sent = Vec::new();

    // One Readable taken and its data left unread: the interest is armed
    // again.
    sent.extend(chunk(0));
    peer.write_all(&chunk(0)).unwrap();
    within(&map, async {
        expect_event(&mut events, "Readable").await;
    });

    // The first pass reports the pending input to the stream (at once).
    sent.extend(chunk(1));
    peer.write_all(&chunk(1)).unwrap();
    assert_eq!(one_pass(&map, PASS), Exit::CountExhausted);
    // The next ones find nothing to do although input keeps arriving.
    let elapsed = timed_passes(&map, PASSES, |i| {
        let c = chunk(i + 2);
        peer.write_all(&c).unwrap();
        sent.extend(c);
    });
    assert!(
        elapsed >= idle_floor(PASSES),
        "the loop spun while readiness waited to be taken: {PASSES} passes in {elapsed:?}"
    );

    let got = within(&map, async {
        expect_event(&mut events, "Readable").await;
        // One event for all those passes: nothing else is queued.
        assert_eq!(
            has_ready_event(&mut events),
            None,
            "more than one Readable for one unconsumed condition"
        );
        recv_exact(&mut events, sent.len()).await
    });
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&sent)
    );
}

/// `set_interest(false, false)`: no readiness at all (and the loop waits)
/// although input is pending and output possible; input interest back gives
/// `Readable`, output interest `Writable`, and switching off again silences
/// the stream.
#[test]
fn no_interest_stops_readiness_events() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    events.set_interest(false, false);
    peer.write_all(b"pending input").unwrap();
    let elapsed = timed_passes(&map, 5, |_| {});
    assert!(
        elapsed >= idle_floor(5),
        "the loop spun on a channel with no interest: {elapsed:?}"
    );
    assert_eq!(has_ready_event(&mut events), None);

    events.set_interest(true, false);
    within(&map, async {
        expect_event(&mut events, "Readable").await;
        assert_eq!(recv_exact(&mut events, 13).await, b"pending input");
        events.set_interest(false, true);
        expect_event(&mut events, "Writable").await;
        // Off again before the loop runs: nothing is reported.
        events.set_interest(false, false);
    });
    peer.write_all(b"more input").unwrap();
    let elapsed = timed_passes(&map, 5, |_| {});
    assert!(
        elapsed >= idle_floor(5),
        "the loop spun on a channel with no interest: {elapsed:?}"
    );
    assert_eq!(has_ready_event(&mut events), None);
    assert!(map.contains(events.id()));
}

/// Out-of-band data (TCP over IPv4): `Exceptional` comes first, and
/// `recv_out_of_band` reads the urgent byte; the normal data before it
/// arrives through `Readable` and `recv`.
#[test]
fn exceptional_for_out_of_band_data() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    peer.write_all(b"data").unwrap();
    assert_eq!(SockRef::from(&peer).send_out_of_band(b"!").unwrap(), 1);
    within(&map, async {
        expect_event(&mut events, "Exceptional").await;
        let mut buf = [0u8; 8];
        assert_eq!(events.recv_out_of_band(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'!');
        let mut got = Vec::new();
        while got.len() < 4 {
            match events.recv(&mut buf) {
                Ok(0) => panic!("unexpected end of file"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let event = next_event(&mut events).await;
                    assert!(
                        matches!(event, ChannelEvent::Readable | ChannelEvent::Exceptional),
                        "{event:?}"
                    );
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        assert_eq!(got, b"data", "the urgent byte is not in the normal data");
    });
}

// ---------------------------------------------------------------------------
// Dropping
// ---------------------------------------------------------------------------

/// Dropping the stream closes its channel: the id is gone and the peer
/// sees end of file, both outside the loop and inside a task.
#[test]
fn dropping_the_event_stream_closes_the_channel() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let events = map.add_events(socket).unwrap();
    let id = events.id();
    assert!(map.contains(id));
    drop(events);
    assert!(!map.contains(id));
    let mut buf = [0u8; 4];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "peer sees end of file");

    // Inside a task, while the loop runs.
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    let id = events.id();
    let task = map.spawn(async move {
        events.set_interest(false, true);
        // `events` is dropped as the task ends.
        events.next().await.map(|e| label(&e))
    });
    let event = within(&map, task).expect("task");
    assert_eq!(event.as_deref(), Some("Writable"));
    assert!(!map.contains(id));
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "peer sees end of file");
}

/// A stream whose map is gone ends, and its operations fail instead of
/// panicking.
#[test]
fn stream_of_a_dropped_map_ends() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    drop(map);
    let mut buf = [0u8; 4];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the map closed the socket");
    assert!(matches!(events.next().now_or_never(), Some(None)));
    assert!(events.recv(&mut buf).is_err());
    assert!(events.push(b"x").is_err());
    events.set_interest(true, true);
    events.close();
    drop(events);
}

// ---------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------

/// Two UDP sockets as event streams: datagrams through `send_to` and
/// `recv_from` with the sender's address, boundaries kept, several
/// datagrams behind one `Readable`, `Writable` on request, and `push`
/// refused.
fn udp_exchange(family: Family) {
    let map = Map::new().unwrap();
    let a = Socket::udp_bind(family.loopback()).unwrap();
    let b = Socket::udp_bind(family.loopback()).unwrap();
    let a_addr = a.local_addr().unwrap();
    let b_addr = b.local_addr().unwrap();
    let mut ea = map.add_events(a).unwrap();
    let mut eb = map.add_events(b).unwrap();
    within(&map, async {
        for msg in [&b"ping"[..], b"second", b"3"] {
            assert_eq!(ea.send_to(msg, &b_addr).unwrap(), msg.len());
        }
        expect_event(&mut eb, "Readable").await;
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        let mut from = None;
        while got.len() < 3 {
            match eb.recv_from(&mut buf) {
                Ok((n, addr)) => {
                    got.push(buf[..n].to_vec());
                    from = Some(addr);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    expect_event(&mut eb, "Readable").await;
                }
                Err(e) => panic!("recv_from: {e}"),
            }
        }
        assert_eq!(got, [&b"ping"[..], b"second", b"3"]);
        let from = from.unwrap();
        assert_eq!(from.as_inet(), a_addr.as_inet(), "{family}");
        assert!(matches!(eb.recv_from(&mut buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock));

        assert_eq!(eb.send_to(b"pong", &from).unwrap(), 4);
        expect_event(&mut ea, "Readable").await;
        let (n, addr) = ea.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(addr.as_inet(), b_addr.as_inet());

        ea.set_interest(true, true);
        expect_event(&mut ea, "Writable").await;
        ea.set_interest(true, false);
        assert!(matches!(ea.push(b"no"), Err(Error::Unsupported(_))));
    });
}

#[test]
fn udp_recv_from_send_to_ipv4() {
    run_for("udp", Family::Ipv4, udp_exchange);
}

#[test]
fn udp_recv_from_send_to_ipv6() {
    run_for("udp", Family::Ipv6, udp_exchange);
}

/// `next()` is cancel-safe enough for `select`-style use: a `Next` future
/// dropped while pending loses no event.
#[test]
fn dropped_pending_next_loses_no_event() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut events = map.add_events(socket).unwrap();
    within(&map, async {
        {
            let mut next = pin!(events.next());
            assert!(futures::poll!(next.as_mut()).is_pending());
        }
        peer.write_all(b"x").unwrap();
        expect_event(&mut events, "Readable").await;
        assert_eq!(recv_exact(&mut events, 1).await, b"x");
    });
}

/// A socket error that is not a disconnect (a connected UDP socket whose
/// datagram was refused) is reported as `Error(e)` with the cause, and the
/// channel stays open: the stream goes on and a later datagram goes out.
#[test]
fn socket_error_is_an_error_event_and_the_channel_stays_open() {
    let map = Map::new().unwrap();
    let closed_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let refused = closed_port.local_addr().unwrap();
    drop(closed_port);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(refused).unwrap();
    let mut events = map
        .add_events(Socket::from_udp_socket(udp).unwrap())
        .unwrap();
    let id = events.id();
    within(&map, async {
        assert_eq!(events.send(b"anyone?").unwrap(), 7);
        loop {
            match next_event(&mut events).await {
                ChannelEvent::Readable => {
                    // The loop took the error off the socket: a recv
                    // finds nothing.
                    let mut buf = [0u8; 16];
                    match events.recv(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        other => panic!("unexpected recv outcome {other:?}"),
                    }
                }
                ChannelEvent::Error(e) => {
                    assert!(!e.is_connect(), "{e:?}");
                    assert_eq!(
                        e.as_io().map(io::Error::kind),
                        Some(io::ErrorKind::ConnectionRefused),
                        "{e:?}"
                    );
                    break;
                }
                other => panic!("expected Error, got {other:?}"),
            }
        }
        for _ in 0..3 {
            yield_to_loop().await;
        }
        assert!(
            map.contains(id),
            "a socket error must not close the channel"
        );
        assert_ne!(has_ready_event(&mut events).as_deref(), Some("Closed"));
        assert_eq!(events.send(b"again").unwrap(), 5);
    });
}
