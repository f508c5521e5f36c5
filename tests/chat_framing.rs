//! asynchat framing and chat-channel behaviour (ASYNCORE-SPEC.md §3, §5
//! rows 14-22).
//!
//! * Replay: every input is split by the pure [`Splitter`] at once, then
//!   replayed in chunks of 1, 2 and 3 bytes, split in two at every position,
//!   and in 50 random chunkings (a fixed-seed xorshift), and the pieces
//!   (adjacent data pieces coalesced: chunking may cut data differently,
//!   never records), the held-back remainder and the final terminator must
//!   match the one-shot split. The same replays run through a real socket
//!   (a [`ChatChannel`] over a Unix socket pair, one read per chunk), where
//!   the uncoalesced pieces must equal the pure chunked replay's exactly.
//! * Chat behaviour over sockets: maximum record length, end of stream with
//!   the held-back remainder, output (immediate push, producers with bounded
//!   memory, close_when_done ordering, discard_buffers, empty pushes, the
//!   high watermark), no callbacks after a closing `found_terminator`, and
//!   terminator changes applying to bytes already buffered.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use asyncore::chat::{
    Chat, ChatChannel, ChatCtx, DEFAULT_MAX_RECORD_LEN, DEFAULT_OUT_BUFFER_SIZE, Piece,
    ReaderProducer, SimpleProducer, Splitter, Terminator, find_prefix_at_end,
};
use asyncore::{ChannelId, DEFAULT_HIGH_WATERMARK, Error, Map, Result, Socket};

use util::{
    TempDir, drain_nonblocking, one_pass, payload, run_until, run_until_empty, run_until_within,
    write_nonblocking,
};

// ---------------------------------------------------------------------------
// The model: pure splitter replays
// ---------------------------------------------------------------------------

/// A decoded piece, owned: Python's `collect_incoming_data(data)` and
/// `found_terminator()`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Found,
}

/// What `found_terminator` does to the terminator.
#[derive(Clone, Copy, Debug)]
enum Switch {
    /// Nothing.
    Keep,
    /// The spec's example: a `b"\n"` header line, then a body of `n` bytes,
    /// alternating.
    HeaderBody(usize),
    /// A decimal length line (`b"\n"`), then a body of that many bytes.
    LengthPrefixed,
}

impl Switch {
    /// The terminator `found_terminator` sets after `record`, given the
    /// current one (`None`: leave it).
    fn next(self, current: &Terminator, record: &[u8]) -> Option<Terminator> {
        match (self, current) {
            (Switch::Keep, _) => None,
            (Switch::HeaderBody(n), Terminator::Bytes(_)) => Some(Terminator::Count(n)),
            (Switch::LengthPrefixed, Terminator::Bytes(_)) => {
                let n = std::str::from_utf8(record).ok()?.parse().ok()?;
                Some(Terminator::Count(n))
            }
            (Switch::HeaderBody(_) | Switch::LengthPrefixed, _) => Some(Terminator::from("\n")),
        }
    }
}

/// An input and how to frame it.
#[derive(Clone, Debug)]
struct Case {
    terminator: Terminator,
    switch: Switch,
    input: Vec<u8>,
}

fn case(terminator: impl Into<Terminator>, input: &[u8]) -> Case {
    Case {
        terminator: terminator.into(),
        switch: Switch::Keep,
        input: input.to_vec(),
    }
}

fn switching(terminator: impl Into<Terminator>, switch: Switch, input: &[u8]) -> Case {
    Case {
        switch,
        ..case(terminator, input)
    }
}

/// The result of a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Ev>,
    /// `buffered()` at the end: the held-back partial terminator.
    buffered: Vec<u8>,
    terminator: Terminator,
}

/// Feeds `chunks` one at a time to a fresh splitter (no record limit),
/// decoding everything after each, and applying the case's switch at each
/// record end. Checks the per-chunk invariants on the way.
#[track_caller]
fn replay(case: &Case, chunks: &[&[u8]]) -> Outcome {
    let mut splitter = Splitter::new();
    splitter.set_max_record_len(None);
    let mut t = case.terminator.clone();
    let mut events = Vec::new();
    let mut record = Vec::new();
    for chunk in chunks {
        splitter.feed(chunk);
        loop {
            let piece = splitter
                .next_piece(&mut t)
                .expect("no limit, no error")
                .map(|p| match p {
                    Piece::Data(d) => Ev::Data(d.to_vec()),
                    Piece::Terminator => Ev::Found,
                });
            match piece {
                None => break,
                Some(Ev::Data(d)) => {
                    assert!(!d.is_empty(), "an empty data piece: {case:?} {chunks:?}");
                    record.extend_from_slice(&d);
                    events.push(Ev::Data(d));
                }
                Some(Ev::Found) => {
                    events.push(Ev::Found);
                    if let Some(next) = case.switch.next(&t, &record) {
                        t = next;
                        splitter.reset_record();
                    }
                    record.clear();
                }
            }
        }
        // At most len(t) - 1 bytes are ever held back; nothing for the
        // raw modes.
        let held = splitter.buffered().len();
        match &t {
            Terminator::Bytes(b) if !b.is_empty() => assert!(
                held < b.len(),
                "{held} bytes held with terminator {t:?}: {case:?} {chunks:?}"
            ),
            _ => assert_eq!(held, 0, "bytes held with {t:?}: {case:?} {chunks:?}"),
        }
    }
    Outcome {
        events,
        buffered: splitter.buffered().to_vec(),
        terminator: t,
    }
}

/// Merges adjacent data pieces.
fn coalesce(events: &[Ev]) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(Ev::Data(prev)), Ev::Data(d)) => prev.extend_from_slice(d),
            _ => out.push(e.clone()),
        }
    }
    out
}

/// Python's test notation: `C <data>` and `F`.
fn notation(events: &[Ev]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Ev::Data(d) => format!("C {}", String::from_utf8_lossy(d)),
            Ev::Found => "F".to_owned(),
        })
        .collect()
}

/// xorshift64: a small deterministic PRNG.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random chunking of `input`: mostly short chunks, sometimes long ones,
/// sometimes empty ones.
fn random_chunks<'a>(input: &'a [u8], rng: &mut XorShift) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let len = match rng.below(10) {
            0 => 0,
            1 => 1 + rng.below(rest.len()),
            _ => 1 + rng.below(4),
        }
        .min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

fn fixed_chunks(input: &[u8], size: usize) -> Vec<&[u8]> {
    input.chunks(size).collect()
}

/// Every chunking the pure replay tries for `input`: sizes 1, 2, 3, every
/// two-way split (so a terminator is split at every position), and 50
/// random ones from `seed`.
fn chunkings(input: &[u8], seed: u64) -> Vec<Vec<&[u8]>> {
    let mut all = vec![vec![input]];
    for size in [1, 2, 3] {
        all.push(fixed_chunks(input, size));
    }
    for k in 0..=input.len() {
        let (a, b) = input.split_at(k);
        all.push(vec![a, b]);
    }
    let mut rng = XorShift(seed);
    for _ in 0..50 {
        all.push(random_chunks(input, &mut rng));
    }
    all
}

/// Replays `case` under every chunking and compares with the one-shot
/// split. Returns the one-shot outcome.
#[track_caller]
fn check_chunking_invariance(case: &Case, seed: u64) -> Outcome {
    let whole = replay(case, &[&case.input]);
    for chunks in chunkings(&case.input, seed) {
        let got = replay(case, &chunks);
        assert_eq!(
            coalesce(&got.events),
            coalesce(&whole.events),
            "records differ for {case:?} in chunks {chunks:?}"
        );
        assert_eq!(
            got.buffered, whole.buffered,
            "held-back remainder differs for {case:?} in chunks {chunks:?}"
        );
        assert_eq!(
            got.terminator, whole.terminator,
            "final terminator differs for {case:?} in chunks {chunks:?}"
        );
    }
    whole
}

/// The inputs replayed (the spec's examples are checked exactly, in
/// `spec_worked_examples`, and replayed here too).
fn cases() -> Vec<Case> {
    let dot = b"\r\n.\r\n";
    vec![
        // Spec §3.1 examples, joined.
        case("\r\n", b"ab\r\ncd\r\n\r\nef\r"),
        case("qqq", b"xqqyqqqz"),
        case(3usize, b"abcdefgh"),
        switching("\n", Switch::HeaderBody(4), b"hdr\nBODYrest\nx"),
        // Length 1 and empty records.
        case("\n", b"hello world\n\nI'm not dead yet!\n"),
        case("\n", b"\n\n\n"),
        case("\n", b""),
        case("|", b"a|b||c|"),
        // Length 2..5, with overlapping prefixes.
        case("\r\n", b"\r\r\n\r\r\n\n\r"),
        case("qqq", b"qqqqqq"),
        case("qqq", b"qqqqq"),
        case("qqq", b"qqxqqqqqqq"),
        case("qqq", b"qq"),
        case("aab", b"aaab"),
        case("aab", b"aaaab"),
        case("aab", b"aabaab"),
        case("aab", b"aaaaa"),
        case("aab", b"abaabaaabxaa"),
        case("aaab", b"aaaab"),
        case("aaab", b"aaaaaab"),
        case("aaab", b"aabaaabaaa"),
        case("aaab", b"aaabaaabaaab"),
        case("abcab", b"abcabcab"),
        case("abcab", b"ababcabcababcab"),
        case("xxxxx", b"xxxxxxxxxxxxxxxxxxxxxxx"),
        // SMTP's end of data, with dot-stuffed lines and near misses.
        case(dot, b"line1\r\n..dotted\r\n.\r\n"),
        case(dot, b"\r\n.\r\n"),
        case(dot, b"a\r\n\r\n.\r\n"),
        case(dot, b"\r\n\r\n.\r\n.\r\n"),
        case(dot, b"x\r\n.\r"),
        case(dot, b"body\r\n."),
        case(dot, b"\r\n.\r\n\r\n.\r\n"),
        case(dot, b"a\r\n.x\r\n..\r\n.\r\nb\r\n"),
        // Counts, None, empty bytes (falsy like None).
        case(1usize, b"xyz"),
        case(10usize, b"short"),
        case(5usize, b"exact"),
        case(0usize, b"all data\n"),
        case(Terminator::None, b"no records\r\n here"),
        case(Terminator::Bytes(Vec::new()), b"empty terminator\n"),
        // Terminators switched in found_terminator.
        switching("\n", Switch::HeaderBody(4), b"h1\nBODYh2\nbodyh3\nxy"),
        switching("\n", Switch::HeaderBody(1), b"\n\n\n\n\n"),
        switching(
            "\n",
            Switch::LengthPrefixed,
            b"5\nhello3\nabc2\n\n\n1\nx10\n0123456789tail0\nrest",
        ),
        switching("\n", Switch::LengthPrefixed, b"4\nab\nc2\n\r\n"),
        switching(2usize, Switch::HeaderBody(2), b"ab\ncd\nef"),
    ]
}

// ---------------------------------------------------------------------------
// Pure replays
// ---------------------------------------------------------------------------

#[test]
fn spec_worked_examples_exactly() {
    // t=b'\r\n', reads b'ab\r', b'\ncd\r\n\r\nef', b'\r'.
    let got = replay(&case("\r\n", b""), &[b"ab\r", b"\ncd\r\n\r\nef", b"\r"]);
    assert_eq!(
        notation(&got.events),
        ["C ab", "F", "C cd", "F", "F", "C ef"]
    );
    assert_eq!(got.buffered, b"\r");
    // t=b'qqq', reads b'xq', b'q', b'yqqqz': the held b'qq' was data.
    let got = replay(&case("qqq", b""), &[b"xq", b"q", b"yqqqz"]);
    assert_eq!(notation(&got.events), ["C x", "C qqy", "F", "C z"]);
    assert_eq!(got.buffered, b"");
    // t=3, reads b'ab', b'cdef', b'gh': the count ends as 0.
    let got = replay(&case(3usize, b""), &[b"ab", b"cdef", b"gh"]);
    assert_eq!(notation(&got.events), ["C ab", "C c", "F", "C def", "C gh"]);
    assert_eq!(got.terminator, Terminator::Count(0));
    // t=b'\n', found_terminator switching to 4 and back, one read.
    let got = replay(
        &switching("\n", Switch::HeaderBody(4), b""),
        &[b"hdr\nBODYrest\nx"],
    );
    assert_eq!(
        notation(&got.events),
        ["C hdr", "F", "C BODY", "F", "C rest", "F", "C x"]
    );
    // find_prefix_at_end.
    assert_eq!(find_prefix_at_end(b"\r\n\r", b"\r\n.\r\n"), 1);
    assert_eq!(find_prefix_at_end(b"abc\r\n", b"\r\n.\r\n"), 2);
    let got = replay(&case(&b"\r\n.\r\n"[..], b""), &[b"abc\r\n"]);
    assert_eq!(notation(&got.events), ["C abc"]);
    assert_eq!(got.buffered, b"\r\n");
}

#[test]
fn one_shot_results_of_selected_inputs() {
    // A few one-shot results spelled out, so that the invariance test below
    // does not compare a wrong model with itself.
    let expect = |c: Case, events: &[&str], buffered: &[u8]| {
        let got = replay(&c, &[&c.input]);
        assert_eq!(notation(&got.events), events, "{c:?}");
        assert_eq!(got.buffered, buffered, "{c:?}");
    };
    expect(case("aab", b"aaab"), &["C a", "F"], b"");
    expect(case("aab", b"aaaaa"), &["C aaa"], b"aa");
    expect(case("aaab", b"aabaaabaaa"), &["C aab", "F"], b"aaa");
    expect(case("qqq", b"qqqqq"), &["F"], b"qq");
    expect(
        case(&b"\r\n.\r\n"[..], b"line1\r\n..dotted\r\n.\r\n"),
        &["C line1\r\n..dotted", "F"],
        b"",
    );
    expect(case(&b"\r\n.\r\n"[..], b"x\r\n.\r"), &["C x"], b"\r\n.\r");
    expect(case(10usize, b"short"), &["C short"], b"");
    expect(case(0usize, b"all data\n"), &["C all data\n"], b"");
    expect(
        switching("\n", Switch::LengthPrefixed, b"4\nab\nc2\n\r\n"),
        &["C 4", "F", "C ab\nc", "F", "C 2", "F", "C \r\n", "F"],
        b"",
    );
}

#[test]
fn chunking_never_changes_records_remainder_or_terminator() {
    for (i, c) in cases().iter().enumerate() {
        check_chunking_invariance(c, 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    }
}

#[test]
fn chunking_invariance_on_random_inputs() {
    // Random inputs over a tiny alphabet, so terminators and their prefixes
    // occur often.
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let terminators: [&[u8]; 6] = [b"a", b"ab", b"aab", b"aaab", b"abaab", b"\r\n.\r\n"];
    for round in 0..120 {
        let t = terminators[round % terminators.len()];
        let alphabet: &[u8] = if t == b"\r\n.\r\n" { b"\r\n.x" } else { b"abx" };
        let len = rng.below(40);
        let input: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        check_chunking_invariance(&case(t, &input), rng.next() | 1);
    }
}

// ---------------------------------------------------------------------------
// A recording chat, for socket tests
// ---------------------------------------------------------------------------

/// What a chat saw.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Data(Vec<u8>),
    Found,
    /// `handle_end_of_stream` with the remainder.
    Eof(Vec<u8>),
    TooLong {
        length: usize,
        limit: usize,
    },
    Error(String),
    Close,
}

#[derive(Debug, Default)]
struct Log {
    seen: Vec<Seen>,
    /// The record being collected.
    record: Vec<u8>,
    /// Completed records.
    records: Vec<Vec<u8>>,
    /// The terminator at end of stream.
    final_terminator: Option<Terminator>,
    /// The test's pass counter when each `Seen` was logged.
    pass_of: Vec<usize>,
    /// Free-form notes from hooks.
    notes: Vec<String>,
}

type Shared = Rc<RefCell<Log>>;

/// A hook: runs after the event is logged.
type Hook = Box<dyn FnMut(&mut ChatCtx<'_, '_>, &Shared) -> Result<()>>;

fn hook(f: impl FnMut(&mut ChatCtx<'_, '_>, &Shared) -> Result<()> + 'static) -> Hook {
    Box::new(f)
}

/// A chat that logs everything into a shared [`Log`] and runs optional
/// hooks. At end of stream it closes once its output is sent (the default).
struct Recorder {
    log: Shared,
    pass: Rc<Cell<usize>>,
    on_collect: Option<Hook>,
    on_found: Option<Hook>,
    on_eof: Option<Hook>,
    switch: Switch,
}

impl Recorder {
    fn new(log: &Shared) -> Recorder {
        Recorder {
            log: log.clone(),
            pass: Rc::default(),
            on_collect: None,
            on_found: None,
            on_eof: None,
            switch: Switch::Keep,
        }
    }

    fn on_found(mut self, h: Hook) -> Recorder {
        self.on_found = Some(h);
        self
    }

    fn on_collect(mut self, h: Hook) -> Recorder {
        self.on_collect = Some(h);
        self
    }

    fn note(&self, seen: Seen) {
        let mut log = self.log.borrow_mut();
        log.seen.push(seen);
        log.pass_of.push(self.pass.get());
    }
}

impl Chat for Recorder {
    fn collect_incoming_data(&mut self, cx: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
        self.note(Seen::Data(data.to_vec()));
        self.log.borrow_mut().record.extend_from_slice(data);
        match &mut self.on_collect {
            Some(h) => h(cx, &self.log),
            None => Ok(()),
        }
    }

    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        self.note(Seen::Found);
        let record = std::mem::take(&mut self.log.borrow_mut().record);
        if let Some(next) = self.switch.next(cx.terminator(), &record) {
            cx.set_terminator(next);
        }
        self.log.borrow_mut().records.push(record);
        match &mut self.on_found {
            Some(h) => h(cx, &self.log),
            None => Ok(()),
        }
    }

    fn handle_end_of_stream(&mut self, cx: &mut ChatCtx<'_, '_>, remainder: &[u8]) -> Result<()> {
        self.note(Seen::Eof(remainder.to_vec()));
        self.log.borrow_mut().final_terminator = Some(cx.terminator().clone());
        match &mut self.on_eof {
            Some(h) => h(cx, &self.log),
            None => cx.close_when_done(),
        }
    }

    fn handle_close(&mut self, _cx: &mut ChatCtx<'_, '_>) {
        self.note(Seen::Close);
    }

    fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, error: Error) {
        match error {
            Error::RecordTooLong { length, limit } => self.note(Seen::TooLong { length, limit }),
            other => self.note(Seen::Error(other.to_string())),
        }
        cx.close();
    }
}

/// Our end of a Unix socket pair as a chat channel, the other end as a
/// blocking std stream, and a dup of our end to look at its receive queue.
struct Pair {
    map: Map,
    id: ChannelId,
    peer: UnixStream,
    /// A dup of our end; it keeps our socket open, so it is dropped
    /// before the peer waits for end of file.
    probe: Option<UnixStream>,
}

fn pair<C: Chat>(channel: ChatChannel<C>) -> Pair {
    let (ours, peer) = UnixStream::pair().unwrap();
    peer.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
    let probe = ours.try_clone().unwrap();
    let map = Map::new().unwrap();
    let id = map
        .add(Socket::from_unix_stream(ours).unwrap(), channel)
        .unwrap();
    Pair {
        map,
        id,
        peer,
        probe: Some(probe),
    }
}

/// Whether our end has unread input (the file description is non-blocking
/// once wrapped, so this never blocks).
fn has_unread(probe: &UnixStream) -> bool {
    let mut b = [MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(probe).peek(&mut b) {
        Ok(n) => n > 0,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("peek: {e}"),
    }
}

impl Pair {
    /// Writes `data` from the peer (a Unix stream write is in our receive
    /// queue when it returns) and runs passes until our end has read all of
    /// it, so the channel sees `data` as one read.
    #[track_caller]
    fn send_and_read(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.peer.write_all(data).unwrap();
        let probe = self.probe.as_ref().expect("the probe is still there");
        run_until(&self.map, "the chunk is read", || !has_unread(probe));
    }

    /// Reads everything the peer has now, without blocking.
    fn peer_drain(&mut self) -> (Vec<u8>, bool) {
        self.peer.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let eof = drain_nonblocking(&mut self.peer, &mut got);
        self.peer.set_nonblocking(false).unwrap();
        (got, eof)
    }

    /// Runs the loop, reading on the peer's side, until the peer sees end of
    /// file; returns what it read.
    #[track_caller]
    fn peer_read_to_eof(&mut self) -> Vec<u8> {
        self.peer_read_to_eof_within(DEADLINE_LONG)
    }

    /// [`Pair::peer_read_to_eof`] with a deadline of `limit`.
    #[track_caller]
    fn peer_read_to_eof_within(&mut self, limit: Duration) -> Vec<u8> {
        self.probe = None;
        self.peer.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut eof = false;
        let (map, peer) = (&self.map, &mut self.peer);
        run_until_within(map, "the peer reads to end of file", limit, || {
            eof = eof || drain_nonblocking(peer, &mut got);
            eof
        });
        self.peer.set_nonblocking(false).unwrap();
        got
    }
}

/// Deadline of the tests that move many megabytes.
const DEADLINE_LONG: Duration = Duration::from_secs(60);

fn seen(log: &Shared) -> Vec<Seen> {
    log.borrow().seen.clone()
}

/// The data and record ends of `seen`, as replay events.
fn as_events(seen: &[Seen]) -> Vec<Ev> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Data(d) => Some(Ev::Data(d.clone())),
            Seen::Found => Some(Ev::Found),
            _ => None,
        })
        .collect()
}

/// Panics unless no error was logged.
#[track_caller]
fn assert_no_error(log: &Shared) {
    let seen = seen(log);
    assert!(
        seen.iter()
            .all(|s| !matches!(s, Seen::Error(_) | Seen::TooLong { .. })),
        "{seen:?}"
    );
}

// ---------------------------------------------------------------------------
// Socket replays
// ---------------------------------------------------------------------------

/// Replays `case` through a chat channel over a Unix socket pair, one read
/// per chunk, then shuts the peer's write side: returns what the chat saw
/// and the remainder it got at end of stream.
#[track_caller]
fn socket_replay(case: &Case, chunks: &[&[u8]]) -> (Vec<Ev>, Vec<u8>, Terminator) {
    let log = Shared::default();
    let mut recorder = Recorder::new(&log);
    recorder.switch = case.switch;
    let channel = ChatChannel::new(recorder)
        .with_terminator(case.terminator.clone())
        .with_max_record_len(None);
    let mut p = pair(channel);
    for chunk in chunks {
        p.send_and_read(chunk);
    }
    p.peer.shutdown(Shutdown::Write).unwrap();
    run_until_empty(&p.map, "the channel closes at end of stream");
    let seen = seen(&log);
    assert_eq!(seen.last(), Some(&Seen::Close), "{case:?}: {seen:?}");
    let remainder = seen
        .iter()
        .find_map(|s| match s {
            Seen::Eof(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no end of stream: {case:?}: {seen:?}"));
    assert_no_error(&log);
    let terminator = log.borrow().final_terminator.clone().unwrap();
    (as_events(&seen), remainder, terminator)
}

#[test]
fn socket_replay_of_spec_examples_with_their_reads() {
    let (events, remainder, _) =
        socket_replay(&case("\r\n", b""), &[b"ab\r", b"\ncd\r\n\r\nef", b"\r"]);
    assert_eq!(notation(&events), ["C ab", "F", "C cd", "F", "F", "C ef"]);
    assert_eq!(remainder, b"\r");
    let (events, _, _) = socket_replay(&case("qqq", b""), &[b"xq", b"q", b"yqqqz"]);
    assert_eq!(notation(&events), ["C x", "C qqy", "F", "C z"]);
    let (events, _, t) = socket_replay(&case(3usize, b""), &[b"ab", b"cdef", b"gh"]);
    assert_eq!(notation(&events), ["C ab", "C c", "F", "C def", "C gh"]);
    assert_eq!(t, Terminator::Count(0));
}

#[test]
fn socket_replay_matches_the_pure_splitter() {
    for (i, c) in cases().iter().enumerate() {
        let whole = replay(c, &[&c.input]);
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03 ^ (i as u64 + 1));
        let mut tries: Vec<Vec<&[u8]>> = vec![vec![&c.input[..]]];
        for size in [1, 2, 3] {
            tries.push(fixed_chunks(&c.input, size));
        }
        for _ in 0..3 {
            tries.push(random_chunks(&c.input, &mut rng));
        }
        for chunks in tries {
            let (events, remainder, terminator) = socket_replay(c, &chunks);
            let model = replay(c, &chunks);
            // One read per chunk: the very same pieces as the pure replay.
            assert_eq!(events, model.events, "{c:?} in chunks {chunks:?}");
            assert_eq!(coalesce(&events), coalesce(&whole.events), "{c:?}");
            assert_eq!(remainder, whole.buffered, "{c:?} in chunks {chunks:?}");
            assert_eq!(terminator, whole.terminator, "{c:?} in chunks {chunks:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Default terminator (spec §5 row 17)
// ---------------------------------------------------------------------------

// Deliberate difference from Python: async_chat had no terminator until
// set_terminator was called, and input arriving before that raised
// AttributeError inside handle_read (-> handle_error -> close). Here the
// default is Terminator::None: every byte is data.
#[test]
fn default_terminator_is_none_and_collects_everything() {
    let log = Shared::default();
    let mut p = pair(ChatChannel::new(Recorder::new(&log)));
    p.send_and_read(b"no terminator\nset yet\r\n");
    assert_eq!(
        seen(&log),
        [Seen::Data(b"no terminator\nset yet\r\n".to_vec())]
    );
    assert!(p.map.contains(p.id));
}

// ---------------------------------------------------------------------------
// Maximum record length (spec §5 row 14)
// ---------------------------------------------------------------------------

// Deliberate difference from Python: asynchat buffered a record of any
// length (memory was the user's problem). Here a byte-terminated record
// longer than the channel's maximum (64 KiB by default) is an
// Error::RecordTooLong for handle_error (default: close).
#[test]
fn record_longer_than_the_limit_is_an_error_with_length_and_limit() {
    // All in one read: the error names the whole line, nothing is collected.
    let log = Shared::default();
    let mut p = pair(
        ChatChannel::new(Recorder::new(&log))
            .with_terminator("\n")
            .with_max_record_len(Some(16)),
    );
    p.send_and_read(&[&[b'x'; 40][..], b"\n"].concat());
    run_until_empty(&p.map, "the channel closes after the error");
    assert_eq!(
        seen(&log),
        [
            Seen::TooLong {
                length: 40,
                limit: 16
            },
            Seen::Close
        ]
    );

    // Over two reads: the first piece is delivered, the second crosses the
    // limit and the error counts both.
    let log = Shared::default();
    let mut p = pair(
        ChatChannel::new(Recorder::new(&log))
            .with_terminator("\r\n")
            .with_max_record_len(Some(16)),
    );
    p.send_and_read(b"0123456789");
    p.send_and_read(b"0123456789\r\n");
    run_until_empty(&p.map, "the channel closes after the error");
    assert_eq!(
        seen(&log),
        [
            Seen::Data(b"0123456789".to_vec()),
            Seen::TooLong {
                length: 20,
                limit: 16
            },
            Seen::Close
        ]
    );
}

#[test]
fn record_at_the_limit_passes_and_the_count_restarts_per_record() {
    let log = Shared::default();
    let mut p = pair(
        ChatChannel::new(Recorder::new(&log))
            .with_terminator("\r\n")
            .with_max_record_len(Some(16)),
    );
    // Exactly 16 bytes, its terminator split, then more 16-byte records.
    p.send_and_read(b"0123456789abcdef\r");
    p.send_and_read(b"\n0123456789");
    p.send_and_read(b"abcdef\r\n0123456789abcdef\r\n");
    assert_eq!(log.borrow().records, vec![b"0123456789abcdef".to_vec(); 3]);
    assert_no_error(&log);
    assert!(p.map.contains(p.id));
}

// Deliberate difference from Python: no limit at all there; the spec
// suggested an unlimited default for compatibility, but the crate chose
// 64 KiB so that a peer that never sends a terminator costs bounded memory
// by default.
#[test]
fn default_limit_is_64_kib() {
    let log = Shared::default();
    let mut p = pair(ChatChannel::new(Recorder::new(&log)).with_terminator("\n"));
    // 64 KiB + 1 without a terminator, written at once: however the reads
    // cut it, the error comes when the total passes the limit.
    p.peer
        .write_all(&vec![b'y'; DEFAULT_MAX_RECORD_LEN + 1])
        .unwrap();
    run_until_empty(&p.map, "the channel closes after the error");
    let seen = seen(&log);
    assert_eq!(
        seen[seen.len() - 2..],
        [
            Seen::TooLong {
                length: DEFAULT_MAX_RECORD_LEN + 1,
                limit: DEFAULT_MAX_RECORD_LEN
            },
            Seen::Close
        ],
        "{:?}",
        &seen[seen.len().saturating_sub(4)..]
    );
    let collected: usize = as_events(&seen)
        .iter()
        .map(|e| match e {
            Ev::Data(d) => d.len(),
            Ev::Found => 0,
        })
        .sum();
    assert!(collected <= DEFAULT_MAX_RECORD_LEN, "{collected}");
}

/// Writes `data` from the peer without blocking while running passes; then
/// runs until `done`.
#[track_caller]
fn feed_all(p: &mut Pair, data: &[u8], what: &str, mut done: impl FnMut() -> bool) {
    p.peer.set_nonblocking(true).unwrap();
    let mut off = 0;
    let peer = &mut p.peer;
    run_until_within(&p.map, what, DEADLINE_LONG, || {
        write_nonblocking(peer, data, &mut off);
        off == data.len() && done()
    });
    p.peer.set_nonblocking(false).unwrap();
}

/// Sums the data the chat collected and counts its record ends.
fn totals(log: &Shared) -> (usize, usize) {
    let log = log.borrow();
    let data = log
        .seen
        .iter()
        .map(|s| match s {
            Seen::Data(d) => d.len(),
            _ => 0,
        })
        .sum();
    let found = log.seen.iter().filter(|s| **s == Seen::Found).count();
    (data, found)
}

#[test]
fn no_limit_count_and_none_are_not_limited() {
    const MIB: usize = 1024 * 1024;
    let big = payload(MIB);
    let line: Vec<u8> = big
        .iter()
        .map(|&b| if b == b'\n' { b'.' } else { b })
        .collect();

    // A 1 MiB line with the limit removed.
    let log = Shared::default();
    let mut p = pair(
        ChatChannel::new(Recorder::new(&log))
            .with_terminator("\n")
            .with_max_record_len(None),
    );
    let data = [&line[..], b"\n"].concat();
    feed_all(&mut p, &data, "a 1 MiB line", || totals(&log).1 == 1);
    assert_eq!(totals(&log), (MIB, 1));
    assert_eq!(log.borrow().records[0], line);
    assert_no_error(&log);

    // A 1 MiB count record with the default limit.
    let log = Shared::default();
    let mut p = pair(ChatChannel::new(Recorder::new(&log)).with_terminator(MIB));
    feed_all(&mut p, &big, "a 1 MiB count record", || totals(&log).1 == 1);
    assert_eq!(totals(&log), (MIB, 1));
    assert_eq!(log.borrow().records[0], big);
    assert_no_error(&log);

    // 1 MiB with no terminator, default limit.
    let log = Shared::default();
    let mut p = pair(ChatChannel::new(Recorder::new(&log)));
    feed_all(&mut p, &big, "1 MiB of raw data", || totals(&log).0 == MIB);
    assert_eq!(totals(&log), (MIB, 0));
    assert_eq!(log.borrow().record, big);
    assert_no_error(&log);
    assert!(p.map.contains(p.id));
}

// ---------------------------------------------------------------------------
// End of stream (spec §5 row 21)
// ---------------------------------------------------------------------------

// Deliberate difference from Python: at end of file asynchat closed at once
// (dropping queued output) and lost the held-back partial terminator. Here
// handle_end_of_stream gets the held-back bytes, and its default closes once
// queued output is sent.
#[test]
fn end_of_stream_gets_the_held_back_remainder() {
    let log = Shared::default();
    let mut p = pair(ChatChannel::new(Recorder::new(&log)).with_terminator("\r\n.\r\n"));
    p.send_and_read(b"body\r\n.");
    p.peer.shutdown(Shutdown::Write).unwrap();
    run_until_empty(&p.map, "the channel closes at end of stream");
    assert_eq!(
        seen(&log),
        [
            Seen::Data(b"body".to_vec()),
            Seen::Eof(b"\r\n.".to_vec()),
            Seen::Close
        ]
    );
}

#[test]
fn final_unterminated_line_is_data_and_the_remainder_is_empty() {
    let log = Shared::default();
    let mut p = pair(ChatChannel::new(Recorder::new(&log)).with_terminator("\n"));
    p.send_and_read(b"line1\nline2");
    p.peer.shutdown(Shutdown::Write).unwrap();
    run_until_empty(&p.map, "the channel closes at end of stream");
    assert_eq!(
        seen(&log),
        [
            Seen::Data(b"line1".to_vec()),
            Seen::Found,
            Seen::Data(b"line2".to_vec()),
            Seen::Eof(Vec::new()),
            Seen::Close
        ]
    );
    // No found_terminator for the unterminated record: it is still the
    // current record.
    assert_eq!(log.borrow().record, b"line2");
}

// Deliberate difference from Python: async_chat.handle_close (what EOF led
// to) closed at once and dropped queued output; here the default
// handle_end_of_stream is close_when_done, so a reply still being produced
// when the peer half-closes is delivered in full.
#[test]
fn end_of_stream_default_flushes_queued_output_before_closing() {
    let log = Shared::default();
    let big = payload(2 * 1024 * 1024);
    let reply = big.clone();
    let channel = ChatChannel::new(Recorder::new(&log).on_found(hook(move |cx, _| {
        cx.push(b"reply:")?;
        cx.push_with_producer(SimpleProducer::with_buffer_size(reply.clone(), 64 * 1024))
    })))
    .with_terminator("\n");
    let mut p = pair(channel);
    // The request and the half-close arrive together: the reply is still
    // being produced when end of stream is seen.
    p.peer.write_all(b"request\n").unwrap();
    p.peer.shutdown(Shutdown::Write).unwrap();
    let got = p.peer_read_to_eof();
    assert_eq!(got.len(), 6 + big.len());
    assert!(
        got[..6] == *b"reply:" && got[6..] == big[..],
        "reply corrupted"
    );
    assert!(p.map.is_empty());
    let seen = seen(&log);
    assert_eq!(
        seen[seen.len() - 2..],
        [Seen::Eof(Vec::new()), Seen::Close],
        "{seen:?}"
    );
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

#[test]
fn push_sends_at_once_on_an_idle_connection() {
    let log = Shared::default();
    let channel = ChatChannel::new(Recorder::new(&log).on_found(hook(|cx, log| {
        cx.push(b"pong\n")?;
        let pending = cx.ctx().pending_output();
        log.borrow_mut()
            .notes
            .push(format!("pending after push: {pending}"));
        Ok(())
    })))
    .with_terminator("\n");
    let mut p = pair(channel);
    p.peer.write_all(b"ping\n").unwrap();
    // One pass reads the ping; the pong must be on the wire when it ends
    // (a queued push would need a later write event).
    one_pass(&p.map, util::DEADLINE);
    assert_eq!(log.borrow().records, [b"ping".to_vec()]);
    let (got, eof) = p.peer_drain();
    assert_eq!(got, b"pong\n");
    assert!(!eof);
    assert_eq!(log.borrow().notes, ["pending after push: 0"]);
}

/// A reader that counts what was read from it.
struct Counting<R> {
    inner: R,
    read: Rc<Cell<usize>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

#[test]
fn reader_producer_streams_a_large_file_with_bounded_memory() {
    const SIZE: usize = 20 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let dir = TempDir::new("chat-producer");
    let path = dir.join("big.bin");
    let content = payload(SIZE);
    std::fs::write(&path, &content).unwrap();
    let file_read = Rc::new(Cell::new(0));

    let log = Shared::default();
    let (path2, file_read2) = (path.clone(), file_read.clone());
    let channel = ChatChannel::new(Recorder::new(&log).on_found(hook(move |cx, _| {
        let file = std::fs::File::open(&path2)?;
        let reader = Counting {
            inner: file,
            read: file_read2.clone(),
        };
        cx.push_with_producer(ReaderProducer::with_buffer_size(reader, CHUNK))?;
        cx.close_when_done()
    })))
    .with_terminator("\n");
    let mut p = pair(channel);
    p.probe = None;
    p.peer.write_all(b"GET\n").unwrap();

    // The peer reads at most 64 KiB between two passes.
    p.peer.set_nonblocking(true).unwrap();
    let mut received = 0usize;
    let mut eof = false;
    let mut max_pending = 0;
    let mut max_ahead = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let (map, id, peer) = (&p.map, p.id, &mut p.peer);
    run_until_within(map, "the peer reads the whole file", DEADLINE_LONG, || {
        let pending = map.pending_output(id);
        max_pending = max_pending.max(pending);
        max_ahead = max_ahead.max(file_read.get() - received);
        match peer.read(&mut buf) {
            Ok(0) => eof = true,
            Ok(n) => {
                assert_eq!(
                    buf[..n],
                    content[received..received + n],
                    "at offset {received}"
                );
                received += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("peer read: {e}"),
        }
        // Once the channel has closed, the rest is in the kernel.
        eof || map.is_empty()
    });
    assert!(
        p.map.is_empty(),
        "close_when_done after the producer closed"
    );
    p.peer.set_nonblocking(false).unwrap();
    let mut rest = Vec::new();
    p.peer.read_to_end(&mut rest).unwrap();
    assert!(
        rest[..] == content[received..received + rest.len()],
        "at offset {received}"
    );
    received += rest.len();
    assert_eq!(received, SIZE);
    assert_eq!(file_read.get(), SIZE);
    assert!(
        max_pending <= DEFAULT_OUT_BUFFER_SIZE + CHUNK,
        "pending output reached {max_pending}"
    );
    assert!(max_pending > 0, "the reader was slow: output had to queue");
    // What was read from the file and not yet received is in the queue or
    // in the kernel's socket buffers: megabytes at most, not the file.
    assert!(max_ahead < 4 * 1024 * 1024, "read ahead {max_ahead}");
    assert_no_error(&log);
}

/// Sets up a channel whose found_terminator runs `on_found`, with the peer
/// never reading until the test says so.
fn on_request(log: &Shared, on_found: Hook) -> Pair {
    pair(ChatChannel::new(Recorder::new(log).on_found(on_found)).with_terminator("\n"))
}

#[test]
fn close_when_done_closes_after_everything_queued_before_it() {
    let log = Shared::default();
    let body = payload(3 * 1024 * 1024);
    let body2 = body.clone();
    let mut p = on_request(
        &log,
        hook(move |cx, log| {
            cx.push(b"head ")?;
            cx.push_with_producer(SimpleProducer::with_buffer_size(body2.clone(), 4096))?;
            cx.push(b" tail")?;
            cx.close_when_done()?;
            // After close_when_done: never sent.
            let late = cx.push(b"never");
            let late_producer = cx.push_with_producer(b"never either".to_vec());
            log.borrow_mut()
                .notes
                .push(format!("{:?} {:?}", late.is_ok(), late_producer.is_ok()));
            Ok(())
        }),
    );
    p.peer.write_all(b"go\n").unwrap();
    let got = p.peer_read_to_eof();
    let expected = [&b"head "[..], &body, b" tail"].concat();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "output out of order or corrupted");
    assert!(p.map.is_empty());
    assert_no_error(&log);
    assert_eq!(seen(&log).last(), Some(&Seen::Close));
}

#[test]
fn close_when_done_with_only_pushed_output_flushes_then_closes() {
    let log = Shared::default();
    let body = payload(2 * 1024 * 1024);
    let body2 = body.clone();
    let mut p = on_request(
        &log,
        hook(move |cx, log| {
            cx.push(&body2)?;
            let queued = cx.ctx().pending_output();
            cx.close_when_done()?;
            let late = cx.push(b"never");
            log.borrow_mut()
                .notes
                .push(format!("queued {}", queued > 0));
            log.borrow_mut()
                .notes
                .push(format!("late push: {}", late.unwrap_err()));
            Ok(())
        }),
    );
    p.peer.write_all(b"go\n").unwrap();
    let got = p.peer_read_to_eof();
    assert!(got == body, "got {} bytes", got.len());
    let notes = log.borrow().notes.clone();
    assert_eq!(notes[0], "queued true");
    assert!(notes[1].starts_with("late push: channel"), "{notes:?}");
    assert!(notes[1].contains("is closing"), "{notes:?}");
}

// The contract (ChatCtx::close_when_done): "Output pushed afterwards is
// refused", also while a producer is still queued before the close mark
// (regression: it used to return Ok and drop the output).
#[test]
fn push_after_close_when_done_is_refused_even_behind_a_producer() {
    let log = Shared::default();
    let mut p = on_request(
        &log,
        hook(|cx, log| {
            cx.push_with_producer(SimpleProducer::with_buffer_size(payload(4 << 20), 4096))?;
            cx.close_when_done()?;
            let late = cx.push(b"never");
            let late_producer = cx.push_with_producer(b"never either".to_vec());
            log.borrow_mut()
                .notes
                .push(format!("{} {}", late.is_err(), late_producer.is_err()));
            Ok(())
        }),
    );
    p.peer.write_all(b"go\n").unwrap();
    p.peer_read_to_eof();
    assert_eq!(
        log.borrow().notes,
        ["true true"],
        "pushes after close_when_done"
    );
}

#[test]
fn discard_buffers_drops_queued_output_and_pending_input() {
    // Output: a big push (mostly queued: the peer is not reading) and a
    // producer behind it are dropped; a later push is sent right after
    // whatever the kernel had already taken.
    let log = Shared::default();
    let big = payload(2 * 1024 * 1024);
    let big2 = big.clone();
    let mut p = on_request(
        &log,
        hook(move |cx, log| {
            if log.borrow().records.len() > 1 {
                return Ok(());
            }
            cx.push(&big2)?;
            cx.push_with_producer(b"producer output".to_vec())?;
            let before = cx.ctx().pending_output();
            cx.discard_buffers();
            let after = cx.ctx().pending_output();
            cx.push(b"after")?;
            log.borrow_mut()
                .notes
                .push(format!("{} {after}", before > 0));
            Ok(())
        }),
    );
    p.peer.write_all(b"go\n").unwrap();
    one_pass(&p.map, util::DEADLINE);
    assert_eq!(log.borrow().notes, ["true 0"]);
    // The peer now reads; nothing more is sent than the kernel's part of
    // the big push and "after".
    p.peer.shutdown(Shutdown::Write).unwrap();
    let got = p.peer_read_to_eof();
    assert!(got.len() >= 5 && got.ends_with(b"after"), "{}", got.len());
    let k = got.len() - 5;
    assert!(k < big.len(), "the queued part was dropped");
    assert!(
        got[..k] == big[..k],
        "the sent part is a prefix of the push"
    );

    // Input: records after the one whose found_terminator discards, in
    // the same read, are dropped; later input is decoded normally.
    let log = Shared::default();
    let mut p = on_request(
        &log,
        hook(|cx, log| {
            if log.borrow().records.last().map(Vec::as_slice) == Some(b"discard") {
                cx.discard_buffers();
            }
            Ok(())
        }),
    );
    p.send_and_read(b"keep\ndiscard\nlost\nlost too\r");
    p.send_and_read(b"next\n");
    assert_eq!(
        log.borrow().records,
        [b"keep".to_vec(), b"discard".to_vec(), b"next".to_vec()]
    );
    assert_no_error(&log);
}

#[test]
fn an_error_in_found_terminator_keeps_the_rest_of_the_read() {
    // As in Python, where the rest stays in `ac_in_buffer`: bytes read
    // after the failing record are decoded at the next read, not lost (the
    // records are handed out straight from the read buffer, so this checks
    // that an error still buffers what is left of it).
    #[derive(Default)]
    struct Picky {
        record: Vec<u8>,
        log: Rc<RefCell<Vec<String>>>,
    }
    impl Chat for Picky {
        fn collect_incoming_data(&mut self, _: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
            self.record.extend_from_slice(data);
            Ok(())
        }
        fn found_terminator(&mut self, _: &mut ChatCtx<'_, '_>) -> Result<()> {
            let record = String::from_utf8(std::mem::take(&mut self.record)).unwrap();
            self.log.borrow_mut().push(record.clone());
            if record == "bad" {
                return Err(io::Error::other("a bad record").into());
            }
            Ok(())
        }
        fn handle_error(&mut self, _: &mut ChatCtx<'_, '_>, error: Error) {
            // Logged; the channel stays open.
            self.log.borrow_mut().push(format!("error: {error}"));
        }
    }
    let log = Rc::new(RefCell::new(Vec::new()));
    let chat = Picky {
        log: log.clone(),
        ..Picky::default()
    };
    let mut p = pair(ChatChannel::new(chat).with_terminator("\n"));
    p.send_and_read(b"bad\ngood\nhalf");
    p.send_and_read(b"-done\n");
    assert_eq!(
        *log.borrow(),
        ["bad", "error: a bad record", "good", "half-done"]
    );
}

// Kept as in Python (spec §5 row 20, "copy"): discard_buffers also drops a
// close_when_done still queued behind a producer, so the channel stays open.
#[test]
fn discard_buffers_drops_a_close_when_done_behind_a_producer() {
    let log = Shared::default();
    let mut p = on_request(
        &log,
        hook(|cx, log| {
            let n = log.borrow().records.len();
            match n {
                1 => {
                    cx.push_with_producer(SimpleProducer::with_buffer_size(
                        payload(4 << 20),
                        4096,
                    ))?;
                    cx.close_when_done()?;
                    cx.discard_buffers();
                }
                _ => cx.push(b"still open\n")?,
            }
            Ok(())
        }),
    );
    p.peer.write_all(b"first\n").unwrap();
    one_pass(&p.map, util::DEADLINE);
    // Drop what the kernel took before the discard.
    p.peer_drain();
    p.send_and_read(b"second\n");
    let (got, eof) = p.peer_drain();
    assert!(!eof);
    assert!(got.ends_with(b"still open\n"), "{}", got.len());
    assert!(p.map.contains(p.id));
    assert_no_error(&log);
}

// ChatCtx::discard_buffers keeps a close_when_done that already reached the
// channel (nothing was queued behind a producer), per Map::discard_output:
// "a pending close_when_done stays". With the queue now empty, the channel
// should close; it must not stay in the map forever (regression: it stayed
// open with no interest at all and never heard from its peer again).
#[test]
fn discard_buffers_after_close_when_done_on_pushed_output_still_closes() {
    let log = Shared::default();
    let mut p = on_request(
        &log,
        hook(|cx, _| {
            cx.push(&payload(2 * 1024 * 1024))?;
            cx.close_when_done()?;
            cx.discard_buffers();
            Ok(())
        }),
    );
    p.peer.write_all(b"go\n").unwrap();
    // The peer reads what the kernel had taken, then must see end of file.
    p.peer_read_to_eof_within(util::DEADLINE);
    assert!(p.map.is_empty());
    assert_eq!(seen(&log).last(), Some(&Seen::Close));
}

// Deliberate difference from Python: push(b"") appended an empty item that
// cost a send(b"") and stalled the queue for one write event (spec §5 row
// 19). Here empty pushes (and an empty producer) are no-ops: output
// pushed right after them still goes out at once.
#[test]
fn empty_pushes_are_no_ops() {
    let log = Shared::default();
    let channel = ChatChannel::new(Recorder::new(&log).on_found(hook(|cx, log| {
        cx.push(b"")?;
        cx.push_with_producer(Vec::new())?;
        cx.push(&[])?;
        let pending = cx.ctx().pending_output();
        cx.push(b"x")?;
        cx.push_with_producer(Vec::new())?;
        cx.push(b"y")?;
        let after = cx.ctx().pending_output();
        log.borrow_mut().notes.push(format!("{pending} {after}"));
        Ok(())
    })))
    .with_terminator("\n");
    let mut p = pair(channel);
    p.peer.write_all(b"go\n").unwrap();
    one_pass(&p.map, util::DEADLINE);
    assert_eq!(log.borrow().notes, ["0 0"]);
    let (got, _) = p.peer_drain();
    assert_eq!(got, b"xy");
}

// Deliberate difference from Python: async_chat was always readable, so a
// peer that sent without reading made its output queue grow without bound
// (spec §5 rows 14, 15). Here, above the high watermark, the channel
// stops reading its peer until the queue drains to the low watermark.
#[test]
fn above_the_high_watermark_the_channel_stops_reading() {
    const IN: usize = 4096;
    let log = Shared::default();
    // An echo that records the queue size each time it gets input.
    let channel = ChatChannel::new(Recorder::new(&log).on_collect(hook(|cx, log| {
        let pending = cx.ctx().pending_output();
        log.borrow_mut().notes.push(pending.to_string());
        let data = match log.borrow().seen.last() {
            Some(Seen::Data(d)) => d.clone(),
            _ => unreachable!(),
        };
        cx.push(&data)
    })))
    .with_in_buffer_size(IN);
    let mut p = pair(channel);
    p.probe = None;
    let data = payload(8 * 1024 * 1024);
    p.peer.set_nonblocking(true).unwrap();
    let mut off = 0;
    let mut max_pending = 0;
    // Phase 1: the peer writes as much as it can and never reads, until the
    // channel's queue reaches the high watermark.
    let (map, id, peer) = (&p.map, p.id, &mut p.peer);
    run_until_within(
        map,
        "the queue reaches the high watermark",
        DEADLINE_LONG,
        || {
            write_nonblocking(peer, &data, &mut off);
            let pending = map.pending_output(id);
            max_pending = max_pending.max(pending);
            pending >= DEFAULT_HIGH_WATERMARK
        },
    );
    // Phase 2: the peer goes on writing for 20 passes: no more reads, the
    // queue stays put, and the peer's writes end up blocked.
    let reads = log.borrow().notes.len();
    let pending = p.map.pending_output(p.id);
    for _ in 0..20 {
        write_nonblocking(&mut p.peer, &data, &mut off);
        one_pass(&p.map, util::PASS);
        max_pending = max_pending.max(p.map.pending_output(p.id));
    }
    assert_eq!(log.borrow().notes.len(), reads, "read above the mark");
    assert_eq!(p.map.pending_output(p.id), pending);
    let blocked_at = off;
    write_nonblocking(&mut p.peer, &data, &mut off);
    assert_eq!(off, blocked_at, "the peer can still write");
    assert!(
        off < data.len(),
        "everything was taken: nothing was bounded"
    );
    assert!(
        max_pending < DEFAULT_HIGH_WATERMARK + IN,
        "pending output reached {max_pending}"
    );
    // Every read happened below the high watermark.
    for n in log.borrow().notes.iter() {
        let n: usize = n.parse().unwrap();
        assert!(n < DEFAULT_HIGH_WATERMARK, "read with {n} bytes queued");
    }

    // Phase 3: the peer reads; everything is echoed, in order.
    let mut echoed = Vec::new();
    let (map, peer) = (&p.map, &mut p.peer);
    run_until_within(map, "the whole payload is echoed", DEADLINE_LONG, || {
        write_nonblocking(peer, &data, &mut off);
        drain_nonblocking(peer, &mut echoed);
        echoed.len() == data.len()
    });
    assert!(echoed == data, "echo corrupted");
    assert_no_error(&log);
}

// ---------------------------------------------------------------------------
// Closing from found_terminator (spec §5 row 18)
// ---------------------------------------------------------------------------

// Deliberate difference from Python: asynchat kept decoding the rest of the
// buffer after found_terminator closed the channel, calling
// collect_incoming_data/found_terminator on a closed channel. Here decoding
// stops as soon as the channel is closing.
#[test]
fn found_terminator_that_closes_gets_no_more_callbacks() {
    let log = Shared::default();
    let mut p = on_request(
        &log,
        hook(|cx, _| {
            cx.close();
            Ok(())
        }),
    );
    p.peer.write_all(b"a\nb\nc\n").unwrap();
    run_until_empty(&p.map, "the channel closes");
    assert_eq!(
        seen(&log),
        [Seen::Data(b"a".to_vec()), Seen::Found, Seen::Close]
    );
}

#[test]
fn collect_that_closes_gets_no_found_terminator() {
    let log = Shared::default();
    let channel = ChatChannel::new(Recorder::new(&log).on_collect(hook(|cx, _| {
        cx.close();
        Ok(())
    })))
    .with_terminator("\n");
    let mut p = pair(channel);
    p.peer.write_all(b"a\nb\n").unwrap();
    run_until_empty(&p.map, "the channel closes");
    assert_eq!(seen(&log), [Seen::Data(b"a".to_vec()), Seen::Close]);
}

// Deliberate difference from Python: a close_when_done from
// found_terminator only queued a close mark; asynchat went on decoding the
// rest of the buffer and any replies were queued behind the mark, never to
// be sent. Here the channel is closing, so decoding stops; the reply pushed
// before close_when_done is still delivered.
#[test]
fn found_terminator_with_close_when_done_stops_decoding_after_reply() {
    let log = Shared::default();
    let mut p = on_request(
        &log,
        hook(|cx, log| {
            let record = log.borrow().records.last().cloned().unwrap();
            cx.push(&[&record[..], b"!\n"].concat())?;
            if record == b"QUIT" {
                cx.close_when_done()?;
            }
            Ok(())
        }),
    );
    p.peer.write_all(b"one\nQUIT\nafter\n").unwrap();
    let got = p.peer_read_to_eof();
    assert_eq!(got, b"one!\nQUIT!\n");
    assert_eq!(log.borrow().records, [b"one".to_vec(), b"QUIT".to_vec()]);
    assert_eq!(seen(&log).last(), Some(&Seen::Close));
}

// ---------------------------------------------------------------------------
// Terminator changes apply to bytes already buffered
// ---------------------------------------------------------------------------

#[test]
fn terminator_changed_in_found_terminator_applies_to_buffered_input() {
    let log = Shared::default();
    let mut recorder = Recorder::new(&log);
    recorder.switch = Switch::HeaderBody(4);
    let pass = recorder.pass.clone();
    let mut p = pair(ChatChannel::new(recorder).with_terminator("\n"));
    pass.set(1);
    // All of it arrives before the pass that reads it: one read.
    p.peer.write_all(b"hdr\nBODYrest\nx").unwrap();
    one_pass(&p.map, util::DEADLINE);
    pass.set(2);
    let events = as_events(&seen(&log));
    assert_eq!(
        notation(&events),
        ["C hdr", "F", "C BODY", "F", "C rest", "F", "C x"]
    );
    assert!(
        log.borrow().pass_of.iter().all(|&n| n == 1),
        "everything in one pass: {:?}",
        log.borrow().pass_of
    );

    // Length-prefixed frames, several per read, with a body containing the
    // line terminator.
    let log = Shared::default();
    let mut recorder = Recorder::new(&log);
    recorder.switch = Switch::LengthPrefixed;
    let mut p = pair(ChatChannel::new(recorder).with_terminator("\n"));
    p.send_and_read(b"5\nhel\nl3\nabc0\n");
    assert_eq!(
        log.borrow().records,
        [
            b"5".to_vec(),
            b"hel\nl".to_vec(),
            b"3".to_vec(),
            b"abc".to_vec(),
            b"0".to_vec()
        ]
    );
    // Count(0) set by found_terminator behaves like None: the rest is data.
    p.send_and_read(b"raw\n");
    assert_eq!(log.borrow().record, b"raw\n");
    assert_no_error(&log);
}
