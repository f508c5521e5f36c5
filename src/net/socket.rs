//! [`Socket`]: a non-blocking channel socket that is not in a map yet.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::{Address, Io};

/// Where a socket stands when it joins a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketState {
    /// A listening socket: read readiness means pending connections.
    Listening,
    /// A connect by host name (or to several addresses) waits for its
    /// lookup or for the first of its attempts to connect: the socket is a
    /// placeholder, polled for nothing, until the winner takes its place.
    Resolving,
    /// A non-blocking connect is in progress; the loop reports how it ends.
    Connecting,
    /// A stream with a peer (or a pipe end).
    Connected,
    /// A socket with no peer of its own: a datagram socket, or a stream
    /// socket that was never connected.
    Unconnected,
}

/// The kind of a [`Socket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketKind {
    /// A listening stream socket (TCP or Unix).
    Listener,
    /// A byte stream: TCP or Unix stream socket.
    Stream,
    /// A datagram socket: UDP or Unix datagram.
    Datagram,
    /// A pipe end or another pollable fd read and written with
    /// `read(2)`/`write(2)` (Python's `file_dispatcher`).
    Pipe,
}

/// A non-blocking socket (or pipe) ready to become a channel.
///
/// Every constructor returns a socket in non-blocking, close-on-exec mode.
/// Hand it to [`Map::add`](crate::Map::add) or [`Ctx::add`](crate::Ctx::add)
/// with the [`Dispatcher`](crate::Dispatcher) that drives it.
///
/// # Examples
///
/// ```
/// use asyncore::Socket;
///
/// let listener = Socket::tcp_listen("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = Socket::tcp_connect(addr.as_inet().unwrap())?;
/// assert_eq!(client.kind(), asyncore::SocketKind::Stream);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Socket {
    /// The owned socket or fd, already non-blocking.
    pub(crate) io: Io,
    /// Listening, connecting, connected or unconnected.
    pub(crate) state: SocketState,
    /// Stream, datagram, listener or pipe.
    pub(crate) kind: SocketKind,
    /// Where a [`SocketState::Resolving`] socket connects to.
    pub(crate) target: Option<Box<crate::net::Target>>,
}

impl Socket {
    pub(crate) fn new(io: Io, state: SocketState, kind: SocketKind) -> Socket {
        Socket {
            io,
            state,
            kind,
            target: None,
        }
    }

    /// Wraps a socket2 socket, making it non-blocking.
    pub(crate) fn from_socket2(
        socket: socket2::Socket,
        state: SocketState,
        kind: SocketKind,
    ) -> io::Result<Socket> {
        socket.set_nonblocking(true)?;
        Ok(Socket::new(Io::Socket(socket), state, kind))
    }

    /// Wraps an already connected (or unconnected) stream socket, asking
    /// the kernel whether it has a peer: `ENOTCONN` or `EINVAL` (a socket
    /// reset before we saw it, bpo-10340) mean "unconnected".
    pub(crate) fn from_stream_socket2(socket: socket2::Socket) -> io::Result<Socket> {
        let state = match socket.peer_addr() {
            Ok(_) => SocketState::Connected,
            Err(e)
                if e.kind() == io::ErrorKind::NotConnected
                    || e.kind() == io::ErrorKind::InvalidInput =>
            {
                SocketState::Unconnected
            }
            Err(e) => return Err(e),
        };
        Socket::from_socket2(socket, state, SocketKind::Stream)
    }

    /// Returns the kind of socket this is.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Returns the socket's local address.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error, or [`io::ErrorKind::Unsupported`] for a
    /// pipe.
    pub fn local_addr(&self) -> io::Result<Address> {
        self.io.local_addr()
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes), e.g. on an
    /// accepted socket before adding it to the map.
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error (not a TCP socket), or
    /// [`io::ErrorKind::Unsupported`] for a pipe.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.socket("set_nodelay")?.set_tcp_nodelay(nodelay)
    }

    /// Returns whether `SO_REUSEADDR` is set ([`Socket::tcp_listen`] sets
    /// it, as Python's `set_reuse_addr`).
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, or [`io::ErrorKind::Unsupported`] for a
    /// pipe.
    pub fn reuse_address(&self) -> io::Result<bool> {
        self.io.socket("reuse_address")?.reuse_address()
    }
}

/// Resolves `addr` and tries `f` on each address in turn, returning the
/// first success or the last error.
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}
