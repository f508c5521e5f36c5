//! [`Ctx`]: what a callback may do with its channel and the map.

use std::io;
use std::net::Shutdown;

use crate::dispatcher::Dispatcher;
use crate::error::Result;
use crate::map::{ChannelId, Map};
use crate::net::{Address, Socket, SocketKind};

/// The context a [`Dispatcher`] callback runs in: its channel's socket and
/// the map.
///
/// Socket operations never block. A closed channel's operations fail with
/// [`io::ErrorKind::NotConnected`] (or [`Error::Closed`](crate::Error::Closed)).
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The map the channel lives in.
    map: &'a Map,
    /// The channel whose callback is running.
    id: ChannelId,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(map: &'a Map, id: ChannelId) -> Ctx<'a> {
        Ctx { map, id }
    }

    /// Returns the id of the channel.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Returns the map the channel is in, to reach other channels.
    pub fn map(&self) -> &'a Map {
        self.map
    }

    /// Reads into `buf`, returning the number of bytes read.
    ///
    /// `Ok(0)` (with a non-empty `buf`) is end of file on a stream or pipe:
    /// once the running hook returns, [`Dispatcher::handle_eof`] runs. On a
    /// datagram socket `Ok(0)` is an empty datagram.
    ///
    /// # Errors
    ///
    /// * [`io::ErrorKind::WouldBlock`]: nothing to read (spurious wake-up);
    ///   returning it from a hook is harmless.
    /// * A disconnect (reset): the channel closes after the hook returns.
    /// * Other socket errors; `Unsupported` on a listener.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.map.recv(self.id, buf)
    }

    /// Reads into uninitialised memory, returning the part filled: as
    /// [`Ctx::recv`], without zeroing a buffer first (a 16 KiB zeroed stack
    /// buffer costs a `memset` per read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    /// use asyncore::{Ctx, Dispatcher, Result};
    ///
    /// struct Echo;
    ///
    /// impl Dispatcher for Echo {
    ///     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
    ///         let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
    ///         let data = cx.recv_uninit(&mut buf)?;
    ///         cx.push(data)
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Ctx::recv`]; an empty result with a non-empty `buf` is end of
    /// file on a stream or pipe.
    pub fn recv_uninit<'b>(
        &mut self,
        buf: &'b mut [std::mem::MaybeUninit<u8>],
    ) -> io::Result<&'b mut [u8]> {
        self.map.recv_uninit(self.id, buf)
    }

    /// Writes from `buf` directly, returning the number of bytes written.
    /// Prefer [`Ctx::push`], which queues what the socket does not take.
    ///
    /// # Errors
    ///
    /// * [`io::ErrorKind::WouldBlock`]: the socket buffer is full (or the
    ///   connect is still in progress).
    /// * A disconnect (broken pipe, reset): the channel closes after the
    ///   hook returns.
    pub fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.map.send(self.id, buf)
    }

    /// Receives a datagram, returning its length and sender.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WouldBlock`] when none is waiting; `Unsupported` on
    /// a pipe; socket errors.
    pub fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        self.map.recv_from(self.id, buf)
    }

    /// Sends a datagram to `addr`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WouldBlock`] when the send buffer is full;
    /// `Unsupported` on a pipe; socket errors.
    pub fn send_to(&mut self, buf: &[u8], addr: &Address) -> io::Result<usize> {
        self.map.send_to(self.id, buf, addr)
    }

    /// Reads out-of-band data (`MSG_OOB`), typically in
    /// [`Dispatcher::handle_expt`].
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WouldBlock`] or `EINVAL` when none is pending;
    /// `Unsupported` on a pipe.
    pub fn recv_out_of_band(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.map.recv_out_of_band(self.id, buf)
    }

    /// Sends out-of-band data (`MSG_OOB`).
    ///
    /// # Errors
    ///
    /// Socket errors; `Unsupported` on a pipe.
    pub fn send_out_of_band(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.map.send_out_of_band(self.id, buf)
    }

    /// Accepts one pending connection on a listening channel, returning
    /// the (non-blocking) socket and the peer's address.
    ///
    /// The loop already accepts for a readable listener and calls
    /// [`Dispatcher::handle_accepted`]; this is for a listener that accepts
    /// at a time of its own choosing (its `readable()` returning `false`).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WouldBlock`] when no connection is pending; accept
    /// errors such as `EMFILE`; `Unsupported` on a pipe.
    pub fn accept(&mut self) -> io::Result<(Socket, Address)> {
        self.map.accept(self.id)
    }

    /// Shuts down one or both directions of the socket; `Shutdown::Write`
    /// sends end of file to the peer while the channel can still read.
    ///
    /// # Errors
    ///
    /// Socket errors (e.g. not connected); `Unsupported` on a pipe.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        self.map.shutdown_socket(self.id, how)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// Socket errors (not a TCP socket); `Unsupported` on a pipe.
    pub fn set_nodelay(&mut self, nodelay: bool) -> io::Result<()> {
        self.map.set_nodelay(self.id, nodelay)
    }

    /// Returns the channel's local address.
    ///
    /// # Errors
    ///
    /// As [`Map::local_addr`].
    pub fn local_addr(&self) -> Result<Address> {
        self.map.local_addr(self.id)
    }

    /// Returns the peer's address.
    ///
    /// # Errors
    ///
    /// As [`Map::peer_addr`].
    pub fn peer_addr(&self) -> Result<Address> {
        self.map.peer_addr(self.id)
    }

    /// Sends `data`, queueing what the socket does not take at once; see
    /// [`Map::push`].
    ///
    /// # Errors
    ///
    /// As [`Map::push`].
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        self.map.push(self.id, data)
    }

    /// Closes the channel once its queued output is sent; see
    /// [`Map::close_when_done`].
    ///
    /// # Errors
    ///
    /// As [`Map::close_when_done`].
    pub fn close_when_done(&mut self) -> Result<()> {
        self.map.close_when_done(self.id)
    }

    /// Upgrades the channel to the server side of TLS (STARTTLS); see
    /// [`Map::start_tls_server`].
    ///
    /// # Errors
    ///
    /// As [`Map::start_tls_server`].
    #[cfg(feature = "tls")]
    pub fn start_tls_server(&mut self, acceptor: &crate::tls::TlsAcceptor) -> Result<()> {
        self.map.start_tls_server(self.id, acceptor)
    }

    /// Upgrades the channel to the client side of TLS (STARTTLS); see
    /// [`Map::start_tls_client`].
    ///
    /// # Errors
    ///
    /// As [`Map::start_tls_client`].
    #[cfg(feature = "tls")]
    pub fn start_tls_client(
        &mut self,
        connector: &crate::tls::TlsConnector,
        server_name: &str,
    ) -> Result<()> {
        self.map.start_tls_client(self.id, connector, server_name)
    }

    /// Returns the number of queued, unsent bytes.
    pub fn pending_output(&self) -> usize {
        self.map.pending_output(self.id)
    }

    /// Sets the output queue's watermarks; see [`Map::set_write_limits`].
    ///
    /// # Errors
    ///
    /// As [`Map::set_write_limits`].
    pub fn set_write_limits(&mut self, high: usize, low: usize) -> Result<()> {
        self.map.set_write_limits(self.id, high, low)
    }

    /// Closes the channel once the running hook returns: `handle_close`
    /// runs, then no other hook of the channel. Queued output is dropped
    /// (see [`Ctx::close_when_done`]). Idempotent.
    pub fn close(&mut self) {
        self.map.close(self.id);
    }

    /// Adds a new channel to the map; see [`Map::add`].
    ///
    /// # Errors
    ///
    /// As [`Map::add`].
    pub fn add<D: Dispatcher>(&mut self, socket: Socket, dispatcher: D) -> Result<ChannelId> {
        self.map.add(socket, dispatcher)
    }

    /// Asks channel `id` (usually another one, whose interest depends on
    /// state this callback changed) for its interest again; see
    /// [`Map::refresh`].
    pub fn refresh(&mut self, id: ChannelId) {
        self.map.refresh(id);
    }

    /// Closes the channel after `timeout` without an event; see
    /// [`Map::set_idle_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Map::set_idle_timeout`].
    pub fn set_idle_timeout(&mut self, timeout: Option<std::time::Duration>) -> Result<()> {
        self.map.set_idle_timeout(self.id, timeout)
    }

    /// Returns `true` if the channel is closing: closed by a callback, or
    /// waiting to close once its output is sent.
    pub fn is_closing(&self) -> bool {
        self.map.is_closing(self.id)
    }

    /// Drops the channel's queued, unsent output.
    pub fn discard_output(&mut self) {
        self.map.discard_output(self.id);
    }

    /// Returns `true` if the channel is connected (already `true` in
    /// `handle_connect`).
    pub fn is_connected(&self) -> bool {
        self.map.is_connected(self.id)
    }

    /// Returns `true` while a non-blocking connect is in progress.
    pub fn is_connecting(&self) -> bool {
        self.map.is_connecting(self.id)
    }

    /// Returns `true` for a listening socket.
    pub fn is_accepting(&self) -> bool {
        self.map.is_accepting(self.id)
    }

    /// Returns the kind of socket the channel has.
    pub fn kind(&self) -> Option<SocketKind> {
        self.map.kind(self.id)
    }
}
