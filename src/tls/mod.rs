//! TLS on rustls, under the hooks: a TLS channel's handler is an ordinary
//! [`Dispatcher`](crate::Dispatcher) that sees plaintext through the same
//! [`Ctx`](crate::Ctx) calls (`recv`, `push`, `close_when_done`,
//! watermarks, `handle_eof`).
//!
//! * Server side: wrap an accepted [`Socket`] with
//!   [`Socket::tls_server`] and add it as usual.
//! * Client side: wrap a connecting socket with [`Socket::tls_client`] and
//!   the server's name.
//!
//! The loop runs the handshake before `handle_connect` (client) or the
//! first `handle_read` (server). A failed handshake reaches `handle_error`
//! once, as [`Error::Tls`] with the cause, then
//! `handle_close` once; so does a handshake that outlasts its timeout
//! (10 s unless changed). Closing sends `close_notify` after the queued
//! output; a peer that ends without one is a
//! [`TlsError::Truncated`], not an end of file.
//!
//! # Examples
//!
//! ```
//! use asyncore::tls::{TlsAcceptor, TlsConnector};
//! # fn main() -> asyncore::Result<()> {
//! # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! # let cert_pem = cert.cert.pem();
//! # let key_pem = cert.signing_key.serialize_pem();
//! let acceptor = TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
//! let connector = TlsConnector::from_ca_pem(cert_pem.as_bytes())?;
//! # let _ = (acceptor, connector);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use crate::error::{Error, Result};
use crate::net::{Io, Socket, SocketKind, SocketState};

mod io;

pub(crate) use io::{Handshake, TlsIo};

pub use crate::async_net::TlsStream;
/// The rustls crate this one is built on, for configurations of your own.
pub use rustls;

/// How long a handshake may take unless changed.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong with a TLS connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A TLS protocol error: a bad certificate, a handshake failure, an
    /// alert from the peer, a corrupt record. The alert was sent.
    #[error("{0}")]
    Protocol(#[source] rustls::Error),
    /// The peer ended the connection without `close_notify`: the data may
    /// have been cut short.
    #[error("the peer ended the connection without close_notify (truncated)")]
    Truncated,
    /// The handshake did not finish within its timeout.
    #[error("the handshake did not finish within {0:?}")]
    HandshakeTimedOut(Duration),
    /// The server name for a client is neither a DNS name nor an IP
    /// address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// A certificate or key could not be loaded.
    #[error("cannot load {what}: {detail}")]
    Load {
        /// What was being loaded (`certificate`, `private key`, `CA`).
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// Plaintext arrived after the command that started TLS (STARTTLS)
    /// and before the handshake: it was dropped, never read as if it had
    /// come over TLS (the injection of CVE-2011-0411).
    #[error("{bytes} bytes of plaintext after the command that started TLS were dropped")]
    PlaintextAfterStartTls {
        /// How many bytes were dropped.
        bytes: usize,
    },
    /// TLS needs a connected or connecting stream socket.
    #[error("TLS needs a stream socket, not a {0:?}")]
    NotAStream(SocketKind),
}

fn load_error(what: &'static str, detail: impl fmt::Display) -> Error {
    Error::Tls(TlsError::Load {
        what,
        detail: detail.to_string(),
    })
}

/// The server side's configuration: a rustls [`ServerConfig`] and the
/// handshake timeout. Cheap to clone; share one among all connections.
#[derive(Clone, Debug)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// Wraps a rustls configuration.
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// A configuration from a PEM certificate chain and its PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), with rustls's safe defaults and no client
    /// authentication.
    ///
    /// # Errors
    ///
    /// [`TlsError::Load`] when the PEM holds no certificate or no key, or
    /// the key does not fit the certificate.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<TlsAcceptor> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| load_error("certificate", e))?;
        if certs.is_empty() {
            return Err(load_error("certificate", "no CERTIFICATE in the PEM"));
        }
        let key =
            PrivateKeyDer::from_pem_slice(private_key).map_err(|e| load_error("private key", e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| load_error("certificate", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| load_error("private key", e))?;
        Ok(TlsAcceptor::new(Arc::new(config)))
    }

    /// As [`from_pem`](TlsAcceptor::from_pem), reading both files.
    ///
    /// # Errors
    ///
    /// As [`from_pem`](TlsAcceptor::from_pem), or a file that cannot be
    /// read.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<TlsAcceptor> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|e| load_error(what, format!("{}: {e}", path.display())))
        };
        TlsAcceptor::from_pem(
            &read("certificate", cert_chain.as_ref())?,
            &read("private key", private_key.as_ref())?,
        )
    }

    /// Sets how long a handshake may take (default 10 s).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> TlsAcceptor {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

/// The client side's configuration: a rustls [`ClientConfig`] and the
/// handshake timeout. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Duration,
}

impl TlsConnector {
    /// Wraps a rustls configuration.
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Trusts Mozilla's root certificates (the `webpki-roots` crate),
    /// what a client of public servers wants.
    pub fn with_webpki_roots() -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        TlsConnector::with_roots(roots)
    }

    /// Trusts only the CA certificates in `pem` (a private CA, or a
    /// self-signed server certificate).
    ///
    /// # Errors
    ///
    /// [`TlsError::Load`] when the PEM holds no usable certificate.
    pub fn from_ca_pem(pem: &[u8]) -> Result<TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| load_error("CA", e))?;
            roots.add(cert).map_err(|e| load_error("CA", e))?;
        }
        if roots.is_empty() {
            return Err(load_error("CA", "no CERTIFICATE in the PEM"));
        }
        Ok(TlsConnector::with_roots(roots))
    }

    /// As [`from_ca_pem`](TlsConnector::from_ca_pem), reading a file.
    ///
    /// # Errors
    ///
    /// As [`from_ca_pem`](TlsConnector::from_ca_pem), or a file that
    /// cannot be read.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<TlsConnector> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| load_error("CA", format!("{}: {e}", path.display())))?;
        TlsConnector::from_ca_pem(&pem)
    }

    fn with_roots(roots: rustls::RootCertStore) -> TlsConnector {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::new(Arc::new(config))
    }

    /// Sets how long a handshake may take (default 10 s).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> TlsConnector {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// The crypto provider: ring, so a fresh machine needs only a C compiler.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The stream socket under a socket about to speak TLS: connected, or
/// (for a client) connecting.
fn stream_socket(socket: Socket, client: bool) -> Result<(socket2::Socket, SocketState)> {
    let Socket {
        io, state, kind, ..
    } = socket;
    match (io, kind, state) {
        (Io::Socket(s), SocketKind::Stream, SocketState::Connected) => Ok((s, state)),
        (Io::Socket(s), SocketKind::Stream, SocketState::Connecting | SocketState::Resolving)
            if client =>
        {
            Ok((s, state))
        }
        (_, kind, _) => Err(Error::Tls(TlsError::NotAStream(kind))),
    }
}

/// A server's TLS layer over `socket`.
pub(crate) fn server_io(socket: socket2::Socket, acceptor: &TlsAcceptor) -> Result<TlsIo> {
    let conn = ServerConnection::new(acceptor.config.clone())
        .map_err(|e| Error::Tls(TlsError::Protocol(e)))?;
    Ok(TlsIo::new(
        socket,
        conn.into(),
        false,
        acceptor.handshake_timeout,
    ))
}

/// A client's TLS layer over `socket`, to `name`.
pub(crate) fn client_io(
    socket: socket2::Socket,
    connector: &TlsConnector,
    name: ServerName<'static>,
    connecting: bool,
) -> Result<TlsIo> {
    let conn = ClientConnection::new(connector.config.clone(), name)
        .map_err(|e| Error::Tls(TlsError::Protocol(e)))?;
    Ok(TlsIo::new(
        socket,
        conn.into(),
        connecting,
        connector.handshake_timeout,
    ))
}

/// A server name for a client: a DNS name or an IP address.
pub(crate) fn parse_server_name(name: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| Error::Tls(TlsError::InvalidServerName(name.to_owned())))
}

impl Socket {
    /// Makes this accepted (connected) stream socket the server side of a
    /// TLS connection. Add it to a map as usual; the handshake runs first.
    ///
    /// # Errors
    ///
    /// [`TlsError::NotAStream`] for a listener, a datagram socket, a pipe,
    /// an unconnected socket or one that speaks TLS already; a rustls
    /// error for a configuration it refuses.
    pub fn tls_server(self, acceptor: &TlsAcceptor) -> Result<Socket> {
        let (socket, state) = stream_socket(self, false)?;
        let tls = server_io(socket, acceptor)?;
        Ok(Socket::new(
            Io::Tls(Box::new(tls)),
            state,
            SocketKind::Stream,
        ))
    }

    /// Makes this connecting (or connected) stream socket the client side
    /// of a TLS connection to `server_name` (a DNS name or an IP address),
    /// which the server's certificate must match. Add it to a map as
    /// usual: `handle_connect` runs once the handshake is done.
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidServerName`], [`TlsError::NotAStream`] as for
    /// [`tls_server`](Socket::tls_server), or a rustls error.
    pub fn tls_client(mut self, connector: &TlsConnector, server_name: &str) -> Result<Socket> {
        let name = parse_server_name(server_name)?;
        let target = self.target.take();
        let (socket, state) = stream_socket(self, true)?;
        let tls = client_io(socket, connector, name, state != SocketState::Connected)?;
        // Until the handshake is done a client counts as connecting, so
        // `handle_connect` means "ready for application data". A connect
        // by host name keeps its target: the winner of the race takes the
        // placeholder's place under the TLS layer.
        let mut socket = Socket::new(
            Io::Tls(Box::new(tls)),
            if target.is_some() {
                SocketState::Resolving
            } else {
                SocketState::Connecting
            },
            SocketKind::Stream,
        );
        socket.target = target;
        Ok(socket)
    }

    /// Returns `true` if this socket speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }
}
