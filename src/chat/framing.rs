//! One decoding step of asynchat's framing: what the front of some input
//! is (payload, a terminator, or not enough to tell), against a
//! terminator, with the record-length limit. [`Splitter`](super::Splitter)
//! runs it over its buffer or straight over a caller's slice.

use super::Terminator;
use super::terminator::find_prefix_at_end;
use crate::error::{Error, Result};

/// The decoding state, apart from the buffered bytes, so that input can be
/// decoded from the buffer or straight from the caller's slice.
#[derive(Clone, Debug)]
pub(super) struct Framing {
    /// The last piece was the payload before a terminator: the next piece
    /// is [`Piece::Terminator`].
    pub(super) end_pending: bool,
    /// Payload bytes of the current record delivered so far.
    pub(super) record_len: usize,
    /// The longest record allowed while searching for a byte terminator.
    pub(super) max_record_len: Option<usize>,
}

/// What one decoding step found at the front of some input.
pub(super) enum Step {
    /// Payload: the first `len` bytes; `consumed` bytes are used up (the
    /// payload, plus the terminator if it follows).
    Data { len: usize, consumed: usize },
    /// The end of a record; `consumed` bytes (the terminator) are used up.
    Terminator { consumed: usize },
    /// Nothing can be decoded until more input arrives.
    NeedMore,
}

impl Framing {
    /// A fresh state: no record started, `max_record_len` the limit.
    pub(super) fn new(max_record_len: Option<usize>) -> Framing {
        Framing {
            end_pending: false,
            record_len: 0,
            max_record_len,
        }
    }

    /// Decodes one piece from the front of `input`.
    pub(super) fn step(&mut self, input: &[u8], terminator: &mut Terminator) -> Result<Step> {
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
