//! The loop's observable semantics over real sockets: `run` knobs (count,
//! per-pass timeout, empty map, stop), re-entrancy, the per-thread default
//! map, closing, id reuse, and when interest is (re)evaluated.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{ChannelId, Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket};

use util::{DEADLINE, HookLog, drain_nonblocking, one_pass, payload, run_until};

/// A Unix stream channel's far end, with `data` already waiting for the
/// channel; returns the channel's socket and the (non-blocking) peer.
fn unix_with_data(data: &[u8]) -> (Socket, UnixStream) {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    if !data.is_empty() {
        peer.write_all(data).unwrap();
    }
    peer.set_nonblocking(true).unwrap();
    (Socket::from_unix_stream(ours).unwrap(), peer)
}

/// Logs hooks under `name`; reads (and discards) input unless `peek_only`.
struct Probe {
    name: &'static str,
    log: HookLog,
    consume: bool,
}

impl Probe {
    fn new(name: &'static str, log: &HookLog) -> Probe {
        Probe {
            name,
            log: log.clone(),
            consume: true,
        }
    }
}

impl Dispatcher for Probe {
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_connect");
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_read");
        if self.consume {
            let mut buf = [0u8; 4096];
            cx.recv(&mut buf)?;
        }
        Ok(())
    }
    fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push(self.name, "handle_write");
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

#[test]
fn empty_map_returns_empty_at_once() {
    let map = Map::new().unwrap();
    // The default 30 s timeout would be felt if it waited.
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
    assert_eq!(map.run(&RunOptions::new().count(5)).unwrap(), Exit::Empty);

    // Emptied by closing its only channel: same.
    let log = HookLog::new();
    let (socket, _peer) = unix_with_data(b"");
    let id = map.add(socket, Probe::new("A", &log)).unwrap();
    map.close(id);
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
    assert_eq!(log.hooks("A"), ["handle_close"]);
}

#[test]
fn count_zero_returns_at_once_without_dispatching() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (socket, _peer) = unix_with_data(b"ready");
    map.add(socket, Probe::new("A", &log)).unwrap();
    let exit = map
        .run(&RunOptions::new().timeout(Duration::from_secs(30)).count(0))
        .unwrap();
    assert_eq!(exit, Exit::CountExhausted);
    assert_eq!(log.len(), 0, "count(0) must not dispatch anything");
    // The data was ready all along: one pass handles it.
    assert_eq!(one_pass(&map, DEADLINE), Exit::CountExhausted);
    assert_eq!(log.hooks("A"), ["handle_read"]);
}

#[test]
fn count_n_with_nothing_ready_waits_n_times() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    // An idle listener: polled for input, nothing ever comes.
    map.add(
        Socket::tcp_listen("127.0.0.1:0").unwrap(),
        Probe::new("L", &log),
    )
    .unwrap();
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    let exit = map
        .run(&RunOptions::new().timeout(timeout).count(5))
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(exit, Exit::CountExhausted);
    assert!(
        elapsed >= 5 * timeout,
        "5 idle passes of {timeout:?} took {elapsed:?}"
    );
    assert_eq!(log.len(), 0);
}

#[test]
fn timeout_is_per_pass_not_total() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (socket, _peer) = unix_with_data(b"one event");
    map.add(socket, Probe::new("A", &log)).unwrap();
    let timeout = Duration::from_millis(30);
    let start = Instant::now();
    let exit = map
        .run(&RunOptions::new().timeout(timeout).count(4))
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(exit, Exit::CountExhausted);
    // Pass 1 returns at once with the event; passes 2-4 each wait the full
    // timeout again. A total deadline would end after ~30 ms.
    assert_eq!(log.hooks("A"), ["handle_read"]);
    assert!(
        elapsed >= 3 * timeout,
        "4 passes (3 idle) of {timeout:?} took {elapsed:?}"
    );
}

#[test]
fn channel_added_during_pass_is_polled_from_next_pass() {
    struct Adder {
        log: HookLog,
        pending: Rc<RefCell<Option<Socket>>>,
        added: Rc<Cell<Option<ChannelId>>>,
    }
    impl Dispatcher for Adder {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.log.push("A", "handle_read");
            let mut buf = [0u8; 64];
            cx.recv(&mut buf)?;
            if let Some(socket) = self.pending.borrow_mut().take() {
                let id = cx.add(socket, Probe::new("C", &self.log))?;
                self.added.set(Some(id));
            }
            Ok(())
        }
    }

    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (a, _a_peer) = unix_with_data(b"go");
    // C's input is there before the pass starts.
    let (c, _c_peer) = unix_with_data(b"already here");
    let pending = Rc::new(RefCell::new(Some(c)));
    let added = Rc::new(Cell::new(None));
    map.add(
        a,
        Adder {
            log: log.clone(),
            pending,
            added: added.clone(),
        },
    )
    .unwrap();

    one_pass(&map, DEADLINE);
    let c_id = added.get().expect("A added C");
    assert!(map.contains(c_id));
    assert_eq!(log.hooks("A"), ["handle_read"]);
    assert_eq!(
        log.hooks("C"),
        Vec::<String>::new(),
        "C polled in the pass that added it"
    );

    one_pass(&map, DEADLINE);
    assert_eq!(log.hooks("C"), ["handle_read"]);
}

#[test]
fn stop_from_handler_returns_stopped_after_current_pass() {
    struct Stopper {
        name: &'static str,
        log: HookLog,
        stop: bool,
    }
    impl Dispatcher for Stopper {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            // Reads nothing: level-triggered, it is reported every pass.
            self.log.push(self.name, "handle_read");
            if self.stop {
                cx.map().stop();
            }
            Ok(())
        }
    }

    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (a, _a_peer) = unix_with_data(b"a");
    let (b, _b_peer) = unix_with_data(b"b");
    map.add(
        a,
        Stopper {
            name: "A",
            log: log.clone(),
            stop: true,
        },
    )
    .unwrap();
    map.add(
        b,
        Stopper {
            name: "B",
            log: log.clone(),
            stop: false,
        },
    )
    .unwrap();
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(100))
        .unwrap();
    assert_eq!(exit, Exit::Stopped);
    // The pass in which stop() was called ran to its end (B too, whatever
    // the order), and no further pass ran.
    assert_eq!(log.count("A", "handle_read"), 1, "{:?}", log.entries());
    assert_eq!(log.count("B", "handle_read"), 1, "{:?}", log.entries());

    // The stop is used up: the next run runs its passes.
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(1))
        .unwrap();
    assert_eq!(exit, Exit::Stopped, "A stops again in this pass");
    assert_eq!(log.count("A", "handle_read"), 2);
}

#[test]
fn stop_before_run_does_not_end_the_next_run() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (socket, _peer) = unix_with_data(b"x");
    map.add(socket, Probe::new("A", &log)).unwrap();
    map.stop();
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(1))
        .unwrap();
    assert_eq!(exit, Exit::CountExhausted);
    assert_eq!(log.hooks("A"), ["handle_read"]);
}

#[test]
fn run_from_inside_a_handler_is_already_running() {
    struct Reentrant(Rc<RefCell<Vec<String>>>);
    impl Dispatcher for Reentrant {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 16];
            cx.recv(&mut buf)?;
            let inner = cx
                .map()
                .run(&RunOptions::new().timeout(Duration::ZERO).count(1));
            self.0.borrow_mut().push(match inner {
                Err(Error::AlreadyRunning) => "AlreadyRunning".to_owned(),
                other => format!("{other:?}"),
            });
            // The default map is a different map: running it from here
            // is fine (it is empty).
            let default = asyncore::default_map()?;
            assert_eq!(default.run(&RunOptions::new())?, Exit::Empty);
            Ok(())
        }
    }

    let map = Map::new().unwrap();
    let results = Rc::new(RefCell::new(Vec::new()));
    let (socket, mut peer) = unix_with_data(b"first");
    let id = map.add(socket, Reentrant(results.clone())).unwrap();
    assert_eq!(one_pass(&map, DEADLINE), Exit::CountExhausted);
    assert_eq!(*results.borrow(), ["AlreadyRunning"]);
    assert!(map.contains(id), "the nested run must not hurt the channel");

    // The outer run ended cleanly: the map can run again.
    peer.write_all(b"second").unwrap();
    assert_eq!(one_pass(&map, DEADLINE), Exit::CountExhausted);
    assert_eq!(*results.borrow(), ["AlreadyRunning", "AlreadyRunning"]);
}

// Deliberate difference from Python: asyncore.socket_map was one map for the
// whole process; the default map here is per thread.
#[test]
fn default_map_run_and_close_all_are_per_thread() {
    // A thread of its own, so no other test shares its default map.
    std::thread::spawn(|| {
        let log = HookLog::new();
        let map = asyncore::default_map().unwrap();
        assert!(map.is_empty());
        let (socket, _peer) = unix_with_data(b"hello");
        let id = map.add(socket, Probe::new("A", &log)).unwrap();
        // The same map each time on this thread.
        assert!(asyncore::default_map().unwrap().contains(id));

        // Another thread has its own, empty, default map.
        let other = std::thread::spawn(|| {
            let m = asyncore::default_map().unwrap();
            (m.len(), asyncore::run(&RunOptions::new()).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(other, (0, Exit::Empty));

        let exit = asyncore::run(&RunOptions::new().timeout(DEADLINE).count(1)).unwrap();
        assert_eq!(exit, Exit::CountExhausted);
        assert_eq!(log.hooks("A"), ["handle_read"]);

        asyncore::close_all().unwrap();
        assert_eq!(log.hooks("A"), ["handle_read", "handle_close"]);
        assert!(asyncore::default_map().unwrap().is_empty());
        assert_eq!(asyncore::run(&RunOptions::new()).unwrap(), Exit::Empty);
    })
    .join()
    .expect("default map thread");
}

#[test]
fn close_is_idempotent_and_handle_close_runs_once() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (socket, _peer) = unix_with_data(b"");
    let id = map.add(socket, Probe::new("A", &log)).unwrap();
    assert!(map.close(id), "first close closes");
    assert!(!map.close(id), "second close is a no-op");
    assert_eq!(log.hooks("A"), ["handle_close"]);
    assert!(matches!(map.push(id, b"x"), Err(Error::Closed(c)) if c == id));

    // From inside a hook, closing twice (and via the map) is one close.
    struct DoubleClose(HookLog);
    impl Dispatcher for DoubleClose {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.0.push("B", "handle_read");
            cx.close();
            cx.close();
            cx.map().close(cx.id());
            Ok(())
        }
        fn handle_close(&mut self, cx: &mut Ctx<'_>) {
            self.0.push("B", "handle_close");
            // Closing from handle_close itself is harmless too.
            cx.close();
        }
    }
    let (socket, _peer) = unix_with_data(b"x");
    let b = map.add(socket, DoubleClose(log.clone())).unwrap();
    one_pass(&map, DEADLINE);
    assert_eq!(log.hooks("B"), ["handle_read", "handle_close"]);
    assert!(!map.contains(b));
    assert!(!map.close(b));

    // close_all: each channel's handle_close once, the map empties.
    let names = ["C", "D", "E"];
    let mut ids = Vec::new();
    let mut peers = Vec::new();
    for name in names {
        let (socket, peer) = unix_with_data(b"");
        ids.push(map.add(socket, Probe::new(name, &log)).unwrap());
        peers.push(peer);
    }
    map.close_all();
    assert!(map.is_empty());
    for name in names {
        assert_eq!(log.hooks(name), ["handle_close"]);
    }
    assert!(ids.iter().all(|&id| !map.close(id)));
}

#[test]
fn closed_channel_id_is_never_reused() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let mut seen = HashSet::new();
    let mut previous: Option<ChannelId> = None;
    let mut peers = Vec::new();
    for round in 0..50 {
        let (socket, peer) = unix_with_data(b"");
        peers.push(peer);
        let id = map.add(socket, Probe::new("X", &log)).unwrap();
        assert!(seen.insert(id), "round {round}: id {id:?} handed out twice");
        if let Some(old) = previous {
            // The slot (and likely the fd) is reused, the id is not.
            if round == 1 {
                println!("closed {old:?}, new {id:?}");
            }
            assert!(!map.contains(old));
            assert!(!map.close(old), "a stale id must not close the new channel");
            assert!(map.contains(id));
            assert!(matches!(map.push(old, b"x"), Err(Error::Closed(_))));
        }
        assert!(map.close(id));
        previous = Some(id);
    }
    assert_eq!(log.count("X", "handle_close"), 50);
    assert!(map.is_empty());
}

/// Writable only once a shared flag is set (by another channel).
struct Waiter {
    log: HookLog,
    flag: Rc<Cell<bool>>,
}

impl Dispatcher for Waiter {
    fn readable(&self) -> bool {
        false
    }
    fn writable(&self) -> bool {
        self.flag.get()
    }
    fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.push("W", "handle_write");
        cx.map().stop();
        Ok(())
    }
}

/// On input, sets the flag and (if `refresh`) refreshes the waiter.
struct Trigger {
    flag: Rc<Cell<bool>>,
    waiter: ChannelId,
    refresh: bool,
}

impl Dispatcher for Trigger {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 64];
        cx.recv(&mut buf)?;
        self.flag.set(true);
        if self.refresh {
            cx.map().refresh(self.waiter);
        }
        Ok(())
    }
}

/// A map with a waiter and a trigger whose input is already there.
fn waiter_and_trigger(refresh: bool) -> (Map, HookLog, Vec<UnixStream>) {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let flag = Rc::new(Cell::new(false));
    let (w, w_peer) = unix_with_data(b"");
    let waiter = map
        .add(
            w,
            Waiter {
                log: log.clone(),
                flag: flag.clone(),
            },
        )
        .unwrap();
    let (t, t_peer) = unix_with_data(b"go");
    map.add(
        t,
        Trigger {
            flag,
            waiter,
            refresh,
        },
    )
    .unwrap();
    (map, log, vec![w_peer, t_peer])
}

// Deliberate difference from Python: asyncore asked every channel's
// readable()/writable() in every pass. Here interest is asked after the
// channel's own hooks, on Map::refresh, and at the start of each run; a
// channel whose interest depends on another channel's state needs a refresh.
#[test]
fn refresh_picks_up_interest_changed_by_another_channel() {
    let (map, log, _peers) = waiter_and_trigger(true);
    // One run: the start-of-run refresh happens before the flag is set.
    let exit = map
        .run(
            &RunOptions::new()
                .timeout(Duration::from_millis(20))
                .count(10),
        )
        .unwrap();
    assert_eq!(exit, Exit::Stopped, "the waiter never became writable");
    assert_eq!(log.hooks("W"), ["handle_write"]);
}

#[test]
fn without_refresh_interest_changed_elsewhere_waits_for_next_run() {
    let (map, log, _peers) = waiter_and_trigger(false);
    let exit = map
        .run(
            &RunOptions::new()
                .timeout(Duration::from_millis(10))
                .count(5),
        )
        .unwrap();
    assert_eq!(exit, Exit::CountExhausted);
    assert_eq!(log.hooks("W"), Vec::<String>::new());
    // The next run asks every channel afresh.
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(5))
        .unwrap();
    assert_eq!(exit, Exit::Stopped);
    assert_eq!(log.hooks("W"), ["handle_write"]);
}

// Deliberate difference from Python: dispatcher.writable() defaulted to True,
// so every idle connected channel woke each pass with a write event. Here
// the default is false; queued output is polled for (and sent) without
// handle_write, and write interest ends when the queue is empty.
#[test]
fn write_interest_follows_the_push_queue() {
    const LEN: usize = 4 * 1024 * 1024;
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let (socket, mut peer) = unix_with_data(b"");
    let id = map.add(socket, Probe::new("A", &log)).unwrap();
    let pass = Duration::from_millis(10);

    // Idle: never writable, so the waits really wait.
    let start = Instant::now();
    map.run(&RunOptions::new().timeout(pass).count(5)).unwrap();
    assert!(start.elapsed() >= 5 * pass, "an idle channel woke the loop");
    assert_eq!(log.len(), 0);

    // Pushed output larger than the socket buffer drains through the loop.
    let data = payload(LEN);
    map.push(id, &data).unwrap();
    assert!(map.pending_output(id) > 0, "the push should have queued");
    let mut got = Vec::new();
    run_until(&map, "the peer receives everything", || {
        drain_nonblocking(&mut peer, &mut got);
        got.len() >= LEN
    });
    assert!(got == data, "the peer received different bytes");
    assert_eq!(map.pending_output(id), 0);
    assert_eq!(
        log.count("A", "handle_write"),
        0,
        "default writable() is false"
    );

    // Drained: write interest is off again.
    let start = Instant::now();
    map.run(&RunOptions::new().timeout(pass).count(5)).unwrap();
    assert!(
        start.elapsed() >= 5 * pass,
        "write interest stayed on after the queue drained"
    );
    assert_eq!(log.count("A", "handle_write"), 0);
    assert_eq!(log.count("A", "handle_read"), 0);
}

#[test]
fn connecting_socket_gets_handle_connect_with_default_writable() {
    let map = Map::new().unwrap();
    let log = HookLog::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let id = map
        .add(
            Socket::tcp_connect(listener.local_addr().unwrap()).unwrap(),
            Probe::new("C", &log),
        )
        .unwrap();
    assert!(map.is_connecting(id) || map.is_connected(id));
    run_until(&map, "handle_connect", || {
        log.count("C", "handle_connect") == 1
    });
    assert!(map.is_connected(id));
    // Connected and idle: no write events from here on.
    map.run(&RunOptions::new().timeout(Duration::from_millis(5)).count(3))
        .unwrap();
    assert_eq!(log.hooks("C"), ["handle_connect"]);
}
