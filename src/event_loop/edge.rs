//! Edge-triggered channels: which ones, and how a dispatch tells the
//! poller to look again.
//!
//! Level-triggered epoll puts every channel a wait reports back on its
//! ready list, in the same place, so under load a channel whose input
//! keeps coming is served in the previous pass's order rather than in the
//! order its input arrived, and some connections wait a pass longer than
//! others pass after pass (`BENCHMARKS.md`, "Tail latency"). Edge-triggered
//! epoll reports a channel when its readiness changes, in the order the
//! changes happened, as tokio uses it.
//!
//! An edge is reported once. So a dispatch records, for the directions it
//! served, whether the operations it saw used the readiness up
//! ([`Unspent`]): a read that came back short or would block, a write that
//! went out partly or would block. A direction that was not seen used up
//! (a read that filled its buffer, a handler that read nothing, or read
//! through the raw fd) makes the loop ask the poller to look at the socket
//! again (`EPOLL_CTL_MOD`, which reports readiness that is still there as
//! if it were new). What a level-triggered poller would report again is
//! thus reported again, at one system call in the rare case that the
//! dispatch leaves the answer open, and none in the common one (a short
//! read of a request, a reply written whole).
//!
//! A read that comes back short has drained the socket's input, but not
//! necessarily its end: epoll, as `polling` registers it (without
//! `EPOLLRDHUP`), reports a peer's shutdown that arrives with the last
//! data as the same edge, and nothing after it. So a channel whose read
//! came back short is a [`Suspects`] entry, and at most once per
//! [`EOF_CHECK`] the loop peeks at each suspect (one byte, `MSG_PEEK`) and
//! serves the ones with something left. Peeking after every short read
//! instead cost a system call per round trip, which showed as 5-10% fewer
//! round trips in the bench's D; batching it costs one per channel per
//! millisecond, and notices such an end of file at most that late.
//!
//! Async channels keep the readiness an event reported until an operation
//! would block (`Waiters::ready`), as tokio does; an edge-triggered one is
//! never disarmed by an event that finds no task waiting.

use std::time::{Duration, Instant};

use crate::map::ChannelId;
use crate::net::{Io, SocketKind, SocketState};
use crate::sys::Interest;

/// How long an end of file that arrived with a stream's last input may go
/// unnoticed at most.
pub(crate) const EOF_CHECK: Duration = Duration::from_millis(1);

/// Edge-triggered channels whose read came back short since the last
/// check: input may still hold an end of file.
#[derive(Debug)]
pub(crate) struct Suspects<T = ChannelId> {
    /// The channels, each once (see `Channel::suspect`).
    ids: Vec<T>,
    /// When they are to be checked.
    due: Option<Instant>,
}

impl<T> Default for Suspects<T> {
    fn default() -> Self {
        Suspects {
            ids: Vec::new(),
            due: None,
        }
    }
}

impl<T> Suspects<T> {
    /// Adds channel `id` (not yet a suspect).
    pub(crate) fn add(&mut self, id: T) {
        if self.ids.is_empty() {
            self.due = Some(Instant::now() + EOF_CHECK);
        }
        self.ids.push(id);
    }

    /// Whether there is nobody to check.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Shortens a wait of `timeout` so that it ends when the check is due.
    pub(crate) fn clamp(&self, timeout: Option<Duration>, now: Instant) -> Option<Duration> {
        match self.due {
            Some(due) if !self.ids.is_empty() => {
                let until = due.saturating_duration_since(now);
                Some(timeout.map_or(until, |t| t.min(until)))
            }
            _ => timeout,
        }
    }

    /// Takes the suspects if their check is due at `now`, into `into`.
    pub(crate) fn take_due(&mut self, now: Instant, into: &mut Vec<T>) {
        if self.due.is_some_and(|due| now >= due) {
            into.append(&mut self.ids);
            self.due = None;
        }
    }
}

/// Whether a channel's socket is registered edge-triggered: plain stream
/// sockets (TCP, Unix) that are not listening. Listeners, datagram sockets
/// (a short datagram proves nothing about the next), pipes and TLS streams
/// (rustls buffers input the socket no longer shows) stay level-triggered,
/// as does every backend but epoll.
pub(crate) fn wanted(io: &Io, kind: SocketKind, state: SocketState) -> bool {
    kind == SocketKind::Stream && state != SocketState::Listening && matches!(io, Io::Socket(_))
}

/// What the dispatch of an edge-triggered channel served and no operation
/// has shown used up since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unspent {
    /// Input (or a pending connection) may be left.
    pub(crate) read: bool,
    /// Room to write may be left.
    pub(crate) write: bool,
    /// Urgent data was reported: a read stops short at the urgent mark with
    /// input after it, so a short read proves nothing.
    pub(crate) urgent: bool,
}

impl Unspent {
    /// What a dispatch serving `read`/`write`/`urgent` starts from: all of
    /// it unspent until an operation shows otherwise.
    pub(crate) fn served(read: bool, write: bool, urgent: bool) -> Unspent {
        Unspent {
            read,
            write,
            urgent,
        }
    }

    /// Notes a read of `n` bytes into a buffer of `len` (a short read on a
    /// stream means its buffer was drained), or one that failed.
    pub(crate) fn note_read(&mut self, result: Option<(usize, usize)>) {
        self.read = matches!(result, Some((n, len)) if n > 0 && n == len);
    }

    /// Notes a write of `n` of `len` bytes (a partial one means the socket
    /// buffer is full), or one that failed.
    pub(crate) fn note_write(&mut self, result: Option<(usize, usize)>) {
        self.write = matches!(result, Some((n, len)) if n == len);
    }

    /// Whether the poller must look again, given the interest the channel
    /// now has.
    pub(crate) fn needs_recheck(self, interest: Interest) -> bool {
        (interest.read && (self.read || self.urgent)) || (interest.write && self.write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Interest = Interest {
        read: true,
        write: true,
    };

    #[test]
    fn a_full_read_leaves_input_unspent_a_short_one_does_not() {
        let mut u = Unspent::served(true, false, false);
        u.note_read(Some((4096, 4096)));
        assert!(u.needs_recheck(BOTH));
        u.note_read(Some((64, 4096)));
        assert!(!u.needs_recheck(BOTH));
        // End of file and errors leave nothing to read.
        u.note_read(Some((0, 4096)));
        assert!(!u.read);
        u.note_read(None);
        assert!(!u.read);
    }

    #[test]
    fn a_whole_write_leaves_room_unspent_a_partial_one_does_not() {
        let mut u = Unspent::served(false, true, false);
        u.note_write(Some((10, 100)));
        assert!(!u.needs_recheck(BOTH));
        u.note_write(Some((100, 100)));
        assert!(u.needs_recheck(BOTH));
        // Without write interest the room is nobody's concern.
        assert!(!u.needs_recheck(Interest {
            read: true,
            write: false
        }));
    }

    #[test]
    fn urgent_data_always_asks_again_while_reading() {
        let mut u = Unspent::served(true, false, true);
        u.note_read(Some((3, 4096)));
        assert!(u.needs_recheck(BOTH));
        assert!(!u.needs_recheck(Interest::NONE));
    }

    #[test]
    fn suspects_are_due_after_the_check_interval_and_bound_the_wait() {
        let mut s = Suspects::<u32>::default();
        let mut due = Vec::new();
        assert_eq!(s.clamp(None, Instant::now()), None, "nobody to check");
        let id = 7;
        s.add(id);
        let now = Instant::now();
        assert!(s.clamp(None, now).is_some_and(|t| t <= EOF_CHECK));
        s.take_due(now, &mut due);
        assert!(due.is_empty(), "not due yet");
        s.take_due(now + EOF_CHECK, &mut due);
        assert_eq!(due, [id]);
        assert!(s.is_empty());
        assert_eq!(s.clamp(Some(EOF_CHECK * 5), now), Some(EOF_CHECK * 5));
    }

    #[test]
    fn nothing_seen_means_unspent() {
        // A handler that read nothing, or read through the raw fd: the
        // poller is asked again, as level triggering would report again.
        assert!(Unspent::served(true, false, false).needs_recheck(BOTH));
        assert!(!Unspent::default().needs_recheck(BOTH));
    }
}
