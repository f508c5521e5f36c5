//! One acceptor for many workers (`Workers::start_handoff`), the way to
//! use every core where the kernel does not balance `SO_REUSEPORT`
//! listeners: connections go to the workers in turn, a worker that ended
//! is skipped, and a failing handler drops only its own connection.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use asyncore::workers::Workers;
use asyncore::{Dispatcher, Error, Map, Socket};

struct Reply;

impl Dispatcher for Reply {}

/// The index of the worker thread this runs on.
fn worker_index() -> u8 {
    let name = std::thread::current().name().unwrap_or_default().to_owned();
    name.strip_prefix("asyncore-worker-")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("not on a worker thread: {name:?}"))
}

/// Answers each connection with the index of the worker serving it; the
/// handler panics on worker `panics`.
fn answer_with_index(map: &Map, socket: Socket, panics: Option<u8>) -> asyncore::Result<()> {
    let index = worker_index();
    if panics == Some(index) {
        panic!("worker {index} cannot serve");
    }
    let id = map.add(socket, Reply)?;
    map.push(id, &[index])?;
    map.close_when_done(id)
}

fn start(
    n: usize,
    setup_panics: Option<usize>,
    handler_panics: Option<u8>,
) -> (SocketAddr, Workers) {
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    let workers = Workers::start_handoff(
        n,
        listener,
        move |_, index| {
            if setup_panics == Some(index) {
                panic!("worker {index} cannot start");
            }
            Ok(())
        },
        move |map, socket| answer_with_index(map, socket, handler_panics),
    )
    .unwrap();
    (addr, workers)
}

/// Connects and reads the index of the worker that served, or `None` if
/// the connection was closed without an answer.
fn served_by(addr: SocketAddr) -> Option<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(util::DEADLINE)).unwrap();
    let mut index = [0u8; 1];
    match stream.read(&mut index) {
        Ok(1) => {
            let _ = stream.write_all(b"bye");
            Some(index[0])
        }
        Ok(_) => None,
        Err(e) => panic!("no answer and no end from {addr}: {e}"),
    }
}

#[test]
fn every_worker_gets_its_turn() {
    let (addr, workers) = start(4, None, None);
    let mut counts = [0usize; 4];
    for _ in 0..200 {
        let index = served_by(addr).expect("an answer");
        counts[usize::from(index)] += 1;
    }
    // In turn: exactly a quarter each.
    assert_eq!(counts, [50; 4]);
    workers.stop();
    for outcome in workers.join() {
        assert_eq!(outcome.unwrap(), asyncore::Exit::Stopped);
    }
}

#[test]
fn a_worker_that_ended_is_skipped_and_the_others_serve_its_turns() {
    let (addr, workers) = start(4, Some(2), None);
    let deadline = Instant::now() + util::DEADLINE;
    while workers.is_running(2) {
        assert!(Instant::now() < deadline, "worker 2 never ended");
        std::thread::yield_now();
    }
    let mut counts = [0usize; 4];
    for _ in 0..200 {
        let index = served_by(addr).expect("an answer");
        counts[usize::from(index)] += 1;
    }
    assert_eq!(counts[2], 0);
    assert_eq!(counts.iter().sum::<usize>(), 200);
    assert!(
        counts[0] > 0 && counts[1] > 0 && counts[3] > 0,
        "{counts:?}"
    );
    workers.stop();
    let outcomes = workers.join();
    assert!(
        matches!(outcomes[2], Err(Error::Panicked { .. })),
        "{:?}",
        outcomes[2]
    );
    assert!(
        outcomes
            .iter()
            .enumerate()
            .all(|(i, o)| i == 2 || o.is_ok())
    );
}

#[test]
fn a_panicking_handler_drops_only_its_connection() {
    let (addr, workers) = start(2, None, Some(1));
    let answers: Vec<Option<u8>> = (0..8).map(|_| served_by(addr)).collect();
    // Worker 1's turns end without an answer; worker 0 answers the rest.
    assert_eq!(
        answers.iter().filter(|a| a.is_none()).count(),
        4,
        "{answers:?}"
    );
    assert!(answers.iter().flatten().all(|&i| i == 0), "{answers:?}");
    assert!(
        workers.is_running(1),
        "a failing handler does not end its worker"
    );
    workers.stop();
    assert!(workers.join().iter().all(Result::is_ok));
}

#[test]
fn only_a_listener_can_be_the_acceptor() {
    let (socket, _peer) = util::tcp_pair();
    let e = Workers::start_handoff(1, socket, |_, _| Ok(()), |_, _| Ok(())).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
