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
    /// The pending timer, once registered.
    key: Option<TimerKey>,
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
    sleep_until(super::after(Instant::now(), duration))
}

/// Returns a future that completes at `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        map: None,
        key: None,
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
    }

    fn cancel_timer(&mut self) {
        if let (Some(key), Some(map)) = (self.key.take(), &self.map) {
            if let Ok(map) = map.upgrade() {
                map.inner.borrow_mut().timers.cancel(key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel_timer();
            return Poll::Ready(());
        }
        let map = match &self.map {
            Some(weak) => weak.upgrade(),
            None => current_map().map_err(Into::into),
        };
        // Without a map nothing can ever wake us: complete rather than hang.
        let Ok(map) = map else {
            return Poll::Ready(());
        };
        if self.map.is_none() {
            self.map = Some(WeakMap::new(&map));
        }
        let mut inner = map.inner.borrow_mut();
        let refreshed = self
            .key
            .is_some_and(|key| inner.timers.set_waker(key, cx.waker()));
        if !refreshed {
            let deadline = self.deadline;
            self.key = Some(
                inner
                    .timers
                    .schedule(deadline, TimerAction::Wake(cx.waker().clone())),
            );
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel_timer();
    }
}
