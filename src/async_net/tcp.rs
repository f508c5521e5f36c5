//! Async TCP: [`TcpListener`] and [`TcpStream`].

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};

use super::source::Source;
use super::stream_io::{impl_stream_io, impl_stream_readiness};
use crate::event_loop::current_map;
use crate::map::Map;
use crate::map::WeakMap;
use crate::net::{Address, Socket, SocketKind, Target, ToTarget};

pub(super) fn inet(addr: Address) -> io::Result<SocketAddr> {
    addr.as_inet()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an internet address"))
}

/// An async TCP listener in a map.
///
/// # Examples
///
/// ```
/// use asyncore::{TcpListener, TcpStream};
///
/// asyncore::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = asyncore::spawn(async move {
///         let stream = TcpStream::connect(addr).await?;
///         std::io::Result::Ok(stream.peer_addr()?)
///     })?;
///     let (_stream, _peer) = listener.accept().await?;
///     assert_eq!(client.await??, addr);
///     std::io::Result::Ok(())
/// })??;
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    /// The listening socket's channel.
    source: Source,
}

impl TcpListener {
    /// Binds a listener (with `SO_REUSEADDR`) in the map whose loop runs on
    /// this thread, or the thread's default map.
    ///
    /// # Errors
    ///
    /// As [`Socket::tcp_listen`], or the poller refused the socket.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Ok(TcpListener {
            source: Source::new(Socket::tcp_listen(addr)?)?,
        })
    }

    /// Wraps a listening [`Socket`] (e.g. one built with
    /// [`Socket::tcp_listen_with_backlog`]) in `map`.
    ///
    /// # Errors
    ///
    /// The socket is not a listener, or the poller refused it.
    pub fn from_socket(map: &Map, socket: Socket) -> io::Result<TcpListener> {
        Ok(TcpListener {
            source: Source::of_kind(map, socket, SocketKind::Listener)?,
        })
    }

    /// Accepts a connection.
    ///
    /// # Errors
    ///
    /// Accept errors other than would-block; connections aborted before
    /// they were taken are skipped. On `EMFILE` and the like
    /// ([`Error::is_resource_exhausted`](crate::Error::is_resource_exhausted))
    /// the caller should back off before accepting again.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (source, addr) = self.source.accept().await?;
        let addr = addr
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an internet address"))?;
        Ok((TcpStream { source }, addr))
    }

    /// Returns the local address.
    ///
    /// # Errors
    ///
    /// `getsockname(2)` errors.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.source.with_io(|io| io.local_addr())?)
    }
}

/// An async TCP stream in a map, with `futures_io::AsyncRead` and
/// `AsyncWrite` (so `futures`' `BufReader`, `lines()` and `copy` work),
/// also on `&TcpStream`.
///
/// # Examples
///
/// An echo round trip with `futures`' extension traits:
///
/// ```
/// use asyncore::{TcpListener, TcpStream};
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
///
/// let map = asyncore::Map::new()?;
/// map.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     asyncore::spawn(async move {
///         let (stream, _) = listener.accept().await?;
///         let (mut reader, mut writer) = (&stream, &stream);
///         futures::io::copy(&mut reader, &mut writer).await?;
///         std::io::Result::Ok(())
///     })?;
///     let mut client = TcpStream::connect(addr).await?;
///     client.write_all(b"ping").await?;
///     client.close().await?; // half-close: the echo ends with EOF
///     let mut echo = Vec::new();
///     client.read_to_end(&mut echo).await?;
///     assert_eq!(echo, b"ping");
///     std::io::Result::Ok(())
/// })??;
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpStream {
    /// The stream's channel.
    source: Source,
}

impl_stream_io!(TcpStream);
impl_stream_readiness!(TcpStream);

impl TcpStream {
    /// Connects to `addr`, in the map whose loop runs on this thread (or
    /// the thread's default map); `addr` takes the forms of
    /// [`Socket::tcp_connect`].
    ///
    /// A host name is resolved on a helper thread, never blocking the
    /// loop; a name, or several addresses, are raced by Happy Eyeballs
    /// (RFC 8305), as [`Socket::tcp_connect`] describes.
    ///
    /// # Errors
    ///
    /// The connect's error (refused, unreachable) for a single address;
    /// otherwise the lookup's error, or an error whose inner
    /// [`ConnectError`](crate::ConnectError) names every address tried.
    pub async fn connect(addr: impl ToTarget) -> io::Result<TcpStream> {
        let source = match addr.to_target()? {
            Target::Addrs(addrs) if addrs.len() == 1 => {
                let source = Source::new(Socket::tcp_connect_addr(addrs[0])?)?;
                poll_fn(|cx| source.poll_connected(cx)).await?;
                source
            }
            target => crate::net::connect_any(&WeakMap::new(&current_map()?), target).await?,
        };
        Ok(TcpStream { source })
    }

    /// Wraps a connected stream [`Socket`] in `map`: how a callback-style
    /// listener hands a connection from
    /// [`handle_accepted`](crate::Dispatcher::handle_accepted) to a task.
    ///
    /// # Errors
    ///
    /// The socket is not a stream, or the poller refused it.
    pub fn from_socket(map: &Map, socket: Socket) -> io::Result<TcpStream> {
        Ok(TcpStream {
            source: Source::of_kind(map, socket, SocketKind::Stream)?,
        })
    }

    /// Returns the local address.
    ///
    /// # Errors
    ///
    /// `getsockname(2)` errors.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.source.with_io(|io| io.local_addr())?)
    }

    /// The stream's channel, for a TLS stream to take over.
    #[cfg(feature = "tls")]
    pub(super) fn into_source(self) -> Source {
        self.source
    }

    /// Returns the peer's address.
    ///
    /// # Errors
    ///
    /// `getpeername(2)` errors (not connected).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet(self.source.with_io(|io| io.peer_addr())?)
    }

    /// Shuts down one or both directions (half-close with
    /// `Shutdown::Write`).
    ///
    /// # Errors
    ///
    /// `shutdown(2)` errors.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.with_io(|io| io.shutdown(how))
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// `setsockopt(2)` errors.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source
            .with_io(|io| io.socket("set_nodelay")?.set_tcp_nodelay(nodelay))
    }
}
