//! `call_later`/`call_at`: timed callbacks on the loop, and their handle.

use std::fmt;
use std::time::{Duration, Instant};

use crate::ctx::Ctx;
use crate::map::{Map, WeakMap};
use crate::timer::{TimerAction, TimerKey};

/// A pending [`Map::call_later`]/[`Map::call_at`] callback; cancel it with
/// [`TimerHandle::cancel`]. Dropping the handle does not cancel.
pub struct TimerHandle {
    /// The map holding the timer (weak: a handle kept in a callback must
    /// not keep the map alive).
    map: WeakMap,
    /// The timer.
    key: TimerKey,
    /// When the callback is due.
    deadline: Instant,
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl TimerHandle {
    /// Cancels the callback. Returns `true` if it had not run yet.
    pub fn cancel(&self) -> bool {
        let Ok(map) = self.map.upgrade() else {
            return false;
        };
        let callback = map.inner.borrow_mut().timers.cancel(self.key);
        // Dropped with the map no longer borrowed: the callback may own
        // things whose `Drop` uses the map.
        callback.is_some()
    }

    /// Returns when the callback is due.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Map {
    /// Calls `f` with the map once `delay` has passed, from the loop (the
    /// asyncio `call_later` asyncore lacked). Timers fire in deadline order,
    /// equal deadlines in the order they were set; see the
    /// [precision](crate::time#precision) notes. A panicking callback is
    /// reported as an `error` [`tracing`] event and the loop goes on. As in asyncore, `run` ends
    /// when no channel and no task is left: a pending timer alone does not
    /// keep it running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use asyncore::{Exit, Map, RunOptions};
    ///
    /// let map = Map::new()?;
    /// let never = map.call_later(Duration::from_millis(1), |_| panic!("cancelled"));
    /// map.call_later(Duration::from_millis(2), |map| map.stop());
    /// assert!(never.cancel());
    /// # let listener = asyncore::Socket::tcp_listen("127.0.0.1:0")?;
    /// # struct Quiet;
    /// # impl asyncore::Dispatcher for Quiet {}
    /// # map.add(listener, Quiet)?; // something to keep the loop running
    /// assert_eq!(map.run(&RunOptions::new())?, Exit::Stopped);
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn call_later(&self, delay: Duration, f: impl FnOnce(&Map) + 'static) -> TimerHandle {
        self.call_at(super::after(Instant::now(), delay), f)
    }

    /// Calls `f` with the map at `deadline`; see [`Map::call_later`].
    pub fn call_at(&self, deadline: Instant, f: impl FnOnce(&Map) + 'static) -> TimerHandle {
        let key = self
            .inner
            .borrow_mut()
            .timers
            .schedule(deadline, TimerAction::Call(Box::new(f)));
        TimerHandle {
            map: WeakMap::new(self),
            key,
            deadline,
        }
    }
}

impl Ctx<'_> {
    /// Calls `f` with the map after `delay`; see [`Map::call_later`].
    pub fn call_later(&mut self, delay: Duration, f: impl FnOnce(&Map) + 'static) -> TimerHandle {
        self.map().call_later(delay, f)
    }

    /// Spawns a task on the map; see [`Map::spawn`].
    pub fn spawn<F>(&mut self, future: F) -> crate::JoinHandle<F::Output>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        self.map().spawn(future)
    }
}
