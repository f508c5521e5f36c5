//! A channel's output queue through the map: `push`, `close_when_done`,
//! watermarks, flushing, discarding.

use std::io;

use super::socket_io::closed_io;
use super::{ChannelId, Map};
use crate::error::{Error, Result, is_disconnect};
use crate::net::{SocketKind, SocketState};

impl Map {
    /// Writes queued output; marks the channel closing when a
    /// `close_when_done` is satisfied or the peer is gone.
    pub(crate) fn flush(&self, id: ChannelId) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.get_mut(id).ok_or_else(|| closed_io(id))?;
        let io = channel.reg.get();
        let queued = !channel.out.is_empty() || io.has_buffered_output();
        let flushed = match io.flush_buffered() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
            Ok(()) => channel.out.flush(|slices| io.write_vectored(slices)),
        };
        if queued {
            // Whatever is still queued met a full socket buffer.
            let sent = channel.out.is_empty() && !io.has_buffered_output();
            channel.unspent.note_write(Some((usize::from(sent), 1)));
        }
        if let Err(e) = flushed {
            if is_disconnect(&e) {
                channel.closing = true;
            }
            return Err(e);
        }
        if channel.out.is_empty() && !io.has_buffered_output() && channel.close_when_done {
            channel.done_sending();
        }
        Ok(())
    }

    /// Sends `data` on channel `id`, queueing what the socket does not take
    /// at once (Python's `push` / `dispatcher_with_send.send`).
    ///
    /// With nothing queued, `data` is written immediately, before `push`
    /// returns; the rest is queued and written as the socket drains, with
    /// the channel's write interest following its queue. While the queue is
    /// above the channel's high watermark (64 KiB unless changed with
    /// [`Map::set_write_limits`]) the channel is not polled for reading, so
    /// a peer that never reads costs bounded memory. A push to a channel that
    /// is still connecting is queued and sent once connected. Empty pushes
    /// cost nothing.
    ///
    /// # Errors
    ///
    /// * [`Error::Closed`]: the channel is closed or closing.
    /// * [`Error::Closing`]: [`Map::close_when_done`] was called.
    /// * [`Error::Unsupported`]: a datagram or listening socket.
    /// * [`Error::Io`]: the immediate write failed; a disconnect (reset,
    ///   broken pipe) also closes the channel.
    pub fn push(&self, id: ChannelId, data: &[u8]) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.channel_mut(id)?;
        match channel.kind {
            SocketKind::Datagram => {
                return Err(Error::Unsupported("push on a datagram socket; use send_to"));
            }
            SocketKind::Listener => return Err(Error::Unsupported("push on a listening socket")),
            SocketKind::Stream | SocketKind::Pipe => {}
        }
        if channel.closing {
            return Err(Error::Closed(id));
        }
        if channel.close_when_done {
            return Err(Error::Closing(id));
        }
        let mut rest = data;
        if channel.out.is_empty() && channel.state == SocketState::Connected && !data.is_empty() {
            let written = channel.reg.get().write(data);
            let seen = written.as_ref().ok().map(|n| (*n, data.len()));
            channel.unspent.note_write(seen);
            match written {
                Ok(n) => rest = &data[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    let disconnect = is_disconnect(&e);
                    if disconnect {
                        channel.closing = true;
                    }
                    drop(inner);
                    if disconnect {
                        self.settle(id);
                    }
                    return Err(e.into());
                }
            }
        }
        if rest.is_empty() {
            // Records an I/O layer (TLS) holds back need write interest.
            let refresh = channel.reg.get().has_buffered_output() && !channel.reg.interest().write;
            drop(inner);
            if refresh {
                self.refresh(id);
            }
            return Ok(());
        }
        let before = (channel.out.is_empty(), channel.out.over_high());
        channel.out.append(rest);
        let changed = before != (channel.out.is_empty(), channel.out.over_high());
        drop(inner);
        if changed {
            self.refresh(id);
        }
        Ok(())
    }

    /// Closes channel `id` once everything queued on it has been sent
    /// (Python's `close_when_done`). From then on the channel takes no more
    /// output and is not polled for reading. With nothing queued it closes
    /// at once (after the running callback, if it is the channel's own).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]: the channel is already closed.
    pub fn close_when_done(&self, id: ChannelId) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.channel_mut(id)?;
        channel.close_when_done = true;
        let now = channel.out.is_empty() && !channel.reg.get().has_buffered_output();
        if now && channel.linger {
            channel.done_sending();
        }
        let close = now && !channel.linger;
        drop(inner);
        if close {
            self.close(id);
        } else {
            self.refresh(id);
        }
        Ok(())
    }

    /// Returns the number of bytes queued on channel `id` and not yet sent
    /// (0 for a closed channel).
    pub fn pending_output(&self, id: ChannelId) -> usize {
        self.inner.borrow().get(id).map_or(0, |c| c.out.len())
    }

    /// Sets the watermarks of channel `id`'s output queue: reading from the
    /// peer stops once `high` bytes are queued and resumes when the queue
    /// drains to `low` (clamped below `high`). Pass `usize::MAX` as `high`
    /// to never stop reading.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]: the channel is closed.
    pub fn set_write_limits(&self, id: ChannelId, high: usize, low: usize) -> Result<()> {
        self.inner
            .borrow_mut()
            .channel_mut(id)?
            .out
            .set_limits(high, low);
        self.refresh(id);
        Ok(())
    }

    /// Returns `true` if channel `id` is closing (closed from inside a
    /// callback, or waiting to close once its output is sent) or closed.
    pub fn is_closing(&self, id: ChannelId) -> bool {
        self.inner
            .borrow()
            .get(id)
            .is_none_or(|c| c.closing || c.close_when_done)
    }

    /// Drops channel `id`'s queued, unsent output. A pending
    /// `close_when_done` stays, so such a channel now closes: there is
    /// nothing left to wait for. Does nothing for a closed channel.
    pub fn discard_output(&self, id: ChannelId) {
        let (changed, close) = match self.inner.borrow_mut().get_mut(id) {
            Some(channel) if !channel.out.is_empty() => {
                channel.out.clear();
                (true, channel.close_when_done)
            }
            _ => (false, false),
        };
        if close {
            self.close(id);
        } else if changed {
            self.refresh(id);
        }
    }
}
