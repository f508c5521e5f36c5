//! Diagnostics: every [`tracing`] event the crate emits, with its level and
//! fields, kept in one place so they stay consistent.
//!
//! A library must not write to its program's stderr, so nothing here
//! prints: without a subscriber these events cost a relaxed atomic load
//! each. Levels, as a user reading the logs would expect:
//!
//! * `error`: a bug in user code that the loop survived (a panicking hook,
//!   task, `call_later` callback or `call_soon` closure);
//! * `warn`: an error a handler did not deal with, so the default
//!   `handle_error` closed the channel; accept paused for lack of
//!   descriptors;
//! * `debug`: a channel closed; the span of a loop run.
//!
//! Fields: `channel` (the [`ChannelId`], as `#INDEXvGENERATION`), `peer`
//! (the peer's address, where the socket still knows it), `error`.

use std::fmt;

use crate::error::Error;
use crate::map::{ChannelId, Map};
use crate::net::Address;

/// A channel's peer for a log line: its address, or `-` when the socket
/// has none (a listener, a datagram socket, a peer already gone).
pub(crate) struct Peer(Option<Address>);

impl Peer {
    /// Looks the peer up (a `getpeername`); only called once an event is
    /// known to be enabled, since field values are evaluated lazily.
    pub(crate) fn of(map: &Map, id: ChannelId) -> Peer {
        Peer(map.peer_addr(id).ok())
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(address) => address.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The default `handle_error` (callback or chat) is closing channel `id`.
/// A panic is a bug (`error`); anything else is about one connection
/// (`warn`).
pub(crate) fn uncaptured(map: &Map, id: ChannelId, error: &Error) {
    if error.is_panic() {
        tracing::error!(channel = %id, peer = %Peer::of(map, id), %error, "uncaptured panic, closing the channel");
    } else {
        tracing::warn!(channel = %id, peer = %Peer::of(map, id), %error, "uncaptured error, closing the channel");
    }
}

/// A hook the loop calls outside `handle_error` (`handle_error` itself,
/// `handle_close`) panicked.
pub(crate) fn hook_panicked(map: &Map, id: ChannelId, error: &Error) {
    tracing::error!(channel = %id, peer = %Peer::of(map, id), %error, "a channel hook panicked");
}

/// The default `handle_accept_error`: accepting on listener `id` is paused.
pub(crate) fn accept_paused(map: &Map, id: ChannelId, error: &std::io::Error) {
    let local = map.local_addr(id).ok();
    tracing::warn!(
        channel = %id,
        local = %Peer(local),
        %error,
        "accept failed, pausing accepts on the listener"
    );
}

/// Channel `id` closed and left the map.
pub(crate) fn closed(id: ChannelId) {
    tracing::debug!(channel = %id, "channel closed");
}

/// A closure that is not a channel hook panicked: `what` names it
/// (`call_later`, `call_soon`, `task`).
pub(crate) fn callback_panicked(what: &'static str, error: &Error) {
    tracing::error!(callback = what, %error, "a callback panicked; the loop goes on");
}

/// The span of one `Map::run`: every event of the run carries its knobs.
pub(crate) fn run_span(count: Option<u64>, timeout: Option<std::time::Duration>) -> tracing::Span {
    tracing::debug_span!("run", count = ?count, timeout = ?timeout)
}

/// The span of one `Map::block_on`.
pub(crate) fn block_on_span() -> tracing::Span {
    tracing::debug_span!("block_on")
}

/// `Map::run` returned after `passes` passes.
pub(crate) fn run_returned(exit: crate::Exit, passes: u64) {
    tracing::debug!(?exit, passes, "loop returned");
}

/// A worker of [`Workers`](crate::workers::Workers) ended with `error`
/// (its setup failed or panicked, or its loop failed).
pub(crate) fn worker_ended(index: usize, error: &Error) {
    tracing::error!(worker = index, %error, "a worker ended");
}

/// A connection handed to worker `index` could not be served: the
/// handler returned an error or panicked (the connection is dropped).
pub(crate) fn handoff_failed(index: usize, error: &Error) {
    tracing::warn!(worker = index, %error, "a handed-off connection failed");
}
