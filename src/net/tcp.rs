//! TCP channel sockets over IPv4 and IPv6.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, Type};

use super::socket::each_addr;
use super::{Socket, SocketKind, SocketState};

/// The listen backlog [`Socket::tcp_listen`] uses.
pub(crate) const DEFAULT_BACKLOG: i32 = 1024;

/// `EINPROGRESS`: a non-blocking connect has started.
#[cfg(unix)]
fn in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock
}

impl Socket {
    /// Creates a TCP listener bound to `addr` with `SO_REUSEADDR` set and a
    /// backlog of 1024 (Python's `create_socket` + `set_reuse_addr` +
    /// `bind` + `listen`).
    ///
    /// When `addr` resolves to several addresses, the first one that binds
    /// wins.
    ///
    /// # Errors
    ///
    /// Resolution, `bind(2)` (e.g. address in use) or `listen(2)` errors.
    pub fn tcp_listen(addr: impl ToSocketAddrs) -> io::Result<Socket> {
        Socket::tcp_listen_with_backlog(addr, DEFAULT_BACKLOG)
    }

    /// Creates a TCP listener like [`Socket::tcp_listen`] with the given
    /// backlog.
    ///
    /// # Errors
    ///
    /// Resolution, `bind(2)` or `listen(2)` errors.
    pub fn tcp_listen_with_backlog(addr: impl ToSocketAddrs, backlog: i32) -> io::Result<Socket> {
        tcp_listen_with(addr, backlog, |_| Ok(()))
    }

    /// Starts a non-blocking TCP connect to `addr`.
    ///
    /// The connect usually completes later: add the socket to a map and the
    /// loop calls [`handle_connect`](crate::Dispatcher::handle_connect) once
    /// it is established, or
    /// [`handle_error`](crate::Dispatcher::handle_error) with
    /// [`Error::Connect`](crate::Error::Connect) and the cause (refused,
    /// unreachable) if it fails. Name resolution, if `addr` needs it, blocks;
    /// the first resolved address is used.
    ///
    /// # Errors
    ///
    /// Resolution errors, and connect errors the kernel reports at once
    /// (e.g. network unreachable); no socket is left behind.
    pub fn tcp_connect(addr: impl ToSocketAddrs) -> io::Result<Socket> {
        let a = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to nothing",
            )
        })?;
        Socket::tcp_connect_addr(a)
    }

    fn tcp_connect_addr(a: SocketAddr) -> io::Result<Socket> {
        let socket =
            socket2::Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&a.into()) {
            // Even an immediate success is reported through the loop, so
            // `handle_connect` always runs.
            Ok(()) => {}
            Err(e) if in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        Ok(Socket::new(
            super::Io::Socket(socket),
            SocketState::Connecting,
            SocketKind::Stream,
        ))
    }

    /// Wraps a std TCP listener (made non-blocking).
    ///
    /// # Errors
    ///
    /// The `fcntl(2)` error setting non-blocking mode.
    pub fn from_tcp_listener(listener: std::net::TcpListener) -> io::Result<Socket> {
        Socket::from_socket2(
            listener.into(),
            SocketState::Listening,
            SocketKind::Listener,
        )
    }

    /// Wraps a std TCP stream (made non-blocking). A stream whose peer is
    /// already gone (reset before it was wrapped) joins as unconnected
    /// rather than failing.
    ///
    /// # Errors
    ///
    /// `getpeername(2)` errors other than "not connected", or the `fcntl(2)`
    /// error setting non-blocking mode.
    pub fn from_tcp_stream(stream: std::net::TcpStream) -> io::Result<Socket> {
        Socket::from_stream_socket2(stream.into())
    }
}

/// A TCP listener on the first address of `addr` that binds, with
/// `SO_REUSEADDR` and whatever `configure` sets before the bind.
pub(crate) fn tcp_listen_with(
    addr: impl ToSocketAddrs,
    backlog: i32,
    configure: impl Fn(&socket2::Socket) -> io::Result<()>,
) -> io::Result<Socket> {
    each_addr(addr, |a| {
        let socket =
            socket2::Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        configure(&socket)?;
        socket.bind(&a.into())?;
        socket.listen(backlog)?;
        Socket::from_socket2(socket, SocketState::Listening, SocketKind::Listener)
    })
}
