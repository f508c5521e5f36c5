//! The thread-local default map: Python's module-level `socket_map`, one per
//! thread instead of one per process.

use std::cell::RefCell;
use std::io;

use super::Map;
use crate::error::Result;
use crate::event_loop::{Exit, RunOptions};

thread_local! {
    static DEFAULT: RefCell<Option<Map>> = const { RefCell::new(None) };
}

/// Returns this thread's default map, creating it on first use.
///
/// Python's `asyncore.socket_map` was one map for the whole process; here
/// each thread has its own, since maps are `!Send`.
///
/// # Errors
///
/// The first call on a thread fails if the poller cannot be created.
///
/// # Examples
///
/// ```
/// let a = asyncore::default_map()?;
/// let b = asyncore::default_map()?;
/// assert!(a.is_empty() && b.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn default_map() -> io::Result<Map> {
    DEFAULT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(map) = &*slot {
            return Ok(map.clone());
        }
        let map = Map::new()?;
        *slot = Some(map.clone());
        Ok(map)
    })
}

/// Runs this thread's default map (Python's `asyncore.loop()` with
/// `map=None`); see [`Map::run`].
///
/// # Errors
///
/// As [`Map::run`], or the default map could not be created.
pub fn run(options: &RunOptions) -> Result<Exit> {
    default_map()?.run(options)
}

/// Closes every channel of this thread's default map (Python's
/// `asyncore.close_all()`).
///
/// # Errors
///
/// The default map could not be created.
pub fn close_all() -> io::Result<()> {
    default_map()?.close_all();
    Ok(())
}
