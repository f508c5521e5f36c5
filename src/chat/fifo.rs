//! The producer fifo: output queued behind producers, moved into a sink
//! (the channel's output queue) as it drains. Pure: the sink is a trait, so
//! the ordering rules are tested and fuzzed without sockets.

use std::collections::VecDeque;
use std::fmt;

use super::producer::Producer;
use crate::error::{Error, Result};

/// Where a [`Fifo`] moves output to.
pub trait Sink {
    /// Bytes queued in the sink and not yet sent.
    fn pending(&self) -> usize;
    /// Queues (or sends) `data`.
    ///
    /// # Errors
    ///
    /// The sink's error; the fifo stops refilling.
    fn push(&mut self, data: &[u8]) -> Result<()>;
    /// Closes once everything queued is sent.
    ///
    /// # Errors
    ///
    /// The sink's error.
    fn close_when_done(&mut self) -> Result<()>;
    /// Whether the sink takes no more output.
    fn is_closing(&self) -> bool;

    /// The error for output offered after `close_when_done`. Default:
    /// [`Error::Unsupported`].
    fn closing_error(&self) -> Error {
        Error::Unsupported("output after close_when_done")
    }
}

/// One entry of the fifo.
enum Item {
    /// Asked for chunks until it returns an empty one.
    Producer(Box<dyn Producer>),
    /// Close once everything before this is sent.
    Close,
}

/// Output waiting behind producers, in order (Python's `producer_fifo`).
///
/// Bytes pushed while the fifo is empty go straight to the sink; once a
/// producer or a close mark is queued, later pushes wait behind it, so
/// output always leaves in the order it was pushed, and a close mark closes
/// only after everything before it.
#[derive(Default)]
pub struct Fifo {
    /// Pending producers and close marks, oldest first.
    items: VecDeque<Item>,
}

impl fmt::Debug for Fifo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fifo")
            .field("items", &self.items.len())
            .finish()
    }
}

impl Fifo {
    /// Returns `true` if nothing waits behind a producer.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sends `data` through `sink` at once if nothing waits, else queues it.
    /// Empty data costs nothing.
    ///
    /// # Errors
    ///
    /// The sink's error, or [`Sink::closing_error`] once a close mark is
    /// queued.
    pub fn push(&mut self, sink: &mut impl Sink, data: &[u8]) -> Result<()> {
        self.check_open(sink)?;
        if data.is_empty() {
            return Ok(());
        }
        if self.items.is_empty() {
            return sink.push(data);
        }
        self.items
            .push_back(Item::Producer(Box::new(data.to_vec())));
        Ok(())
    }

    /// Queues a producer, then refills.
    ///
    /// # Errors
    ///
    /// As [`Fifo::refill`], or [`Sink::closing_error`] once a close mark is
    /// queued.
    pub fn push_producer(
        &mut self,
        sink: &mut impl Sink,
        producer: Box<dyn Producer>,
        mark: usize,
    ) -> Result<()> {
        self.check_open(sink)?;
        self.items.push_back(Item::Producer(producer));
        self.refill(sink, mark)
    }

    /// Refuses output once a close is asked for, whether its mark still
    /// waits in the fifo or already reached the sink: it would never be
    /// sent.
    fn check_open(&self, sink: &impl Sink) -> Result<()> {
        if matches!(self.items.back(), Some(Item::Close)) || sink.is_closing() {
            return Err(sink.closing_error());
        }
        Ok(())
    }

    /// Closes the sink once everything queued so far is sent.
    ///
    /// # Errors
    ///
    /// The sink's error.
    pub fn close_when_done(&mut self, sink: &mut impl Sink) -> Result<()> {
        if self.items.is_empty() {
            return sink.close_when_done();
        }
        self.items.push_back(Item::Close);
        Ok(())
    }

    /// Drops everything queued, a close mark included (as Python's
    /// `discard_buffers` does).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Moves output into `sink` while it holds less than `mark` bytes.
    ///
    /// # Errors
    ///
    /// A producer's error or the sink's.
    pub fn refill(&mut self, sink: &mut impl Sink, mark: usize) -> Result<()> {
        while sink.pending() < mark && !sink.is_closing() {
            match self.items.front_mut() {
                None => break,
                Some(Item::Close) => {
                    self.items.clear();
                    return sink.close_when_done();
                }
                Some(Item::Producer(producer)) => {
                    let chunk = producer.more()?;
                    if chunk.is_empty() {
                        self.items.pop_front();
                    } else {
                        sink.push(&chunk)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::SimpleProducer;

    /// A sink that keeps everything, never sends, and records the close.
    #[derive(Default)]
    struct Model {
        queued: Vec<u8>,
        closed: bool,
    }

    impl Sink for Model {
        fn pending(&self) -> usize {
            self.queued.len()
        }
        fn push(&mut self, data: &[u8]) -> Result<()> {
            assert!(!self.closed, "push after close");
            self.queued.extend_from_slice(data);
            Ok(())
        }
        fn close_when_done(&mut self) -> Result<()> {
            self.closed = true;
            Ok(())
        }
        fn is_closing(&self) -> bool {
            self.closed
        }
    }

    #[test]
    fn pushes_wait_behind_producers_and_close_comes_last() {
        let mut fifo = Fifo::default();
        let mut sink = Model::default();
        fifo.push(&mut sink, b"a").unwrap();
        fifo.push_producer(
            &mut sink,
            Box::new(SimpleProducer::with_buffer_size(b"bcd".to_vec(), 1)),
            2,
        )
        .unwrap();
        assert_eq!(sink.queued, b"ab", "refill stops at the mark");
        fifo.push(&mut sink, b"e").unwrap();
        fifo.close_when_done(&mut sink).unwrap();
        assert!(
            fifo.push(&mut sink, b"never").is_err(),
            "refused behind the close mark"
        );
        assert!(!sink.closed);
        sink.queued.clear();
        fifo.refill(&mut sink, usize::MAX).unwrap();
        assert_eq!(sink.queued, b"cde");
        assert!(sink.closed);
        assert!(fifo.is_empty());
    }
}
