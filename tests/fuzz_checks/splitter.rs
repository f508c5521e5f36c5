//! The splitter check: [`Splitter`] fed chunk by chunk against a one-shot
//! model of asynchat's framing (spec section 3.1) on the whole input.
//!
//! Input layout (every field one byte unless said otherwise):
//!
//! | field | meaning |
//! |---|---|
//! | alphabet | `% 8`: 0..=4 map stream and terminator bytes onto the first 1..=5 of `"\n" "a" "b" "\r" "."`, 5..=7 leave them raw |
//! | terminator | the initial terminator, see [`Input::terminator`] |
//! | limit | 0: default (`Splitter::new`), 1: unlimited, n: `n - 2` bytes |
//! | chunking | `% 8`: 0/1/2: chunks of 1/2/3 bytes, 3: one chunk, else random sizes up to the next byte (`0` allowed) from an 8-byte seed |
//! | flags | bit 0: `reset_record` on a change; bit 1: clone the splitter after every chunk; bit 2: decode each chunk from the borrowed slice first (`next_piece_in`, as `ChatChannel` does), feeding only the rest |
//! | rule | `% 9` entries, each "keep" or a terminator: the new terminator at the k-th record end is entry `k % len` |
//! | rest | the stream |

use asyncore::Error;
use asyncore::chat::{DEFAULT_MAX_RECORD_LEN, Piece, Splitter, Terminator, find_prefix_at_end};

use super::{Input, Rng};

/// Bytes a narrow alphabet draws from: terminator-like bytes collide often.
const ALPHABET: &[u8] = b"\nab\r.";

/// Decodes a scenario from `data` and checks the splitter on it, with the
/// scenario's chunking and as one chunk.
///
/// # Panics
///
/// On any difference from the model or broken invariant.
pub(crate) fn check_splitter(data: &[u8]) {
    let case = Case::decode(data);
    case.run(&case.chunks);
    case.run(&[case.stream.len()]);
}

/// As [`check_splitter`], and also replays the stream in chunks of 1, 2 and
/// 3 bytes whatever the input asked for.
pub(crate) fn check_splitter_every_chunking(data: &[u8]) {
    let case = Case::decode(data);
    case.run(&case.chunks);
    case.run(&[case.stream.len()]);
    for size in 1..=3 {
        case.run(&fixed_chunks(case.stream.len(), size));
    }
}

/// One decoded scenario.
#[derive(Debug)]
struct Case {
    /// The whole input stream.
    stream: Vec<u8>,
    /// The terminator at the start.
    initial: Terminator,
    /// `rule[k % len]` at the k-th record end: `Some` replaces the
    /// terminator, `None` keeps it.
    rule: Vec<Option<Terminator>>,
    /// `None`: leave the splitter's default; `Some(x)`: `set_max_record_len(x)`.
    limit: Option<Option<usize>>,
    /// Sizes of the feeds, summing to `stream.len()` (zeros allowed).
    chunks: Vec<usize>,
    /// Call `reset_record` when the rule changes the terminator, as
    /// `ChatChannel` does (it must make no difference at a record end).
    reset_on_change: bool,
    /// Continue with a clone of the splitter after every chunk.
    clone_each_chunk: bool,
    /// Decode each chunk with `next_piece_in` before feeding what is left.
    borrowed: bool,
}

impl Input<'_> {
    /// A byte mapped through the alphabet (`None`: raw).
    fn mapped(&mut self, alphabet: Option<&[u8]>) -> u8 {
        let b = self.u8();
        alphabet.map_or(b, |a| a[usize::from(b) % a.len()])
    }

    /// `% 4`: 0: `None`, 1: `Count(0..64)`, 2/3: `Bytes` of 0..=6 bytes.
    fn terminator(&mut self, alphabet: Option<&[u8]>) -> Terminator {
        match self.u8() % 4 {
            0 => Terminator::None,
            1 => Terminator::Count(usize::from(self.u8() % 64)),
            _ => {
                let len = self.u8() % 7;
                Terminator::Bytes((0..len).map(|_| self.mapped(alphabet)).collect())
            }
        }
    }
}

impl Case {
    fn decode(data: &[u8]) -> Case {
        let mut input = Input::new(data);
        let alphabet = match input.u8() % 8 {
            n @ 0..=4 => Some(&ALPHABET[..=usize::from(n)]),
            _ => None,
        };
        let initial = input.terminator(alphabet);
        let limit = match input.u8() {
            0 => None,
            1 => Some(None),
            n => Some(Some(usize::from(n - 2))),
        };
        let chunking = input.u8() % 8;
        let max_chunk = usize::from(input.u8());
        let seed = input.u64();
        let flags = input.u8();
        let rule = (0..input.u8() % 9)
            .map(|_| match input.u8() % 3 {
                0 => None,
                _ => Some(input.terminator(alphabet)),
            })
            .collect();
        let stream: Vec<u8> = match alphabet {
            Some(a) => input
                .rest()
                .iter()
                .map(|&b| a[usize::from(b) % a.len()])
                .collect(),
            None => input.rest().to_vec(),
        };
        let chunks = match chunking {
            0..=2 => fixed_chunks(stream.len(), usize::from(chunking) + 1),
            3 => vec![stream.len()],
            _ => random_chunks(stream.len(), max_chunk, seed),
        };
        Case {
            stream,
            initial,
            rule,
            limit,
            chunks,
            reset_on_change: flags & 1 != 0,
            clone_each_chunk: flags & 2 != 0,
            borrowed: flags & 4 != 0,
        }
    }

    /// The limit the splitter applies.
    fn effective_limit(&self) -> Option<usize> {
        self.limit.unwrap_or(Some(DEFAULT_MAX_RECORD_LEN))
    }

    /// The terminator after the `ended`-th record end (1-based), from `t`.
    fn after_record(&self, ended: usize, t: Terminator) -> (Terminator, bool) {
        if self.rule.is_empty() {
            return (t, false);
        }
        match &self.rule[(ended - 1) % self.rule.len()] {
            Some(new) => (new.clone(), true),
            None => (t, false),
        }
    }

    /// Feeds the stream in `chunks`, draining after each, and checks every
    /// piece against the model.
    fn run(&self, chunks: &[usize]) {
        assert_eq!(chunks.iter().sum::<usize>(), self.stream.len());
        let limit = self.effective_limit();
        let full = model(self, &self.stream);

        let mut s = Splitter::new();
        if let Some(l) = self.limit {
            s.set_max_record_len(l);
        }
        assert_eq!(s.max_record_len(), limit);
        let mut t = self.initial.clone();
        let mut got: Vec<Ev> = Vec::new();
        let mut ended = 0;
        let mut fed = 0;
        let mut prev_fed = 0;
        let stride = (chunks.len() / 24).max(1);

        for (k, &size) in chunks.iter().enumerate() {
            let mut chunk: &[u8] = &self.stream[fed..fed + size];
            fed += size;
            let mut borrowed = self.borrowed;
            if !borrowed {
                s.feed(chunk);
            }
            loop {
                let before = t.clone();
                let step = if borrowed {
                    match s.next_piece_in(&mut chunk, &mut t) {
                        Ok(None) => {
                            // The rest (a partial terminator, or bytes
                            // behind buffered ones) goes in the buffer.
                            s.feed(chunk);
                            borrowed = false;
                            continue;
                        }
                        Err(e) => {
                            // As the fed path would hold it.
                            s.feed(chunk);
                            Err(e)
                        }
                        piece => piece,
                    }
                } else {
                    s.next_piece(&mut t)
                };
                match step {
                    Ok(None) => break,
                    Ok(Some(Piece::Data(d))) => {
                        assert!(!d.is_empty(), "empty data piece");
                        match before {
                            Terminator::Count(n) if n > 0 => {
                                assert!(d.len() <= n, "count {n} gave {} bytes", d.len());
                                assert_eq!(t, Terminator::Count(n - d.len()), "count down");
                            }
                            _ => assert_eq!(t, before, "data changed the terminator"),
                        }
                        match got.last_mut() {
                            Some(Ev::Data(last)) => last.extend_from_slice(d),
                            _ => got.push(Ev::Data(d.to_vec())),
                        }
                    }
                    Ok(Some(Piece::Terminator)) => {
                        match &before {
                            Terminator::Count(n) => {
                                assert_eq!(*n, 0, "record end before the count")
                            }
                            Terminator::Bytes(tb) => {
                                assert!(!tb.is_empty(), "record end under b\"\"")
                            }
                            Terminator::None => panic!("record end under None"),
                        }
                        assert_eq!(t, before, "the record end changed the terminator");
                        got.push(Ev::End);
                        ended += 1;
                        let changed;
                        (t, changed) = self.after_record(ended, t);
                        if changed && self.reset_on_change {
                            s.reset_record();
                        }
                    }
                    Err(e) => {
                        self.check_error(&s, &mut t, e, &got, fed, prev_fed, &full);
                        return;
                    }
                }
            }
            // Only a partial byte terminator may stay behind.
            match &t {
                Terminator::Bytes(tb) if !tb.is_empty() => assert!(
                    s.buffered().len() < tb.len(),
                    "{} bytes held back for a {}-byte terminator",
                    s.buffered().len(),
                    tb.len()
                ),
                _ => assert!(s.buffered().is_empty(), "bytes held back under {t:?}"),
            }
            // Streaming: after each chunk, exactly what one-shot splitting of
            // the input so far gives (sampled: the model is linear).
            if k < 8 || k % stride == 0 || k + 1 == chunks.len() {
                let m = model(self, &self.stream[..fed]);
                assert_eq!(m.error, None, "the model fails where the splitter did not");
                assert_eq!(got, m.events, "pieces after {fed} bytes");
                assert_eq!(s.buffered(), &m.held[..], "held back after {fed} bytes");
                assert_eq!(t, m.terminator, "terminator after {fed} bytes");
            }
            if self.clone_each_chunk {
                s = s.clone();
            }
            prev_fed = fed;
        }

        assert_eq!(full.error, None, "the model fails, the splitter did not");
        assert_eq!(got, full.events);
        assert_eq!(t, full.terminator);
        assert_eq!(s.buffered(), &full.held[..]);
        assert_eq!(s.take_buffered(), full.held);
        assert!(s.buffered().is_empty());
        assert_eq!(s.next_piece(&mut t).unwrap(), None);
    }

    /// The splitter failed after `fed` bytes: one-shot splitting of those
    /// bytes must fail the same way, and of the previous chunk's not.
    #[allow(clippy::too_many_arguments)]
    fn check_error(
        &self,
        s: &Splitter,
        t: &mut Terminator,
        e: Error,
        got: &[Ev],
        fed: usize,
        prev_fed: usize,
        full: &Outcome,
    ) {
        let Error::RecordTooLong { length, limit } = e else {
            panic!("unexpected error {e:?}");
        };
        let m = model(self, &self.stream[..fed]);
        let Some(failed) = m.error else {
            panic!("record too long ({length} > {limit}) after {fed} bytes, the model accepts it");
        };
        assert_eq!(
            (length, limit),
            (failed.length, failed.limit),
            "error numbers"
        );
        assert_eq!(
            model(self, &self.stream[..prev_fed]).error,
            None,
            "the record was already too long after {prev_fed} bytes"
        );
        let full_error = full.error.expect("the model on the whole input fails too");
        assert_eq!(full_error.record_start, failed.record_start);
        assert!(full_error.length >= length);
        // Before the error: the model's pieces, then maybe part of the failing
        // record (streamed before it grew too long), at most `limit` bytes.
        assert_eq!(&got[..m.events.len()], &m.events[..]);
        match &got[m.events.len()..] {
            [] => {}
            [Ev::Data(part)] => {
                assert!(part.len() <= limit && part.len() < length);
                let start = failed.record_start;
                assert_eq!(&part[..], &self.stream[start..start + part.len()]);
            }
            more => panic!("pieces past the model's: {more:?}"),
        }
        // Nothing more is decoded from the failed record.
        let mut s = s.clone();
        assert!(
            !matches!(s.next_piece(t), Ok(Some(_))),
            "decoding went on after the error"
        );
    }
}

/// Sizes of `size` bytes (the last may be shorter) covering `len`.
fn fixed_chunks(len: usize, size: usize) -> Vec<usize> {
    let mut chunks = vec![size; len / size];
    if !len.is_multiple_of(size) || len == 0 {
        chunks.push(len % size);
    }
    chunks
}

/// Random sizes in `0..=max(max, 1)` covering `len`.
fn random_chunks(len: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut chunks = Vec::new();
    let mut left = len;
    while left > 0 {
        let size = rng.upto(max.max(1)).min(left);
        chunks.push(size);
        left -= size;
    }
    chunks.push(0);
    chunks
}

/// A piece after coalescing: a record's data in one, then its end.
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    End,
}

/// A record that exceeded the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TooLong {
    /// Payload bytes of the record visible in the input.
    length: usize,
    limit: usize,
    /// Stream offset of the record's first byte.
    record_start: usize,
}

/// What one-shot splitting of some input gives.
#[derive(Debug)]
struct Outcome {
    events: Vec<Ev>,
    /// The held-back partial terminator.
    held: Vec<u8>,
    terminator: Terminator,
    error: Option<TooLong>,
}

/// asynchat's `handle_read` loop (spec 3.1) on all of `stream` at once, the
/// terminator re-read after every record end.
fn model(case: &Case, stream: &[u8]) -> Outcome {
    let limit = case.effective_limit();
    let mut t = case.initial.clone();
    let mut pos = 0;
    let mut ended = 0;
    let mut events = Vec::new();
    let data = |events: &mut Vec<Ev>, d: &[u8]| {
        if !d.is_empty() {
            events.push(Ev::Data(d.to_vec()));
        }
    };
    loop {
        let rest = &stream[pos..];
        let record_len = match &t {
            Terminator::None | Terminator::Count(0) => None,
            Terminator::Bytes(tb) if tb.is_empty() => None,
            Terminator::Count(n) if rest.len() < *n => {
                data(&mut events, rest);
                t = Terminator::Count(n - rest.len());
                None
            }
            Terminator::Count(n) => {
                data(&mut events, &rest[..*n]);
                pos += n;
                t = Terminator::Count(0);
                Some(0)
            }
            Terminator::Bytes(tb) => {
                let (payload, end) = match naive_find(rest, tb) {
                    Some(i) => (i, Some(i + tb.len())),
                    None => {
                        let held = prefix_at_end(rest, tb);
                        assert_eq!(find_prefix_at_end(rest, tb), held);
                        (rest.len() - held, None)
                    }
                };
                if let Some(limit) = limit.filter(|&l| payload > l) {
                    let error = TooLong {
                        length: payload,
                        limit,
                        record_start: pos,
                    };
                    return Outcome {
                        events,
                        held: Vec::new(),
                        terminator: t,
                        error: Some(error),
                    };
                }
                data(&mut events, &rest[..payload]);
                match end {
                    Some(end) => {
                        pos += end;
                        Some(0)
                    }
                    None => {
                        return Outcome {
                            events,
                            held: rest[payload..].to_vec(),
                            terminator: t,
                            error: None,
                        };
                    }
                }
            }
        };
        if record_len.is_none() {
            // No terminator can end a record any more (falsy, or the input
            // ran out): everything left is data.
            if t.is_none() {
                data(&mut events, &stream[pos..]);
            }
            return Outcome {
                events,
                held: Vec::new(),
                terminator: t,
                error: None,
            };
        }
        events.push(Ev::End);
        ended += 1;
        t = case.after_record(ended, t).0;
    }
}

/// The first occurrence of non-empty `needle`, by brute force.
fn naive_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (0..haystack.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// The longest proper prefix of `needle` ending `haystack`, by brute force.
fn prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    (1..needle.len())
        .rev()
        .find(|&k| haystack.ends_with(&needle[..k]))
        .unwrap_or(0)
}
