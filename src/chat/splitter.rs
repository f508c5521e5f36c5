//! The terminator splitter: asynchat's framing algorithm, pure and I/O free.
//!
//! Bytes go in with [`Splitter::feed`]; [`Splitter::next_piece`] decodes one
//! piece at a time, lazily, against a terminator the caller owns, so a
//! terminator changed between two pieces applies to the bytes already
//! buffered (what `found_terminator` changing the terminator does in
//! Python).

use super::Terminator;
use super::framing::{Framing, Step};
use crate::error::Result;

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
///   [`Error::RecordTooLong`](crate::Error::RecordTooLong) instead of unbounded memory. Counts and
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
            framing: Framing::new(Some(DEFAULT_MAX_RECORD_LEN)),
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
    /// [`Error::RecordTooLong`](crate::Error::RecordTooLong) when, with a byte terminator, the current
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

#[cfg(test)]
mod tests;
