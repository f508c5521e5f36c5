//! Per-pass figures for benchmarks (feature `pass-stats`): how many
//! channels each wait reported, how long each wait slept, how long each
//! pass ran before it waited again, and how long each ready channel
//! waited within its pass before its dispatch began. Not part of the
//! stable API; the echo bench built with it prints them.

use std::fmt;
use std::time::{Duration, Instant};

/// Counts of values in power-of-two buckets: bucket 0 holds 0, bucket `i`
/// holds values in `[2^(i-1), 2^i)`, the last one everything above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// The counts, bucket by bucket.
    pub buckets: [u64; 32],
}

impl Histogram {
    fn record(&mut self, value: u64) {
        let bucket = (64 - value.leading_zeros() as usize).min(self.buckets.len() - 1);
        self.buckets[bucket] += 1;
    }

    /// The number of values recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// An upper bound of the `q` quantile (`0.0..=1.0`): the top of the
    /// bucket it falls in (0 when nothing was recorded).
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return if i == 0 { 0 } else { (1u64 << i) - 1 };
            }
        }
        u64::MAX
    }
}

/// What the loop recorded about its passes (feature `pass-stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Waits on the poller.
    pub waits: u64,
    /// Channels each wait reported (plus any queued without an event).
    pub ready: Histogram,
    /// Microseconds each wait took (sleeping, or only the system calls).
    pub wait_us: Histogram,
    /// Microseconds from the end of a wait to the start of the next.
    pub busy_us: Histogram,
    /// Microseconds from the end of a wait to the start of each ready
    /// channel's dispatch: how long a channel waits for the ones served
    /// before it in its pass. (For a channel of tasks, the dispatch only
    /// wakes them; they run after every channel's dispatch.)
    pub queued_us: Histogram,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// The recorder a map keeps.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) stats: PassStats,
    /// When the last wait returned.
    woke: Option<Instant>,
}

impl Recorder {
    /// A wait is about to start: the pass that the last one began is over.
    pub(crate) fn wait_starts(&mut self) -> Instant {
        let now = Instant::now();
        if let Some(woke) = self.woke {
            self.stats.busy_us.record(micros(now - woke));
        }
        now
    }

    /// The wait that started at `started` returned with `ready` channels.
    pub(crate) fn wait_ended(&mut self, started: Instant, ready: usize) {
        let now = Instant::now();
        self.stats.waits += 1;
        self.stats.wait_us.record(micros(now - started));
        self.stats.ready.record(ready as u64);
        self.woke = Some(now);
    }

    /// A ready channel's dispatch starts.
    pub(crate) fn dispatch_starts(&mut self) {
        if let Some(woke) = self.woke {
            self.stats.queued_us.record(micros(woke.elapsed()));
        }
    }
}

impl fmt::Display for PassStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |h: &Histogram| {
            format!(
                "p50 {} p90 {} p99 {} p99.9 {}",
                h.quantile(0.5),
                h.quantile(0.9),
                h.quantile(0.99),
                h.quantile(0.999)
            )
        };
        write!(
            f,
            "{} waits; ready per wait {}; wait us {}; busy us {}; queued us {} \
             (upper bounds of power-of-two buckets)",
            self.waits,
            q(&self.ready),
            q(&self.wait_us),
            q(&self.busy_us),
            q(&self.queued_us)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_and_quantiles_their_tops() {
        let mut h = Histogram::default();
        for v in [0, 1, 2, 3, 4, 1000, u64::MAX] {
            h.record(v);
        }
        assert_eq!(h.buckets[0], 1);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[2], 2);
        assert_eq!(h.buckets[3], 1);
        assert_eq!(h.buckets[10], 1);
        assert_eq!(h.buckets[31], 1, "everything large lands in the last");
        assert_eq!(h.count(), 7);
        assert_eq!(h.quantile(0.0), 0);
        assert_eq!(h.quantile(0.5), 3);
        assert_eq!(h.quantile(0.8), 1023);
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }

    #[test]
    fn a_recorder_counts_waits_and_passes() {
        let mut r = Recorder::default();
        let started = r.wait_starts();
        r.wait_ended(started, 3);
        r.dispatch_starts();
        r.dispatch_starts();
        let started = r.wait_starts();
        r.wait_ended(started, 0);
        assert_eq!(r.stats.waits, 2);
        assert_eq!(r.stats.ready.count(), 2);
        assert_eq!(r.stats.busy_us.count(), 1, "one pass ended before a wait");
        assert_eq!(r.stats.queued_us.count(), 2);
        assert!(r.stats.to_string().starts_with("2 waits;"));
    }
}
