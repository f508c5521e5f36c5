//! [`Sleep`]: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::event_loop::current_map;
use crate::map::WeakMap;
use crate::timer::{TimerAction, TimerKey};

/// Completes at its deadline; see [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    /// When to complete.
    deadline: Instant,
    /// The map whose timers wake this future, found at the first poll.
    map: Option<WeakMap>,
    /// The pending timer, once registered: its firing is what completes
    /// the future.
    key: Option<TimerKey>,
    /// What is known of the deadline while no timer is registered.
    phase: Phase,
}

/// What a [`Sleep`] knows of its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// It came from the caller and may have passed: check the clock.
    Unchecked,
    /// It was computed from a clock reading just taken, and was later: in
    /// a running loop the first poll need not read the clock again.
    Fresh,
    /// It has passed.
    Reached,
}

impl Phase {
    /// For a deadline computed from the clock reading `now`.
    fn after_reading(now: Instant, deadline: Instant) -> Phase {
        if deadline <= now {
            Phase::Reached
        } else {
            Phase::Fresh
        }
    }
}

/// Returns a future that completes after `duration`, on the map whose loop
/// polls it. See the [precision](crate::time#precision) notes.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// asyncore::block_on(asyncore::sleep(Duration::from_millis(5)))?;
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// # Ok::<(), asyncore::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    let deadline = super::after(now, duration);
    Sleep {
        deadline,
        map: None,
        key: None,
        phase: Phase::after_reading(now, deadline),
    }
}

/// Returns a future that completes at `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        map: None,
        key: None,
        phase: Phase::Unchecked,
    }
}

impl Sleep {
    /// Returns the deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (the future can complete again if it had).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel_timer();
        self.deadline = deadline;
        self.phase = Phase::Unchecked;
    }

    /// Moves the deadline to `deadline`, computed from the clock reading
    /// `now`.
    pub(crate) fn reset_from(&mut self, now: Instant, deadline: Instant) {
        self.reset(deadline);
        self.phase = Phase::after_reading(now, deadline);
    }

    fn cancel_timer(&mut self) {
        let (Some(key), Some(weak)) = (self.key.take(), &self.map) else {
            return;
        };
        let Ok(map) = weak.upgrade() else {
            return;
        };
        // `try_`: `Drop` must not panic; if the map is borrowed the timer
        // stays and only wakes the task once, spuriously.
        let action = match map.inner.try_borrow_mut() {
            Ok(mut inner) => inner.timers.cancel(key),
            Err(_) => None,
        };
        // Dropped with the map no longer borrowed.
        drop(action);
    }

    /// Completes.
    fn reached(&mut self) -> Poll<()> {
        self.phase = Phase::Reached;
        Poll::Ready(())
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some(key) = this.key {
            // Registered: complete once the timer has fired.
            let map = this.map.as_ref().map(WeakMap::upgrade);
            if let Some(Ok(map)) = map {
                if map.inner.borrow_mut().timers.set_waker(key, cx.waker()) {
                    return Poll::Pending;
                }
            }
            // Fired, or the map is gone (nothing could wake us: complete
            // rather than hang).
            this.key = None;
            return this.reached();
        }
        if this.phase == Phase::Reached {
            return Poll::Ready(());
        }
        let map = match &this.map {
            Some(weak) => weak.upgrade(),
            None => current_map().map_err(Into::into),
        };
        let Ok(map) = map else {
            return this.reached();
        };
        let mut inner = map.inner.borrow_mut();
        // Due by the start of this pass's wake-up check: it would have
        // fired there. Otherwise, in a running loop and with a deadline
        // computed from a recent clock reading, register without reading
        // the clock again: should the deadline have passed meanwhile, the
        // next check fires the timer, as it would have fired one set
        // earlier. Else (a deadline from the caller, or no loop to fire the
        // timer) read the clock.
        let due = match inner.timers.checked_at() {
            Some(checked) if checked >= this.deadline => true,
            _ if this.phase == Phase::Fresh && inner.running => false,
            _ => Instant::now() >= this.deadline,
        };
        if due {
            drop(inner);
            return this.reached();
        }
        this.key = Some(
            inner
                .timers
                .schedule(this.deadline, TimerAction::Wake(cx.waker().clone())),
        );
        drop(inner);
        if this.map.is_none() {
            this.map = Some(WeakMap::new(&map));
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel_timer();
    }
}
