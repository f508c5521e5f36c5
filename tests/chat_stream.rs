//! `chat::ChatStream`/`chat::Frame` over real sockets: lines split by "\n"
//! and "\r\n" with the terminator split across the peer's writes (IPv4, IPv6
//! and Unix), count and no terminators, a terminator changed between two
//! `next()` calls applying to bytes already buffered, `next_record`
//! collecting pieces, the maximum record length, `EndOfStream` with the
//! held-back remainder, a reset peer, `push` awaiting back-pressure, and a
//! `ChatStream` talking to a callback `ChatChannel` in the same map.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::rc::Rc;

use asyncore::chat::{
    Chat, ChatChannel, ChatCtx, ChatStream, DEFAULT_MAX_RECORD_LEN, Frame, Terminator,
};
use asyncore::{Ctx, Dispatcher, Error, Map, Result, Socket};
use futures::StreamExt;
use socket2::SockRef;

use util::async_util::{within, yield_to_loop};
use util::{
    EventLog, Family, PASS, StdStream, linger_zero, one_pass, payload, run_for, run_until,
    std_tcp_pair, tcp_pair, unix_pair,
};

/// Lets the loop run a few passes.
async fn let_loop_run() {
    for _ in 0..3 {
        yield_to_loop().await;
    }
}

/// The next frame; the stream must not have ended or failed.
async fn next_frame(chat: &mut ChatStream) -> Frame {
    match chat.next().await {
        Some(Ok(frame)) => frame,
        Some(Err(e)) => panic!("unexpected error frame: {e}"),
        None => panic!("the chat stream ended early"),
    }
}

/// Collects `Data` frames until they add up to `want` (input may come in
/// several pieces); any other frame fails the test.
async fn expect_data(chat: &mut ChatStream, want: &[u8]) {
    let mut got = Vec::new();
    while got.len() < want.len() {
        match next_frame(chat).await {
            Frame::Data(d) => got.extend_from_slice(&d),
            other => panic!(
                "expected data {:?}, got {other:?} after {:?}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&got)
            ),
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

/// The next record, which must exist.
async fn record(chat: &mut ChatStream) -> String {
    let record = chat
        .next_record()
        .await
        .unwrap_or_else(|e| panic!("next_record failed: {e}"))
        .expect("the stream ended before a record");
    String::from_utf8(record).expect("utf-8 record")
}

/// Whether the stream has nothing to deliver right now.
async fn is_pending(chat: &mut ChatStream) -> bool {
    futures::poll!(chat.next()).is_pending()
}

/// Undecoded bytes, as the `Debug` output shows them.
fn buffered(chat: &ChatStream) -> usize {
    let debug = format!("{chat:?}");
    let rest = debug
        .split("buffered: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no buffered field in {debug}"));
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A connected pair for `family`: our end as an asyncore socket, the peer
/// as a blocking std stream; the endpoint keeps a Unix path's directory.
fn connected_pair(family: Family) -> (Socket, StdStream, util::Endpoint) {
    let (listener, endpoint) = family.std_listen();
    let ours = match &endpoint.addr {
        asyncore::Address::Inet(a) => {
            Socket::from_tcp_stream(TcpStream::connect(a).unwrap()).unwrap()
        }
        asyncore::Address::Unix(Some(path)) => {
            Socket::from_unix_stream(UnixStream::connect(path).unwrap()).unwrap()
        }
        other => panic!("cannot connect to {other}"),
    };
    let peer = listener.accept();
    (ours, peer, endpoint)
}

fn shutdown_write(stream: &StdStream) {
    match stream {
        StdStream::Tcp(s) => s.shutdown(Shutdown::Write),
        StdStream::Unix(s) => s.shutdown(Shutdown::Write),
    }
    .expect("shutdown");
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/// Lines by "\n", one split across two writes; then "\r\n" split between
/// its two bytes across writes, with the loop running in between: the
/// held-back "\r" produces nothing until the "\n" comes; a "\r" that does
/// not start a terminator is data; then the end of the stream.
fn lines(family: Family) {
    let map = Map::new().unwrap();
    let (socket, mut peer, _endpoint) = connected_pair(family);
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\n");
    within(&map, async {
        peer.write_all(b"alpha\nbra").unwrap();
        assert_eq!(record(&mut chat).await, "alpha");
        let_loop_run().await;
        peer.write_all(b"vo\n\ncharlie\n").unwrap();
        assert_eq!(record(&mut chat).await, "bravo");
        assert_eq!(record(&mut chat).await, "", "an empty line");
        assert_eq!(record(&mut chat).await, "charlie");

        chat.set_terminator("\r\n");
        peer.write_all(b"delta\r").unwrap();
        expect_data(&mut chat, b"delta").await;
        let_loop_run().await;
        assert!(is_pending(&mut chat).await, "the \\r alone decides nothing");
        assert_eq!(buffered(&chat), 1, "the \\r is held back");
        peer.write_all(b"\necho\r").unwrap();
        assert_eq!(next_frame(&mut chat).await, Frame::Terminator);
        expect_data(&mut chat, b"echo").await;
        let_loop_run().await;
        assert!(is_pending(&mut chat).await);
        peer.write_all(b"\n").unwrap();
        assert_eq!(next_frame(&mut chat).await, Frame::Terminator);

        peer.write_all(b"fox\rtrot\r").unwrap();
        let_loop_run().await;
        peer.write_all(b"\r\n").unwrap();
        assert_eq!(record(&mut chat).await, "fox\rtrot\r");

        shutdown_write(&peer);
        assert_eq!(next_frame(&mut chat).await, Frame::EndOfStream(Vec::new()));
        assert!(chat.next().await.is_none());
        assert!(chat.next().await.is_none(), "None again after the end");
    });
}

#[test]
fn lines_split_by_lf_and_crlf_ipv4() {
    run_for("lines", Family::Ipv4, lines);
}

#[test]
fn lines_split_by_lf_and_crlf_ipv6() {
    run_for("lines", Family::Ipv6, lines);
}

#[test]
fn lines_split_by_lf_and_crlf_unix() {
    run_for("lines", Family::Unix, lines);
}

/// A count terminator counts down across writes and ends the record at
/// zero (then behaves like no terminator); with no terminator every byte is
/// data and no `Terminator` frame comes.
#[test]
fn count_and_none_terminators() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = unix_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    assert_eq!(chat.terminator(), &Terminator::None, "the default");
    chat.set_terminator(5usize);
    within(&map, async {
        peer.write_all(b"abc").unwrap();
        assert_eq!(next_frame(&mut chat).await, Frame::Data(b"abc".to_vec()));
        assert_eq!(chat.terminator(), &Terminator::Count(2));
        let_loop_run().await;
        peer.write_all(b"de\nfgh").unwrap();
        assert_eq!(next_frame(&mut chat).await, Frame::Data(b"de".to_vec()));
        assert_eq!(next_frame(&mut chat).await, Frame::Terminator);
        assert_eq!(chat.terminator(), &Terminator::Count(0));
        assert_eq!(next_frame(&mut chat).await, Frame::Data(b"\nfgh".to_vec()));

        chat.set_terminator(Terminator::None);
        peer.write_all(b"x\r\ny\n").unwrap();
        expect_data(&mut chat, b"x\r\ny\n").await;
        peer.write_all(b"\n\n").unwrap();
        expect_data(&mut chat, b"\n\n").await;
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(next_frame(&mut chat).await, Frame::EndOfStream(Vec::new()));
        assert!(chat.next().await.is_none());
    });
}

/// All input is written (and read in one go) before the records are
/// taken; the terminator changed between two `next()` calls applies to the
/// bytes already buffered: "\n", then a count of 4 whose record holds a
/// "\n", then "\n" again; an unterminated last record comes at the end.
#[test]
fn terminator_changed_between_next_calls_applies_to_buffered_bytes() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    peer.write_all(b"hdr\nBO\nYrest\nx").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    chat.set_terminator("\n");
    within(&map, async {
        assert_eq!(next_frame(&mut chat).await, Frame::Data(b"hdr".to_vec()));
        assert_eq!(
            buffered(&chat),
            10,
            "the rest of the input was read with the first line"
        );
        assert_eq!(next_frame(&mut chat).await, Frame::Terminator);
        chat.set_terminator(4usize);
        assert_eq!(next_frame(&mut chat).await, Frame::Data(b"BO\nY".to_vec()));
        assert_eq!(next_frame(&mut chat).await, Frame::Terminator);
        assert_eq!(chat.terminator(), &Terminator::Count(0));
        chat.set_terminator("\n");
        assert_eq!(record(&mut chat).await, "rest");
        assert_eq!(record(&mut chat).await, "x", "the unterminated last record");
        assert_eq!(chat.next_record().await.unwrap(), None);
        assert!(chat.next().await.is_none());
    });
}

/// The same with `next_record` only: the count record and the line records
/// come out of one buffered read.
#[test]
fn next_record_with_terminator_switches_on_buffered_bytes() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = unix_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    peer.write_all(b"LEN 7\r\nab\r\ncdeEND\r\n").unwrap();
    chat.set_terminator("\r\n");
    within(&map, async {
        assert_eq!(record(&mut chat).await, "LEN 7");
        chat.set_terminator(7usize);
        assert_eq!(record(&mut chat).await, "ab\r\ncde");
        chat.set_terminator("\r\n");
        assert_eq!(record(&mut chat).await, "END");
        assert!(is_pending(&mut chat).await);
    });
}

/// `next_record` collects a record that arrives in pieces over several
/// writes (each read before the next write, the loop running between).
#[test]
fn next_record_collects_pieces() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = unix_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\r\n");
    within(&map, async {
        {
            let mut next = pin!(chat.next_record());
            peer.write_all(b"par").unwrap();
            assert!(futures::poll!(next.as_mut()).is_pending());
            let_loop_run().await;
            peer.write_all(b"tial\r").unwrap();
            assert!(futures::poll!(next.as_mut()).is_pending());
            let_loop_run().await;
            peer.write_all(b"\nnext\r\n").unwrap();
            let got = next.await.unwrap();
            assert_eq!(got.as_deref(), Some(&b"partial"[..]));
        }
        assert_eq!(record(&mut chat).await, "next");
    });
}

// ---------------------------------------------------------------------------
// Limits and the end of the stream
// ---------------------------------------------------------------------------

/// A record at the maximum is fine; one byte more, counted across pieces,
/// is `Error::RecordTooLong` with the numbers; raising the limit lets the
/// rest of the record through.
#[test]
fn record_longer_than_the_maximum_is_an_error() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = unix_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\n");
    chat.set_max_record_len(Some(16));
    within(&map, async {
        peer.write_all(b"0123456789abcdef\n").unwrap();
        assert_eq!(record(&mut chat).await, "0123456789abcdef");

        let err = {
            let mut next = pin!(chat.next_record());
            peer.write_all(b"0123456789").unwrap();
            assert!(futures::poll!(next.as_mut()).is_pending());
            peer.write_all(b"abcdefg\n").unwrap();
            next.await.expect_err("a 17-byte record with a limit of 16")
        };
        assert!(err.is_record_too_long(), "{err:?}");
        assert!(
            matches!(
                err,
                Error::RecordTooLong {
                    length: 17,
                    limit: 16
                }
            ),
            "{err:?}"
        );
        // Nothing more is decoded from that record at this limit.
        assert!(matches!(chat.next().await, Some(Err(e)) if e.is_record_too_long()));
        chat.set_max_record_len(None);
        assert_eq!(record(&mut chat).await, "abcdefg");
    });
}

/// The default maximum (64 KiB) applies to a byte terminator.
#[test]
fn default_maximum_record_length() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\r\n");
    let long = vec![b'a'; DEFAULT_MAX_RECORD_LEN + 100];
    peer.write_all(&long).unwrap();
    within(&map, async {
        let mut delivered = 0;
        let err = loop {
            match chat.next().await {
                Some(Ok(Frame::Data(d))) => delivered += d.len(),
                Some(Err(e)) => break e,
                other => panic!("unexpected {other:?}"),
            }
        };
        match err {
            Error::RecordTooLong { length, limit } => {
                assert_eq!(limit, DEFAULT_MAX_RECORD_LEN);
                assert!(length > limit, "{length}");
                assert!(delivered <= limit, "{delivered} bytes delivered");
            }
            other => panic!("expected RecordTooLong, got {other:?}"),
        }
    });
}

/// `EndOfStream` carries the held-back partial terminator, and the stream
/// ends after it; `next_record` returns that remainder with the record's
/// data, then `None`.
#[test]
fn end_of_stream_carries_the_held_back_remainder() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\r\n.\r\n");
    peer.write_all(b"body\r\n.").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    within(&map, async {
        assert_eq!(next_frame(&mut chat).await, Frame::Data(b"body".to_vec()));
        assert_eq!(
            next_frame(&mut chat).await,
            Frame::EndOfStream(b"\r\n.".to_vec())
        );
        assert!(chat.next().await.is_none());
        assert!(chat.next().await.is_none());
        assert_eq!(chat.next_record().await.unwrap(), None);
    });

    let (socket, mut peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\r\n.\r\n");
    peer.write_all(b"first\r\n.\r\nbody\r\n.").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    within(&map, async {
        assert_eq!(record(&mut chat).await, "first");
        assert_eq!(record(&mut chat).await, "body\r\n.");
        assert_eq!(chat.next_record().await.unwrap(), None);
    });

    // Nothing at all before the end.
    let (socket, peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    within(&map, async {
        assert_eq!(next_frame(&mut chat).await, Frame::EndOfStream(Vec::new()));
        assert!(chat.next().await.is_none());
    });
}

/// A peer that resets the connection ends the stream like an end of file
/// (a disconnect is not an error frame).
#[test]
fn peer_reset_ends_the_stream() {
    let map = Map::new().unwrap();
    let (socket, peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\n");
    linger_zero(&peer);
    drop(peer);
    within(&map, async {
        assert_eq!(next_frame(&mut chat).await, Frame::EndOfStream(Vec::new()));
        assert!(chat.next().await.is_none());
    });
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// Reads at most 16 KiB per event into a shared buffer; notes end of file.
struct SlowReader {
    got: Rc<RefCell<Vec<u8>>>,
    eof: Rc<Cell<bool>>,
}

impl Dispatcher for SlowReader {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        self.got.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.eof.set(true);
        cx.close_when_done()
    }
}

/// `push` of 8 MiB to a peer that reads 16 KiB per event: the pushing task
/// stays pending while the peer reads (its flag stays down), completes only
/// once the peer has read all but what the socket buffers hold, and every
/// byte arrives intact; `close_write` then gives the peer end of file.
#[test]
fn push_awaits_back_pressure() {
    const TOTAL: usize = 8 * 1024 * 1024;
    const BUFFER: usize = 128 * 1024;
    let map = Map::new().unwrap();
    let (ours, theirs) = std_tcp_pair();
    SockRef::from(&ours).set_send_buffer_size(BUFFER).unwrap();
    SockRef::from(&theirs).set_recv_buffer_size(BUFFER).unwrap();
    // What the two buffers can hold (the kernel may double the values),
    // plus one read of the peer.
    let in_flight = SockRef::from(&ours).send_buffer_size().unwrap()
        + SockRef::from(&theirs).recv_buffer_size().unwrap()
        + 16 * 1024;
    assert!(in_flight < TOTAL / 4, "buffers too large: {in_flight}");

    let chat = ChatStream::new(&map, Socket::from_tcp_stream(ours).unwrap()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let eof = Rc::new(Cell::new(false));
    map.add(
        Socket::from_tcp_stream(theirs).unwrap(),
        SlowReader {
            got: got.clone(),
            eof: eof.clone(),
        },
    )
    .unwrap();

    let data = Rc::new(payload(TOTAL));
    let done = Rc::new(Cell::new(false));
    let read_when_done = Rc::new(Cell::new(0));
    let task = map.spawn({
        let (data, done, read_when_done, got) = (
            data.clone(),
            done.clone(),
            read_when_done.clone(),
            got.clone(),
        );
        async move {
            chat.push(&data).await?;
            read_when_done.set(got.borrow().len());
            done.set(true);
            chat.close_write()?;
            Ok::<_, Error>(chat)
        }
    });

    for _ in 0..20 {
        one_pass(&map, PASS);
    }
    let early = got.borrow().len();
    assert!(
        !done.get(),
        "push completed after the peer read {early} bytes"
    );
    assert!(early > 0, "the peer read nothing");
    assert!(early < TOTAL - in_flight, "{early}");

    run_until(&map, "the push completes", || done.get());
    let at_done = read_when_done.get();
    assert!(
        at_done >= TOTAL - in_flight,
        "push completed when the peer had read only {at_done} of {TOTAL} bytes \
         (at most {in_flight} can be in flight)"
    );
    run_until(&map, "the peer reads to end of file", || eof.get());
    let got = got.borrow();
    assert_eq!(got.len(), TOTAL);
    assert!(*got == *data, "the pushed bytes arrived altered");
    let chat = within(&map, task)
        .expect("the task panicked")
        .expect("push failed");
    drop(chat);
}

/// A push to a peer that is gone fails with a disconnect instead of
/// waiting forever; an empty push completes at once.
#[test]
fn push_to_a_gone_peer_fails() {
    let map = Map::new().unwrap();
    let (socket, peer) = tcp_pair();
    let chat = ChatStream::new(&map, socket).unwrap();
    linger_zero(&peer);
    drop(peer);
    let data = payload(4 * 1024 * 1024);
    within(&map, async {
        chat.push(b"").await.expect("an empty push");
        let err = chat.push(&data).await.expect_err("push to a reset peer");
        assert!(err.is_disconnect(), "{err:?}");
    });
}

/// `close_write` half-closes: the peer sees end of file and the stream
/// still reads the peer's reply.
#[test]
fn close_write_half_closes() {
    let map = Map::new().unwrap();
    let (socket, mut peer) = tcp_pair();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\n");
    within(&map, async {
        chat.push(b"question\n").await.unwrap();
        chat.close_write().unwrap();
    });
    let mut asked = Vec::new();
    peer.read_to_end(&mut asked).unwrap();
    assert_eq!(asked, b"question\n");
    peer.write_all(b"answer\n").unwrap();
    drop(peer);
    within(&map, async {
        assert_eq!(record(&mut chat).await, "answer");
        assert_eq!(chat.next_record().await.unwrap(), None);
    });
}

// ---------------------------------------------------------------------------
// A ChatStream and a ChatChannel in one map
// ---------------------------------------------------------------------------

/// A callback server: "echo <text>" is answered with the text upper-cased,
/// "blob <n>" with a line "<n>" and then `n` raw bytes; at the end of the
/// stream it logs the partial record and remainder, then closes once its
/// output is sent.
struct Server {
    line: Vec<u8>,
    log: EventLog,
}

impl Chat for Server {
    fn collect_incoming_data(&mut self, _: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
        self.line.extend_from_slice(data);
        Ok(())
    }

    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        let line = String::from_utf8(std::mem::take(&mut self.line)).map_err(Error::other)?;
        self.log.push(format!("line {line}"));
        if let Some(text) = line.strip_prefix("echo ") {
            cx.push(format!("{}\r\n", text.to_uppercase()).as_bytes())
        } else if let Some(n) = line.strip_prefix("blob ") {
            let n: usize = n.parse().map_err(Error::other)?;
            cx.push(format!("{n}\r\n").as_bytes())?;
            cx.push(&payload(n))
        } else {
            cx.push(b"?\r\n")
        }
    }

    fn handle_end_of_stream(&mut self, cx: &mut ChatCtx<'_, '_>, remainder: &[u8]) -> Result<()> {
        self.log.push(format!(
            "end partial={:?} remainder={:?}",
            String::from_utf8_lossy(&self.line),
            String::from_utf8_lossy(remainder)
        ));
        cx.close_when_done()
    }

    fn handle_close(&mut self, _: &mut ChatCtx<'_, '_>) {
        self.log.push("closed");
    }

    fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, error: Error) {
        self.log.push(format!("error {error}"));
        cx.close();
    }
}

/// A `ChatStream` client and a `ChatChannel` server over a Unix socket pair
/// in one map: lines both ways, a 1 MiB count-framed blob (the server's
/// output queue drains as the stream reads), the client's half-close, the
/// server's end of stream with the held-back "\r", and both ends closing.
#[test]
fn chat_stream_talks_to_a_chat_channel_in_one_map() {
    const BLOB: usize = 1024 * 1024;
    let map = Map::new().unwrap();
    let (a, b) = Socket::unix_stream_pair().unwrap();
    let log = EventLog::new();
    let server = map
        .add(
            b,
            ChatChannel::new(Server {
                line: Vec::new(),
                log: log.clone(),
            })
            .with_terminator("\r\n"),
        )
        .unwrap();
    let mut client = ChatStream::new(&map, a).unwrap();
    client.set_terminator("\r\n");
    within(&map, async {
        client.push(b"echo hello\r\necho world\r\n").await.unwrap();
        assert_eq!(record(&mut client).await, "HELLO");
        assert_eq!(record(&mut client).await, "WORLD");

        client
            .push(format!("blob {BLOB}\r\n").as_bytes())
            .await
            .unwrap();
        let n: usize = record(&mut client).await.parse().unwrap();
        assert_eq!(n, BLOB);
        client.set_terminator(n);
        let blob = client.next_record().await.unwrap().unwrap();
        assert_eq!(blob.len(), BLOB);
        assert!(blob == payload(BLOB), "the blob arrived altered");
        client.set_terminator("\r\n");

        client.push(b"what?\r\ntail\r").await.unwrap();
        assert_eq!(record(&mut client).await, "?");
        client.close_write().unwrap();
        assert_eq!(
            next_frame(&mut client).await,
            Frame::EndOfStream(Vec::new()),
            "the server closes after the client's half-close"
        );
        assert!(client.next().await.is_none());
    });
    assert_eq!(
        log.entries(),
        [
            "line echo hello",
            "line echo world",
            &format!("line blob {BLOB}"),
            "line what?",
            "end partial=\"tail\" remainder=\"\\r\"",
            "closed",
        ]
    );
    assert!(!map.contains(server));
    assert_eq!(map.len(), 1, "only the client is left");
    drop(client);
    assert!(map.is_empty());
}

/// Two `ChatStream`s over a TCP pair: each end pushes while the other
/// reads; `Read` on the std peer is not involved.
#[test]
fn two_chat_streams_over_tcp() {
    let map = Map::new().unwrap();
    let (a, b) = std_tcp_pair();
    let mut left = ChatStream::new(&map, Socket::from_tcp_stream(a).unwrap()).unwrap();
    let mut right = ChatStream::new(&map, Socket::from_tcp_stream(b).unwrap()).unwrap();
    left.set_terminator("\n");
    right.set_terminator("\n");
    within(&map, async {
        for i in 0..100 {
            left.push(format!("ping {i}\n").as_bytes()).await.unwrap();
            assert_eq!(record(&mut right).await, format!("ping {i}"));
            right.push(format!("pong {i}\n").as_bytes()).await.unwrap();
            assert_eq!(record(&mut left).await, format!("pong {i}"));
        }
        left.close_write().unwrap();
        assert_eq!(right.next_record().await.unwrap(), None);
    });
}
