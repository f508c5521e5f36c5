//! Graceful shutdown: listeners stop accepting, streams flush what they
//! queued and close, tasks hear `shutdown_requested`, and what is left at
//! the deadline is forced; `run` returns the summary. A signal can start
//! it.

mod util;

use std::io::Read;
use std::time::{Duration, Instant};

use asyncore::{
    Ctx, Dispatcher, Exit, Map, Result, RunOptions, ShutdownSummary, Socket, TcpListener,
};
use futures::future::{Either, select};
use util::{payload, write_nonblocking};

/// Echoes what it reads.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        cx.push(&buf[..n])
    }
}

/// Ignores the shutdown: it is forced at the deadline.
struct Stubborn;

impl Dispatcher for Stubborn {
    fn handle_shutdown(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        Ok(())
    }
}

fn run(map: &Map) -> Exit {
    map.run(&RunOptions::new().timeout(Duration::from_secs(10)))
        .unwrap()
}

#[test]
fn shutdown_flushes_every_echoed_byte_then_returns_the_summary() {
    let map = Map::new().unwrap();
    map.add(Socket::tcp_listen("127.0.0.1:0").unwrap(), Echo)
        .unwrap();
    let (ours, mut peer) = util::tcp_pair();
    map.add(ours, Echo).unwrap();
    peer.set_nonblocking(true).unwrap();
    // 300 KiB in, and the peer reads nothing yet: the echo queues (up to
    // the watermark) and the rest waits in the kernel.
    let data = payload(300 * 1024);
    let mut sent = 0;
    let deadline = Instant::now() + util::DEADLINE;
    while sent < data.len() {
        assert!(Instant::now() < deadline, "could not send the load");
        write_nonblocking(&mut peer, &data, &mut sent);
        map.run(&RunOptions::new().timeout(Duration::from_millis(5)).count(1))
            .unwrap();
    }
    // Everything the server read before the shutdown is echoed; it reads
    // no more after it.
    map.shutdown(Duration::from_secs(5));
    assert!(map.is_shutting_down());
    let reader = std::thread::spawn(move || {
        peer.set_nonblocking(false).unwrap();
        let mut echoed = Vec::new();
        peer.read_to_end(&mut echoed).unwrap();
        echoed
    });
    let exit = run(&map);
    let echoed = reader.join().unwrap();
    assert_eq!(
        exit,
        Exit::Shutdown(ShutdownSummary {
            closed: 2,
            forced: 0
        })
    );
    assert!(!echoed.is_empty() && echoed.len() <= data.len());
    assert!(
        echoed == data[..echoed.len()],
        "the echo is a prefix, byte-exact"
    );
    assert!(!map.is_shutting_down());
}

#[test]
fn what_ignores_the_shutdown_is_forced_at_the_deadline() {
    let map = Map::new().unwrap();
    let (ours, _peer) = util::tcp_pair();
    map.add(ours, Stubborn).unwrap();
    let (ours, mut other) = util::tcp_pair();
    map.add(ours, Echo).unwrap();
    // A well-behaved client: it reads to our end of file, then closes.
    let client = std::thread::spawn(move || {
        let mut rest = Vec::new();
        other.read_to_end(&mut rest).map(|_| rest)
    });
    let started = Instant::now();
    map.shutdown(Duration::from_millis(200));
    let exit = run(&map);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        exit,
        Exit::Shutdown(ShutdownSummary {
            closed: 1,
            forced: 1
        })
    );
    assert!(client.join().unwrap().unwrap().is_empty());
}

#[test]
fn tasks_wind_down_on_shutdown_requested() {
    let map = Map::new().unwrap();
    let listener =
        TcpListener::from_socket(&map, Socket::tcp_listen("127.0.0.1:0").unwrap()).unwrap();
    let handle = map.clone();
    let accept_loop = map.spawn(async move {
        let mut accepted = 0;
        loop {
            let accept = std::pin::pin!(listener.accept());
            match select(accept, handle.shutdown_requested()).await {
                Either::Left((Ok(_), _)) => accepted += 1,
                Either::Left((Err(e), _)) => return Err(e),
                // Stop accepting: the listener drops with the task.
                Either::Right(((), _)) => return Ok(accepted),
            }
        }
    });
    map.call_later(Duration::from_millis(20), |map| {
        map.shutdown(Duration::from_secs(5))
    });
    let exit = run(&map);
    assert_eq!(
        exit,
        Exit::Shutdown(ShutdownSummary {
            closed: 1,
            forced: 0
        })
    );
    assert_eq!(map.block_on(accept_loop).unwrap().unwrap().unwrap(), 0);
}

#[cfg(unix)]
#[test]
fn a_signal_starts_the_shutdown() {
    let map = Map::new().unwrap();
    map.add(Socket::tcp_listen("127.0.0.1:0").unwrap(), Echo)
        .unwrap();
    map.on_signals(&[asyncore::signal::SIGUSR1], |map, _| {
        map.shutdown(Duration::from_secs(5))
    })
    .unwrap();
    signal_hook::low_level::raise(asyncore::signal::SIGUSR1).unwrap();
    // The listener and the signal's own channel both close.
    assert_eq!(
        run(&map),
        Exit::Shutdown(ShutdownSummary {
            closed: 2,
            forced: 0
        })
    );
}
