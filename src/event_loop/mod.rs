//! The loop: run options, one pass, and the dispatch of readiness to
//! callbacks.

mod dispatch;
mod options;
mod pass;
mod session;

pub use options::{DEFAULT_TIMEOUT, Exit, RunOptions};
pub(crate) use pass::Readiness;
pub(crate) use session::Session;

use crate::error::{Error, Result};
use crate::map::Map;

/// Clears the map's `running` flag when `run` returns or unwinds.
struct RunningGuard<'a>(&'a Map);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        // `try_`: never panic again while unwinding.
        if let Ok(mut inner) = self.0.inner.try_borrow_mut() {
            inner.running = false;
        }
    }
}

impl Map {
    /// Runs the loop (Python's `asyncore.loop`): passes of wait-then-dispatch
    /// until the map is empty, the pass count is used up, or
    /// [`Map::stop`] is called.
    ///
    /// Each pass waits up to [`RunOptions::timeout`] for readiness (less when
    /// a listener's back-off ends sooner), then calls the handlers of every
    /// ready channel. At the start, every channel's interest is asked
    /// afresh.
    ///
    /// # Errors
    ///
    /// * [`Error::AlreadyRunning`]: called from inside this map's own loop.
    /// * [`Error::Io`]: waiting on the poller failed.
    ///
    /// Handler errors and panics never end the loop: they go to the
    /// channel's `handle_error`.
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
        {
            let mut inner = self.inner.borrow_mut();
            if inner.running {
                return Err(Error::AlreadyRunning);
            }
            inner.running = true;
            inner.stop = false;
        }
        let _guard = RunningGuard(self);
        for id in self.ids() {
            self.refresh(id);
        }
        let mut passes = 0u64;
        loop {
            if std::mem::take(&mut self.inner.borrow_mut().stop) {
                return Ok(Exit::Stopped);
            }
            if self.is_empty() {
                return Ok(Exit::Empty);
            }
            if options.count.is_some_and(|count| passes >= count) {
                return Ok(Exit::CountExhausted);
            }
            pass::pass(self, options.timeout)?;
            passes += 1;
        }
    }
}
