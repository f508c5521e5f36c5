//! Spawning tasks and running a future to completion on a map.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use super::join::{JoinHandle, JoinState};
use super::task::TaskFuture;
use super::{MainWaker, RemoteHandle};
use crate::error::Result;
use crate::event_loop::{RunningGuard, current_map, pass};
use crate::map::Map;

impl Map {
    /// Spawns a task on this map: `future` runs on the map's thread, polled
    /// by the map's loop ([`Map::run`] or [`Map::block_on`]) whenever it is
    /// woken. Tasks need not be `Send`.
    ///
    /// The returned [`JoinHandle`] resolves to the output, or to
    /// [`Error::Panicked`](crate::Error::Panicked) if the task panicked (the
    /// loop goes on). Dropping it lets the task run on.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Exit, Map, RunOptions};
    ///
    /// let map = Map::new()?;
    /// let handle = map.spawn(async { "done" });
    /// assert_eq!(map.run(&RunOptions::new())?, Exit::Empty); // no task left
    /// assert!(handle.is_finished());
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let state = Rc::new(RefCell::new(JoinState::new()));
        let task = TaskFuture::new(future, state.clone());
        self.inner.borrow_mut().executor.insert(Box::pin(task));
        JoinHandle { state }
    }

    /// Runs the loop until `future` completes, and returns its output. The
    /// map's channels and tasks make progress meanwhile.
    ///
    /// # Errors
    ///
    /// * [`Error::AlreadyRunning`](crate::Error::AlreadyRunning): this map's
    ///   loop is already running (e.g. `block_on` from inside a task).
    /// * [`Error::Io`](crate::Error::Io): waiting on the poller failed.
    ///
    /// # Panics
    ///
    /// A panic in `future` itself propagates to the caller (it is the
    /// caller's own future); panics in spawned tasks do not.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let map = asyncore::Map::new()?;
    /// let out = map.block_on(async {
    ///     asyncore::sleep(Duration::from_millis(1)).await;
    ///     7
    /// })?;
    /// assert_eq!(out, 7);
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        let _guard = RunningGuard::enter(self)?;
        let _span = crate::diag::block_on_span().entered();
        for id in self.ids() {
            self.refresh(id);
        }
        let shared = self.inner.borrow().executor.shared.clone();
        let waker = Waker::from(Arc::new(MainWaker(shared.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        shared.main_woken.store(true, Ordering::Release);
        loop {
            if shared.main_woken.swap(false, Ordering::AcqRel) {
                super::budget::reset();
                let poll = future.as_mut().poll(&mut cx);
                self.settle_pending();
                if let Poll::Ready(output) = poll {
                    return Ok(output);
                }
            }
            pass::pass(self, None, crate::ServeOrder::default())?;
        }
    }

    /// Returns a `Send + Sync` handle through which other threads can post
    /// closures to this map's loop or stop it.
    pub fn remote(&self) -> RemoteHandle {
        RemoteHandle {
            shared: self.inner.borrow().executor.shared.clone(),
        }
    }
}

/// Spawns a task on the map whose loop runs on this thread, or on the
/// thread's default map; see [`Map::spawn`].
///
/// # Errors
///
/// The default map could not be created (no poller).
pub fn spawn<F>(future: F) -> std::io::Result<JoinHandle<F::Output>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Ok(current_map()?.spawn(future))
}

/// Runs `future` to completion on this thread's default map; see
/// [`Map::block_on`].
///
/// # Errors
///
/// As [`Map::block_on`], or the default map could not be created.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    crate::map::default_map()?.block_on(future)
}
