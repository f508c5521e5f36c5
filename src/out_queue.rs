//! A channel's output queue: what `push` could not send at once, flushed
//! with vectored writes when the socket becomes writable, with high and low
//! watermarks that pause reading from a peer who does not read.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

/// Default high watermark: above it the channel stops reading its peer.
pub const DEFAULT_HIGH_WATERMARK: usize = 64 * 1024;
/// Default low watermark: reading resumes once the queue drains below it.
pub const DEFAULT_LOW_WATERMARK: usize = 16 * 1024;

/// Pushes up to this size are appended to the last queued chunk instead of
/// getting a chunk of their own, so many small pushes cost few allocations.
const COALESCE: usize = 16 * 1024;
/// At most this many chunks go into one `writev`.
const MAX_IOVECS: usize = 64;

/// Unsent output of one channel.
#[derive(Debug)]
pub(crate) struct OutQueue {
    /// Unsent chunks, oldest first.
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of `chunks[0]` already sent.
    head: usize,
    /// Unsent bytes in total (`sum(chunks) - head`).
    len: usize,
    /// Reading pauses when `len` reaches this.
    high: usize,
    /// Reading resumes when `len` falls to this.
    low: usize,
    /// Whether the queue went above `high` and has not yet drained to `low`.
    over: bool,
}

impl Default for OutQueue {
    fn default() -> Self {
        OutQueue {
            chunks: VecDeque::new(),
            head: 0,
            len: 0,
            high: DEFAULT_HIGH_WATERMARK,
            low: DEFAULT_LOW_WATERMARK,
            over: false,
        }
    }
}

impl OutQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether reading from the peer should pause (hysteresis between the
    /// watermarks).
    pub(crate) fn over_high(&self) -> bool {
        self.over
    }

    pub(crate) fn set_limits(&mut self, high: usize, low: usize) {
        self.high = high.max(1);
        self.low = low.min(self.high - 1);
        self.update_mark();
    }

    fn update_mark(&mut self) {
        if self.len >= self.high {
            self.over = true;
        } else if self.len <= self.low {
            self.over = false;
        }
    }

    /// Queues a copy of `data`.
    pub(crate) fn append(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match self.chunks.back_mut() {
            Some(last) if last.len() + data.len() <= COALESCE => last.extend_from_slice(data),
            _ => self.chunks.push_back(data.to_vec()),
        }
        self.len += data.len();
        self.update_mark();
    }

    /// Writes as much as `write` (a vectored write, e.g. `writev` on the
    /// channel's socket) takes. Returns `Ok` when the queue is
    /// empty or the socket is full; errors other than would-block are
    /// returned (the unsent data stays queued).
    pub(crate) fn flush(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            let mut offered = 0;
            for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                let part = if i == 0 {
                    &chunk[self.head..]
                } else {
                    &chunk[..]
                };
                slices[i] = IoSlice::new(part);
                offered += part.len();
                count += 1;
            }
            let written = match write(&slices[..count]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
            if written < offered {
                break; // the socket buffer is full
            }
        }
        self.update_mark();
        Ok(())
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.head = 0;
        self.len = 0;
        self.update_mark();
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let first = self.chunks[0].len() - self.head;
            if n < first {
                self.head += n;
                return;
            }
            n -= first;
            self.chunks.pop_front();
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_have_hysteresis() {
        let mut q = OutQueue::default();
        q.set_limits(10, 4);
        q.append(&[0; 9]);
        assert!(!q.over_high());
        q.append(&[0; 1]);
        assert!(q.over_high());
        q.consume(5);
        q.update_mark();
        assert!(q.over_high(), "5 bytes left is above the low mark");
        q.consume(1);
        q.update_mark();
        assert!(!q.over_high());
    }

    #[test]
    fn small_pushes_coalesce_and_consume_spans_chunks() {
        let mut q = OutQueue::default();
        q.append(b"ab");
        q.append(b"cd");
        assert_eq!(q.chunks.len(), 1);
        q.append(&vec![7; COALESCE]);
        assert_eq!(q.chunks.len(), 2);
        q.consume(3);
        assert_eq!(q.head, 3);
        q.consume(2);
        assert_eq!(q.chunks.len(), 1);
        assert_eq!(q.head, 1);
        assert_eq!(q.len(), COALESCE - 1);
    }

    #[test]
    fn empty_push_is_free() {
        let mut q = OutQueue::default();
        q.append(b"");
        assert!(q.chunks.is_empty());
    }
}
