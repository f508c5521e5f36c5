//! Socket I/O on one channel through the map: reads, writes, datagrams,
//! out-of-band data, accept, socket options. A disconnect marks the
//! channel closing; [`Ctx`](crate::Ctx) exposes the same for the channel
//! whose callback is running.

use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;

use super::{ChannelId, Inner, Map};
use crate::channel::Driver;
use crate::error::{Error, is_disconnect};
use crate::net::{Address, Io, Socket, SocketKind, SocketState};
use crate::sys;

/// The error of an operation on a channel that is gone.
pub(super) fn closed_io(id: ChannelId) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, Error::Closed(id))
}

fn unsupported(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, Error::Unsupported(what))
}

/// Whether a read of `got` bytes where `wanted` fitted drained the input:
/// a short read, not an end of file.
fn is_short(got: usize, wanted: usize) -> bool {
    got > 0 && got < wanted
}

impl Inner {
    /// Notes that a read on channel `id` came back short. On an
    /// edge-triggered stream that drained the input, though an end of file
    /// may be left behind it, so the channel becomes a suspect
    /// (`event_loop::edge`). Returns whether input is known to be left:
    /// with no timer for a later check, a peek looks now.
    pub(crate) fn note_short_read(&mut self, id: ChannelId) -> bool {
        let interval = self.suspects.interval();
        let Some(channel) = self.get_mut(id) else {
            return false;
        };
        if !channel.reg.is_edge() {
            return false;
        }
        let listed = channel.suspect != 0;
        channel.suspect = interval;
        if listed || self.suspects.add(id) {
            return false;
        }
        let Some(channel) = self.get_mut(id) else {
            return false;
        };
        channel.suspect = 0;
        sys::has_more_input(channel.reg.get())
    }
}

impl Map {
    /// Notes a read of `got` bytes of `wanted` on an async channel. A short
    /// one on an edge-triggered stream drained the input, so the readiness
    /// `readable()` reports is forgotten, as a would-block would (a new
    /// edge reports more), sparing the task a read that would block; as
    /// tokio's `poll_read` does. The channel becomes a suspect, as a
    /// callback channel does.
    pub(crate) fn note_async_read(&self, id: ChannelId, got: usize, wanted: usize) {
        if !is_short(got, wanted) {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        if inner.note_short_read(id) {
            return;
        }
        if let Some(Driver::Async(waiters)) = inner.get_mut(id).map(|c| &mut c.driver) {
            waiters.ready.read = false;
        }
    }

    /// Runs `f` on the channel's socket, marking the channel closing if it
    /// reports a disconnect.
    fn with_io<T>(&self, id: ChannelId, f: impl FnOnce(&Io) -> io::Result<T>) -> io::Result<T> {
        self.with_channel(id, |channel| f(channel.reg.get()))
    }

    /// Runs `f` on the channel, marking it closing if `f` reports a
    /// disconnect.
    fn with_channel<T>(
        &self,
        id: ChannelId,
        f: impl FnOnce(&mut crate::channel::Channel) -> io::Result<T>,
    ) -> io::Result<T> {
        let result = {
            let mut inner = self.inner.borrow_mut();
            let channel = inner.get_mut(id).ok_or_else(|| closed_io(id))?;
            let result = f(channel);
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

    pub(crate) fn recv(&self, id: ChannelId, buf: &mut [u8]) -> io::Result<usize> {
        let wanted = buf.len();
        self.read_with(id, wanted, |io| io.read(buf), |n| *n)
    }

    pub(crate) fn recv_uninit<'b>(
        &self,
        id: ChannelId,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> io::Result<&'b mut [u8]> {
        let wanted = buf.len();
        self.read_with(id, wanted, |io| sys::read_uninit(io, buf), |b| b.len())
    }

    /// One read of up to `wanted` bytes on a channel's stream: notes end of
    /// file (a zero-length read of a non-empty buffer), disconnects and
    /// whether input may be left, then settles.
    fn read_with<R>(
        &self,
        id: ChannelId,
        wanted: usize,
        read: impl FnOnce(&Io) -> io::Result<R>,
        len: impl Fn(&R) -> usize,
    ) -> io::Result<R> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.get_mut(id).ok_or_else(|| closed_io(id))?;
        match channel.state {
            SocketState::Listening => return Err(unsupported("recv on a listening socket")),
            SocketState::Resolving | SocketState::Connecting => {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            _ => {}
        }
        let result = read(channel.reg.get());
        channel
            .unspent
            .note_read(result.as_ref().ok().map(|r| (len(r), wanted)));
        let short = result.as_ref().is_ok_and(|r| is_short(len(r), wanted));
        match &result {
            Ok(r)
                if len(r) == 0
                    && wanted > 0
                    && channel.kind != SocketKind::Datagram
                    && !channel.eof =>
            {
                channel.eof = true;
                channel.eof_pending = true;
            }
            Err(e) if is_disconnect(e) => channel.closing = true,
            // A TLS failure (reported through the handler's error) leaves
            // nothing more to read.
            Err(e) if crate::error::is_tls(e) => channel.eof = true,
            _ => {}
        }
        if short && inner.note_short_read(id) {
            if let Some(channel) = inner.get_mut(id) {
                channel.unspent.note_read(Some((1, 1)));
            }
        }
        drop(inner);
        self.settle(id);
        result
    }

    pub(crate) fn send(&self, id: ChannelId, buf: &[u8]) -> io::Result<usize> {
        if self.is_connecting(id) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.with_channel(id, |channel| {
            let result = channel.reg.get().write(buf);
            let written = result.as_ref().ok().map(|n| (*n, buf.len()));
            channel.unspent.note_write(written);
            result
        })
    }

    pub(crate) fn recv_from(&self, id: ChannelId, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        self.with_io(id, |io| io.recv_from(buf))
    }

    pub(crate) fn send_to(&self, id: ChannelId, buf: &[u8], addr: &Address) -> io::Result<usize> {
        self.with_io(id, |io| io.send_to(buf, addr))
    }

    pub(crate) fn recv_out_of_band(&self, id: ChannelId, buf: &mut [u8]) -> io::Result<usize> {
        self.with_channel(id, |channel| {
            let result = channel.reg.get().recv_out_of_band(buf);
            channel.unspent.note_urgent_read();
            result
        })
    }

    pub(crate) fn send_out_of_band(&self, id: ChannelId, buf: &[u8]) -> io::Result<usize> {
        self.with_io(id, |io| io.send_out_of_band(buf))
    }

    pub(crate) fn shutdown_socket(&self, id: ChannelId, how: Shutdown) -> io::Result<()> {
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
        let (socket, addr) = self.with_channel(id, |channel| {
            let result = channel.reg.get().socket("accept")?.accept();
            // A pending connection taken may not be the last one.
            channel.unspent.note_accept(result.is_ok());
            result
        })?;
        let socket = Socket::from_socket2(socket, SocketState::Connected, SocketKind::Stream)?;
        Ok((socket, Address::from_sockaddr(&addr)))
    }
}
