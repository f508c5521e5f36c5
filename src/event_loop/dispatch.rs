//! Readiness to callbacks: the framework layer (connect completion, accept,
//! end of file, pending errors) between the poller and the user's hooks.

use std::io;
use std::time::Instant;

use super::edge::Unspent;
use super::pass::Readiness;
use super::session::Session;
use crate::async_net::wake_waiters;
use crate::channel::{ACCEPT_BACKOFF_MAX, Driver};
use crate::error::{Error, is_resource_exhausted, is_transient_accept_error};
use crate::map::Map;
use crate::net::SocketState;
use crate::timer::TimerAction;

/// Connections accepted per readiness event at most, so one busy listener
/// cannot monopolise a pass.
const ACCEPT_BUDGET: usize = 128;

/// Delivers one event to its channel: connect, exceptional (urgent data),
/// read (or accept), write, pending error.
pub(crate) fn dispatch(map: &Map, key: usize, ready: Readiness) {
    let (id, interest, state) = {
        let mut inner = map.inner.borrow_mut();
        // A stale key: the channel closed earlier in this pass, and its slot
        // or fd may already belong to a new channel (bpo-30931).
        let Some(id) = inner.id_for_key(key) else {
            return;
        };
        let Some(channel) = inner.get_mut(id) else {
            return;
        };
        channel.reg.note_event();
        if let Some((_, last)) = &mut channel.idle {
            *last = Instant::now();
        }
        if let Driver::Async(_) = channel.driver {
            drop(inner);
            return wake_waiters(
                map,
                id,
                ready.readable || ready.err,
                ready.writable || ready.err,
            );
        }
        let interest = channel.reg.interest();
        if channel.reg.is_edge() {
            // Unspent until this dispatch's operations show otherwise.
            channel.unspent = Unspent::served(
                ready.readable && interest.read,
                ready.writable,
                ready.priority && interest.read,
            );
        }
        (id, interest, channel.state)
    };
    let Some(mut session) = Session::open(map, id) else {
        return;
    };
    if interest.is_empty() {
        // Fetched before the channel lost all interest earlier in this
        // pass (it is no longer registered): nothing it wants to hear.
        return session.finish();
    }
    #[cfg(feature = "tls")]
    let Some((ready, state)) = super::tls::advance(&mut session, state, ready) else {
        return session.finish();
    };
    if lingering(map, id) {
        if ready.readable || ready.err {
            drain_lingering(&mut session);
        }
        if ready.writable {
            let _ = map.flush(id);
        }
        return session.finish();
    }
    match state {
        SocketState::Listening => {
            if ready.readable && interest.read {
                accept_ready(&mut session);
            }
            return session.finish();
        }
        // No event is asked for until a connect attempt wins.
        SocketState::Resolving => return session.finish(),
        SocketState::Connecting => {
            if !complete_connect(&mut session) {
                return session.finish();
            }
        }
        SocketState::Connected | SocketState::Unconnected => {}
    }
    // Urgent data goes first, unlike Python (read, write, then exceptional):
    // polling folds POLLPRI into "readable", so a lone urgent byte looks
    // like input too, and a plain recv at the urgent mark makes Linux skip
    // the urgent byte before `handle_expt` could read it.
    if ready.priority && interest.read && !session.call("handle_expt", |d, cx| d.handle_expt(cx)) {
        return session.finish();
    }
    if ready.readable && interest.read && !session.call("handle_read", |d, cx| d.handle_read(cx)) {
        return session.finish();
    }
    if ready.writable && !write_ready(&mut session) {
        return session.finish();
    }
    if ready.err && !session.closing() {
        match session.map().take_error(session.id()) {
            Ok(Some(e)) => session.route(Err(Error::Io(e))),
            Ok(None) => {}
            Err(e) => session.route(Err(Error::Io(e))),
        }
    }
    session.finish();
}

fn lingering(map: &Map, id: crate::map::ChannelId) -> bool {
    map.inner.borrow().get(id).is_some_and(|c| c.lingering)
}

/// Reads and drops what a lingering channel's peer still sends, up to a
/// budget per event; its end (or an error) closes the channel.
fn drain_lingering(session: &mut Session<'_>) {
    let mut scratch = [0u8; 16 * 1024];
    for _ in 0..16 {
        match session.map().recv(session.id(), &mut scratch) {
            Ok(0) => return session.mark_closing(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return session.mark_closing(),
        }
    }
}

/// A connecting socket became ready: the connect succeeded (the channel is
/// marked connected, then `handle_connect` runs) or failed (`handle_error`
/// with the cause, then the channel closes). Returns whether dispatch goes
/// on.
fn complete_connect(session: &mut Session<'_>) -> bool {
    match session.map().take_error(session.id()) {
        Ok(None) => {
            session
                .map()
                .set_state(session.id(), SocketState::Connected);
            session.call("handle_connect", |d, cx| d.handle_connect(cx))
        }
        Ok(Some(e)) | Err(e) => {
            session.report(Error::Connect(e));
            session.mark_closing();
            false
        }
    }
}

/// Flushes queued output, then calls `handle_write` if the dispatcher is
/// writable. Returns whether dispatch goes on.
fn write_ready(session: &mut Session<'_>) -> bool {
    if let Err(e) = session.map().flush(session.id()) {
        session.route(Err(Error::Io(e)));
    }
    if session.closing() {
        return false;
    }
    if session.ask("writable", |d| d.writable()) {
        return session.call("handle_write", |d, cx| d.handle_write(cx));
    }
    !session.closing()
}

/// Accepts pending connections up to the budget, handing each to
/// `handle_accepted`; on resource exhaustion pauses the listener.
fn accept_ready(session: &mut Session<'_>) {
    for _ in 0..ACCEPT_BUDGET {
        match session.map().accept(session.id()) {
            Ok((socket, peer)) => {
                reset_backoff(session);
                if !session.call("handle_accepted", move |d, cx| {
                    d.handle_accepted(cx, socket, peer)
                }) {
                    return;
                }
                // The listener may have had enough for now (a bounded queue
                // of its own): its interest can change with each connection.
                if !session.ask("readable", |d| d.readable()) {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if is_transient_accept_error(&e) => continue,
            Err(e) if is_resource_exhausted(&e) => {
                pause_accepting(session);
                session.call("handle_accept_error", move |d, cx| {
                    d.handle_accept_error(cx, e)
                });
                return;
            }
            Err(e) => {
                session.route(Err(Error::Io(e)));
                return;
            }
        }
    }
}

fn reset_backoff(session: &Session<'_>) {
    if let Some(channel) = session.map().inner.borrow_mut().get_mut(session.id()) {
        channel.accept_backoff = crate::channel::ACCEPT_BACKOFF_MIN;
    }
}

/// Stops polling the listener for its current back-off, and doubles the
/// back-off for next time.
fn pause_accepting(session: &Session<'_>) {
    let mut inner = session.map().inner.borrow_mut();
    let Some(channel) = inner.get_mut(session.id()) else {
        return;
    };
    let pause = channel.accept_backoff;
    channel.accept_paused = true;
    channel.accept_backoff = (pause * 2).min(ACCEPT_BACKOFF_MAX);
    inner.timers.schedule(
        Instant::now() + pause,
        TimerAction::ResumeAccept(session.id()),
    );
}
