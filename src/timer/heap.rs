//! The timers' heap: a 4-ary min-heap of small entries, ordered by
//! deadline and then by the order the timers were set.

/// A heap entry; live while its slot still holds the timer `generation`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    /// When the timer is due, in nanoseconds since [`Timers::base`]
    /// (saturating some 580 years on).
    pub(super) at: u64,
    /// The timer's sequence number: equal deadlines fire in this order.
    pub(super) seq: u64,
    /// The slab slot.
    pub(super) index: u32,
    /// The slot's generation when the timer was set.
    pub(super) generation: u32,
}

impl Entry {
    /// Whether this timer fires before `other`.
    pub(super) fn precedes(&self, other: &Entry) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

/// A 4-ary min-heap of entries (shallower than a binary one, and the four
/// children of an entry share a cache line or two). Entries being moved
/// are kept in registers, not written and read back, as `BinaryHeap` does.
#[derive(Debug, Default)]
pub(super) struct Heap {
    /// Every entry precedes its children, `4i + 1` to `4i + 4`.
    entries: Vec<Entry>,
}

impl Heap {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn peek(&self) -> Option<&Entry> {
        self.entries.first()
    }

    pub(super) fn push(&mut self, entry: Entry) {
        let mut pos = self.entries.len();
        self.entries.push(entry);
        while pos > 0 {
            let parent = (pos - 1) / 4;
            let above = self.entries[parent];
            if !entry.precedes(&above) {
                break;
            }
            self.entries[pos] = above;
            pos = parent;
        }
        self.entries[pos] = entry;
    }

    pub(super) fn pop(&mut self) -> Option<Entry> {
        let last = self.entries.pop()?;
        let Some(&top) = self.entries.first() else {
            return Some(last);
        };
        self.sift_down(0, last);
        Some(top)
    }

    /// Puts `entry` at `pos` or below, moving earlier children up.
    pub(super) fn sift_down(&mut self, mut pos: usize, entry: Entry) {
        let len = self.entries.len();
        loop {
            let first = 4 * pos + 1;
            if first >= len {
                break;
            }
            let mut child = first;
            for c in first + 1..len.min(first + 4) {
                if self.entries[c].precedes(&self.entries[child]) {
                    child = c;
                }
            }
            let below = self.entries[child];
            if !below.precedes(&entry) {
                break;
            }
            self.entries[pos] = below;
            pos = child;
        }
        self.entries[pos] = entry;
    }

    /// Keeps the entries `keep` accepts, then restores the heap order
    /// unless they are in order already (as timers of one duration are).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        let mut sorted = true;
        let mut last = (0, 0);
        self.entries.retain(|entry| {
            let kept = keep(entry);
            if kept {
                sorted &= (entry.at, entry.seq) >= last;
                last = (entry.at, entry.seq);
            }
            kept
        });
        if sorted {
            return;
        }
        for pos in (0..self.entries.len() / 4 + 1).rev() {
            if let Some(&entry) = self.entries.get(pos) {
                self.sift_down(pos, entry);
            }
        }
    }

    /// Moves every deadline `by` nanoseconds later (the base they count
    /// from moved back), restoring the order in the rare case that
    /// deadlines far off saturated into ties.
    pub(super) fn shift_later(&mut self, by: u64) {
        for entry in &mut self.entries {
            entry.at = entry.at.saturating_add(by);
        }
        self.retain(|_| true);
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}
