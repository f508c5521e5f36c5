//! Unix domain channel sockets, stream and datagram.

use std::io;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;

use socket2::{Domain, SockAddr, Type};

use super::{Io, Socket, SocketKind, SocketState};

impl Socket {
    /// Creates a Unix stream listener bound to `path`.
    ///
    /// # Errors
    ///
    /// `bind(2)` errors (e.g. the path exists) or `listen(2)` errors.
    pub fn unix_listen(path: impl AsRef<Path>) -> io::Result<Socket> {
        let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(super::tcp::DEFAULT_BACKLOG)?;
        Socket::from_socket2(socket, SocketState::Listening, SocketKind::Listener)
    }

    /// Connects to the Unix stream socket at `path`.
    ///
    /// Unix connects usually finish at once; either way the loop reports
    /// [`handle_connect`](crate::Dispatcher::handle_connect).
    ///
    /// # Errors
    ///
    /// Connect errors the kernel reports at once: no such file, connection
    /// refused (nobody listens), permission denied.
    pub fn unix_connect(path: impl AsRef<Path>) -> io::Result<Socket> {
        let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::unix(path)?) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(Socket::new(
            Io::Socket(socket),
            SocketState::Connecting,
            SocketKind::Stream,
        ))
    }

    /// Creates a Unix datagram socket bound to `path`.
    ///
    /// # Errors
    ///
    /// `bind(2)` errors.
    pub fn unix_datagram_bind(path: impl AsRef<Path>) -> io::Result<Socket> {
        Socket::from_unix_datagram(UnixDatagram::bind(path)?)
    }

    /// Creates an unbound Unix datagram socket (it can send, not receive
    /// replies addressed to a name).
    ///
    /// # Errors
    ///
    /// `socket(2)` errors.
    pub fn unix_datagram_unbound() -> io::Result<Socket> {
        Socket::from_unix_datagram(UnixDatagram::unbound()?)
    }

    /// Creates a connected pair of Unix stream sockets.
    ///
    /// # Errors
    ///
    /// `socketpair(2)` errors.
    pub fn unix_stream_pair() -> io::Result<(Socket, Socket)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Socket::from_unix_stream(a)?, Socket::from_unix_stream(b)?))
    }

    /// Creates a connected pair of Unix datagram sockets.
    ///
    /// # Errors
    ///
    /// `socketpair(2)` errors.
    pub fn unix_datagram_pair() -> io::Result<(Socket, Socket)> {
        let (a, b) = UnixDatagram::pair()?;
        Ok((
            Socket::from_unix_datagram(a)?,
            Socket::from_unix_datagram(b)?,
        ))
    }

    /// Wraps a std Unix listener (made non-blocking).
    ///
    /// # Errors
    ///
    /// The `fcntl(2)` error setting non-blocking mode.
    pub fn from_unix_listener(listener: UnixListener) -> io::Result<Socket> {
        Socket::from_socket2(
            listener.into(),
            SocketState::Listening,
            SocketKind::Listener,
        )
    }

    /// Wraps a std Unix stream (made non-blocking).
    ///
    /// # Errors
    ///
    /// `getpeername(2)` errors other than "not connected", or the `fcntl(2)`
    /// error.
    pub fn from_unix_stream(stream: UnixStream) -> io::Result<Socket> {
        Socket::from_stream_socket2(stream.into())
    }

    /// Wraps a std Unix datagram socket (made non-blocking).
    ///
    /// # Errors
    ///
    /// The `fcntl(2)` error setting non-blocking mode.
    pub fn from_unix_datagram(socket: UnixDatagram) -> io::Result<Socket> {
        Socket::from_socket2(
            socket.into(),
            SocketState::Unconnected,
            SocketKind::Datagram,
        )
    }
}
