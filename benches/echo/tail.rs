//! Where the slow round trips are (`--verbose`): spread over connections, or
//! bunched in time. A server that serves its ready connections in an
//! unfair order puts the same connections in the tail again and again; a
//! server that stalls puts many connections in the tail at the same moment.

/// One round trip: its latency, its connection, when it completed.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) ns: u32,
    pub(crate) conn: u16,
    /// Microseconds since the measured window started.
    pub(crate) at_us: u32,
}

/// How the slowest 1% of round trips is distributed.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Tail {
    /// The slowest connection's mean latency over the fastest one's.
    pub(crate) spread: f64,
    /// The share of the tail (above p99) that the tenth of the connections
    /// with the most tail samples holds (0.1 if the tail is spread evenly).
    pub(crate) top_tenth: f64,
    /// Tail samples per 1 ms window that holds any (1 if they never
    /// bunch; near the connection count if whole passes stall).
    pub(crate) per_ms: f64,
}

pub(crate) fn analyse(samples: &[Sample], conns: usize) -> Tail {
    if samples.is_empty() || conns == 0 {
        return Tail::default();
    }
    let mut ns: Vec<u32> = samples.iter().map(|s| s.ns).collect();
    ns.sort_unstable();
    let p99 = ns[((ns.len() - 1) as f64 * 0.99) as usize];
    let mut sum = vec![0f64; conns];
    let mut count = vec![0u64; conns];
    let mut tail = vec![0u64; conns];
    let mut windows: Vec<u32> = Vec::new();
    for s in samples {
        let c = s.conn as usize;
        sum[c] += s.ns as f64;
        count[c] += 1;
        if s.ns > p99 {
            tail[c] += 1;
            windows.push(s.at_us / 1000);
        }
    }
    let means: Vec<f64> = (0..conns)
        .filter(|&c| count[c] > 0)
        .map(|c| sum[c] / count[c] as f64)
        .collect();
    let max = means.iter().copied().fold(f64::MIN, f64::max);
    let min = means.iter().copied().fold(f64::MAX, f64::min);
    let in_tail: u64 = tail.iter().sum();
    tail.sort_unstable_by(|a, b| b.cmp(a));
    let tenth = conns.div_ceil(10);
    let top: u64 = tail[..tenth].iter().sum();
    windows.sort_unstable();
    windows.dedup();
    Tail {
        spread: max / min,
        top_tenth: top as f64 / in_tail.max(1) as f64,
        per_ms: in_tail as f64 / windows.len().max(1) as f64,
    }
}
