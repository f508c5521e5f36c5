//! The loop: run options, one pass, and the dispatch of readiness to
//! callbacks.

mod dispatch;
pub(crate) mod edge;
mod options;
mod order;
pub(crate) mod pass;
mod session;
#[cfg(feature = "pass-stats")]
pub(crate) mod stats;
#[cfg(feature = "tls")]
mod tls;

pub use options::{DEFAULT_TIMEOUT, Exit, RunOptions, ServeOrder};
pub(crate) use pass::Readiness;
pub(crate) use session::Session;

use crate::error::{Error, Result};
use crate::map::Map;

/// Marks a map's loop as running on this thread: clears the flag and pops
/// the current-map stack when `run`/`block_on` returns or unwinds.
pub(crate) struct RunningGuard<'a>(&'a Map);

thread_local! {
    /// The maps whose loops run on this thread, innermost last.
    static CURRENT: std::cell::RefCell<Vec<Map>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Returns the map whose loop is running on this thread (the innermost
/// one), or the thread's default map.
pub(crate) fn current_map() -> std::io::Result<Map> {
    match CURRENT.with(|c| c.borrow().last().cloned()) {
        Some(map) => Ok(map),
        None => crate::map::default_map(),
    }
}

impl<'a> RunningGuard<'a> {
    pub(crate) fn enter(map: &'a Map) -> Result<Self> {
        {
            let mut inner = map.inner.borrow_mut();
            if inner.running {
                return Err(Error::AlreadyRunning);
            }
            inner.running = true;
            inner.stop = false;
            // A stop asked while no loop ran is forgotten, as for `Map::stop`.
            inner
                .executor
                .shared
                .stop
                .store(false, std::sync::atomic::Ordering::Release);
        }
        CURRENT.with(|c| c.borrow_mut().push(map.clone()));
        Ok(RunningGuard(map))
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        // `try_`: never panic again while unwinding.
        if let Ok(mut inner) = self.0.inner.try_borrow_mut() {
            inner.running = false;
        }
        let _ = CURRENT.try_with(|c| c.borrow_mut().pop());
        if !std::thread::panicking() {
            self.0.settle_pending();
        }
    }
}

impl Map {
    /// Runs the loop (Python's `asyncore.loop`): passes of wait-then-dispatch
    /// until no channel and no task is left, the pass count is used up, or
    /// [`Map::stop`] (or [`RemoteHandle::stop`](crate::RemoteHandle::stop))
    /// is called.
    ///
    /// Each pass waits up to [`RunOptions::timeout`] for readiness (less
    /// when a timer is due sooner, not at all when a task is ready), calls
    /// the handlers of every ready channel (those that became ready since
    /// the previous wait first: [`ServeOrder`](crate::ServeOrder)), fires
    /// due timers, and runs the tasks woken so far. At the start, every
    /// channel's interest is asked afresh.
    ///
    /// # Errors
    ///
    /// * [`Error::AlreadyRunning`]: called from inside this map's own loop.
    /// * [`Error::Io`]: waiting on the poller failed.
    ///
    /// Handler errors and panics never end the loop: they go to the
    /// channel's `handle_error` (or the task's [`JoinHandle`](crate::JoinHandle)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use asyncore::{Exit, Map, RunOptions};
    ///
    /// let map = Map::new()?;
    /// // An empty map returns at once, as in Python.
    /// assert_eq!(map.run(&RunOptions::new())?, Exit::Empty);
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn run(&self, options: &RunOptions) -> Result<Exit> {
        let _guard = RunningGuard::enter(self)?;
        let _span = crate::diag::run_span(options.count, options.timeout).entered();
        for id in self.ids() {
            self.refresh(id);
        }
        // Without a pass limit, a wait that times out only starts the next
        // one, so a non-zero timeout is the same as none; none spares the
        // kernel arming polling's timerfd for every wait.
        let wait = match options.timeout {
            Some(t) if options.count.is_none() && !t.is_zero() => None,
            other => other,
        };
        let mut passes = 0u64;
        let exit = loop {
            if let Some(exit) = self.stop_requested() {
                break exit;
            }
            if let Some(summary) = self.shutdown_finished() {
                break Exit::Shutdown(summary);
            }
            if self.is_empty() && self.tasks() == 0 {
                break Exit::Empty;
            }
            if options.count.is_some_and(|count| passes >= count) {
                break Exit::CountExhausted;
            }
            pass::pass(self, wait, options.order)?;
            passes += 1;
        };
        crate::diag::run_returned(exit, passes);
        Ok(exit)
    }

    /// Returns what the loop recorded about its passes so far (feature
    /// `pass-stats`, for benchmarks; not part of the stable API).
    #[cfg(feature = "pass-stats")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pass-stats")))]
    pub fn pass_stats(&self) -> stats::PassStats {
        self.inner.borrow().pass_stats.stats
    }

    /// Takes a pending stop request, local or remote.
    pub(crate) fn stop_requested(&self) -> Option<Exit> {
        let mut inner = self.inner.borrow_mut();
        let remote = inner
            .executor
            .shared
            .stop
            .swap(false, std::sync::atomic::Ordering::AcqRel);
        (std::mem::take(&mut inner.stop) || remote).then_some(Exit::Stopped)
    }
}
