//! The order in which a pass serves its ready channels: the ones that
//! became ready since the last wait first, then the ones that wait also
//! reported, in the poller's order.
//!
//! Level-triggered epoll puts every channel a wait reports back on its
//! ready list, in the same order, ahead of channels that become ready
//! later. So a channel served early in one pass is served early in the
//! next, and a channel that just missed a wait goes to the back of the
//! next pass although it has waited longest: a whole pass and most of
//! another. Under load that made our connections unequal, some served
//! late pass after pass (measured in `BENCHMARKS.md`, "Tail latency").
//! Edge-triggered epoll, as tokio uses it, reports channels in the order
//! they became ready; moving the newcomers to the front comes close to
//! that order for the channels that stay level-triggered (listeners,
//! datagrams, pipes, TLS). Stream channels are edge-triggered on epoll
//! (see `event_loop::edge`), and there moving the channels the previous
//! wait reported behind the others still measured as well as or better
//! than the poller's order alone (`BENCHMARKS.md`, "Edge-triggered stream
//! channels").

use super::pass::Readiness;
use crate::map::Inner;

/// Counts this wait and reorders `ready[from..]` (the poller's report;
/// what comes before was queued without one): channels the previous wait
/// did not report first, each group in the poller's order.
pub(crate) fn newcomers_first(
    inner: &mut Inner,
    ready: &mut Vec<(usize, Readiness)>,
    from: usize,
    again: &mut Vec<(usize, Readiness)>,
) {
    inner.waits = inner.waits.wrapping_add(1);
    let now = inner.waits;
    let previous = now.wrapping_sub(1);
    // A stable partition of `ready[from..]` in place: newcomers stay,
    // channels reported again move to `again`, then follow.
    let mut kept = from;
    for i in from..ready.len() {
        let entry = ready[i];
        let channel = inner.id_for_key(entry.0).and_then(|id| inner.get_mut(id));
        let reported_before = channel.is_some_and(|channel| {
            let before = channel.last_wait == previous;
            channel.last_wait = now;
            before
        });
        if reported_before {
            again.push(entry);
        } else {
            ready[kept] = entry;
            kept += 1;
        }
    }
    ready.truncate(kept);
    ready.append(again);
}
