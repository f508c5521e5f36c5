//! [`RemoteHandle`]: reaching a map's loop from another thread.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::map::Map;

/// A `Send + Sync` handle to a map's loop, for other threads: post a
/// closure to run on the loop thread, or stop the loop. Each call interrupts
/// the loop's wait at most once.
///
/// # Examples
///
/// ```
/// use asyncore::{Exit, Map, RunOptions, Socket};
///
/// struct Quiet;
/// impl asyncore::Dispatcher for Quiet {}
///
/// let map = Map::new()?;
/// map.add(Socket::tcp_listen("127.0.0.1:0")?, Quiet)?; // keeps the loop busy
/// let remote = map.remote();
/// let worker = std::thread::spawn(move || {
///     // A posted closure waits for the loop, so this works even if `run`
///     // has not started yet (a bare `remote.stop()` sent that early would
///     // be forgotten, and `run` would go on serving).
///     remote.call_soon(|map| {
///         println!("on the loop thread: {} channel(s)", map.len());
///         map.stop();
///     });
/// });
/// assert_eq!(map.run(&RunOptions::new())?, Exit::Stopped);
/// worker.join().unwrap();
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Clone)]
pub struct RemoteHandle {
    /// The map's shared executor state.
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for RemoteHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteHandle").finish_non_exhaustive()
    }
}

impl RemoteHandle {
    /// Runs `f` on the loop thread during the loop's next pass (Python's
    /// `call_soon_threadsafe`, which asyncore lacked). Closures run in the
    /// order they were posted; a panicking one is reported as an `error`
    /// [`tracing`] event and the loop goes on. Closures posted while no
    /// loop runs wait for the next `run` or `block_on`.
    pub fn call_soon(&self, f: impl FnOnce(&Map) + Send + 'static) {
        self.shared.post(Box::new(f));
    }

    /// Makes the running loop return
    /// [`Exit::Stopped`](crate::Exit::Stopped) after its current pass, as
    /// [`Map::stop`] does on the loop thread. A stop asked while no `run`
    /// is in progress is forgotten when the next one starts; `block_on`
    /// ignores stops (it returns when its future completes). To stop a loop
    /// that may not have started yet, post the stop instead:
    /// `remote.call_soon(|map| map.stop())`.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.notify();
    }
}
