//! STARTTLS: upgrading a connected plaintext channel to TLS in place.

use super::{ChannelId, Map};
use crate::error::{Error, Result};
use crate::net::{Io, SocketKind, SocketState};
use crate::timer::TimerAction;
use crate::tls::{self, TlsAcceptor, TlsConnector, TlsError, TlsIo};

impl Map {
    /// Upgrades connected channel `id` to the server side of TLS
    /// (STARTTLS). Output queued before the call goes out in plaintext
    /// first; everything pushed afterwards goes over TLS, once the
    /// handshake is done. Input that arrives from now on must be TLS:
    /// plaintext the handler already read past the command is its own to
    /// drop (a [`ChatChannel`](crate::chat::ChatChannel) does it, and
    /// reports it), and plaintext still on its way fails the handshake.
    ///
    /// # Errors
    ///
    /// * [`Error::Closed`], or [`Error::Closing`] after `close_when_done`.
    /// * [`TlsError::NotAStream`]: not a connected stream socket, or one
    ///   that speaks TLS already.
    /// * [`Error::Io`]: the socket could not be duplicated or registered.
    pub fn start_tls_server(&self, id: ChannelId, acceptor: &TlsAcceptor) -> Result<()> {
        self.upgrade_tls(id, |socket| tls::server_io(socket, acceptor))
    }

    /// Upgrades connected channel `id` to the client side of TLS, to
    /// `server_name` (STARTTLS); see [`Map::start_tls_server`]. No
    /// `handle_connect` follows: output pushed meanwhile waits for the
    /// handshake.
    ///
    /// # Errors
    ///
    /// As [`Map::start_tls_server`], and
    /// [`TlsError::InvalidServerName`].
    pub fn start_tls_client(
        &self,
        id: ChannelId,
        connector: &TlsConnector,
        server_name: &str,
    ) -> Result<()> {
        let name = tls::parse_server_name(server_name)?;
        self.upgrade_tls(id, |socket| tls::client_io(socket, connector, name, false))
    }

    /// Puts a TLS layer made by `make` (over a duplicate of the socket)
    /// under channel `id`, with its handshake deadline.
    pub(crate) fn upgrade_tls(
        &self,
        id: ChannelId,
        make: impl FnOnce(socket2::Socket) -> Result<TlsIo>,
    ) -> Result<()> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let channel = inner.channel_mut(id)?;
        if channel.closing {
            return Err(Error::Closed(id));
        }
        if channel.close_when_done {
            return Err(Error::Closing(id));
        }
        let Io::Socket(socket) = channel.reg.get() else {
            return Err(Error::Tls(TlsError::NotAStream(channel.kind)));
        };
        // An async stream is connected by construction whatever its state
        // says (its connect ran in a future).
        let connected = channel.state == SocketState::Connected
            || matches!(channel.driver, crate::channel::Driver::Async(_));
        if channel.kind != SocketKind::Stream || !connected {
            return Err(Error::Tls(TlsError::NotAStream(channel.kind)));
        }
        // A duplicate of the fd for the TLS layer: the registration swaps
        // objects without ever closing a registered fd.
        let tls = make(socket.try_clone()?)?;
        tls.socket().set_nonblocking(true)?;
        // Queued plaintext leaves as plaintext, ahead of the handshake.
        let mut prefix = Vec::new();
        channel.out.flush(|slices| {
            let mut n = 0;
            for slice in slices {
                prefix.extend_from_slice(slice);
                n += slice.len();
            }
            Ok(n)
        })?;
        let timeout = tls.handshake_timeout();
        let tls = tls.with_plain_prefix(prefix);
        let tls = Io::Tls(Box::new(tls));
        // rustls buffers input the socket no longer shows.
        channel.reg.use_level();
        channel.reg.rebuild(|io| *io = tls)?;
        inner.timers.schedule(
            std::time::Instant::now() + timeout,
            TimerAction::HandshakeDeadline(id),
        );
        drop(guard);
        self.refresh(id);
        Ok(())
    }
}
