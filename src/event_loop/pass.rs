//! One pass: wait on the poller (not at all if work is ready), dispatch
//! every event, fire due timers, run the tasks woken so far.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::dispatch::dispatch;
use super::options::ServeOrder;
use super::order;
use crate::error::{Result, panic_error};
use crate::map::Map;
use crate::timer::TimerAction;

/// What the poller reported for one channel.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Readiness {
    /// Input, a pending connection, or (on epoll) HUP/ERR/PRI.
    pub(crate) readable: bool,
    /// Output possible, a connect finished, or HUP/ERR.
    pub(crate) writable: bool,
    /// Out-of-band data pending (`POLLPRI`; never on kqueue).
    pub(crate) priority: bool,
    /// An error is pending on the socket (`POLLERR`).
    pub(crate) err: bool,
}

impl Readiness {
    fn from_event(event: &polling::Event) -> Readiness {
        Readiness {
            readable: event.readable,
            writable: event.writable,
            priority: event.is_priority(),
            err: event.is_err().unwrap_or(false),
        }
    }

    fn merge(&mut self, other: Readiness) {
        self.readable |= other.readable;
        self.writable |= other.writable;
        self.priority |= other.priority;
        self.err |= other.err;
    }
}

/// kqueue reports a socket's read and write readiness as two events; merge
/// them so a channel is dispatched once per pass, read before write. Only
/// `ready[from..]` (the poller's report) is merged; what comes before was
/// queued without an event and keeps its place. (Compiled everywhere so
/// its test runs on Linux too; epoll and poll(2) report each fd once.)
#[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
fn merge_split_events(ready: &mut Vec<(usize, Readiness)>, from: usize) {
    ready[from..].sort_by_key(|(key, _)| *key);
    let mut kept = from;
    for i in from..ready.len() {
        if kept > from && ready[kept - 1].0 == ready[i].0 {
            let later = ready[i].1;
            ready[kept - 1].1.merge(later);
        } else {
            ready[kept] = ready[i];
            kept += 1;
        }
    }
    ready.truncate(kept);
}

/// Merges what the backend reports split.
fn merge_reported(ready: &mut Vec<(usize, Readiness)>, from: usize) {
    if cfg!(not(any(target_os = "linux", target_os = "android"))) {
        merge_split_events(ready, from);
    }
}

/// Waits for events, at most `timeout`; not at all if work is queued.
/// The suspects' check (see `event_loop::edge`) may wake the wait in the
/// middle: it runs then, and unless it finds something to serve, the wait
/// goes on for the rest of `timeout`, so a pass still ends only with
/// events, queued work or its full timeout.
fn wait(inner: &mut crate::map::Inner, timeout: Option<Duration>) -> std::io::Result<()> {
    // Channels queued for dispatch without a poller event (a TLS channel
    // with decrypted input buffered) must not wait.
    if inner.executor.shared.has_work() || !inner.ready.is_empty() {
        inner.events.clear();
        return inner
            .poller
            .wait(&mut inner.events, Some(Duration::ZERO))
            .map(drop);
    }
    // The clock is read only when a timer is pending, or when the check
    // may cut a bounded wait short.
    let end = match timeout {
        Some(t) if !inner.suspects.is_empty() => Some(Instant::now() + t),
        _ => None,
    };
    loop {
        let left = match end {
            Some(end) => Some(end.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        let until = if inner.timers.is_empty() {
            left
        } else {
            inner.timers.clamp(left, Instant::now())
        };
        inner.events.clear();
        inner.poller.wait(&mut inner.events, until)?;
        if !inner.suspects.ticked(&inner.events) {
            return Ok(());
        }
        check_suspects(inner);
        // Only the check's timer, and no other thread's wake-up either.
        let woken_for_nothing = inner.events.len() == 1
            && inner.ready.is_empty()
            && !inner.executor.shared.was_called();
        if !woken_for_nothing || until == Some(Duration::ZERO) {
            return Ok(());
        }
    }
}

/// Runs one pass with a wait of at most `timeout`.
pub(crate) fn pass(map: &Map, timeout: Option<Duration>, order: ServeOrder) -> Result<()> {
    let mut ready = {
        let mut inner = map.inner.borrow_mut();
        let inner = &mut *inner;
        #[cfg(feature = "pass-stats")]
        let started = inner.pass_stats.wait_starts();
        wait(inner, timeout)?;
        let mut ready = std::mem::take(&mut inner.ready);
        let queued = ready.len();
        ready.extend(
            inner
                .events
                .iter()
                .filter(|e| e.key != crate::map::TICK_KEY)
                .map(|e| (e.key, Readiness::from_event(&e))),
        );
        merge_reported(&mut ready, queued);
        if order == ServeOrder::NewcomersFirst {
            let mut again = std::mem::take(&mut inner.ready_again);
            order::newcomers_first(inner, &mut ready, queued, &mut again);
            inner.ready_again = again;
        }
        #[cfg(feature = "pass-stats")]
        inner.pass_stats.wait_ended(started, ready.len());
        ready
    };
    for (key, readiness) in ready.drain(..) {
        #[cfg(feature = "pass-stats")]
        map.inner.borrow_mut().pass_stats.dispatch_starts();
        dispatch(map, key, readiness);
        map.settle_pending();
    }
    // Give the list back for reuse, keeping what was queued for the next
    // pass meanwhile.
    let mut inner = map.inner.borrow_mut();
    ready.append(&mut inner.ready);
    inner.ready = ready;
    if !inner.suspects.is_empty() {
        check_suspects(&mut inner);
    }
    drop(inner);
    // Timers before tasks, so a task a timer wakes runs in this pass.
    fire_timers(map);
    crate::executor::run_ready(map);
    Ok(())
}

/// Checks the suspects (see `event_loop::edge`) if the check is due:
/// those that read short again in the interval that just ended are busy
/// and stay listed; the others are peeked at, and the ones whose socket
/// still has something to read (an end of file that came with their last
/// input) are queued for the next pass.
fn check_suspects(inner: &mut crate::map::Inner) {
    let mut due = Vec::new();
    let Some(ended) = inner.suspects.take_due(Instant::now(), &mut due) else {
        return;
    };
    for id in due {
        let Some(channel) = inner.get_mut(id) else {
            continue;
        };
        if channel.suspect == ended && inner.suspects.add(id) {
            continue;
        }
        let Some(channel) = inner.get_mut(id) else {
            continue;
        };
        channel.suspect = 0;
        if !crate::sys::has_more_input(channel.reg.get()) {
            continue;
        }
        let key = id.key();
        if !inner.ready.iter().any(|(k, _)| *k == key) {
            inner.ready.push((
                key,
                Readiness {
                    readable: true,
                    ..Readiness::default()
                },
            ));
        }
    }
}

fn fire_timers(map: &Map) {
    if map.inner.borrow().timers.is_empty() {
        return;
    }
    let now = Instant::now();
    loop {
        let action = map.inner.borrow_mut().timers.pop_due(now);
        match action {
            None => return,
            Some(TimerAction::ResumeAccept(id)) => {
                if let Some(channel) = map.inner.borrow_mut().get_mut(id) {
                    channel.accept_paused = false;
                }
                map.refresh(id);
            }
            Some(TimerAction::Wake(waker)) => waker.wake(),
            Some(TimerAction::IdleCheck(id)) => map.check_idle(id, now),
            #[cfg(feature = "tls")]
            Some(TimerAction::HandshakeDeadline(id)) => {
                super::tls::handshake_deadline(map, id);
                map.settle_pending();
            }
            Some(TimerAction::Call(f)) => {
                // A panicking callback must not take the loop down.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(map))) {
                    crate::diag::callback_panicked(
                        "call_later",
                        &panic_error("call_later", payload),
                    );
                }
                map.settle_pending();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(readable: bool, writable: bool) -> Readiness {
        Readiness {
            readable,
            writable,
            ..Readiness::default()
        }
    }

    #[test]
    fn split_events_merge_per_key_and_queued_entries_keep_their_place() {
        // Entry 0 was queued without an event (key 9); then kqueue's
        // report: key 5 readable, key 2, key 5 writable.
        let mut ready = vec![
            (9, r(true, false)),
            (5, r(true, false)),
            (2, r(false, true)),
        ];
        ready.push((5, r(false, true)));
        merge_split_events(&mut ready, 1);
        let keys: Vec<usize> = ready.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [9, 2, 5]);
        assert!(ready[2].1.readable && ready[2].1.writable, "key 5 merged");
        assert!(!ready[1].1.readable && ready[1].1.writable);
        // Nothing reported: nothing changes.
        merge_split_events(&mut ready, 3);
        assert_eq!(ready.len(), 3);
    }
}
