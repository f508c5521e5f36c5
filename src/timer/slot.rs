//! A timer's action, and the slab slot that holds it: the variants of
//! [`TimerAction`] flattened beside their generation, or a link of the free
//! list.

use std::fmt;
use std::task::Waker;

use crate::map::{ChannelId, Map};

/// Marks the end of the free list.
pub(super) const NO_SLOT: u32 = u32::MAX;

/// What a due timer does.
pub(crate) enum TimerAction {
    /// Resume accepting on a listener paused after `EMFILE`/`ENFILE`.
    ResumeAccept(ChannelId),
    /// Wake a task (a `Sleep` future).
    Wake(Waker),
    /// Run a callback (`call_later`/`call_at`).
    Call(Box<dyn FnOnce(&Map)>),
    /// Close a channel that has been idle for its idle timeout.
    IdleCheck(ChannelId),
    /// Fail a TLS channel whose handshake is still running.
    #[cfg(feature = "tls")]
    HandshakeDeadline(ChannelId),
}

impl fmt::Debug for TimerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerAction::ResumeAccept(id) => write!(f, "ResumeAccept({id})"),
            TimerAction::Wake(_) => f.write_str("Wake"),
            TimerAction::Call(_) => f.write_str("Call"),
            TimerAction::IdleCheck(id) => write!(f, "IdleCheck({id})"),
            #[cfg(feature = "tls")]
            TimerAction::HandshakeDeadline(id) => write!(f, "HandshakeDeadline({id})"),
        }
    }
}

/// One slot of the slab: a pending timer's action (the variants of
/// [`TimerAction`], flattened so the generation shares the tag's word), or
/// a link of the free list.
pub(super) enum Slot {
    /// A pending [`TimerAction::ResumeAccept`].
    ResumeAccept { generation: u32, id: ChannelId },
    /// A pending [`TimerAction::Wake`].
    Wake { generation: u32, waker: Waker },
    /// A pending [`TimerAction::Call`].
    Call {
        generation: u32,
        f: Box<dyn FnOnce(&Map)>,
    },
    /// A pending [`TimerAction::IdleCheck`].
    IdleCheck { generation: u32, id: ChannelId },
    /// A pending [`TimerAction::HandshakeDeadline`].
    #[cfg(feature = "tls")]
    HandshakeDeadline { generation: u32, id: ChannelId },
    /// No timer; `generation` is that of the next timer set here, `next`
    /// the next free slot (or [`NO_SLOT`]). Generation 0: retired, or
    /// being released; never on the free list.
    Free { generation: u32, next: u32 },
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.live_generation() {
            Some(generation) => write!(f, "Slot(live, {generation})"),
            None => f.write_str("Slot(free)"),
        }
    }
}

impl Slot {
    pub(super) fn new(generation: u32, action: TimerAction) -> Slot {
        match action {
            TimerAction::ResumeAccept(id) => Slot::ResumeAccept { generation, id },
            TimerAction::Wake(waker) => Slot::Wake { generation, waker },
            TimerAction::Call(f) => Slot::Call { generation, f },
            TimerAction::IdleCheck(id) => Slot::IdleCheck { generation, id },
            #[cfg(feature = "tls")]
            TimerAction::HandshakeDeadline(id) => Slot::HandshakeDeadline { generation, id },
        }
    }

    /// The generation of the timer held, if any.
    pub(super) fn live_generation(&self) -> Option<u32> {
        match *self {
            Slot::ResumeAccept { generation, .. }
            | Slot::Wake { generation, .. }
            | Slot::Call { generation, .. }
            | Slot::IdleCheck { generation, .. } => Some(generation),
            #[cfg(feature = "tls")]
            Slot::HandshakeDeadline { generation, .. } => Some(generation),
            Slot::Free { .. } => None,
        }
    }

    /// Whether the slot holds the timer `generation`.
    pub(super) fn holds(&self, generation: u32) -> bool {
        self.live_generation() == Some(generation)
    }

    /// The action of a live slot, and its generation.
    pub(super) fn into_action(self) -> (TimerAction, u32) {
        match self {
            Slot::ResumeAccept { generation, id } => (TimerAction::ResumeAccept(id), generation),
            Slot::Wake { generation, waker } => (TimerAction::Wake(waker), generation),
            Slot::Call { generation, f } => (TimerAction::Call(f), generation),
            Slot::IdleCheck { generation, id } => (TimerAction::IdleCheck(id), generation),
            #[cfg(feature = "tls")]
            Slot::HandshakeDeadline { generation, id } => {
                (TimerAction::HandshakeDeadline(id), generation)
            }
            Slot::Free { .. } => unreachable!("the action of a free timer slot"),
        }
    }
}
