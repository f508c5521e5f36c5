//! [`JoinHandle`]: awaits a spawned task's output.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::Result;

/// What a task and its handle share.
pub(crate) struct JoinState<T> {
    /// The task's output or panic, until the handle takes it.
    outcome: Option<Result<T>>,
    /// The task finished (its outcome may already be taken).
    done: bool,
    /// The handle asked the task to stop.
    pub(crate) cancelled: bool,
    /// Who awaits the handle.
    waiter: Option<Waker>,
    /// The task's own waker, so `cancel` can have it dropped promptly.
    task: Option<Waker>,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Self {
        JoinState {
            outcome: None,
            done: false,
            cancelled: false,
            waiter: None,
            task: None,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn set_task_waker(&mut self, waker: &Waker) {
        match &mut self.task {
            Some(w) => w.clone_from(waker),
            None => self.task = Some(waker.clone()),
        }
    }

    pub(crate) fn finish(&mut self, outcome: Result<T>) {
        self.outcome = Some(outcome);
        self.done = true;
        if let Some(waiter) = self.waiter.take() {
            waiter.wake();
        }
    }
}

/// Awaits a spawned task: resolves to its output, or to
/// [`Error::Panicked`](crate::Error::Panicked) if it panicked.
///
/// Dropping the handle detaches the task: it runs on. [`JoinHandle::cancel`]
/// stops it before its next poll. A task dropped unfinished (its map was
/// dropped, say) resolves to [`Error::Cancelled`](crate::Error::Cancelled).
///
/// # Examples
///
/// ```
/// let map = asyncore::Map::new()?;
/// let handle = map.spawn(async { 6 * 7 });
/// assert_eq!(map.block_on(handle)??, 42);
/// # Ok::<(), asyncore::Error>(())
/// ```
pub struct JoinHandle<T> {
    /// Shared with the task.
    pub(crate) state: Rc<RefCell<JoinState<T>>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// Returns `true` once the task has finished (or panicked).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().done
    }

    /// Stops the task: it is dropped instead of being polled again, and
    /// this handle then resolves to [`Error::Cancelled`](crate::Error::Cancelled)
    /// (unless the task had already finished).
    pub fn cancel(&self) {
        let mut state = self.state.borrow_mut();
        if !state.done {
            state.cancelled = true;
            state.finish(Err(crate::Error::Cancelled));
            if let Some(task) = state.task.take() {
                task.wake();
            }
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut state = self.state.borrow_mut();
        match state.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None if state.done => Poll::Ready(Err(crate::Error::Cancelled)),
            None => {
                state.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
