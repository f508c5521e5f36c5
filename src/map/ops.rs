//! What code can do to one channel through the map: socket I/O, the output
//! queue, addresses and state. [`Ctx`](crate::Ctx) exposes the same for the
//! channel whose callback is running.

use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;

use super::{ChannelId, Map};
use crate::error::{Error, Result, is_disconnect};
use crate::event_loop::Session;

use crate::net::{Address, Io, Socket, SocketKind, SocketState};
use crate::sys;

fn closed_io(id: ChannelId) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, Error::Closed(id))
}

fn unsupported(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, Error::Unsupported(what))
}

impl Map {
    /// Runs `f` on the channel's socket, marking the channel closing if it
    /// reports a disconnect.
    fn with_io<T>(
        &self,
        id: ChannelId,
        f: impl FnOnce(&crate::net::Io) -> io::Result<T>,
    ) -> io::Result<T> {
        let result = {
            let mut inner = self.inner.borrow_mut();
            let channel = inner.get_mut(id).ok_or_else(|| closed_io(id))?;
            let result = f(channel.reg.get());
            if let Err(e) = &result {
                if is_disconnect(e) && channel.state != SocketState::Listening {
                    channel.closing = true;
                }
            }
            result
        };
        self.settle(id);
        result
    }

    /// Finishes what an operation from outside the channel's own callbacks
    /// (a task, another channel) left pending: a close (through
    /// `handle_close`) or an end of file (through `handle_eof`).
    ///
    /// While the loop runs, this waits for the next safe point (the end of
    /// the current event's dispatch, task poll or timer callback), so the
    /// channel's hooks never run inside another channel's hook: Python ran
    /// `handle_close` re-entrantly inside `send`. Outside the loop it
    /// happens at once.
    pub(crate) fn settle(&self, id: ChannelId) {
        let mut inner = self.inner.borrow_mut();
        let pending = inner.get(id).is_some_and(|c| c.closing || c.eof_pending);
        if !pending {
            return;
        }
        if inner.running {
            inner.unsettled.push(id);
            return;
        }
        drop(inner);
        self.settle_now(id);
    }

    fn settle_now(&self, id: ChannelId) {
        if let Some(mut session) = Session::open(self, id) {
            session.after_hook();
            session.finish();
        }
    }

    /// Settles the channels left pending since the last safe point.
    pub(crate) fn settle_pending(&self) {
        loop {
            let id = self.inner.borrow_mut().unsettled.pop();
            match id {
                Some(id) => self.settle_now(id),
                None => return,
            }
        }
    }

    pub(crate) fn recv(&self, id: ChannelId, buf: &mut [u8]) -> io::Result<usize> {
        let wanted = !buf.is_empty();
        self.read_with(id, wanted, |io| io.read(buf), |n| *n)
    }

    pub(crate) fn recv_uninit<'b>(
        &self,
        id: ChannelId,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> io::Result<&'b mut [u8]> {
        let wanted = !buf.is_empty();
        self.read_with(id, wanted, |io| sys::read_uninit(io, buf), |b| b.len())
    }

    /// One read on a channel's stream: notes end of file (a zero-length
    /// read of a non-empty buffer) and disconnects, then settles.
    fn read_with<R>(
        &self,
        id: ChannelId,
        wanted: bool,
        read: impl FnOnce(&Io) -> io::Result<R>,
        len: impl Fn(&R) -> usize,
    ) -> io::Result<R> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.get_mut(id).ok_or_else(|| closed_io(id))?;
        match channel.state {
            SocketState::Listening => return Err(unsupported("recv on a listening socket")),
            SocketState::Connecting => return Err(io::ErrorKind::WouldBlock.into()),
            _ => {}
        }
        let result = read(channel.reg.get());
        match &result {
            Ok(r)
                if len(r) == 0
                    && wanted
                    && channel.kind != SocketKind::Datagram
                    && !channel.eof =>
            {
                channel.eof = true;
                channel.eof_pending = true;
            }
            Err(e) if is_disconnect(e) => channel.closing = true,
            _ => {}
        }
        drop(inner);
        self.settle(id);
        result
    }

    pub(crate) fn send(&self, id: ChannelId, buf: &[u8]) -> io::Result<usize> {
        if self.is_connecting(id) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.with_io(id, |io| io.write(buf))
    }

    pub(crate) fn recv_from(&self, id: ChannelId, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        self.with_io(id, |io| io.recv_from(buf))
    }

    pub(crate) fn send_to(&self, id: ChannelId, buf: &[u8], addr: &Address) -> io::Result<usize> {
        self.with_io(id, |io| io.send_to(buf, addr))
    }

    pub(crate) fn recv_out_of_band(&self, id: ChannelId, buf: &mut [u8]) -> io::Result<usize> {
        self.with_io(id, |io| io.recv_out_of_band(buf))
    }

    pub(crate) fn send_out_of_band(&self, id: ChannelId, buf: &[u8]) -> io::Result<usize> {
        self.with_io(id, |io| io.send_out_of_band(buf))
    }

    pub(crate) fn shutdown(&self, id: ChannelId, how: Shutdown) -> io::Result<()> {
        self.with_io(id, |io| io.shutdown(how))
    }

    pub(crate) fn take_error(&self, id: ChannelId) -> io::Result<Option<io::Error>> {
        self.with_io(id, |io| io.take_error())
    }

    pub(crate) fn set_nodelay(&self, id: ChannelId, nodelay: bool) -> io::Result<()> {
        self.with_io(id, |io| io.socket("set_nodelay")?.set_tcp_nodelay(nodelay))
    }

    /// Accepts one pending connection on listener `id`, made non-blocking.
    pub(crate) fn accept(&self, id: ChannelId) -> io::Result<(Socket, Address)> {
        let (socket, addr) = self.with_io(id, |io| io.socket("accept")?.accept())?;
        let socket = Socket::from_socket2(socket, SocketState::Connected, SocketKind::Stream)?;
        Ok((socket, Address::from_sockaddr(&addr)))
    }

    /// Writes queued output; marks the channel closing when a
    /// `close_when_done` is satisfied or the peer is gone.
    pub(crate) fn flush(&self, id: ChannelId) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.get_mut(id).ok_or_else(|| closed_io(id))?;
        let io = channel.reg.get();
        if let Err(e) = channel.out.flush(|slices| io.write_vectored(slices)) {
            if is_disconnect(&e) {
                channel.closing = true;
            }
            return Err(e);
        }
        if channel.out.is_empty() && channel.close_when_done {
            channel.closing = true;
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
            match channel.reg.get().write(data) {
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
        let now = channel.out.is_empty();
        drop(inner);
        if now {
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

    /// Returns channel `id`'s local address.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], or the `getsockname(2)` error (unsupported for a
    /// pipe).
    pub fn local_addr(&self, id: ChannelId) -> Result<Address> {
        Ok(self.inner.borrow().channel(id)?.reg.get().local_addr()?)
    }

    /// Returns the address of channel `id`'s peer.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], or the `getpeername(2)` error (not connected;
    /// unsupported for a pipe).
    pub fn peer_addr(&self, id: ChannelId) -> Result<Address> {
        Ok(self.inner.borrow().channel(id)?.reg.get().peer_addr()?)
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

    /// Returns `true` if channel `id` is a connected stream (or a pipe).
    /// During `handle_connect` this is already `true`.
    pub fn is_connected(&self, id: ChannelId) -> bool {
        self.state(id) == Some(SocketState::Connected)
    }

    /// Returns `true` while channel `id`'s non-blocking connect is in
    /// progress.
    pub fn is_connecting(&self, id: ChannelId) -> bool {
        self.state(id) == Some(SocketState::Connecting)
    }

    /// Returns `true` if channel `id` is a listening socket.
    pub fn is_accepting(&self, id: ChannelId) -> bool {
        self.state(id) == Some(SocketState::Listening)
    }

    /// Returns the kind of channel `id`, or `None` if it is closed.
    pub fn kind(&self, id: ChannelId) -> Option<SocketKind> {
        self.inner.borrow().get(id).map(|c| c.kind)
    }

    fn state(&self, id: ChannelId) -> Option<SocketState> {
        self.inner.borrow().get(id).map(|c| c.state)
    }

    pub(crate) fn set_state(&self, id: ChannelId, state: SocketState) {
        if let Some(channel) = self.inner.borrow_mut().get_mut(id) {
            channel.state = state;
        }
    }

    /// Returns the raw fd of channel `id`, for lookups and socket options
    /// this crate does not wrap. Do not close it or change its blocking
    /// mode: the map owns it.
    #[cfg(unix)]
    pub fn raw_fd(&self, id: ChannelId) -> Option<std::os::fd::RawFd> {
        use std::os::fd::{AsFd, AsRawFd};
        self.inner
            .borrow()
            .get(id)
            .map(|c| c.reg.get().as_fd().as_raw_fd())
    }
}
