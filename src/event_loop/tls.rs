//! The loop's side of TLS (design decision 13): the handshake before the
//! hooks, its deadline, and dispatching a channel whose decrypted input
//! waits in rustls with no poller event to show for it.

use super::pass::Readiness;
use super::session::Session;
use crate::error::Error;
use crate::map::{ChannelId, Inner, Map};
use crate::net::SocketState;
use crate::tls::{Handshake, TlsError, TlsIo};

/// Runs `f` on channel `id`'s TLS layer; `None` if it has none or is gone.
fn with_tls<T>(map: &Map, id: ChannelId, f: impl FnOnce(&TlsIo) -> T) -> Option<T> {
    let inner = map.inner.borrow();
    inner.get(id)?.reg.get().tls().map(f)
}

/// Before the hooks see an event: finishes a TLS client's TCP connect and
/// advances a handshake. Returns the readiness and state to dispatch with,
/// or `None` when dispatch ends here (the handshake waits for the peer, or
/// failed and the channel is closing).
///
/// When the handshake completes, a client is marked connected and gets
/// `handle_connect`; output queued meanwhile is flushed.
pub(super) fn advance(
    session: &mut Session<'_>,
    state: SocketState,
    mut ready: Readiness,
) -> Option<(Readiness, SocketState)> {
    let map = session.map();
    let id = session.id();
    let Some((handshaking, client)) = with_tls(map, id, |t| (t.is_handshaking(), t.is_client()))
    else {
        return Some((ready, state));
    };
    if !handshaking && state != SocketState::Connecting {
        return Some((ready, state));
    }
    if with_tls(map, id, TlsIo::is_connecting) == Some(true) {
        // The TCP connect ended (its only interest was write).
        match map.take_error(id) {
            Ok(None) => {
                with_tls(map, id, TlsIo::connected);
            }
            Ok(Some(e)) | Err(e) => {
                session.report(Error::Connect(e));
                session.mark_closing();
                return None;
            }
        }
    }
    match with_tls(map, id, TlsIo::drive_handshake)? {
        Ok(Handshake::Pending) => None,
        Ok(Handshake::Done) => {
            let mut state = state;
            // A client that connected for TLS gets `handle_connect` now; a
            // STARTTLS upgrade (already connected) does not.
            if client && state == SocketState::Connecting {
                map.set_state(id, SocketState::Connected);
                state = SocketState::Connected;
                if !session.call("handle_connect", |d, cx| d.handle_connect(cx)) {
                    return None;
                }
            }
            if let Err(e) = map.flush(id) {
                session.route(Err(Error::from(e)));
                if session.closing() {
                    return None;
                }
            }
            // The peer's last flight may have brought application data.
            ready.readable |= with_tls(map, id, TlsIo::has_buffered_input).unwrap_or(false);
            Some((ready, state))
        }
        Err(e) => {
            with_tls(map, id, TlsIo::fail);
            session.route(Err(Error::from(e)));
            session.mark_closing();
            None
        }
    }
}

/// The handshake deadline of channel `id` passed: if it is still
/// handshaking (or still connecting), `handle_error` gets
/// [`TlsError::HandshakeTimedOut`] and the channel closes.
pub(crate) fn handshake_deadline(map: &Map, id: ChannelId) {
    let late =
        {
            let inner = map.inner.borrow();
            let Some(channel) = inner.get(id) else {
                return;
            };
            channel.reg.get().tls().and_then(|t| {
                (t.is_handshaking() || t.is_connecting()).then(|| t.handshake_timeout())
            })
        };
    let Some(timeout) = late else {
        return;
    };
    let is_async = matches!(
        map.inner.borrow().get(id).map(|c| &c.driver),
        Some(crate::channel::Driver::Async(_))
    );
    if is_async {
        // Its task learns it at its next use of the stream.
        with_tls(map, id, TlsIo::expire);
        crate::async_net::wake_waiters(map, id, true, true);
        return;
    }
    if let Some(mut session) = Session::open(map, id) {
        with_tls(map, id, TlsIo::expire);
        session.report(Error::Tls(TlsError::HandshakeTimedOut(timeout)));
        session.mark_closing();
        session.finish();
    }
}

/// Queues TLS channel `id`, which wants input, for dispatch in the next
/// pass if rustls holds input for it that the socket no longer shows
/// (level-triggered polling would never report it again).
pub(crate) fn queue_buffered_input(inner: &mut Inner, id: ChannelId) {
    let buffered = inner
        .get(id)
        .and_then(|c| c.reg.get().tls())
        .is_some_and(|t| !t.is_handshaking() && t.has_buffered_input());
    let key = id.key();
    if buffered && !inner.ready.iter().any(|(k, _)| *k == key) {
        inner.ready.push((
            key,
            Readiness {
                readable: true,
                ..Readiness::default()
            },
        ));
    }
}
