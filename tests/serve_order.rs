//! The order in which a pass serves its ready channels (`ServeOrder`),
//! over real sockets: a channel that became ready since the last wait is
//! served before one that the last wait reported too, in both styles.
//!
//! Deliberate difference from Python's asyncore (guide, difference 22):
//! Python serves in the order `poll` or `select` reports, and so did we.
//! Level-triggered epoll keeps reporting the channels it reported before
//! ahead of ones that became ready after them, so under load a channel
//! that just missed a wait was served last in the next pass, after
//! channels that became ready later, and under load some connections
//! were served later than others pass after pass (BENCHMARKS.md, "Tail
//! latency"). `poller_order_puts_the_earlier_channel_last`
//! shows the kernel's order, which `ServeOrder::Poller` still gives; if
//! the default ever served in that order again, the first two tests fail.
//!
//! The peers are Unix stream pairs: a write on one end has queued its
//! data and woken the poller before it returns, so which channel became
//! ready first is decided by the test, not by the network stack.

mod util;

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::Duration;

use asyncore::{Ctx, Dispatcher, Map, Result, RunOptions, ServeOrder, Socket, UnixStream};
use futures::io::AsyncReadExt;

use util::unix_pair;

type Order = Rc<RefCell<Vec<&'static str>>>;

/// Logs its name each time it reads.
struct Reader {
    name: &'static str,
    order: Order,
}

impl Dispatcher for Reader {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.order.borrow_mut().push(self.name);
        let mut buf = [0u8; 256];
        cx.recv(&mut buf)?;
        Ok(())
    }
}

/// One pass that finds its input already there (or, with a zero
/// `timeout`, none).
fn pass_within(map: &Map, order: ServeOrder, timeout: Duration) {
    let options = RunOptions::new()
        .timeout(timeout)
        .count(1)
        .serve_order(order);
    map.run(&options).expect("one pass");
}

fn pass(map: &Map, order: ServeOrder) {
    pass_within(map, order, util::DEADLINE);
}

/// Channels `a`, `b`, `c`, their peers, and the log of who read.
fn three_channels(map: &Map, asynchronous: bool) -> (Vec<StdUnixStream>, Order) {
    let order = Order::default();
    let mut peers = Vec::new();
    for name in ["a", "b", "c"] {
        let (socket, peer) = unix_pair();
        if asynchronous {
            spawn_reader(map, socket, name, order.clone());
        } else {
            let reader = Reader {
                name,
                order: order.clone(),
            };
            map.add(socket, reader).unwrap();
        }
        peers.push(peer);
    }
    (peers, order)
}

/// A task that logs `name` each time a read returns.
fn spawn_reader(map: &Map, socket: Socket, name: &'static str, order: Order) {
    let stream = UnixStream::from_socket(map, socket).unwrap();
    let task = async move {
        let mut stream = stream;
        let mut buf = [0u8; 256];
        while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {
            order.borrow_mut().push(name);
        }
    };
    drop(map.spawn(task));
}

/// `a` is served in one pass; then `c`, `b` and `a` get input, in that
/// order; returns who read in the next pass.
fn served_after_a_repeat(asynchronous: bool, order: ServeOrder) -> Vec<&'static str> {
    let map = Map::new().unwrap();
    let (mut peers, log) = three_channels(&map, asynchronous);
    // The tasks' first polls (they find nothing and wait).
    pass_within(&map, order, Duration::ZERO);
    peers[0].write_all(b"1").unwrap();
    pass(&map, order);
    assert_eq!(*log.borrow(), ["a"], "only a had input");
    log.borrow_mut().clear();
    for i in [2, 1, 0] {
        peers[i].write_all(b"2").unwrap();
    }
    pass(&map, order);
    log.take()
}

/// Checks the default order after `served_after_a_repeat`.
fn assert_newcomers_first(asynchronous: bool) {
    let served = served_after_a_repeat(asynchronous, ServeOrder::NewcomersFirst);
    assert_eq!(served.len(), 3, "every ready channel is served: {served:?}");
    assert_eq!(served.last(), Some(&"a"), "a was ready last: {served:?}");
    // Among newcomers, the poller's order: on epoll, the order they
    // became ready in.
    if cfg!(all(target_os = "linux", not(polling_test_poll_backend))) {
        assert_eq!(served, ["c", "b", "a"]);
    }
}

#[test]
fn newcomers_are_served_before_a_channel_the_last_wait_reported() {
    assert_newcomers_first(false);
}

#[test]
fn tasks_are_woken_newcomers_first_too() {
    assert_newcomers_first(true);
}

#[test]
fn poller_order_puts_the_earlier_channel_last() {
    for asynchronous in [false, true] {
        let served = served_after_a_repeat(asynchronous, ServeOrder::Poller);
        assert_eq!(served.len(), 3, "every ready channel is served: {served:?}");
        // What level-triggered epoll does: `a`, reported by the previous
        // wait, is still at the head of its ready list.
        if cfg!(all(target_os = "linux", not(polling_test_poll_backend))) {
            assert_eq!(served, ["a", "c", "b"], "async: {asynchronous}");
        }
    }
}

#[test]
fn a_channel_ready_in_every_pass_keeps_its_turn_among_the_others() {
    // Two channels ready in every pass: neither starves, both are served
    // once per pass, in the same order every time (reported again, each
    // keeps its place).
    let map = Map::new().unwrap();
    let (mut peers, log) = three_channels(&map, false);
    let mut first: Option<Vec<&str>> = None;
    for _ in 0..20 {
        peers[0].write_all(b"x").unwrap();
        peers[1].write_all(b"x").unwrap();
        pass(&map, ServeOrder::default());
        let served = log.take();
        let mut sorted = served.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["a", "b"]);
        assert_eq!(served, *first.get_or_insert_with(|| served.clone()));
    }
}
