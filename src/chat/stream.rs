//! [`ChatStream`]: a terminator-framed channel for tasks, a stream of
//! frames decoded lazily, plus an awaitable `push`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::Terminator;
use super::splitter::{Piece, Splitter};
use crate::async_net::{Direction, Source};
use crate::error::{Error, Result};
use crate::map::Map;
use crate::net::Socket;

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 16 * 1024;

/// One frame of a [`ChatStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A piece of the current record (`collect_incoming_data`).
    Data(Vec<u8>),
    /// The end of a record (`found_terminator`).
    Terminator,
    /// The peer closed: the input held back undecoded (the start of a
    /// terminator that never completed), possibly empty; an unterminated
    /// record's data has already come as [`Frame::Data`]. The stream ends
    /// after it.
    EndOfStream(Vec<u8>),
}

/// A chat channel for tasks: a [`Stream`] of [`Frame`]s split by a
/// [`Terminator`], and an awaitable [`ChatStream::push`].
///
/// Frames are decoded lazily, one per `next()`, so a terminator set between
/// two `next()` calls applies to the bytes already buffered (what changing
/// the terminator in `found_terminator` does). [`ChatStream::next_record`]
/// collects a whole record.
///
/// # Examples
///
/// ```
/// use asyncore::chat::{ChatStream, Frame};
/// use asyncore::{Map, Socket};
/// use futures::StreamExt;
///
/// let map = Map::new()?;
/// let (a, b) = Socket::unix_stream_pair()?;
/// let mut ours = ChatStream::new(&map, a)?;
/// let theirs = ChatStream::new(&map, b)?;
/// ours.set_terminator("\n");
/// map.block_on(async {
///     theirs.push(b"HELLO\nabcdefrest").await?;
///     assert_eq!(ours.next_record().await?, Some(b"HELLO".to_vec()));
///     ours.set_terminator(6usize); // applies to "abcdefrest", already read
///     assert_eq!(ours.next_record().await?, Some(b"abcdef".to_vec()));
///     Ok::<(), asyncore::Error>(())
/// })??;
/// # Ok::<(), asyncore::Error>(())
/// ```
pub struct ChatStream {
    /// The socket, driven by this stream's task.
    source: Source,
    /// Input read and not yet decoded.
    splitter: Splitter,
    /// The current terminator.
    terminator: Terminator,
    /// End of file was read; `EndOfStream` comes once the buffer is empty.
    eof: bool,
    /// `EndOfStream` was delivered.
    ended: bool,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("terminator", &self.terminator)
            .field("buffered", &self.splitter.buffered().len())
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// Adds a connected stream `socket` to `map` as a chat stream with no
    /// terminator (everything is data) and the default maximum record
    /// length.
    ///
    /// # Errors
    ///
    /// The poller refused the socket.
    pub fn new(map: &Map, socket: Socket) -> io::Result<ChatStream> {
        Ok(ChatStream {
            source: Source::in_map(map, socket)?,
            splitter: Splitter::new(),
            terminator: Terminator::None,
            eof: false,
            ended: false,
        })
    }

    /// Sets the terminator; it applies to input already buffered.
    pub fn set_terminator(&mut self, terminator: impl Into<Terminator>) {
        self.terminator = terminator.into();
        self.splitter.reset_record();
    }

    /// Returns the current terminator (a count shows what is left).
    pub fn terminator(&self) -> &Terminator {
        &self.terminator
    }

    /// Sets the maximum record length for byte terminators (`None`: no
    /// limit).
    pub fn set_max_record_len(&mut self, max: Option<usize>) {
        self.splitter.set_max_record_len(max);
    }

    /// Sends all of `data`, waiting while the socket is full (the
    /// back-pressure: a peer that does not read holds this task up, not the
    /// loop's memory).
    ///
    /// # Errors
    ///
    /// Socket errors (e.g. broken pipe).
    pub async fn push(&self, data: &[u8]) -> Result<()> {
        let mut sent = 0;
        while sent < data.len() {
            sent += poll_fn(|cx| {
                self.source
                    .poll_io(cx, Direction::Write, |io| io.write(&data[sent..]))
            })
            .await?;
        }
        // Over TLS the last records may still wait in rustls.
        poll_fn(|cx| self.source.poll_flush(cx)).await?;
        Ok(())
    }

    /// Shuts down the sending side once pushed data is sent (pushes are
    /// awaited, so it is sent when this runs); over TLS, `close_notify`
    /// goes first, as far as the socket takes it at once.
    ///
    /// # Errors
    ///
    /// `shutdown(2)` errors.
    pub fn close_write(&self) -> Result<()> {
        Ok(self.source.with_io(|io| {
            #[cfg(feature = "tls")]
            if let Some(tls) = io.tls() {
                tls.close_notify();
                let _ = tls.flush_records();
            }
            io.shutdown(std::net::Shutdown::Write)
        })?)
    }

    /// Waits for a whole record: the data up to the next terminator.
    /// Returns `None` once the stream ended (a final unterminated record is
    /// returned as `Some` if non-empty).
    ///
    /// # Errors
    ///
    /// [`Error::RecordTooLong`], socket errors.
    pub async fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        let mut record = Vec::new();
        loop {
            match poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(Frame::Data(data))) => record.extend_from_slice(&data),
                Some(Ok(Frame::Terminator)) => return Ok(Some(record)),
                Some(Ok(Frame::EndOfStream(rest))) => {
                    record.extend_from_slice(&rest);
                    return Ok((!record.is_empty()).then_some(record));
                }
            }
        }
    }

    /// Reads more input into the splitter.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut buf = [0u8; READ_SIZE];
        let n = match self
            .source
            .poll_read(cx, READ_SIZE, |io| io.read(&mut buf), |n| *n)
        {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) if crate::error::is_disconnect(&e) => 0,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
            Poll::Ready(Ok(n)) => n,
        };
        if n == 0 {
            self.eof = true;
        } else {
            self.splitter.feed(&buf[..n]);
        }
        Poll::Ready(Ok(()))
    }
}

impl Stream for ChatStream {
    type Item = Result<Frame>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame>>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.splitter.next_piece(&mut this.terminator) {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(Piece::Data(data))) => {
                    return Poll::Ready(Some(Ok(Frame::Data(data.to_vec()))));
                }
                Ok(Some(Piece::Terminator)) => return Poll::Ready(Some(Ok(Frame::Terminator))),
                Ok(None) => {}
            }
            if this.eof {
                this.ended = true;
                return Poll::Ready(Some(Ok(Frame::EndOfStream(this.splitter.take_buffered()))));
            }
            match this.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}
