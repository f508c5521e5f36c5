//! The loop's record of one channel: its registered socket, its state, its
//! output queue and (when no callback of its own is running) its driver.

use std::time::Duration;

use crate::dispatcher::Dispatcher;
use crate::event_loop::edge::Unspent;
use crate::net::{Io, SocketKind, SocketState};
use crate::out_queue::OutQueue;
use crate::sys::{Interest, Registration};

/// First pause of a listener after accept ran out of descriptors.
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause of a listener after accept ran out of descriptors.
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Who drives a channel.
pub(crate) enum Driver {
    /// A dispatcher's callbacks; `None` while one of them runs (the loop
    /// holds it then).
    Callback(Option<Box<dyn Dispatcher>>),
    /// Tasks awaiting readiness (an async socket).
    Async(Waiters),
}

/// The tasks awaiting an async channel, and what it is armed for.
///
/// Interest is disarmed lazily: an event that finds a waiter wakes it and
/// leaves the interest armed (the task will most likely wait again); an
/// event that finds none disarms that direction. Steady traffic thus costs
/// no `epoll_ctl` at all.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// The tasks waiting to read (or accept); usually one.
    pub(crate) read: Vec<std::task::Waker>,
    /// The tasks waiting to write (or for a connect to finish).
    pub(crate) write: Vec<std::task::Waker>,
    /// What the poller should watch.
    pub(crate) armed: Interest,
    /// Readiness reported since a task last found the socket would block
    /// (or drained its input); what `readable()`/`writable()` wait for.
    pub(crate) ready: Interest,
}

/// One channel in a map.
pub(crate) struct Channel {
    /// The socket, registered with the map's poller under this channel's key.
    pub(crate) reg: Registration<Io>,
    /// Stream, datagram, listener or pipe.
    pub(crate) kind: SocketKind,
    /// Listening, connecting, connected or unconnected.
    pub(crate) state: SocketState,
    /// Who drives the channel: callbacks or tasks.
    pub(crate) driver: Driver,
    /// What `push` could not send yet.
    pub(crate) out: OutQueue,
    /// The peer closed its side: read interest stays off from now on.
    pub(crate) eof: bool,
    /// `eof` was set and `handle_eof` has not been called yet.
    pub(crate) eof_pending: bool,
    /// The channel is closing: `handle_close` runs once the current callback
    /// returns, and no other callback after it.
    pub(crate) closing: bool,
    /// Close once the output queue is empty.
    pub(crate) close_when_done: bool,
    /// A graceful shutdown: when the queue is empty, end the sending side
    /// and read (discarding) until the peer ends too, instead of closing
    /// with its input unread (which would reset the connection and could
    /// destroy output the peer has not read yet).
    pub(crate) linger: bool,
    /// Lingering: the sending side is shut; input is drained.
    pub(crate) lingering: bool,
    /// `handle_shutdown` ran (or the channel was added after the shutdown
    /// reached every channel).
    pub(crate) shutdown_notified: bool,
    /// Accepting is paused after running out of descriptors.
    pub(crate) accept_paused: bool,
    /// Next pause after running out of descriptors.
    pub(crate) accept_backoff: Duration,
    /// Close after this long without an event, and when the last one was.
    pub(crate) idle: Option<(Duration, std::time::Instant)>,
    /// The task resolving and racing a connect by host name; closing the
    /// channel cancels it (and so closes its attempts).
    pub(crate) connect_task: Option<crate::map::ConnectTask>,
    /// The last wait (the map's `waits` count) that reported this channel
    /// ready: the pass orders channels by it (see `event_loop::order`).
    pub(crate) last_wait: u32,
    /// Edge-triggered channels: what the running dispatch served and no
    /// operation has shown used up (see `event_loop::edge`).
    pub(crate) unspent: Unspent,
    /// Listed in the map's suspects: the check interval of its last read
    /// that came back short (see `event_loop::edge`); 0 when not listed.
    pub(crate) suspect: u8,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("queued", &self.out.len())
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// The queue is empty after `close_when_done`: close, or (during a
    /// graceful shutdown) end the sending side and linger.
    pub(crate) fn done_sending(&mut self) {
        if self.lingering {
            return;
        }
        if !self.linger {
            self.closing = true;
            return;
        }
        match self.reg.get().finish_writing() {
            Ok(()) => self.lingering = true,
            Err(_) => self.closing = true,
        }
    }

    pub(crate) fn new(
        reg: Registration<Io>,
        kind: SocketKind,
        state: SocketState,
        driver: Driver,
    ) -> Channel {
        Channel {
            reg,
            kind,
            state,
            driver,
            out: OutQueue::default(),
            eof: false,
            eof_pending: false,
            closing: false,
            close_when_done: false,
            linger: false,
            lingering: false,
            shutdown_notified: false,
            accept_paused: false,
            accept_backoff: ACCEPT_BACKOFF_MIN,
            idle: None,
            connect_task: None,
            last_wait: 0,
            unspent: Unspent::default(),
            suspect: 0,
        }
    }

    /// The interest the loop registers, given what the dispatcher says.
    pub(crate) fn interest(&self, readable: bool, writable: bool) -> Interest {
        if let Driver::Async(waiters) = &self.driver {
            return waiters.armed;
        }
        if self.closing || self.state == SocketState::Resolving {
            return Interest::NONE;
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = self.reg.get().tls() {
            if tls.is_handshaking() || self.state == SocketState::Connecting {
                // The handshake's own needs, whatever the handler says.
                let (read, write) = tls.handshake_interest();
                return Interest { read, write };
            }
        }
        if self.lingering {
            return Interest {
                read: !self.eof,
                write: self.reg.get().has_buffered_output(),
            };
        }
        let may_read = match self.state {
            SocketState::Listening => !self.accept_paused,
            _ => !self.eof && !self.out.over_high() && !self.close_when_done,
        };
        interest(
            self.state,
            readable && may_read,
            writable || !self.out.is_empty() || self.reg.get().has_buffered_output(),
        )
    }
}

/// The interest of a channel in `state` whose reading is allowed to be
/// `read` and whose writing is wanted if `write`.
///
/// Listeners are never polled for write; a connecting socket is always
/// polled for write, so the end of the connect is seen.
pub(crate) fn interest(state: SocketState, read: bool, write: bool) -> Interest {
    match state {
        SocketState::Listening => Interest { read, write: false },
        // The socket is a placeholder until a connect attempt wins.
        SocketState::Resolving => Interest::NONE,
        SocketState::Connecting => Interest { read, write: true },
        SocketState::Connected | SocketState::Unconnected => Interest { read, write },
    }
}
