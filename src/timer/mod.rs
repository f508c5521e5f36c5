//! The loop's timers, for both faces: listener back-off, task wake-ups
//! (`sleep`), and callbacks (`call_later`). Ordered by deadline, then by
//! the order they were set; cancellable by key.
//!
//! A slab holds the pending timers and a heap orders them. Cancelling
//! frees the slab slot at once and leaves the heap entry behind, stale: the
//! heap skips stale entries as they reach the top, and is rebuilt without
//! them once more than half of it is stale, so a loop that sets and cancels
//! timers forever (an idle timeout reset on every read) stays bounded.
//! Slots and heap entries are kept small (24 bytes each on 64-bit targets):
//! with many pending timers, touching memory is most of the cost.

use std::num::NonZeroU32;
use std::task::Waker;
use std::time::{Duration, Instant};

mod heap;
mod slot;

use heap::{Entry, Heap};
pub(crate) use slot::TimerAction;
use slot::{NO_SLOT, Slot};

/// Below this many stale heap entries the heap is never rebuilt: a few
/// stale entries cost less than rebuilding for them.
const COMPACT_MIN: usize = 64;

/// How far before the map's creation deadlines are counted from, so that
/// `call_at` an instant in the recent past needs no rebasing.
const BASE_SLACK: Duration = Duration::from_secs(24 * 3600);

/// Identifies a pending timer: its slab slot and the slot's generation,
/// which changes whenever the slot's timer fires or is cancelled (a slot
/// is retired rather than reuse a generation), so a stale key never
/// matches a later timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    /// The slab slot.
    index: u32,
    /// The slot's generation when the timer was set.
    generation: NonZeroU32,
}
/// Pending timers, earliest first.
#[derive(Debug)]
pub(crate) struct Timers {
    /// The pending timers' actions, by slot index.
    slots: Vec<Slot>,
    /// The most recently freed slot, or [`NO_SLOT`].
    free: u32,
    /// How many timers are pending.
    live: usize,
    /// Earliest (deadline, seq) on top; includes `stale` entries whose
    /// timer was cancelled.
    heap: Heap,
    /// How many heap entries are stale; at most `heap.len()`.
    stale: usize,
    /// The last sequence number given out.
    seq: u64,
    /// The instant heap deadlines count from: no later than any of them
    /// (moved back, and the heap shifted, should an earlier one come).
    base: Instant,
    /// When the latest wake-up check started (the `now` of `pop_due`): a
    /// timer due by then has fired, or would have had it been set.
    checked_at: Option<Instant>,
}

impl Default for Timers {
    fn default() -> Timers {
        let now = Instant::now();
        Timers {
            slots: Vec::new(),
            free: NO_SLOT,
            live: 0,
            heap: Heap::default(),
            stale: 0,
            seq: 0,
            base: now.checked_sub(BASE_SLACK).unwrap_or(now),
            checked_at: None,
        }
    }
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

impl Timers {
    /// Sets a timer due at `at`.
    pub(crate) fn schedule(&mut self, at: Instant, action: TimerAction) -> TimerKey {
        let at = self.ticks(at);
        let (index, generation) = if self.free == NO_SLOT {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NO_SLOT)
                .expect("more than 2^32 - 1 pending timers");
            self.slots.push(Slot::new(1, action));
            (index, 1)
        } else {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            let Slot::Free { generation, next } = *slot else {
                unreachable!("a pending timer on the free list")
            };
            *slot = Slot::new(generation, action);
            self.free = next;
            (index, generation)
        };
        self.live += 1;
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            index,
            generation,
        });
        TimerKey {
            index,
            generation: NonZeroU32::new(generation).expect("generations start at 1"),
        }
    }

    /// Removes a pending timer and returns its action, for the caller to
    /// drop once it no longer borrows the map (dropping a callback may drop
    /// a `Sleep` that cancels its own timer); `None` if it already fired or
    /// was cancelled.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        if !self
            .slots
            .get(key.index as usize)?
            .holds(key.generation.get())
        {
            return None;
        }
        let action = self.release(key.index);
        self.stale += 1;
        if self.stale > COMPACT_MIN && self.stale * 2 > self.heap.len() {
            self.compact();
        }
        Some(action)
    }

    /// Replaces the waker of a pending `Wake` timer; `false` if the timer
    /// already fired or was cancelled.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.slots.get_mut(key.index as usize) {
            Some(Slot::Wake {
                generation,
                waker: w,
            }) if *generation == key.generation.get() => {
                w.clone_from(waker);
                true
            }
            _ => false,
        }
    }

    /// Whether no timer is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// When the latest wake-up check started; see [`Timers::pop_due`].
    pub(crate) fn checked_at(&self) -> Option<Instant> {
        self.checked_at
    }

    /// The wait timeout for a pass: `timeout`, shortened so the wait ends
    /// when the next timer is due.
    pub(crate) fn clamp(&mut self, timeout: Option<Duration>, now: Instant) -> Option<Duration> {
        match self.first_live() {
            None => timeout,
            Some(at) => {
                let at = self.base + Duration::from_nanos(at);
                let until = at.saturating_duration_since(now);
                Some(timeout.map_or(until, |t| t.min(until)))
            }
        }
    }

    /// Removes and returns a timer that is due at `now`, which is also
    /// recorded as the start of the latest wake-up check.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerAction> {
        self.checked_at = Some(now);
        // Before the base, nothing can be due.
        let now = nanos(now.checked_duration_since(self.base)?);
        if self.first_live()? > now {
            return None;
        }
        let entry = self.heap.pop()?;
        Some(self.release(entry.index))
    }

    /// Frees the live slot `index` and returns its action. The slot's
    /// generation moves on; one that would wrap retires the slot instead.
    fn release(&mut self, index: u32) -> TimerAction {
        let slot = &mut self.slots[index as usize];
        let free = Slot::Free {
            generation: 0,
            next: NO_SLOT,
        };
        let (action, generation) = std::mem::replace(slot, free).into_action();
        self.live -= 1;
        if let Some(generation) = generation.checked_add(1) {
            *slot = Slot::Free {
                generation,
                next: self.free,
            };
            self.free = index;
        }
        action
    }

    /// `at` in nanoseconds since the base, moving the base back first if
    /// `at` is earlier.
    fn ticks(&mut self, at: Instant) -> u64 {
        if let Some(d) = at.checked_duration_since(self.base) {
            return nanos(d);
        }
        let base = at.checked_sub(BASE_SLACK).unwrap_or(at);
        let shift = nanos(self.base - base);
        self.heap.shift_later(shift);
        self.base = base;
        nanos(at - base)
    }

    /// Drops stale entries off the top of the heap and returns the
    /// deadline of the first live one.
    fn first_live(&mut self) -> Option<u64> {
        loop {
            let top = *self.heap.peek()?;
            if self.slots[top.index as usize].holds(top.generation) {
                return Some(top.at);
            }
            self.heap.pop();
            self.stale -= 1;
        }
    }

    /// Rebuilds the heap without its stale entries.
    fn compact(&mut self) {
        if self.live == 0 {
            // Nothing to keep, nothing to sift.
            self.heap.clear();
        } else {
            let slots = &self.slots;
            self.heap
                .retain(|entry| slots[entry.index as usize].holds(entry.generation));
        }
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests;
