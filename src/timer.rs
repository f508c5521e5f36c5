//! The loop's timer heap. For now it only times the back-off of listeners
//! that ran out of file descriptors.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::map::ChannelId;

/// What a due timer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerAction {
    /// Resume accepting on a listener paused after `EMFILE`/`ENFILE`.
    ResumeAccept(ChannelId),
}

/// Pending timers, earliest first; ties fire in the order they were set.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// (deadline, sequence number, action).
    heap: BinaryHeap<Reverse<(Instant, u64, TimerAction)>>,
    /// Next sequence number, to keep equal deadlines in order.
    seq: u64,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: Instant, action: TimerAction) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, action)));
    }

    /// The wait timeout for a pass: `timeout`, shortened so the wait ends
    /// when the next timer is due.
    pub(crate) fn clamp(&self, timeout: Option<Duration>, now: Instant) -> Option<Duration> {
        match self.heap.peek() {
            None => timeout,
            Some(Reverse((at, _, _))) => {
                let until = at.saturating_duration_since(now);
                Some(timeout.map_or(until, |t| t.min(until)))
            }
        }
    }

    /// Removes and returns a timer that is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerAction> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse((_, _, a))| a),
            _ => None,
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

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let mut t = Timers::default();
        let now = Instant::now();
        t.schedule(
            now + Duration::from_millis(5),
            TimerAction::ResumeAccept(id(2)),
        );
        t.schedule(now, TimerAction::ResumeAccept(id(9)));
        t.schedule(now, TimerAction::ResumeAccept(id(1)));
        assert_eq!(t.pop_due(now), Some(TimerAction::ResumeAccept(id(9))));
        assert_eq!(t.pop_due(now), Some(TimerAction::ResumeAccept(id(1))));
        assert_eq!(t.pop_due(now), None);
        assert_eq!(t.clamp(None, now), Some(Duration::from_millis(5)));
        assert_eq!(
            t.clamp(Some(Duration::from_millis(1)), now),
            Some(Duration::from_millis(1))
        );
    }
}
