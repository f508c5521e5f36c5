//! Internals exposed for the fuzz targets in `fuzz/` (the `fuzzing`
//! feature). Not part of the public API: no stability promise.

use std::io::{self, IoSlice};

/// The per-channel output queue, for fuzzing with a model socket.
#[derive(Debug, Default)]
pub struct OutQueue(crate::out_queue::OutQueue);

impl OutQueue {
    /// Creates a queue with the given watermarks.
    pub fn new(high: usize, low: usize) -> Self {
        let mut queue = crate::out_queue::OutQueue::default();
        queue.set_limits(high, low);
        OutQueue(queue)
    }

    /// Queues a copy of `data`.
    pub fn append(&mut self, data: &[u8]) {
        self.0.append(data);
    }

    /// Writes through `write` until it is empty, `write` would block, or
    /// `write` takes less than offered.
    ///
    /// # Errors
    ///
    /// `write`'s errors other than would-block.
    pub fn flush(
        &mut self,
        write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        self.0.flush(write)
    }

    /// Unsent bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether reading would be paused (between the watermarks'
    /// hysteresis).
    pub fn over_high(&self) -> bool {
        self.0.over_high()
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}
