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
//! Async channels keep the readiness an event reported until an operation
//! would block (`Waiters::ready`), as tokio does; an edge-triggered one is
//! never disarmed by an event that finds no task waiting.

use crate::net::{Io, SocketKind, SocketState};
use crate::sys::Interest;

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
    fn nothing_seen_means_unspent() {
        // A handler that read nothing, or read through the raw fd: the
        // poller is asked again, as level triggering would report again.
        assert!(Unspent::served(true, false, false).needs_recheck(BOTH));
        assert!(!Unspent::default().needs_recheck(BOTH));
    }
}
