//! The terminator splitter: asynchat's framing algorithm, pure and I/O free.
//!
//! Bytes go in with [`Splitter::feed`]; [`Splitter::next_piece`] decodes one
//! piece at a time, lazily, against a terminator the caller owns, so a
//! terminator changed between two pieces applies to the bytes already
//! buffered (what `found_terminator` changing the terminator does in
//! Python).

use super::Terminator;
use super::terminator::find_prefix_at_end;
use crate::error::{Error, Result};

/// The default longest record: 64 KiB.
pub const DEFAULT_MAX_RECORD_LEN: usize = 64 * 1024;

/// One decoded piece of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Payload (Python's `collect_incoming_data`); a record may arrive in
    /// several pieces, and pieces never include the terminator.
    Data(&'a [u8]),
    /// The end of a record (Python's `found_terminator`).
    Terminator,
}

/// Splits a byte stream into records, asynchat style.
///
/// * Payload is streamed: a record's bytes come out as [`Piece::Data`] as
///   they arrive, before its terminator does.
/// * A partial terminator at the end of the input is held back (at most
///   `len - 1` bytes) until more input shows whether it is one.
/// * [`Terminator::Count`] counts down as bytes come out and ends at
///   `Count(0)`.
/// * While searching for a [`Terminator::Bytes`], a record longer than the
///   maximum ([`DEFAULT_MAX_RECORD_LEN`] unless changed) is an
///   [`Error::RecordTooLong`] instead of unbounded memory. Counts and
///   `None` are explicit raw modes, and not limited.
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Piece, Splitter, Terminator};
///
/// let mut splitter = Splitter::new();
/// let mut terminator = Terminator::from("\r\n");
/// splitter.feed(b"ab\r");
/// assert_eq!(splitter.next_piece(&mut terminator)?, Some(Piece::Data(b"ab")));
/// assert_eq!(splitter.next_piece(&mut terminator)?, None); // "\r" held back
/// splitter.feed(b"\ncd");
/// assert_eq!(splitter.next_piece(&mut terminator)?, Some(Piece::Terminator));
/// assert_eq!(splitter.next_piece(&mut terminator)?, Some(Piece::Data(b"cd")));
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Splitter {
    /// Input not yet decoded starts at `pos`.
    buf: Vec<u8>,
    /// Offset of the first undecoded byte in `buf`.
    pos: usize,
    /// Where the current record stands.
    framing: Framing,
}

/// The decoding state, apart from the buffered bytes, so that input can be
/// decoded from the buffer or straight from the caller's slice.
#[derive(Clone, Debug)]
struct Framing {
    /// The last piece was the payload before a terminator: the next piece
    /// is [`Piece::Terminator`].
    end_pending: bool,
    /// Payload bytes of the current record delivered so far.
    record_len: usize,
    /// The longest record allowed while searching for a byte terminator.
    max_record_len: Option<usize>,
}

/// What one decoding step found at the front of some input.
enum Step {
    /// Payload: the first `len` bytes; `consumed` bytes are used up (the
    /// payload, plus the terminator if it follows).
    Data { len: usize, consumed: usize },
    /// The end of a record; `consumed` bytes (the terminator) are used up.
    Terminator { consumed: usize },
    /// Nothing can be decoded until more input arrives.
    NeedMore,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter::new()
    }
}

impl Splitter {
    /// Creates a splitter with the default maximum record length.
    pub fn new() -> Splitter {
        Splitter {
            buf: Vec::new(),
            pos: 0,
            framing: Framing {
                end_pending: false,
                record_len: 0,
                max_record_len: Some(DEFAULT_MAX_RECORD_LEN),
            },
        }
    }

    /// Sets the longest record (payload bytes before a byte terminator);
    /// `None` removes the limit.
    pub fn set_max_record_len(&mut self, max: Option<usize>) {
        self.framing.max_record_len = max;
    }

    /// Returns the longest record allowed.
    pub fn max_record_len(&self) -> Option<usize> {
        self.framing.max_record_len
    }

    /// Appends input.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Returns the bytes fed and not yet decoded (a held-back partial
    /// terminator, or whatever the caller has not asked for yet).
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Removes and returns the undecoded bytes, e.g. at end of stream.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.clear();
        rest
    }

    /// Drops all input and starts a fresh record (Python's
    /// `discard_buffers`, input side).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.framing.end_pending = false;
        self.framing.record_len = 0;
    }

    /// Starts a new record: call it when the caller changes the terminator
    /// in the middle of a record, so the bytes counted towards the limit
    /// start from zero.
    pub fn reset_record(&mut self) {
        self.framing.record_len = 0;
    }

    /// Decodes the next piece against `terminator`, updating a count
    /// terminator as bytes come out. Returns `Ok(None)` when more input is
    /// needed.
    ///
    /// # Errors
    ///
    /// [`Error::RecordTooLong`] when, with a byte terminator, the current
    /// record exceeds the maximum; nothing more is decoded from it.
    pub fn next_piece(&mut self, terminator: &mut Terminator) -> Result<Option<Piece<'_>>> {
        let start = self.pos;
        let input = &self.buf[start..];
        Ok(match self.framing.step(input, terminator)? {
            Step::Data { len, consumed } => {
                self.pos += consumed;
                Some(Piece::Data(&self.buf[start..start + len]))
            }
            Step::Terminator { consumed } => {
                self.pos += consumed;
                Some(Piece::Terminator)
            }
            Step::NeedMore => None,
        })
    }

    /// Decodes the next piece straight from `input`, fresh bytes that
    /// follow everything fed so far, without copying them in, and advances
    /// `input` past what it used. Returns `Ok(None)` when more input is
    /// needed, or when bytes are still buffered (those come first: then
    /// [`feed`](Splitter::feed) the rest of `input` and use
    /// [`next_piece`](Splitter::next_piece)). Whatever is left in `input`
    /// afterwards (a partial terminator held back) must be fed before the
    /// next read.
    ///
    /// # Errors
    ///
    /// As [`next_piece`](Splitter::next_piece).
    pub fn next_piece_in<'a>(
        &mut self,
        input: &mut &'a [u8],
        terminator: &mut Terminator,
    ) -> Result<Option<Piece<'a>>> {
        if self.pos != self.buf.len() {
            return Ok(None);
        }
        let data: &'a [u8] = input;
        Ok(match self.framing.step(data, terminator)? {
            Step::Data { len, consumed } => {
                *input = &data[consumed..];
                Some(Piece::Data(&data[..len]))
            }
            Step::Terminator { consumed } => {
                *input = &data[consumed..];
                Some(Piece::Terminator)
            }
            Step::NeedMore => None,
        })
    }
}

impl Framing {
    /// Decodes one piece from the front of `input`.
    fn step(&mut self, input: &[u8], terminator: &mut Terminator) -> Result<Step> {
        if self.end_pending {
            self.end_pending = false;
            self.record_len = 0;
            return Ok(Step::Terminator { consumed: 0 });
        }
        let available = input.len();
        if available == 0 {
            return Ok(Step::NeedMore);
        }
        match terminator {
            t if t.is_none() => Ok(Step::Data {
                len: available,
                consumed: available,
            }),
            Terminator::Count(n) => {
                let take = available.min(*n);
                *n -= take;
                self.end_pending = *n == 0;
                Ok(Step::Data {
                    len: take,
                    consumed: take,
                })
            }
            Terminator::Bytes(t) => {
                if let Some(i) = find(input, t) {
                    self.check_limit(i)?;
                    let consumed = i + t.len();
                    if i == 0 {
                        self.record_len = 0;
                        return Ok(Step::Terminator { consumed });
                    }
                    self.end_pending = true;
                    return Ok(Step::Data { len: i, consumed });
                }
                let take = available - find_prefix_at_end(input, t);
                if take == 0 {
                    return Ok(Step::NeedMore);
                }
                self.check_limit(take)?;
                self.record_len += take;
                Ok(Step::Data {
                    len: take,
                    consumed: take,
                })
            }
            // `is_none` covered `None`.
            Terminator::None => unreachable!("a None terminator is handled above"),
        }
    }

    /// Fails if `more` payload bytes would make the record too long.
    fn check_limit(&self, more: usize) -> Result<()> {
        match self.max_record_len {
            Some(limit) if self.record_len + more > limit => Err(Error::RecordTooLong {
                length: self.record_len + more,
                limit,
            }),
            _ => Ok(()),
        }
    }
}

/// The first occurrence of `needle` (non-empty) in `haystack`: a SIMD scan
/// for its first byte, then a comparison of the rest. (`memmem` builds a
/// searcher per call, which costs more than it saves on short lines.)
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, &haystack[from..]) {
        let at = from + i;
        if haystack[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collected pieces in Python's test notation: `C <data>` and `F`.
    fn drain(s: &mut Splitter, t: &mut Terminator, out: &mut Vec<String>) {
        while let Some(piece) = s.next_piece(t).unwrap() {
            match piece {
                Piece::Data(d) => out.push(format!("C {}", String::from_utf8_lossy(d))),
                Piece::Terminator => out.push("F".into()),
            }
        }
    }

    fn run(t: impl Into<Terminator>, reads: &[&[u8]]) -> (Vec<String>, Terminator, Vec<u8>) {
        let mut s = Splitter::new();
        let mut t = t.into();
        let mut out = Vec::new();
        for r in reads {
            s.feed(r);
            drain(&mut s, &mut t, &mut out);
        }
        (out, t, s.buffered().to_vec())
    }

    #[test]
    fn crlf_split_across_reads() {
        let (out, _, held) = run("\r\n", &[b"ab\r", b"\ncd\r\n\r\nef", b"\r"]);
        assert_eq!(out, ["C ab", "F", "C cd", "F", "F", "C ef"]);
        assert_eq!(held, b"\r");
    }

    #[test]
    fn held_prefix_that_is_not_a_terminator() {
        let (out, _, _) = run("qqq", &[b"xq", b"q", b"yqqqz"]);
        assert_eq!(out, ["C x", "C qqy", "F", "C z"]);
    }

    #[test]
    fn count_counts_down_then_collects_everything() {
        let (out, t, _) = run(3usize, &[b"ab", b"cdef", b"gh"]);
        assert_eq!(out, ["C ab", "C c", "F", "C def", "C gh"]);
        assert_eq!(t, Terminator::Count(0));
    }

    #[test]
    fn terminator_changed_between_pieces_applies_to_buffered_bytes() {
        let mut s = Splitter::new();
        let mut t = Terminator::from("\n");
        let mut out = Vec::new();
        s.feed(b"hdr\nBODYrest\nx");
        while let Some(piece) = s.next_piece(&mut t).unwrap() {
            match piece {
                Piece::Data(d) => out.push(format!("C {}", String::from_utf8_lossy(d))),
                Piece::Terminator => {
                    out.push("F".into());
                    // found_terminator switches to a count of 4, then back.
                    t = if t == Terminator::from("\n") {
                        Terminator::Count(4)
                    } else {
                        Terminator::from("\n")
                    };
                }
            }
        }
        assert_eq!(out, ["C hdr", "F", "C BODY", "F", "C rest", "F", "C x"]);
    }

    #[test]
    fn record_too_long_is_an_error_with_the_numbers() {
        let mut s = Splitter::new();
        s.set_max_record_len(Some(8));
        let mut t = Terminator::from("\n");
        s.feed(b"12345");
        assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"12345")));
        s.feed(b"6789\n");
        let err = s.next_piece(&mut t).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record too long: 9 bytes without a terminator (limit 8)"
        );
        // A record exactly at the limit is fine; counts are not limited.
        let mut s = Splitter::new();
        s.set_max_record_len(Some(3));
        s.feed(b"abc\n");
        assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"abc")));
        let mut count = Terminator::Count(10);
        s.feed(b"0123456789");
        assert_eq!(s.next_piece(&mut count).unwrap(), Some(Piece::Terminator));
        assert_eq!(
            s.next_piece(&mut count).unwrap(),
            Some(Piece::Data(b"0123456789"))
        );
    }

    #[test]
    fn empty_record_has_no_data_piece() {
        let (out, _, _) = run("\n", &[b"hello world\n\nI'm not dead yet!\n"]);
        assert_eq!(out, ["C hello world", "F", "F", "C I'm not dead yet!", "F"]);
    }

    #[test]
    fn take_buffered_returns_the_held_back_bytes() {
        let mut s = Splitter::new();
        let mut t = Terminator::from("\r\n.\r\n");
        s.feed(b"body\r\n.");
        assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"body")));
        assert_eq!(s.next_piece(&mut t).unwrap(), None);
        assert_eq!(s.take_buffered(), b"\r\n.");
        assert!(s.buffered().is_empty());
    }

    /// The borrowed-input path: pieces straight from each read, the rest
    /// fed, buffered bytes first.
    fn run_borrowed(t: impl Into<Terminator>, reads: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
        let mut s = Splitter::new();
        let mut t = t.into();
        let mut out = Vec::new();
        for r in reads {
            let mut input: &[u8] = r;
            while let Some(piece) = s.next_piece_in(&mut input, &mut t).unwrap() {
                match piece {
                    Piece::Data(d) => out.push(format!("C {}", String::from_utf8_lossy(d))),
                    Piece::Terminator => out.push("F".into()),
                }
            }
            s.feed(input);
            drain(&mut s, &mut t, &mut out);
        }
        (out, s.buffered().to_vec())
    }

    #[test]
    fn borrowed_input_decodes_as_fed_input_does() {
        let input: &[u8] = b"ab\r\ncd\r\n\r\nef\rgh\r\r\n\r";
        for terminator in ["\r\n", "\n", "qqq"] {
            for chunk in 1..=input.len() {
                let reads: Vec<&[u8]> = input.chunks(chunk).collect();
                let (fed, _, fed_held) = run(terminator, &reads);
                let (borrowed, held) = run_borrowed(terminator, &reads);
                assert_eq!(borrowed, fed, "terminator {terminator:?}, chunk {chunk}");
                assert_eq!(held, fed_held, "terminator {terminator:?}, chunk {chunk}");
            }
        }
        // Counts too, ending in a byte terminator.
        let mut s = Splitter::new();
        let mut t = Terminator::Count(3);
        let mut input: &[u8] = b"abcdef";
        assert_eq!(
            s.next_piece_in(&mut input, &mut t).unwrap(),
            Some(Piece::Data(b"abc"))
        );
        assert_eq!(
            s.next_piece_in(&mut input, &mut t).unwrap(),
            Some(Piece::Terminator)
        );
        t = Terminator::from("\n");
        assert_eq!(
            s.next_piece_in(&mut input, &mut t).unwrap(),
            Some(Piece::Data(b"def"))
        );
        assert!(input.is_empty());
    }

    #[test]
    fn borrowed_input_waits_for_buffered_bytes() {
        let mut s = Splitter::new();
        let mut t = Terminator::from("\r\n");
        s.feed(b"x\r");
        assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"x")));
        let mut input: &[u8] = b"\ny";
        // "\r" is buffered: it must be decoded before the new bytes.
        assert_eq!(s.next_piece_in(&mut input, &mut t).unwrap(), None);
        assert_eq!(input, b"\ny");
        s.feed(input);
        assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Terminator));
        assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"y")));
    }

    #[test]
    fn borrowed_input_enforces_the_record_limit() {
        let mut s = Splitter::new();
        s.set_max_record_len(Some(4));
        let mut t = Terminator::from("\n");
        let mut input: &[u8] = b"abc";
        assert_eq!(
            s.next_piece_in(&mut input, &mut t).unwrap(),
            Some(Piece::Data(b"abc"))
        );
        let mut more: &[u8] = b"de\n";
        assert!(matches!(
            s.next_piece_in(&mut more, &mut t),
            Err(Error::RecordTooLong {
                length: 5,
                limit: 4
            })
        ));
    }
}
