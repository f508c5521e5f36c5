//! One test per Python asyncore bug this crate fixes (ASYNCORE-SPEC §5),
//! over real sockets. Each test is built so that an implementation with
//! Python's behaviour would fail it.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{
    Address, ChannelId, Ctx, DEFAULT_HIGH_WATERMARK, Dispatcher, Error, Exit, Map, Result,
    RunOptions, Socket,
};
use socket2::{Domain, Type};

use util::{
    DEADLINE, HookLog, TempDir, drain_nonblocking, linger_zero, one_pass, payload, refused_addr,
    run_until, run_until_within, std_tcp_pair, wait_tcp_readable, write_nonblocking,
};

// ---------------------------------------------------------------------------
// bpo-30931: an event for a closed channel must not reach a new channel that
// reuses its fd (or its slab slot) within the same pass.
// ---------------------------------------------------------------------------

/// Shared state of the two racing channels.
#[derive(Default)]
struct Race {
    a: Option<ChannelId>,
    b: Option<ChannelId>,
    /// The channel whose `handle_read` ran first.
    first: Option<&'static str>,
    /// The channel the first one closed: name, id, fd.
    closed: Option<(&'static str, ChannelId, i32)>,
    /// The new channel: id, fd.
    c: Option<(ChannelId, i32)>,
    /// Keeps C's std peer connection's listener alive.
    aux: Option<TcpListener>,
}

struct Racer {
    name: &'static str,
    log: HookLog,
    race: Rc<RefCell<Race>>,
}

impl Dispatcher for Racer {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_read");
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        let mut race = self.race.borrow_mut();
        if race.first.is_some() {
            return Ok(());
        }
        race.first = Some(self.name);
        let (other_name, other) = if self.name == "A" {
            ("B", race.b.unwrap())
        } else {
            ("A", race.a.unwrap())
        };
        let map = cx.map();
        let other_fd = map.raw_fd(other).expect("the other channel is still open");
        assert!(map.close(other), "the other channel was open");
        race.closed = Some((other_name, other, other_fd));
        // A fresh connected socket: one new fd, most likely the one just
        // closed. Its peer never writes, so it is never really readable.
        // The kernel hands out the lowest free fd, so first plug any free
        // fds below the closed one.
        let mut plugs = Vec::new();
        loop {
            let plug = std::fs::File::open("/dev/null").unwrap();
            if plug.as_raw_fd() >= other_fd {
                break; // dropped: the closed fd is the lowest free one again
            }
            plugs.push(plug);
        }
        let aux_addr = race.aux.as_ref().unwrap().local_addr().unwrap();
        let stream = TcpStream::connect(aux_addr).expect("connect C");
        drop(plugs);
        let c = cx.add(
            Socket::from_tcp_stream(stream).unwrap(),
            Quiet {
                name: "C",
                log: self.log.clone(),
            },
        )?;
        race.c = Some((c, map.raw_fd(c).unwrap()));
        Ok(())
    }

    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.push(self.name, "handle_close");
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.log.push(self.name, &format!("handle_error {error}"));
        cx.close();
    }
}

/// A channel that logs every hook and does nothing else.
struct Quiet {
    name: &'static str,
    log: HookLog,
}

impl Dispatcher for Quiet {
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_connect");
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_read");
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        Ok(())
    }
    fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_write");
        Ok(())
    }
    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_eof");
        cx.close_when_done()
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.push(self.name, "handle_close");
    }
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.log.push(self.name, &format!("handle_error {error}"));
        cx.close();
    }
}

// Deliberate difference from Python: asyncore keyed its map by fd, so when a
// handler closed another channel and opened a new socket on the same fd
// within one pass, the closed channel's already-fetched event was delivered
// to the new channel. Here events carry a generational id and stale ones are
// dropped.
#[test]
fn bpo_30931_stale_event_not_delivered_to_channel_reusing_fd() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let race = Rc::new(RefCell::new(Race {
        aux: Some(TcpListener::bind("127.0.0.1:0").unwrap()),
        ..Race::default()
    }));

    // Two connected client channels, both with data waiting before the pass.
    let (a_client, mut a_server) = std_tcp_pair();
    let (b_client, mut b_server) = std_tcp_pair();
    a_server.write_all(b"to A").unwrap();
    b_server.write_all(b"to B").unwrap();
    wait_tcp_readable(&a_client);
    wait_tcp_readable(&b_client);
    let a = map
        .add(
            Socket::from_tcp_stream(a_client).unwrap(),
            Racer {
                name: "A",
                log: log.clone(),
                race: race.clone(),
            },
        )
        .unwrap();
    let b = map
        .add(
            Socket::from_tcp_stream(b_client).unwrap(),
            Racer {
                name: "B",
                log: log.clone(),
                race: race.clone(),
            },
        )
        .unwrap();
    race.borrow_mut().a = Some(a);
    race.borrow_mut().b = Some(b);

    // Exactly one pass: both A and B are reported by the same wait.
    assert_eq!(one_pass(&map, DEADLINE), Exit::CountExhausted);

    let race_state = race.borrow();
    let first = race_state.first.expect("neither A nor B got handle_read");
    let (closed_name, closed_id, closed_fd) = race_state.closed.unwrap();
    let (c_id, c_fd) = race_state.c.unwrap();
    println!(
        "first={first} closed={closed_name} {closed_id:?} fd {closed_fd}; \
         C {c_id:?} fd {c_fd}; fd reused: {}",
        closed_fd == c_fd
    );
    assert_ne!(c_id, closed_id, "a new channel must get a new id");
    assert!(!map.contains(closed_id));
    assert!(map.contains(c_id));

    // The closed channel: handle_close once, never handle_read (it was
    // closed before its turn in the pass), nothing after handle_close.
    log.assert_closed_once_and_silent_after(closed_name);
    assert_eq!(
        log.count(closed_name, "handle_read"),
        0,
        "{:?}",
        log.entries()
    );
    // C has no data: a handle_read could only come from the stale event.
    assert_eq!(log.hooks("C"), Vec::<String>::new(), "{:?}", log.entries());
    drop(race_state);

    // And it stays quiet in later passes.
    for _ in 0..3 {
        one_pass(&map, Duration::from_millis(5));
    }
    assert_eq!(log.count("C", "handle_read"), 0, "{:?}", log.entries());
    assert_eq!(log.count(first, "handle_close"), 0);
    assert!(
        log.entries()
            .iter()
            .all(|(_, h)| !h.starts_with("handle_error"))
    );
}

// ---------------------------------------------------------------------------
// bpo-30985: handle_close twice, and hooks after close.
// ---------------------------------------------------------------------------

/// Logs every hook, including `readable`/`writable` questions.
struct Recorder {
    log: HookLog,
    writable: bool,
}

impl Dispatcher for Recorder {
    fn readable(&self) -> bool {
        self.log.push("R", "readable");
        true
    }
    fn writable(&self) -> bool {
        self.log.push("R", "writable");
        self.writable
    }
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("R", "handle_connect");
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 1024];
        let r = cx.recv(&mut buf);
        self.log.push(
            "R",
            &match &r {
                Ok(n) => format!("handle_read Ok({n})"),
                Err(e) => format!("handle_read Err({:?})", e.kind()),
            },
        );
        r?;
        Ok(())
    }
    fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("R", "handle_write");
        Ok(())
    }
    fn handle_expt(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("R", "handle_expt");
        Ok(())
    }
    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("R", "handle_eof");
        cx.close_when_done()
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.push("R", "handle_close");
    }
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.log.push("R", &format!("handle_error {error}"));
        cx.close();
    }
}

// Deliberate difference from Python: with poll(), a reset peer produced
// POLLIN|POLLHUP|POLLERR; asyncore's readwrite() called handle_read (whose
// recv hit ECONNRESET and called handle_close) and then handle_close again
// for the HUP flag. Here handle_close runs exactly once and no hook (not even
// readable()/writable()) runs after it.
#[test]
fn bpo_30985_reset_peer_with_pending_data_closes_exactly_once() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (client, mut server) = std_tcp_pair();
    server.write_all(b"last words before the reset").unwrap();
    wait_tcp_readable(&client);
    // SO_LINGER 0: close sends RST, so the client's event carries
    // IN + HUP + ERR at once.
    linger_zero(&server);
    drop(server);
    map.add(
        Socket::from_tcp_stream(client).unwrap(),
        Recorder {
            log: log.clone(),
            writable: true,
        },
    )
    .unwrap();
    let entries_at_add = log.len();
    run_until(&map, "handle_close after the reset", || {
        log.count("R", "handle_close") > 0
    });
    // The map is empty now; more runs do nothing.
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::from_millis(5)).count(3))
            .unwrap(),
        Exit::Empty
    );
    println!("hooks: {:?}", log.hooks("R"));
    log.assert_closed_once_and_silent_after("R");
    assert!(
        log.entries()[entries_at_add..]
            .iter()
            .all(|(_, h)| !h.starts_with("handle_error")),
        "a reset is a disconnect, not an error: {:?}",
        log.entries()
    );
    assert!(map.is_empty());
}

// Deliberate difference from Python: asyncore's readwrite() went on to
// handle_write after a handle_read that closed the channel. Here a close in
// handle_read ends the channel's dispatch for the pass.
#[test]
fn bpo_30985_close_in_handle_read_skips_handle_write_of_same_event() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (client, mut server) = std_tcp_pair();
    server.write_all(b"x").unwrap();
    wait_tcp_readable(&client);

    struct CloseOnRead(HookLog);
    impl Dispatcher for CloseOnRead {
        fn writable(&self) -> bool {
            true // the event is readable and writable
        }
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.0.push("R", "handle_read");
            cx.close();
            Ok(())
        }
        fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
            self.0.push("R", "handle_write");
            Ok(())
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.0.push("R", "handle_close");
        }
        fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
            self.0.push("R", &format!("handle_error {error}"));
        }
    }

    let id = map
        .add(
            Socket::from_tcp_stream(client).unwrap(),
            CloseOnRead(log.clone()),
        )
        .unwrap();
    one_pass(&map, DEADLINE);
    assert_eq!(log.hooks("R"), ["handle_read", "handle_close"]);
    assert!(!map.contains(id));
    drop(server);
}

// ---------------------------------------------------------------------------
// Hang-up spin: a channel that wants nothing must not make the loop spin when
// its peer hangs up (epoll reports HUP/ERR whatever the interest).
// ---------------------------------------------------------------------------

/// Wants nothing; logs any hook it gets.
struct Deaf(HookLog);

impl Dispatcher for Deaf {
    fn readable(&self) -> bool {
        false
    }
    fn writable(&self) -> bool {
        false
    }
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.push("D", "handle_connect");
        Ok(())
    }
    fn handle_read(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.push("D", "handle_read");
        Ok(())
    }
    fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.push("D", "handle_write");
        Ok(())
    }
    fn handle_expt(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.push("D", "handle_expt");
        Ok(())
    }
    fn handle_eof(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.push("D", "handle_eof");
        Ok(())
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.0.push("D", "handle_close");
    }
    fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
        self.0.push("D", &format!("handle_error {error}"));
    }
}

/// Runs 6 passes of 20 ms over a map whose only channel wants nothing and
/// whose peer hung up; asserts the waits really waited and nothing was
/// called.
#[track_caller]
fn assert_no_hup_spin(map: &Map, log: &HookLog) {
    let pass = Duration::from_millis(20);
    let start = Instant::now();
    let exit = map.run(&RunOptions::new().timeout(pass).count(6)).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(exit, Exit::CountExhausted);
    // The hang-up may be reported once (the registration is oneshot), so at
    // most one of the 6 waits returns early; a spin returns at once every
    // time.
    assert!(
        elapsed >= 5 * pass,
        "6 passes of {pass:?} took only {elapsed:?}: the loop spins on the hang-up"
    );
    assert_eq!(
        log.entries(),
        Vec::new(),
        "a channel with no interest got hooks"
    );
    assert_eq!(map.len(), 1);
}

// Deliberate difference from Python: asyncore's poll2 registered such a
// channel with no flags and still got POLLHUP every pass (handle_close);
// with level-triggered registrations a HUP on a channel with no interest
// would spin, so a channel with no interest is taken out of the poller
// until it wants something again.
#[test]
fn hup_spin_tcp_reset_peer_with_no_interest() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (client, server) = std_tcp_pair();
    map.add(Socket::from_tcp_stream(client).unwrap(), Deaf(log.clone()))
        .unwrap();
    linger_zero(&server);
    drop(server); // RST: HUP + ERR on the client
    assert_no_hup_spin(&map, &log);
}

#[test]
fn hup_spin_tcp_both_sides_shut_down_with_no_interest() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (client, server) = std_tcp_pair();
    // Our side shut down its writing, the peer closes: both directions
    // are down, which epoll reports as HUP.
    client.shutdown(Shutdown::Write).unwrap();
    map.add(Socket::from_tcp_stream(client).unwrap(), Deaf(log.clone()))
        .unwrap();
    drop(server);
    assert_no_hup_spin(&map, &log);
}

#[test]
fn hup_spin_unix_stream_peer_closed_with_no_interest() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (ours, peer) = UnixStream::pair().unwrap();
    map.add(Socket::from_unix_stream(ours).unwrap(), Deaf(log.clone()))
        .unwrap();
    drop(peer);
    assert_no_hup_spin(&map, &log);
}

// ---------------------------------------------------------------------------
// Connect failures (spec §5 #10).
// ---------------------------------------------------------------------------

/// Records connect outcomes; its handle_error does NOT close, to check the
/// loop closes a failed connect by itself.
struct Connector {
    log: HookLog,
    errors: Rc<RefCell<Vec<Error>>>,
}

impl Dispatcher for Connector {
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("C", "handle_connect");
        Ok(())
    }
    fn handle_read(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("C", "handle_read");
        Ok(())
    }
    fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("C", "handle_write");
        Ok(())
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.push("C", "handle_close");
    }
    fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
        self.log.push("C", "handle_error");
        self.errors.borrow_mut().push(error);
    }
}

// Deliberate difference from Python: a refused connect reached handle_error
// as a bare OSError while `connected` was already inconsistent; here
// handle_error gets Error::Connect with the cause, and the channel closes
// (handle_close once) whatever handle_error does.
#[test]
fn connect_refused_reports_cause_then_closes() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let socket = Socket::tcp_connect(refused_addr()).expect("non-blocking connect starts");
    map.add(
        socket,
        Connector {
            log: log.clone(),
            errors: errors.clone(),
        },
    )
    .unwrap();
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(10))
        .unwrap();
    assert_eq!(exit, Exit::Empty, "the failed channel must leave the map");
    assert!(map.is_empty());
    assert_eq!(log.hooks("C"), ["handle_error", "handle_close"]);
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].is_connect(),
        "not Error::Connect: {:?}",
        errors[0]
    );
    assert_eq!(
        errors[0].as_io().map(io::Error::kind),
        Some(io::ErrorKind::ConnectionRefused),
        "{:?}",
        errors[0]
    );
}

#[test]
fn unix_connect_to_missing_path_fails_synchronously() {
    let dir = TempDir::new("missing");
    let map = Map::new().unwrap();
    let err = Socket::unix_connect(dir.join("nobody.sock")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");

    // A path whose listener is gone: refused, synchronously.
    let path = dir.join("gone.sock");
    drop(UnixListener::bind(&path).unwrap());
    let err = Socket::unix_connect(&path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");

    assert!(map.is_empty(), "nothing was added");
    assert_eq!(
        map.run(&RunOptions::new().timeout(DEADLINE)).unwrap(),
        Exit::Empty
    );
}

// ---------------------------------------------------------------------------
// bpo-16133: spurious readiness. recv after a readiness event that turned out
// empty is WouldBlock, and returning it from a hook is not an error.
// ---------------------------------------------------------------------------

struct Spurious {
    name: &'static str,
    log: HookLog,
    /// (first to run, dup of A's socket, dup of B's socket)
    shared: Rc<RefCell<(Option<&'static str>, TcpStream, TcpStream)>>,
}

impl Dispatcher for Spurious {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        {
            let mut shared = self.shared.borrow_mut();
            if shared.0.is_none() {
                // First in the pass: steal the other channel's data
                // through a dup of its socket, so its event (already
                // fetched) finds nothing to read.
                shared.0 = Some(self.name);
                let other = if self.name == "A" {
                    &mut shared.2
                } else {
                    &mut shared.1
                };
                let mut sink = Vec::new();
                drain_nonblocking(other, &mut sink);
                assert!(!sink.is_empty(), "the other channel had data");
            }
        }
        let mut buf = [0u8; 64];
        let r = cx.recv(&mut buf);
        self.log.push(
            self.name,
            &match &r {
                Ok(n) => format!("read Ok({n})"),
                Err(e) => format!("read Err({:?})", e.kind()),
            },
        );
        r?; // WouldBlock goes back to the loop, which must shrug it off
        Ok(())
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.push(self.name, "handle_close");
    }
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.log.push(self.name, &format!("handle_error {error}"));
        cx.close();
    }
}

// Deliberate difference from Python: dispatcher.recv raised BlockingIOError
// on spurious readiness and it ended in handle_error (default: close). Here
// recv returns WouldBlock, and a hook returning it did nothing wrong.
#[test]
fn bpo_16133_spurious_readiness_would_block_is_not_an_error() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (a_client, mut a_server) = std_tcp_pair();
    let (b_client, mut b_server) = std_tcp_pair();
    a_server.write_all(b"for A").unwrap();
    b_server.write_all(b"for B").unwrap();
    wait_tcp_readable(&a_client);
    wait_tcp_readable(&b_client);
    let shared = Rc::new(RefCell::new((
        None,
        a_client.try_clone().unwrap(),
        b_client.try_clone().unwrap(),
    )));
    let mut ids = Vec::new();
    for (name, stream) in [("A", a_client), ("B", b_client)] {
        // Wrapping makes the shared file description non-blocking, dups
        // included.
        ids.push(
            map.add(
                Socket::from_tcp_stream(stream).unwrap(),
                Spurious {
                    name,
                    log: log.clone(),
                    shared: shared.clone(),
                },
            )
            .unwrap(),
        );
    }
    one_pass(&map, DEADLINE);
    let first = shared.borrow().0.expect("no handle_read ran");
    let second = if first == "A" { "B" } else { "A" };
    assert_eq!(log.hooks(first), ["read Ok(5)"], "{:?}", log.entries());
    assert_eq!(
        log.hooks(second),
        ["read Err(WouldBlock)"],
        "the second channel's event was fetched before its data was stolen: {:?}",
        log.entries()
    );
    assert!(map.contains(ids[0]) && map.contains(ids[1]));

    // The channel that saw the spurious event still works.
    let second_server = if second == "A" {
        &mut a_server
    } else {
        &mut b_server
    };
    second_server.write_all(b"again").unwrap();
    run_until(&map, "the spurious channel reads new data", || {
        log.count(second, "read Ok(5)") == 1
    });
    assert!(
        log.entries()
            .iter()
            .all(|(_, h)| !h.starts_with("handle_error") && h != "handle_close"),
        "{:?}",
        log.entries()
    );
}

// ---------------------------------------------------------------------------
// bpo-5661 / bpo-11265: a peer that goes away while we send is a close, not
// an error.
// ---------------------------------------------------------------------------

#[test]
fn bpo_5661_bpo_11265_send_to_closed_peer_is_close_not_error() {
    struct Sender {
        log: HookLog,
        send_errors: Rc<RefCell<Vec<io::ErrorKind>>>,
        sent: Rc<Cell<usize>>,
    }
    impl Dispatcher for Sender {
        fn readable(&self) -> bool {
            false // only the send path may notice the peer is gone
        }
        fn writable(&self) -> bool {
            true
        }
        fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
            self.log.push("S", "handle_connect");
            Ok(())
        }
        fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            match cx.send(&[b'x'; 128]) {
                Ok(n) => {
                    self.sent.set(self.sent.get() + n);
                    Ok(())
                }
                Err(e) => {
                    self.send_errors.borrow_mut().push(e.kind());
                    Err(e.into())
                }
            }
        }
        fn handle_expt(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
            self.log.push("S", "handle_expt");
            Ok(())
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.log.push("S", "handle_close");
        }
        fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
            self.log.push("S", &format!("handle_error {error}"));
            cx.close();
        }
    }

    let map = Map::new().unwrap();
    let log = HookLog::new();
    let send_errors = Rc::new(RefCell::new(Vec::new()));
    let sent = Rc::new(Cell::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    map.add(
        Socket::tcp_connect(listener.local_addr().unwrap()).unwrap(),
        Sender {
            log: log.clone(),
            send_errors: send_errors.clone(),
            sent: sent.clone(),
        },
    )
    .unwrap();
    let (mut server, _) = listener.accept().unwrap();
    run_until(&map, "the client sends something", || sent.get() > 0);
    // The server reads once and closes with data unread: the client's next
    // sends fail with a reset or a broken pipe.
    let mut buf = [0u8; 16];
    let n = server.read(&mut buf).unwrap();
    assert!(n > 0);
    drop(server);
    run_until(&map, "the client notices the peer is gone", || {
        log.count("S", "handle_close") > 0
    });
    let errors = send_errors.borrow();
    println!("sent {} bytes, send errors {errors:?}", sent.get());
    assert!(!errors.is_empty(), "the close came from a failed send");
    assert!(
        errors.iter().all(|k| matches!(
            k,
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        )),
        "{errors:?}"
    );
    assert_eq!(log.hooks("S"), ["handle_connect", "handle_close"]);
    assert!(map.is_empty());
}

// ---------------------------------------------------------------------------
// Panicking handlers: caught, reported, and only that channel closes.
// ---------------------------------------------------------------------------

/// Echoes on a Unix stream; proves the loop still serves other channels.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 4096];
        let n = cx.recv(&mut buf)?;
        cx.push(&buf[..n])
    }
}

/// Adds an echo channel; returns its id and the (non-blocking) peer.
fn add_echo(map: &Map) -> (ChannelId, UnixStream) {
    let (ours, peer) = UnixStream::pair().unwrap();
    peer.set_nonblocking(true).unwrap();
    let id = map
        .add(Socket::from_unix_stream(ours).unwrap(), Echo)
        .unwrap();
    (id, peer)
}

#[track_caller]
fn assert_echo_works(map: &Map, peer: &mut UnixStream, msg: &[u8]) {
    peer.write_all(msg).unwrap();
    let mut got = Vec::new();
    run_until(map, "the echo channel answers", || {
        drain_nonblocking(peer, &mut got);
        got.len() >= msg.len()
    });
    assert_eq!(got, msg);
}

/// How a `Fragile` channel fails.
#[derive(Clone, Copy, PartialEq)]
enum Failure {
    PanicInRead,
    ErrorThenPanicInHandleError,
    PanicInReadableAfterFirstRead,
}

struct Fragile {
    how: Failure,
    /// Whether handle_error calls `cx.close()` as the default does.
    close_in_handle_error: bool,
    log: HookLog,
    errors: Rc<RefCell<Vec<Error>>>,
    read_once: Cell<bool>,
}

impl Dispatcher for Fragile {
    fn readable(&self) -> bool {
        if self.how == Failure::PanicInReadableAfterFirstRead && self.read_once.get() {
            panic!("boom in readable");
        }
        true
    }
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("F", "handle_read");
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        self.read_once.set(true);
        match self.how {
            Failure::PanicInRead => panic!("boom in handle_read"),
            Failure::ErrorThenPanicInHandleError => Err(Error::other("a plain error")),
            Failure::PanicInReadableAfterFirstRead => Ok(()),
        }
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.push("F", "handle_close");
    }
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.log.push("F", "handle_error");
        self.errors.borrow_mut().push(error);
        if self.how == Failure::ErrorThenPanicInHandleError {
            panic!("boom in handle_error");
        }
        if self.close_in_handle_error {
            cx.close();
        }
    }
}

/// Adds a `Fragile` channel next to an echo channel, pokes it, and checks
/// that only it closed and the echo channel still works. Returns the errors
/// its handle_error saw.
fn fragile_scenario(how: Failure, close_in_handle_error: bool) -> Vec<Error> {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let (echo, mut echo_peer) = add_echo(&map);
    let (ours, mut fragile_peer) = UnixStream::pair().unwrap();
    let fragile = map
        .add(
            Socket::from_unix_stream(ours).unwrap(),
            Fragile {
                how,
                close_in_handle_error,
                log: log.clone(),
                errors: errors.clone(),
                read_once: Cell::new(false),
            },
        )
        .unwrap();
    assert_echo_works(&map, &mut echo_peer, b"before");
    fragile_peer.write_all(b"poke").unwrap();
    run_until(&map, "the fragile channel closes", || {
        log.count("F", "handle_close") > 0
    });
    assert!(!map.contains(fragile));
    assert!(map.contains(echo));
    log.assert_closed_once_and_silent_after("F");
    assert_eq!(log.count("F", "handle_read"), 1, "{:?}", log.entries());
    assert_echo_works(&map, &mut echo_peer, b"after the panic");
    drop(fragile_peer);
    errors.take()
}

// Deliberate difference from Python: an exception in a handler went to
// handle_error, but an exception there escaped asyncore.loop(). Here panics
// in hooks and in handle_error are caught; only the channel closes.
#[track_caller]
fn assert_panicked(errors: &[Error], hook: &str, text: &str) {
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        Error::Panicked { callback, message } => {
            assert_eq!(*callback, hook);
            assert!(message.contains(text), "{message}");
        }
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
}

#[test]
fn panic_in_handle_read_goes_to_handle_error_and_closes_only_that_channel() {
    // handle_error closes, as the default one does.
    let errors = fragile_scenario(Failure::PanicInRead, true);
    assert_panicked(&errors, "handle_read", "boom in handle_read");
}

// DESIGN.md decision 6: "Panics in callbacks ... are caught, reported to
// handle_error, and only that channel ... is closed." So the channel must
// close even when an overridden handle_error does not close it (as it does
// for a panicking readable()/writable(), see below).
#[test]
fn panic_in_handle_read_closes_channel_even_if_handle_error_does_not() {
    let errors = fragile_scenario(Failure::PanicInRead, false);
    assert_panicked(&errors, "handle_read", "boom in handle_read");
}

#[test]
fn panic_in_handle_error_closes_channel_not_loop() {
    let errors = fragile_scenario(Failure::ErrorThenPanicInHandleError, false);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(&errors[0], Error::Other(e) if e.to_string() == "a plain error"),
        "{:?}",
        errors[0]
    );
}

#[test]
fn panic_in_readable_closes_channel_not_loop() {
    // handle_error does not close: the loop closes the channel by itself.
    let errors = fragile_scenario(Failure::PanicInReadableAfterFirstRead, false);
    assert_panicked(&errors, "readable", "boom in readable");
}

// ---------------------------------------------------------------------------
// bpo-35913: half-closed connections. The peer's EOF does not drop output
// queued for it.
// ---------------------------------------------------------------------------

#[derive(Default)]
struct HalfCloseState {
    echo: Option<ChannelId>,
    max_pending: usize,
    pending_at_eof: Option<usize>,
    errors: Vec<String>,
    closes: usize,
    reads_after_eof: usize,
}

struct HalfCloseServer(Rc<RefCell<HalfCloseState>>);

impl Dispatcher for HalfCloseServer {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
        let id = cx.add(socket, HalfCloseEcho(self.0.clone()))?;
        // Never pause reading: the whole request is read (and queued)
        // before the end of file arrives.
        cx.map().set_write_limits(id, usize::MAX, 0)?;
        self.0.borrow_mut().echo = Some(id);
        Ok(())
    }
}

struct HalfCloseEcho(Rc<RefCell<HalfCloseState>>);

impl Dispatcher for HalfCloseEcho {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = cx.recv(&mut buf)?;
        let mut state = self.0.borrow_mut();
        if state.pending_at_eof.is_some() {
            state.reads_after_eof += 1;
        }
        if n == 0 {
            // handle_eof (the default) runs right after this hook.
            state.pending_at_eof = Some(cx.pending_output());
            return Ok(());
        }
        cx.push(&buf[..n])?;
        state.max_pending = state.max_pending.max(cx.pending_output());
        Ok(())
    }
    // handle_eof: the default (close once the queue is flushed).
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.0.borrow_mut().closes += 1;
    }
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.0.borrow_mut().errors.push(error.to_string());
        cx.close();
    }
}

/// A listener whose accepted sockets have small kernel buffers, so output
/// really queues in the channel.
fn small_buffer_listener() -> (Socket, std::net::SocketAddr) {
    let s = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_send_buffer_size(16 * 1024).unwrap();
    s.set_recv_buffer_size(16 * 1024).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(16).unwrap();
    let listener = TcpListener::from(s);
    let addr = listener.local_addr().unwrap();
    (Socket::from_tcp_listener(listener).unwrap(), addr)
}

/// A blocking std client with small kernel buffers.
fn small_buffer_client(addr: std::net::SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(16 * 1024).unwrap();
    s.set_send_buffer_size(16 * 1024).unwrap();
    s.connect(&addr.into()).unwrap();
    TcpStream::from(s)
}

// Deliberate difference from Python: end of file meant a full close, and
// asynchat dropped whatever was still queued (bpo-35913). Here the default
// handle_eof closes only after the queue is flushed, and the peer's
// half-closed connection still receives every byte.
#[test]
fn bpo_35913_half_close_flushes_queued_echo_before_closing() {
    const LEN: usize = 2 * 1024 * 1024 + 123;
    let map = Map::new().unwrap();
    let state = Rc::new(RefCell::new(HalfCloseState::default()));
    let (listener, addr) = small_buffer_listener();
    map.add(listener, HalfCloseServer(state.clone())).unwrap();

    let data = payload(LEN);
    let client = std::thread::spawn({
        let data = data.clone();
        move || {
            let mut stream = small_buffer_client(addr);
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream
                .set_write_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            // Everything is sent, and the write side shut, before a single
            // byte of the echo is read.
            stream.write_all(&data).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap(); // returns at EOF
            got
        }
    });

    run_until_within(
        &map,
        "the echo channel closes",
        Duration::from_secs(20),
        || state.borrow().closes > 0,
    );
    let got = client.join().expect("client thread");
    let state = state.borrow();
    println!(
        "max pending {} bytes, pending at EOF {:?}",
        state.max_pending, state.pending_at_eof
    );
    assert_eq!(state.errors, Vec::<String>::new());
    assert_eq!(state.closes, 1);
    assert_eq!(state.reads_after_eof, 0, "read again after end of file");
    let at_eof = state
        .pending_at_eof
        .expect("the echo channel saw end of file");
    assert!(
        at_eof > 0,
        "the scenario must have output queued when EOF arrives"
    );
    assert_eq!(got.len(), LEN, "the client lost bytes queued before EOF");
    assert!(got == data, "the echo differs from what was sent");
    assert!(!map.contains(state.echo.unwrap()));
}

// ---------------------------------------------------------------------------
// A peer that sends but never reads costs bounded memory (spec §5 #14/#15).
// ---------------------------------------------------------------------------

#[derive(Default)]
struct FloodState {
    id: Option<ChannelId>,
    reads: usize,
    read_bytes: usize,
    max_pending: usize,
    errors: Vec<String>,
}

struct FloodServer(Rc<RefCell<FloodState>>);

impl Dispatcher for FloodServer {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
        let id = cx.add(socket, Reflector(self.0.clone()))?;
        self.0.borrow_mut().id = Some(id);
        Ok(())
    }
}

/// Answers every byte it reads with a byte (default watermarks).
struct Reflector(Rc<RefCell<FloodState>>);

impl Dispatcher for Reflector {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = cx.recv(&mut buf)?;
        cx.push(&buf[..n])?;
        let mut s = self.0.borrow_mut();
        s.reads += 1;
        s.read_bytes += n;
        s.max_pending = s.max_pending.max(cx.pending_output());
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.0.borrow_mut().errors.push(error.to_string());
        cx.close();
    }
}

// Deliberate difference from Python: asyncore's readable() defaulted to True
// and output was unbounded, so a peer that never reads made the server queue
// without limit. Here the channel stops reading above its high watermark.
#[test]
fn never_reading_peer_bounds_output_queue_and_pauses_reading() {
    const BOUND: usize = DEFAULT_HIGH_WATERMARK + 64 * 1024;
    let map = Map::new().unwrap();
    let state = Rc::new(RefCell::new(FloodState::default()));
    let (listener, addr) = small_buffer_listener();
    map.add(listener, FloodServer(state.clone())).unwrap();
    let mut client = small_buffer_client(addr);
    client.set_nonblocking(true).unwrap();

    let chunk = vec![0x5a; 256 * 1024];
    let mut written = 0usize;
    let mut write_some = |client: &mut TcpStream| {
        let mut off = 0;
        write_nonblocking(client, &chunk, &mut off);
        written += off;
    };

    // Flood until the server's queue reaches its high watermark.
    run_until(
        &map,
        "the server's queue reaches its high watermark",
        || {
            write_some(&mut client);
            state.borrow().max_pending >= DEFAULT_HIGH_WATERMARK
        },
    );
    let id = state.borrow().id.unwrap();
    let reads_at_pause = state.borrow().reads;

    // Keep flooding: the server must not read any more.
    for _ in 0..25 {
        write_some(&mut client);
        one_pass(&map, Duration::from_millis(5));
    }
    let s = state.borrow();
    println!(
        "client wrote {written} bytes, server read {} in {} reads, max pending {}, pending now {}",
        s.read_bytes,
        s.reads,
        s.max_pending,
        map.pending_output(id)
    );
    assert!(
        written > s.read_bytes,
        "unread input must be waiting on the server's socket"
    );
    assert_eq!(
        s.reads, reads_at_pause,
        "the server kept reading from a peer that does not read"
    );
    assert!(s.max_pending <= BOUND, "queue grew to {}", s.max_pending);
    assert!(map.pending_output(id) <= BOUND);
    assert!(map.pending_output(id) >= DEFAULT_HIGH_WATERMARK);
    assert_eq!(s.errors, Vec::<String>::new());
    assert!(map.contains(id));
}
