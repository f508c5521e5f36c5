//! TCP channel sockets over IPv4 and IPv6.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, Type};

use super::resolve::{Target, ToTarget};
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

    /// Starts a non-blocking TCP connect to `addr`: a socket address, an
    /// `(ip, port)` pair, a `"host:port"` string, a `(host, port)` pair or
    /// a slice of addresses (see [`ToTarget`]).
    ///
    /// The connect completes later: add the socket to a map and the loop
    /// calls [`handle_connect`](crate::Dispatcher::handle_connect) once it
    /// is established, or [`handle_error`](crate::Dispatcher::handle_error)
    /// with [`Error::Connect`](crate::Error::Connect) and the cause if it
    /// fails (then `handle_close`).
    ///
    /// A host name never blocks the loop: it is resolved on a helper
    /// thread once the socket is in a map (design decision 15). A name, or
    /// several addresses, are then tried by Happy Eyeballs (RFC 8305): IPv6
    /// and IPv4 interleaved, a new attempt every 250 ms or as soon as the
    /// last one failed, the first to connect wins and the others are
    /// closed. If all fail, the error's inner [`ConnectError`](crate::ConnectError) names every
    /// address with its error. Until then the channel counts as connecting
    /// and the attempts are channels of the map too.
    ///
    /// # Errors
    ///
    /// An address string that does not parse ([`io::ErrorKind::InvalidInput`]);
    /// for a single address, the connect errors the kernel reports at once
    /// (e.g. network unreachable), and no socket is left behind.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Ctx, Dispatcher, Map, RunOptions, Socket};
    ///
    /// struct Client;
    /// impl Dispatcher for Client {
    ///     fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> asyncore::Result<()> {
    ///         cx.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = server.local_addr()?.port();
    /// let map = Map::new()?;
    /// // `localhost` may resolve to ::1 first: that attempt is refused, and
    /// // 127.0.0.1 connects.
    /// map.add(Socket::tcp_connect(("localhost", port))?, Client)?;
    /// let pass = std::time::Duration::from_millis(10);
    /// map.run(&RunOptions::new().timeout(pass).count(500))?;
    /// assert!(map.is_empty());
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn tcp_connect(addr: impl ToTarget) -> io::Result<Socket> {
        match addr.to_target()? {
            Target::Addrs(addrs) if addrs.len() == 1 => Socket::tcp_connect_addr(addrs[0]),
            target => Socket::resolving(target),
        }
    }

    /// A placeholder for a connect to `target`, resolved and raced once the
    /// socket joins a map.
    fn resolving(target: Target) -> io::Result<Socket> {
        let domain = match &target {
            Target::Addrs(addrs) if addrs.first().is_some_and(SocketAddr::is_ipv6) => Domain::IPV6,
            _ => Domain::IPV4,
        };
        let placeholder = socket2::Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        placeholder.set_nonblocking(true)?;
        let mut socket = Socket::new(
            super::Io::Socket(placeholder),
            SocketState::Resolving,
            SocketKind::Stream,
        );
        socket.target = Some(Box::new(target));
        Ok(socket)
    }

    /// Starts a non-blocking connect to one address.
    pub(crate) fn tcp_connect_addr(a: SocketAddr) -> io::Result<Socket> {
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
