//! One loop per core: connections spread over every worker through
//! `SO_REUSEPORT` listeners (Linux), and a worker whose setup panics ends
//! alone, reported, while the others serve.
#![cfg(target_os = "linux")]

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncore::workers::Workers;
use asyncore::{Address, Ctx, Dispatcher, Exit, Result, Socket};

/// Counts its worker's connections and answers each with its index.
struct Counter {
    index: usize,
    counts: Arc<Vec<AtomicUsize>>,
}

impl Dispatcher for Counter {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
        self.counts[self.index].fetch_add(1, Ordering::SeqCst);
        let id = cx.add(socket, Reply)?;
        cx.map().push(id, &[self.index as u8])?;
        cx.map().close_when_done(id)
    }
}

struct Reply;

impl Dispatcher for Reply {}

/// `n` listeners sharing one port on 127.0.0.1.
fn listeners(n: usize) -> (SocketAddr, Mutex<Vec<Option<Socket>>>) {
    let first = Socket::tcp_listen_reuseport("127.0.0.1:0").unwrap();
    let addr = first.local_addr().unwrap().as_inet().unwrap();
    let mut all = vec![Some(first)];
    for _ in 1..n {
        all.push(Some(Socket::tcp_listen_reuseport(addr).unwrap()));
    }
    (addr, Mutex::new(all))
}

/// One worker per listener, each counting its connections; the worker
/// `panics` (if any) panics in its setup instead.
fn counting_workers(
    listeners: Mutex<Vec<Option<Socket>>>,
    panics: Option<usize>,
) -> (Workers, Arc<Vec<AtomicUsize>>) {
    let n = listeners.lock().unwrap().len();
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let shared = counts.clone();
    let workers = Workers::start(n, move |map, index| {
        if panics == Some(index) {
            panic!("worker {index} cannot start");
        }
        let listener = listeners.lock().unwrap()[index].take().expect("one each");
        map.add(
            listener,
            Counter {
                index,
                counts: shared.clone(),
            },
        )?;
        Ok(())
    })
    .unwrap();
    (workers, counts)
}

/// Connects and reads the index of the worker that served.
fn served_by(addr: SocketAddr) -> u8 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(util::DEADLINE)).unwrap();
    let mut index = [0u8; 1];
    stream.read_exact(&mut index).unwrap();
    let _ = stream.write_all(b"bye");
    index[0]
}

#[test]
fn connections_spread_over_every_worker() {
    let (addr, listeners) = listeners(4);
    let (workers, counts) = counting_workers(listeners, None);
    assert_eq!(workers.len(), 4);
    let mut by_worker = [0usize; 4];
    for _ in 0..200 {
        by_worker[usize::from(served_by(addr))] += 1;
    }
    workers.stop();
    let outcomes = workers.join();
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Exit::Stopped))),
        "{outcomes:?}"
    );
    assert!(
        by_worker.iter().all(|&n| n > 0),
        "every worker served some: {by_worker:?}"
    );
    let counted: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(counted, by_worker);
}

#[test]
fn a_worker_whose_setup_panics_ends_alone_and_is_reported() {
    let (addr, listeners) = listeners(3);
    // Worker 1 gets no listener: connections must never wait in the
    // backlog of one that is about to close with its worker.
    drop(listeners.lock().unwrap()[1].take());
    let (workers, counts) = counting_workers(listeners, Some(1));
    // The others serve every connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..50 {
        assert!(Instant::now() < deadline);
        assert_ne!(served_by(addr), 1);
    }
    workers.stop();
    let outcomes = workers.join();
    assert!(matches!(outcomes[0], Ok(Exit::Stopped)), "{outcomes:?}");
    assert!(matches!(outcomes[2], Ok(Exit::Stopped)), "{outcomes:?}");
    let e = outcomes[1].as_ref().unwrap_err();
    assert!(
        e.is_panic() && e.to_string().contains("worker 1 cannot start"),
        "{e}"
    );
    assert_eq!(counts[1].load(Ordering::SeqCst), 0);
}

#[test]
fn zero_workers_means_one_per_core() {
    let workers = Workers::start(0, |_, _| Ok(())).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(workers.len(), cores);
    // An empty map's loop returns at once: each worker ends by itself.
    for outcome in workers.join() {
        assert!(matches!(outcome, Ok(Exit::Empty)), "{outcome:?}");
    }
}
