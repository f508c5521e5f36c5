//! Async Unix sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::path::Path;

use super::source::{Direction, Source};
use super::stream_io::{impl_stream_io, impl_stream_readiness};
use crate::map::Map;
use crate::net::{Address, Socket, SocketKind};

/// An async Unix stream listener in a map.
#[derive(Debug)]
pub struct UnixListener {
    /// The listening socket's channel.
    source: Source,
}

impl UnixListener {
    /// Binds a listener at `path` in the map whose loop runs on this thread,
    /// or the thread's default map.
    ///
    /// # Errors
    ///
    /// As [`Socket::unix_listen`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(UnixListener {
            source: Source::new(Socket::unix_listen(path)?)?,
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
    pub async fn accept(&self) -> io::Result<(UnixStream, Address)> {
        let (source, addr) = self.source.accept().await?;
        Ok((UnixStream { source }, Address::from_sockaddr(&addr)))
    }
}

/// An async Unix stream in a map, with `futures_io::AsyncRead` and
/// `AsyncWrite`, also on `&UnixStream`.
///
/// # Examples
///
/// Waiting for input without holding a buffer, then reading what is there:
///
/// ```
/// use asyncore::UnixStream;
///
/// let map = asyncore::Map::new()?;
/// map.block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     b.try_write(b"x")?;
///     a.readable().await?;
///     let mut buf = [0u8; 8];
///     assert_eq!(a.try_read(&mut buf)?, 1);
///     let again = a.try_read(&mut buf).unwrap_err();
///     assert_eq!(again.kind(), std::io::ErrorKind::WouldBlock);
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixStream {
    /// The stream's channel.
    source: Source,
}

impl_stream_io!(UnixStream);
impl_stream_readiness!(UnixStream);

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// As [`Socket::unix_connect`].
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream {
            source: Source::new(Socket::unix_connect(path)?)?,
        };
        poll_fn(|cx| stream.source.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Creates a connected pair in the map whose loop runs on this thread,
    /// or the thread's default map.
    ///
    /// # Errors
    ///
    /// `socketpair(2)` errors.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::unix_stream_pair()?;
        Ok((
            UnixStream {
                source: Source::new(a)?,
            },
            UnixStream {
                source: Source::new(b)?,
            },
        ))
    }

    /// Wraps a connected stream [`Socket`] in `map`.
    ///
    /// # Errors
    ///
    /// The socket is not a stream, or the poller refused it.
    pub fn from_socket(map: &Map, socket: Socket) -> io::Result<UnixStream> {
        Ok(UnixStream {
            source: Source::of_kind(map, socket, SocketKind::Stream)?,
        })
    }

    /// Shuts down one or both directions.
    ///
    /// # Errors
    ///
    /// `shutdown(2)` errors.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.with_io(|io| io.shutdown(how))
    }
}

/// An async Unix datagram socket in a map.
#[derive(Debug)]
pub struct UnixDatagram {
    /// The socket's channel.
    source: Source,
}

impl UnixDatagram {
    /// Binds a datagram socket at `path`.
    ///
    /// # Errors
    ///
    /// As [`Socket::unix_datagram_bind`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            source: Source::new(Socket::unix_datagram_bind(path)?)?,
        })
    }

    /// Creates an unbound datagram socket.
    ///
    /// # Errors
    ///
    /// `socket(2)` errors.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            source: Source::new(Socket::unix_datagram_unbound()?)?,
        })
    }

    /// Sends a datagram to the socket at `path`.
    ///
    /// # Errors
    ///
    /// `sendto(2)` errors other than would-block.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = Address::from(path.as_ref());
        poll_fn(|cx| {
            self.source
                .poll_io(cx, Direction::Write, |io| io.send_to(buf, &addr))
        })
        .await
    }

    /// Receives a datagram, returning its length and sender.
    ///
    /// # Errors
    ///
    /// `recvfrom(2)` errors other than would-block.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        poll_fn(|cx| {
            self.source
                .poll_io(cx, Direction::Read, |io| io.recv_from(buf))
        })
        .await
    }
}
