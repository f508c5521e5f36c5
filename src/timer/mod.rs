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

use std::fmt;
use std::num::NonZeroU32;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::map::{ChannelId, Map};

mod heap;

use heap::{Entry, Heap};

/// Below this many stale heap entries the heap is never rebuilt: a few
/// stale entries cost less than rebuilding for them.
const COMPACT_MIN: usize = 64;

/// How far before the map's creation deadlines are counted from, so that
/// `call_at` an instant in the recent past needs no rebasing.
const BASE_SLACK: Duration = Duration::from_secs(24 * 3600);

/// Marks the end of the free list.
const NO_SLOT: u32 = u32::MAX;

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

/// One slot of the slab: a pending timer's action (the variants of
/// [`TimerAction`], flattened so the generation shares the tag's word), or
/// a link of the free list.
enum Slot {
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
    fn new(generation: u32, action: TimerAction) -> Slot {
        match action {
            TimerAction::ResumeAccept(id) => Slot::ResumeAccept { generation, id },
            TimerAction::Wake(waker) => Slot::Wake { generation, waker },
            TimerAction::Call(f) => Slot::Call { generation, f },
            TimerAction::IdleCheck(id) => Slot::IdleCheck { generation, id },
        }
    }

    /// The generation of the timer held, if any.
    fn live_generation(&self) -> Option<u32> {
        match *self {
            Slot::ResumeAccept { generation, .. }
            | Slot::Wake { generation, .. }
            | Slot::Call { generation, .. }
            | Slot::IdleCheck { generation, .. } => Some(generation),
            Slot::Free { .. } => None,
        }
    }

    /// Whether the slot holds the timer `generation`.
    fn holds(&self, generation: u32) -> bool {
        self.live_generation() == Some(generation)
    }

    /// The action of a live slot, and its generation.
    fn into_action(self) -> (TimerAction, u32) {
        match self {
            Slot::ResumeAccept { generation, id } => (TimerAction::ResumeAccept(id), generation),
            Slot::Wake { generation, waker } => (TimerAction::Wake(waker), generation),
            Slot::Call { generation, f } => (TimerAction::Call(f), generation),
            Slot::IdleCheck { generation, id } => (TimerAction::IdleCheck(id), generation),
            Slot::Free { .. } => unreachable!("the action of a free timer slot"),
        }
    }
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
mod tests {
    use super::*;

    /// How many times the long tests go round (far fewer under Miri, which
    /// is slow).
    const ROUNDS: u32 = if cfg!(miri) { 5_000 } else { 1_000_000 };

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

    fn resume(t: &mut Timers, at: Instant, index: u32) -> TimerKey {
        t.schedule(at, TimerAction::ResumeAccept(id(index)))
    }

    #[test]
    fn fires_in_deadline_then_insertion_order_and_cancels() {
        let mut t = Timers::default();
        let now = Instant::now();
        resume(&mut t, now + Duration::from_millis(5), 2);
        let cancelled = resume(&mut t, now, 7);
        resume(&mut t, now, 9);
        resume(&mut t, now, 1);
        assert!(t.cancel(cancelled).is_some());
        assert!(t.cancel(cancelled).is_none(), "cancelling twice");
        assert_eq!(resumed(t.pop_due(now)), Some(id(9)));
        assert_eq!(resumed(t.pop_due(now)), Some(id(1)));
        assert_eq!(resumed(t.pop_due(now)), None);
        assert_eq!(t.checked_at(), Some(now));
        assert_eq!(t.clamp(None, now), Some(Duration::from_millis(5)));
        assert_eq!(
            t.clamp(Some(Duration::from_millis(1)), now),
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn equal_deadlines_fire_in_creation_order() {
        let mut t = Timers::default();
        let now = Instant::now();
        let later = now + Duration::from_millis(1);
        // Interleave two deadlines, and reuse freed slots out of order, so
        // neither slot index nor heap position gives the order.
        let at = |i: u32| if i.is_multiple_of(2) { later } else { now };
        let keys: Vec<_> = (0..200).map(|i| resume(&mut t, at(i), i)).collect();
        for key in keys.iter().step_by(3) {
            assert!(t.cancel(*key).is_some());
        }
        for i in 200..300 {
            resume(&mut t, at(i), i);
        }
        let cancelled = |i: u32| i < 200 && i.is_multiple_of(3);
        let fire = |t: &mut Timers, at: Instant| {
            std::iter::from_fn(|| resumed(t.pop_due(at)).map(|id| id.index)).collect::<Vec<_>>()
        };
        let (even, odd): (Vec<u32>, Vec<u32>) = (0..300)
            .filter(|&i| !cancelled(i))
            .partition(|i| i.is_multiple_of(2));
        assert_eq!(fire(&mut t, now), odd);
        assert_eq!(fire(&mut t, later), even);
        assert_eq!(t.clamp(None, now), None);
    }

    #[test]
    fn a_stale_key_never_cancels_the_timer_that_reuses_its_slot() {
        let mut t = Timers::default();
        let now = Instant::now();
        let old = resume(&mut t, now, 1);
        assert!(t.cancel(old).is_some());
        let new = resume(&mut t, now, 2);
        assert_eq!(new.index, old.index, "the slot is reused");
        assert!(t.cancel(old).is_none(), "a stale key cancels nothing");
        assert!(!t.set_waker(old, Waker::noop()));
        assert_eq!(resumed(t.pop_due(now)), Some(id(2)));
        // Fired, then the slot reused again: the fired key is stale too.
        let newer = resume(&mut t, now, 3);
        assert_eq!(newer.index, old.index);
        assert!(t.cancel(new).is_none());
        assert_eq!(resumed(t.pop_due(now)), Some(id(3)));
        assert_eq!(resumed(t.pop_due(now)), None);
    }

    #[test]
    fn a_slot_whose_generation_would_wrap_is_retired() {
        let mut t = Timers::default();
        let now = Instant::now();
        let first = resume(&mut t, now, 1);
        assert!(t.cancel(first).is_some());
        // As if the slot had held 2^32 - 2 timers since.
        t.slots[0] = Slot::Free {
            generation: u32::MAX,
            next: NO_SLOT,
        };
        let last = resume(&mut t, now, 2);
        assert_eq!((last.index, last.generation.get()), (0, u32::MAX));
        assert!(t.cancel(last).is_some());
        let next = resume(&mut t, now, 3);
        assert_eq!(next.index, 1, "the worn-out slot is not reused");
        assert!(t.cancel(last).is_none());
        assert!(t.cancel(first).is_none());
        assert_eq!(resumed(t.pop_due(now)), Some(id(3)));
        assert_eq!(resumed(t.pop_due(now)), None);
    }

    #[test]
    fn deadlines_long_before_the_map_keep_their_order() {
        let mut t = Timers::default();
        let now = Instant::now();
        let day = Duration::from_secs(24 * 3600);
        resume(&mut t, now, 1);
        // Instants before the base, if this clock goes back that far.
        let (Some(old), Some(older)) = (now.checked_sub(3 * day), now.checked_sub(9 * day)) else {
            return;
        };
        resume(&mut t, old, 2);
        resume(&mut t, older, 3);
        resume(&mut t, old, 4);
        let due: Vec<_> = std::iter::from_fn(|| resumed(t.pop_due(now)))
            .map(|id| id.index)
            .collect();
        assert_eq!(due, [3, 2, 4, 1]);
    }

    #[test]
    fn cancel_then_fire_keeps_the_order_of_the_rest() {
        let mut t = Timers::default();
        let now = Instant::now();
        let ms = Duration::from_millis;
        let a = resume(&mut t, now + ms(2), 1);
        let b = resume(&mut t, now + ms(1), 2);
        let c = resume(&mut t, now + ms(1), 3);
        resume(&mut t, now + ms(3), 4);
        // The earliest is cancelled: the wait is for the next live one.
        assert!(t.cancel(b).is_some());
        assert_eq!(t.clamp(None, now), Some(ms(1)));
        assert_eq!(resumed(t.pop_due(now + ms(1))), Some(id(3)));
        assert!(t.cancel(c).is_none(), "cancel after firing");
        // Set into b's slot, due first: it fires first; a cancelled while
        // due is skipped.
        resume(&mut t, now, 5);
        assert!(t.cancel(a).is_some());
        let due: Vec<_> = std::iter::from_fn(|| resumed(t.pop_due(now + ms(3))))
            .map(|id| id.index)
            .collect();
        assert_eq!(due, [5, 4]);
        assert!(t.heap.len() == 0 && t.stale == 0);
    }

    #[test]
    fn matches_a_sorted_model() {
        use std::collections::BTreeMap;
        let mut t = Timers::default();
        let now = Instant::now();
        // (deadline, creation) -> channel index, as the old BTreeMap timers.
        let mut model = BTreeMap::new();
        let mut keys = Vec::new();
        let mut rng = 0x2545_f491_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for i in 0..ROUNDS / 50 {
            let r = next();
            match r % 8 {
                0..=3 => {
                    let at = now + Duration::from_micros(next() % 64);
                    keys.push((resume(&mut t, at, i), (at, i)));
                    model.insert((at, i), i);
                }
                4 | 5 if !keys.is_empty() => {
                    let (key, m) = keys.swap_remove(next() as usize % keys.len());
                    assert_eq!(t.cancel(key).is_some(), model.remove(&m).is_some());
                }
                _ => {
                    let at = now + Duration::from_micros(next() % 64);
                    let due = model.first_entry().filter(|e| e.key().0 <= at);
                    let expected = due.map(|e| e.remove());
                    assert_eq!(resumed(t.pop_due(at)).map(|id| id.index), expected);
                }
            }
            assert_eq!(t.live, model.len());
        }
    }

    #[test]
    fn set_and_cancel_forever_stays_bounded() {
        const LIVE: usize = 100;
        let mut t = Timers::default();
        let now = Instant::now();
        let mut ring = std::collections::VecDeque::new();
        let mut high = 0;
        for i in 0..ROUNDS {
            // Deadlines out of order, as idle timeouts of different lengths.
            let at = now + Duration::from_micros(u64::from(i.wrapping_mul(7919) % 1000));
            ring.push_back(resume(&mut t, at, i));
            if ring.len() > LIVE {
                assert!(t.cancel(ring.pop_front().unwrap()).is_some());
            }
            high = high.max(t.heap.len());
            assert!(t.stale <= t.heap.len());
        }
        assert!(
            high <= 2 * (LIVE + 1) + COMPACT_MIN + 1,
            "the heap grew to {high} entries for {LIVE} live timers"
        );
        assert!(t.slots.len() <= LIVE + 1, "{} slots", t.slots.len());
        // Set-then-cancel, one at a time, with nothing else pending.
        let mut t = Timers::default();
        for i in 0..ROUNDS {
            let key = resume(&mut t, now, i);
            assert!(t.cancel(key).is_some());
            assert!(t.heap.len() <= COMPACT_MIN + 1);
        }
        assert_eq!(t.slots.len(), 1);
        assert_eq!(resumed(t.pop_due(now)), None);
    }
}
