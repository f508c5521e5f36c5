//! The timer set: firing order, cancellation, generations, stale-entry
//! compaction, and a run against a sorted model.

use super::*;
use crate::map::ChannelId;

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
