//! Reads into uninitialised memory: `Ctx::recv_uninit` on TCP and pipe
//! channels, and `try_read_uninit` on async streams. They must deliver the
//! same bytes as `recv`/`try_read` and report end of file the same way.

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::rc::Rc;

use asyncore::{Ctx, Dispatcher, Error, Map, Result, Socket, TcpStream};

use util::async_util::within;
use util::{payload, run_until, tcp_pair};

/// Echoes with `recv_uninit` and logs its hooks.
struct UninitEcho {
    log: Rc<RefCell<Vec<String>>>,
}

impl Dispatcher for UninitEcho {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        // Deliberately smaller than the payload and odd-sized, so reads
        // split it at unaligned places.
        let mut buf = [MaybeUninit::<u8>::uninit(); 1021];
        let data = cx.recv_uninit(&mut buf)?;
        assert!(data.len() <= 1021);
        cx.push(data)
    }
    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.log.borrow_mut().push("handle_eof".into());
        cx.close_when_done()
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.log.borrow_mut().push("handle_close".into());
    }
    fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
        self.log.borrow_mut().push(format!("handle_error {error}"));
    }
}

#[test]
fn recv_uninit_echoes_every_byte_and_sees_end_of_file() {
    const LEN: usize = 300 * 1024;
    let map = Map::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (ours, mut peer) = tcp_pair();
    map.add(ours, UninitEcho { log: log.clone() }).unwrap();
    let data = payload(LEN);
    // The peer writes from a thread (the echo comes back while it writes)
    // and then half-closes; the channel must flush everything, then close.
    let mut writer = peer.try_clone().unwrap();
    let sent = data.clone();
    let t = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    peer.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    run_until(&map, "the echo comes back and the channel closes", || {
        util::drain_nonblocking(&mut peer, &mut got);
        map.is_empty()
    });
    t.join().unwrap();
    peer.set_nonblocking(false).unwrap();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "the echo differs from what was sent");
    assert_eq!(*log.borrow(), ["handle_eof", "handle_close"]);
}

#[test]
fn recv_uninit_reads_a_pipe_to_its_end() {
    const LEN: usize = 200 * 1024;
    struct Reader(Rc<RefCell<(Vec<u8>, bool)>>);
    impl Dispatcher for Reader {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
            let data = cx.recv_uninit(&mut buf)?;
            self.0.borrow_mut().0.extend_from_slice(data);
            Ok(())
        }
        fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.0.borrow_mut().1 = true;
            cx.close_when_done()
        }
    }
    struct Writer;
    impl Dispatcher for Writer {
        fn readable(&self) -> bool {
            false
        }
    }
    let map = Map::new().unwrap();
    let seen = Rc::new(RefCell::new((Vec::new(), false)));
    let (r, w) = Socket::pipe().unwrap();
    map.add(r, Reader(seen.clone())).unwrap();
    let w = map.add(w, Writer).unwrap();
    let data = payload(LEN);
    map.push(w, &data).unwrap();
    map.close_when_done(w).unwrap();
    run_until(&map, "the reader reaches end of file", || map.is_empty());
    let seen = seen.borrow();
    assert!(seen.1, "handle_eof did not run");
    assert!(seen.0 == data, "the pipe reader got different bytes");
}

#[test]
fn try_read_uninit_on_an_async_stream() {
    let map = Map::new().unwrap();
    let (ours, mut peer) = util::std_tcp_pair();
    let stream = TcpStream::from_socket(&map, Socket::from_tcp_stream(ours).unwrap()).unwrap();
    peer.write_all(b"hello, uninit").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let got = within(&map, async {
        let mut got = Vec::new();
        loop {
            stream.readable().await.unwrap();
            let mut buf = [MaybeUninit::<u8>::uninit(); 5];
            match stream.try_read_uninit(&mut buf) {
                Ok([]) => return got,
                Ok(data) => got.extend_from_slice(data),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("try_read_uninit: {e}"),
            }
        }
    });
    assert_eq!(got, b"hello, uninit");
}
