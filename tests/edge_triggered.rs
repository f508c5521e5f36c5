//! What edge-triggered stream channels still guarantee, over real TCP
//! sockets: everything level triggering gave.
//!
//! Deliberate difference from Python's asyncore (guide, difference 23):
//! Python polls level-triggered, so a channel with input left is simply
//! reported again. Here plain stream sockets are registered edge-triggered
//! on epoll (reported in the order their readiness changed, see
//! `tests/serve_order.rs`), and an edge is reported once. Each test below
//! is a case where a loop that trusted edges alone would stop calling a
//! handler that still has work: if one hangs until its deadline, the loop
//! lost readiness it had been told about. They pass the same way on the
//! level-triggered poll(2) backend, which CI runs too.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::Shutdown;
use std::rc::Rc;

use std::time::Instant;

use asyncore::{Ctx, Dispatcher, Map, Result, RunOptions, TcpStream};
use util::{drain_nonblocking, payload, run_until, tcp_pair};

/// What a handler received, shared with the test.
type Bytes = Rc<RefCell<Vec<u8>>>;
/// How often a handler was called.
type Count = Rc<Cell<usize>>;

/// Reads `piece` bytes per call; what it read and how often it was called.
struct PieceReader {
    piece: usize,
    /// Calls that read nothing before the first real read.
    skip: usize,
    got: Bytes,
    calls: Count,
    eof: Rc<Cell<bool>>,
}

impl PieceReader {
    fn new(piece: usize, skip: usize) -> (PieceReader, Bytes, Count) {
        let got = Rc::default();
        let calls = Rc::default();
        let reader = PieceReader {
            piece,
            skip,
            got: Rc::clone(&got),
            calls: Rc::clone(&calls),
            eof: Rc::default(),
        };
        (reader, got, calls)
    }
}

impl Dispatcher for PieceReader {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        let mut buf = vec![0u8; self.piece];
        let n = cx.recv(&mut buf)?;
        self.got.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_eof(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.eof.set(true);
        Ok(())
    }
}

#[test]
fn a_handler_reading_small_pieces_is_called_until_the_input_is_used_up() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let (reader, got, calls) = PieceReader::new(16, 0);
    map.add(socket, reader).unwrap();
    let data = payload(1000);
    peer.write_all(&data).unwrap();
    run_until(&map, "all 1000 bytes read 16 at a time", || {
        got.borrow().len() == data.len()
    });
    assert_eq!(*got.borrow(), data);
    assert!(calls.get() >= 1000 / 16, "{} calls", calls.get());
}

#[test]
fn input_and_end_of_file_that_arrive_together_are_both_seen() {
    // The read comes back short, as if the socket were drained, yet the
    // peer's shutdown is still to be read: one edge reported both.
    for round in 0..20 {
        let map = Map::new().unwrap();
        let (socket, mut peer) = tcp_pair();
        let (reader, got, _) = PieceReader::new(4096, 0);
        let eof = Rc::clone(&reader.eof);
        map.add(socket, reader).unwrap();
        peer.write_all(b"last words").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        run_until(&map, "the input and its end", || eof.get());
        assert_eq!(*got.borrow(), b"last words", "round {round}");
    }
}

#[test]
fn a_handler_that_leaves_its_input_unread_is_called_again() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let (reader, got, calls) = PieceReader::new(4096, 2);
    map.add(socket, reader).unwrap();
    peer.write_all(b"wait for me").unwrap();
    run_until(&map, "the input read on the third call", || {
        got.borrow().len() == 11
    });
    assert_eq!(calls.get(), 3, "called again while its input was left");
}

/// Sends `data` with `send`, at most `piece` bytes per `handle_write`.
struct PieceWriter {
    data: Vec<u8>,
    sent: usize,
    piece: usize,
}

impl Dispatcher for PieceWriter {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        self.sent < self.data.len()
    }

    fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let end = (self.sent + self.piece).min(self.data.len());
        match cx.send(&self.data[self.sent..end]) {
            Ok(n) => self.sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

#[test]
fn a_handler_writing_a_piece_per_call_is_called_until_everything_is_sent() {
    // 4 MiB in 1000-byte pieces: whole writes (room left, so the poller
    // is asked again) until the socket buffer fills, then partial ones
    // and would-blocks (room used up, reported again as the peer reads).
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    peer.set_nonblocking(true).unwrap();
    let data = payload(4 << 20);
    let writer = PieceWriter {
        data: data.clone(),
        sent: 0,
        piece: 1000,
    };
    map.add(socket, writer).unwrap();
    let mut received = Vec::new();
    run_until(&map, "4 MiB received", || {
        drain_nonblocking(&mut peer, &mut received);
        received.len() == data.len()
    });
    assert!(received == data, "the bytes arrive in order");
}

#[test]
fn readable_keeps_readiness_until_an_operation_would_block() {
    // A task reads 10 of 100 bytes after each `readable()`: the rest is
    // left, and no new input comes, so a second `readable()` that waited
    // for another report would wait for ever.
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let stream = TcpStream::from_socket(&map, socket).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Cell::new(false));
    let (task_got, task_done) = (Rc::clone(&got), Rc::clone(&done));
    let handle = map.spawn(async move {
        let mut buf = [0u8; 10];
        while task_got.borrow().len() < 100 {
            stream.readable().await.unwrap();
            match stream.try_read(&mut buf) {
                Ok(n) => task_got.borrow_mut().extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("try_read: {e}"),
            }
        }
        task_done.set(true);
    });
    drop(handle);
    let data = payload(100);
    peer.write_all(&data).unwrap();
    run_until(&map, "100 bytes read 10 at a time", || done.get());
    assert_eq!(*got.borrow(), data);
}

#[test]
fn an_async_reader_sees_input_and_end_of_file_that_arrive_together() {
    // A short read forgets the readiness `readable()` reports (the input
    // is drained, a new edge reports more), so the end of file behind the
    // input has to come from the loop's check of its suspects. Both read
    // paths: `try_read` after `readable()`, and `AsyncRead::read`.
    for round in 0..20 {
        let use_async_read = round % 2 == 1;
        let map = Map::new().unwrap();
        let (socket, mut peer) = tcp_pair();
        let stream = TcpStream::from_socket(&map, socket).unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let eof = Rc::new(Cell::new(false));
        let (task_got, task_eof) = (Rc::clone(&got), Rc::clone(&eof));
        let handle = map.spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = if use_async_read {
                    futures::AsyncReadExt::read(&mut &stream, &mut buf)
                        .await
                        .unwrap()
                } else {
                    stream.readable().await.unwrap();
                    match stream.try_read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(e) => panic!("try_read: {e}"),
                    }
                };
                if n == 0 {
                    task_eof.set(true);
                    return;
                }
                task_got.borrow_mut().extend_from_slice(&buf[..n]);
            }
        });
        drop(handle);
        peer.write_all(b"last words").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        run_until(&map, "the input and its end, read by a task", || eof.get());
        assert_eq!(*got.borrow(), b"last words", "round {round}");
    }
}

#[test]
fn an_end_of_file_left_behind_is_noticed_by_a_loop_with_nothing_else_to_do() {
    // The pass after the short read waits without a timeout and nothing
    // else happens: only the loop's own check can wake it. A watchdog
    // peer wakes it after the deadline instead, so a broken check fails
    // the test rather than hanging it.
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let (reader, got, _) = PieceReader::new(4096, 0);
    let eof = Rc::clone(&reader.eof);
    map.add(socket, reader).unwrap();
    let (watchdog, mut poke) = util::unix_pair();
    map.add(watchdog, util::Inert).unwrap();
    peer.write_all(b"bye").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let one_pass = RunOptions::new().timeout(None).count(1);
    map.run(&one_pass).unwrap();
    assert_eq!(*got.borrow(), b"bye", "the first pass reads the input");
    let poker = std::thread::spawn(move || {
        std::thread::sleep(util::DEADLINE);
        let _ = poke.write_all(b"!");
    });
    let started = Instant::now();
    while !eof.get() && started.elapsed() < util::DEADLINE {
        map.run(&one_pass).unwrap();
    }
    assert!(eof.get(), "the end of file was seen");
    assert!(
        started.elapsed() < util::DEADLINE,
        "seen by the loop's own check, not the watchdog: {:?}",
        started.elapsed()
    );
    drop(poker);
}
