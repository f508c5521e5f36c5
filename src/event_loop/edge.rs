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
//! came back short is a [`Suspects`] entry, checked once per
//! [`EOF_CHECK`]: a suspect that read short again in the interval that
//! just ended is busy (its next edge will come) and stays listed; one
//! that stayed quiet for a whole interval gets a one-byte `MSG_PEEK`, and
//! is served if something is left. A timerfd of the loop's own, armed once
//! per check, wakes it for the check if nothing else does. Peeking after
//! every short read instead cost a system call per round trip (about 10%
//! of the round trips in the bench's B and D), and bounding each wait by
//! the check instead made `polling` arm a kernel timer for every wait
//! (about 20% in D). So under load nothing is peeked, and such an end of
//! file is noticed at most two intervals late.
//!
//! Async channels keep the readiness an event reported until an operation
//! would block or a read comes back short (`Waiters::ready`), as tokio's
//! `poll_read` does: the short read drained the input, and the task is
//! spared a read that would block (a system call per round trip); the
//! channel becomes a suspect, as a callback channel does. An
//! edge-triggered one is never disarmed by an event that finds no task
//! waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::{Events, Poller};

use crate::map::{ChannelId, TICK_KEY};
use crate::net::{Io, SocketKind, SocketState};
use crate::sys::{Interest, Registration, Ticker};

/// The suspects' check interval: an end of file that arrived with a
/// stream's last input goes unnoticed for at most twice this.
pub(crate) const EOF_CHECK: Duration = Duration::from_millis(1);

/// Edge-triggered channels whose read came back short since the last
/// check: input may still hold an end of file.
#[derive(Debug)]
pub(crate) struct Suspects {
    /// The channels, each once (see `Channel::suspect`).
    ids: Vec<ChannelId>,
    /// When they are to be checked.
    due: Option<Instant>,
    /// Wakes the loop for the check if nothing else does: registered
    /// under [`TICK_KEY`]; `None` where there is no timerfd, or none could
    /// be made.
    ticker: Option<Registration<Ticker>>,
    /// The current check interval's number (never 0, which marks a
    /// channel as not listed).
    interval: u8,
}

impl Suspects {
    /// No suspects yet, with a timer registered with `poller` (made with
    /// the map, so that a map's descriptors do not change as it runs).
    pub(crate) fn new(poller: &Arc<Poller>) -> Suspects {
        let read = Interest {
            read: true,
            write: false,
        };
        let ticker = if crate::sys::EDGE_BACKEND {
            Ticker::new()
                .and_then(|t| Registration::new(poller.clone(), t, TICK_KEY, read, false))
                .ok()
        } else {
            None
        };
        Suspects {
            ids: Vec::new(),
            due: None,
            ticker,
            interval: 1,
        }
    }

    /// The current check interval: what a channel that reads short now
    /// records.
    pub(crate) fn interval(&self) -> u8 {
        self.interval
    }

    /// Lists channel `id` for the next check (a new suspect, or one that
    /// read short again in the interval that just ended: busy rather than
    /// quiet), arming the check if it is the first. Returns `false`,
    /// listing nothing, if no timer could be armed: the caller then checks
    /// the channel at once.
    pub(crate) fn add(&mut self, id: ChannelId) -> bool {
        if self.ids.is_empty() {
            // Read before arming, so the timer never fires before the
            // check is due (it would then find nothing due, and nothing
            // would wake the loop again).
            let due = Instant::now() + EOF_CHECK;
            let armed = self.ticker.as_ref().map(|t| t.get().arm(EOF_CHECK));
            if !matches!(armed, Some(Ok(()))) {
                return false;
            }
            self.due = Some(due);
        }
        self.ids.push(id);
        true
    }

    /// Whether there is nobody to check.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `events` holds the check's wake-up (which is then taken).
    pub(crate) fn ticked(&self, events: &Events) -> bool {
        let Some(ticker) = &self.ticker else {
            return false;
        };
        let ticked = events.iter().any(|e| e.key == TICK_KEY);
        if ticked {
            ticker.get().clear();
        }
        ticked
    }

    /// Takes the suspects into `into` if their check is due at `now`, and
    /// starts a new interval; returns the number of the one that ended.
    pub(crate) fn take_due(&mut self, now: Instant, into: &mut Vec<ChannelId>) -> Option<u8> {
        if self.due.is_none_or(|due| now < due) {
            return None;
        }
        into.append(&mut self.ids);
        self.due = None;
        let ended = self.interval;
        self.interval = self.interval.checked_add(1).unwrap_or(1);
        Some(ended)
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
/// has shown used up since: bits, so that the channel record (which every
/// idle connection costs) stays the size it was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unspent(u8);

impl Unspent {
    /// Input (or a pending connection) may be left.
    const READ: u8 = 1;
    /// Room to write may be left.
    const WRITE: u8 = 2;
    /// Urgent data was reported: a read stops short at the urgent mark with
    /// input after it, so a short read proves nothing.
    const URGENT: u8 = 4;

    /// What a dispatch serving `read`/`write`/`urgent` starts from: all of
    /// it unspent until an operation shows otherwise.
    pub(crate) fn served(read: bool, write: bool, urgent: bool) -> Unspent {
        Unspent(
            (u8::from(read) * Self::READ)
                | (u8::from(write) * Self::WRITE)
                | (u8::from(urgent) * Self::URGENT),
        )
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Notes a read of `n` bytes into a buffer of `len` (a short read on a
    /// stream means its buffer was drained), or one that failed.
    pub(crate) fn note_read(&mut self, result: Option<(usize, usize)>) {
        let full = matches!(result, Some((n, len)) if n > 0 && n == len);
        self.set(Self::READ, full);
    }

    /// Notes an accept: one that took a connection may not have taken the
    /// last one.
    pub(crate) fn note_accept(&mut self, accepted: bool) {
        self.set(Self::READ, accepted);
    }

    /// Notes a read of urgent data (whatever it returned).
    pub(crate) fn note_urgent_read(&mut self) {
        self.set(Self::URGENT, false);
    }

    /// Notes a write of `n` of `len` bytes (a partial one means the socket
    /// buffer is full), or one that failed.
    pub(crate) fn note_write(&mut self, result: Option<(usize, usize)>) {
        let whole = matches!(result, Some((n, len)) if n == len);
        self.set(Self::WRITE, whole);
    }

    /// Whether the poller must look again, given the interest the channel
    /// now has.
    pub(crate) fn needs_recheck(self, interest: Interest) -> bool {
        (interest.read && (self.has(Self::READ) || self.has(Self::URGENT)))
            || (interest.write && self.has(Self::WRITE))
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
        u.note_read(Some((4096, 4096)));
        u.note_read(Some((0, 4096)));
        assert!(!u.needs_recheck(BOTH));
        u.note_read(Some((4096, 4096)));
        u.note_read(None);
        assert!(!u.needs_recheck(BOTH));
        // An accept that took a connection leaves more possibly pending.
        u.note_accept(true);
        assert!(u.needs_recheck(BOTH));
        u.note_accept(false);
        assert!(!u.needs_recheck(BOTH));
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
        u.note_urgent_read();
        assert!(!u.needs_recheck(BOTH));
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn suspects_are_due_after_the_check_interval_and_wake_the_poller() {
        let poller = Arc::new(Poller::new().unwrap());
        let mut s = Suspects::new(&poller);
        let mut due = Vec::new();
        let id = ChannelId {
            index: 7,
            generation: 0,
        };
        assert!(s.add(id), "a timerfd is there on Linux");
        assert_eq!(s.take_due(Instant::now(), &mut due), None, "not due yet");
        // Nothing else to wake the poller: the check's timer does.
        let mut events = Events::new();
        poller
            .wait(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert!(s.ticked(&events));
        assert_eq!(s.take_due(Instant::now(), &mut due), Some(1));
        assert_eq!(due, [id]);
        assert!(s.is_empty());
        assert_eq!(s.interval(), 2, "a new interval");
        // Taken: the timer no longer reports.
        events.clear();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(!s.ticked(&events));
    }

    #[test]
    fn nothing_seen_means_unspent() {
        // A handler that read nothing, or read through the raw fd: the
        // poller is asked again, as level triggering would report again.
        assert!(Unspent::served(true, false, false).needs_recheck(BOTH));
        assert!(!Unspent::default().needs_recheck(BOTH));
    }
}
