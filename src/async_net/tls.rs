//! TLS for the async face: [`TlsStream`], and the handshake that any async
//! stream over a TLS socket runs before its first read or write.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use super::TcpStream;
use super::source::{Direction, Source};
use super::stream_io::{impl_stream_io, impl_stream_readiness};
use super::tcp::inet;
use crate::map::{ChannelId, Map};
use crate::net::{Io, Socket, SocketKind};
use crate::tls::{self, Handshake, TlsAcceptor, TlsConnector};

/// One step of a TLS socket's handshake, for the async face: `None` once
/// there is none to run (a plain socket, or the handshake is done), or the
/// direction it waits for.
pub(crate) fn handshake_step(io: &Io) -> io::Result<Option<Direction>> {
    let Some(tls) = io.tls() else {
        return Ok(None);
    };
    if tls.is_connecting() {
        // A client made from a connecting socket: the TCP connect first.
        if let Some(e) = tls.socket().take_error()? {
            return Err(e);
        }
        match tls.socket().peer_addr() {
            Ok(_) => tls.connected(),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                return Ok(Some(Direction::Write));
            }
            Err(e) => return Err(e),
        }
    }
    if !tls.is_handshaking() {
        return Ok(None);
    }
    match tls.drive_handshake()? {
        Handshake::Done => Ok(None),
        Handshake::Pending => {
            let (_, write) = tls.handshake_interest();
            Ok(Some(if write {
                Direction::Write
            } else {
                Direction::Read
            }))
        }
    }
}

/// What `readable()`/`writable()` of a TLS stream answer before asking the
/// poller: ready at once when rustls holds decrypted input; the
/// handshake's own wait while it runs. `None`: ask the poller.
pub(crate) fn poll_ready_tls(
    map: &Map,
    id: ChannelId,
    cx: &mut Context<'_>,
    dir: Direction,
) -> io::Result<Option<Poll<io::Result<()>>>> {
    // One lookup; a plain stream answers `None` at once.
    let state = map.async_io(id, |io| {
        let Some(tls) = io.tls() else {
            return Ok(None);
        };
        if let Some(wait) = handshake_step(io)? {
            return Ok(Some(Err(wait)));
        }
        Ok(Some(Ok(tls.has_buffered_input())))
    })?;
    match state {
        Some(Err(wait)) => {
            map.clear_ready(id, wait);
            map.wait_ready(id, wait, cx.waker())?;
            Ok(Some(Poll::Pending))
        }
        Some(Ok(true)) if dir == Direction::Read => Ok(Some(Poll::Ready(Ok(())))),
        _ => Ok(None),
    }
}

/// A TLS connection in a map, for tasks: [`AsyncRead`](futures_io::AsyncRead)
/// and [`AsyncWrite`](futures_io::AsyncWrite) over plaintext, plus
/// `readable()`/`try_read` like [`TcpStream`], so an idle task holds no
/// buffer beyond rustls's own.
///
/// Reading returns `Ok(0)` at the peer's `close_notify` and an
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error carrying
/// [`TlsError::Truncated`](crate::tls::TlsError::Truncated) if the peer
/// ended without one. `close()` sends `close_notify`, then shuts the write
/// side down. A handshake that outlasts its timeout fails with
/// [`TlsError::HandshakeTimedOut`](crate::tls::TlsError::HandshakeTimedOut).
///
/// # Examples
///
/// ```
/// use asyncore::tls::{TlsAcceptor, TlsConnector, TlsStream};
/// use asyncore::{Map, TcpListener, TcpStream};
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
///
/// # let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
/// let acceptor = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes())?;
/// let connector = TlsConnector::from_ca_pem(cert.as_bytes())?;
/// let map = Map::new()?;
/// let listener = TcpListener::from_socket(&map, asyncore::Socket::tcp_listen("127.0.0.1:0")?)?;
/// let addr = listener.local_addr()?;
/// map.spawn(async move {
///     let (tcp, _) = listener.accept().await?;
///     let mut tls = TlsStream::accept(tcp, &acceptor).await?;
///     let mut buf = [0; 5];
///     tls.read_exact(&mut buf).await?;
///     tls.write_all(&buf).await?;
///     tls.close().await
/// });
/// let echoed = map.block_on(async move {
///     let tcp = TcpStream::connect(addr).await?;
///     let mut tls = TlsStream::connect(tcp, &connector, "localhost").await?;
///     tls.write_all(b"hello").await?;
///     let mut back = Vec::new();
///     tls.read_to_end(&mut back).await?;
///     Ok::<_, std::io::Error>(back)
/// })??;
/// assert_eq!(echoed, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TlsStream {
    /// The stream's channel; its I/O object speaks TLS.
    source: Source,
}

impl_stream_io!(TlsStream);
impl_stream_readiness!(TlsStream);

impl TlsStream {
    /// Runs the client side of a TLS handshake over `stream` with
    /// `server_name` (a DNS name or an IP address), which the server's
    /// certificate must match.
    ///
    /// # Errors
    ///
    /// The handshake's error (as an `io::Error` carrying the
    /// [`TlsError`](crate::tls::TlsError)), an invalid server name, or the
    /// timeout.
    pub async fn connect(
        stream: TcpStream,
        connector: &TlsConnector,
        server_name: &str,
    ) -> io::Result<TlsStream> {
        let name = tls::parse_server_name(server_name)?;
        let source = stream.into_source();
        let map = source.map()?;
        map.upgrade_tls(source.id(), |socket| {
            tls::client_io(socket, connector, name, false)
        })?;
        let stream = TlsStream { source };
        stream.handshake().await?;
        Ok(stream)
    }

    /// Runs the server side of a TLS handshake over an accepted `stream`.
    ///
    /// # Errors
    ///
    /// The handshake's error (garbage instead of a ClientHello, a client
    /// that refuses the certificate), or the timeout.
    pub async fn accept(stream: TcpStream, acceptor: &TlsAcceptor) -> io::Result<TlsStream> {
        let source = stream.into_source();
        let map = source.map()?;
        map.upgrade_tls(source.id(), |socket| tls::server_io(socket, acceptor))?;
        let stream = TlsStream { source };
        stream.handshake().await?;
        Ok(stream)
    }

    /// Wraps a TLS [`Socket`] (from [`Socket::tls_server`] or
    /// [`Socket::tls_client`]) in `map`; the handshake runs on first use,
    /// or with [`handshake`](TlsStream::handshake).
    ///
    /// # Errors
    ///
    /// The socket does not speak TLS, or the poller refused it.
    pub fn from_socket(map: &Map, socket: Socket) -> io::Result<TlsStream> {
        if !socket.is_tls() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TlsStream::from_socket needs a socket made by tls_server or tls_client",
            ));
        }
        Ok(TlsStream {
            source: Source::of_kind(map, socket, SocketKind::Stream)?,
        })
    }

    /// Completes once the handshake is done.
    ///
    /// # Errors
    ///
    /// As [`connect`](TlsStream::connect) or [`accept`](TlsStream::accept).
    pub async fn handshake(&self) -> io::Result<()> {
        poll_fn(|cx| self.source.poll_io(cx, Direction::Read, |_| Ok(()))).await
    }

    /// Returns the local address.
    ///
    /// # Errors
    ///
    /// `getsockname(2)` errors.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.source.with_io(|io| io.local_addr())?)
    }

    /// Returns the peer's address.
    ///
    /// # Errors
    ///
    /// `getpeername(2)` errors.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet(self.source.with_io(|io| io.peer_addr())?)
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
