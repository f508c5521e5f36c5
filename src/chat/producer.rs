//! Producers: output made on demand, so a large response streams instead of
//! being loaded whole into memory.

use std::fmt;
use std::io::{self, Read};

/// A source of output for [`ChatCtx::push_with_producer`]
/// (Python's producer protocol).
///
/// [`more`](Producer::more) is called whenever the channel's output queue
/// runs low; an empty chunk means the producer is done.
///
/// [`ChatCtx::push_with_producer`]: crate::chat::ChatCtx::push_with_producer
pub trait Producer: 'static {
    /// Returns the next chunk of output; empty when done.
    ///
    /// # Errors
    ///
    /// Whatever producing failed with (e.g. reading a file); it reaches the
    /// channel's `handle_error`.
    fn more(&mut self) -> io::Result<Vec<u8>>;
}

/// A producer over a byte buffer, handing it out `buffer_size` bytes at a
/// time (Python's `simple_producer`).
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Producer, SimpleProducer};
///
/// let mut p = SimpleProducer::with_buffer_size(b"hello world".to_vec(), 4);
/// assert_eq!(p.more()?, b"hell");
/// assert_eq!(p.more()?, b"o wo");
/// assert_eq!(p.more()?, b"rld");
/// assert!(p.more()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimpleProducer {
    /// What is left to hand out.
    data: Vec<u8>,
    /// Offset of the next chunk in `data`.
    pos: usize,
    /// Bytes per chunk.
    buffer_size: usize,
}

impl SimpleProducer {
    /// Python's default chunk size.
    pub const DEFAULT_BUFFER_SIZE: usize = 512;

    /// Creates a producer handing out `data` in chunks of 512 bytes.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Self::with_buffer_size(data, Self::DEFAULT_BUFFER_SIZE)
    }

    /// Creates a producer handing out `data` in chunks of `buffer_size`
    /// bytes (at least 1).
    pub fn with_buffer_size(data: impl Into<Vec<u8>>, buffer_size: usize) -> Self {
        SimpleProducer {
            data: data.into(),
            pos: 0,
            buffer_size: buffer_size.max(1),
        }
    }
}

impl Producer for SimpleProducer {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        let end = (self.pos + self.buffer_size).min(self.data.len());
        let chunk = self.data[self.pos..end].to_vec();
        self.pos = end;
        Ok(chunk)
    }
}

/// A whole byte buffer is a producer that yields itself once (Python's
/// `push_with_producer(b"...")`).
impl Producer for Vec<u8> {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        Ok(std::mem::take(self))
    }
}

/// A producer over a reader (a file, say), reading `buffer_size` bytes per
/// chunk, so a large response streams with bounded memory.
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Producer, ReaderProducer};
///
/// let mut p = ReaderProducer::with_buffer_size(&b"abcdef"[..], 4);
/// assert_eq!(p.more()?, b"abcd");
/// assert_eq!(p.more()?, b"ef");
/// assert!(p.more()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ReaderProducer<R> {
    /// Where the output comes from.
    reader: R,
    /// Bytes read per chunk.
    buffer_size: usize,
}

impl<R> fmt::Debug for ReaderProducer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReaderProducer")
            .field("buffer_size", &self.buffer_size)
            .finish_non_exhaustive()
    }
}

impl<R: Read + 'static> ReaderProducer<R> {
    /// The default chunk size, 64 KiB.
    pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

    /// Creates a producer reading 64 KiB chunks from `reader`.
    pub fn new(reader: R) -> Self {
        Self::with_buffer_size(reader, Self::DEFAULT_BUFFER_SIZE)
    }

    /// Creates a producer reading chunks of up to `buffer_size` bytes (at
    /// least 1).
    pub fn with_buffer_size(reader: R, buffer_size: usize) -> Self {
        ReaderProducer {
            reader,
            buffer_size: buffer_size.max(1),
        }
    }
}

impl<R: Read + 'static> Producer for ReaderProducer<R> {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        let mut chunk = vec![0; self.buffer_size];
        let mut filled = 0;
        // Fill the chunk unless the reader ends: short reads are not the end.
        while filled < chunk.len() {
            match self.reader.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        chunk.truncate(filled);
        Ok(chunk)
    }
}
