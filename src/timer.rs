//! The loop's timers, for both faces: listener back-off, task wake-ups
//! (`sleep`), and callbacks (`call_later`). Ordered by deadline, then by
//! the order they were set; cancellable by key.

use std::collections::BTreeMap;
use std::fmt;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::map::{ChannelId, Map};

/// Identifies a pending timer: its deadline and sequence number.
pub(crate) type TimerKey = (Instant, u64);

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
}

impl fmt::Debug for TimerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerAction::ResumeAccept(id) => write!(f, "ResumeAccept({id})"),
            TimerAction::Wake(_) => f.write_str("Wake"),
            TimerAction::Call(_) => f.write_str("Call"),
            TimerAction::IdleCheck(id) => write!(f, "IdleCheck({id})"),
        }
    }
}

/// Pending timers, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// Keyed by (deadline, sequence number).
    entries: BTreeMap<TimerKey, TimerAction>,
    /// Next sequence number, to keep equal deadlines in order.
    seq: u64,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: Instant, action: TimerAction) -> TimerKey {
        self.seq += 1;
        let key = (at, self.seq);
        self.entries.insert(key, action);
        key
    }

    /// Removes a pending timer; `false` if it already fired or was
    /// cancelled.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> bool {
        self.entries.remove(&key).is_some()
    }

    /// Replaces the waker of a pending `Wake` timer.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.entries.get_mut(&key) {
            Some(TimerAction::Wake(w)) => {
                w.clone_from(waker);
                true
            }
            _ => false,
        }
    }

    /// The wait timeout for a pass: `timeout`, shortened so the wait ends
    /// when the next timer is due.
    pub(crate) fn clamp(&self, timeout: Option<Duration>, now: Instant) -> Option<Duration> {
        match self.entries.keys().next() {
            None => timeout,
            Some((at, _)) => {
                let until = at.saturating_duration_since(now);
                Some(timeout.map_or(until, |t| t.min(until)))
            }
        }
    }

    /// Removes and returns a timer that is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerAction> {
        let entry = self.entries.first_entry()?;
        if entry.key().0 <= now {
            Some(entry.remove())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u32) -> ChannelId {
        ChannelId {
            index,
            generation: 0,
        }
    }

    fn resumed(action: Option<TimerAction>) -> Option<ChannelId> {
        match action? {
            TimerAction::ResumeAccept(id) => Some(id),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn fires_in_deadline_then_insertion_order_and_cancels() {
        let mut t = Timers::default();
        let now = Instant::now();
        t.schedule(
            now + Duration::from_millis(5),
            TimerAction::ResumeAccept(id(2)),
        );
        let cancelled = t.schedule(now, TimerAction::ResumeAccept(id(7)));
        t.schedule(now, TimerAction::ResumeAccept(id(9)));
        t.schedule(now, TimerAction::ResumeAccept(id(1)));
        assert!(t.cancel(cancelled));
        assert!(!t.cancel(cancelled), "cancelling twice");
        assert_eq!(resumed(t.pop_due(now)), Some(id(9)));
        assert_eq!(resumed(t.pop_due(now)), Some(id(1)));
        assert_eq!(resumed(t.pop_due(now)), None);
        assert_eq!(t.clamp(None, now), Some(Duration::from_millis(5)));
        assert_eq!(
            t.clamp(Some(Duration::from_millis(1)), now),
            Some(Duration::from_millis(1))
        );
    }
}
