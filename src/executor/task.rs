//! The future a spawned task runs: the user's future, with its output (or
//! panic) delivered to the task's `JoinHandle`.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::join::JoinState;
use crate::error::panic_error;

pin_project! {
    /// Polls `future`, catching panics, and hands the outcome to the
    /// `JoinHandle`.
    pub(crate) struct TaskFuture<F: Future> {
        #[pin]
        future: F,
        state: Finisher<F::Output>,
    }
}

/// The task's side of the shared state: if the task is dropped before it
/// finished (its map dropped, `close_all`, cancelled), the handle resolves
/// to `Error::Cancelled` instead of waiting forever.
pub(crate) struct Finisher<T>(Rc<RefCell<JoinState<T>>>);

impl<T> std::ops::Deref for Finisher<T> {
    type Target = Rc<RefCell<JoinState<T>>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T> Drop for Finisher<T> {
    fn drop(&mut self) {
        // `try_`: the handle may be borrowed if it is polled by the very
        // code dropping this task; never panic in drop.
        if let Ok(mut state) = self.0.try_borrow_mut() {
            if !state.is_done() {
                state.finish(Err(crate::Error::Cancelled));
            }
        }
    }
}

impl<F: Future> TaskFuture<F> {
    pub(crate) fn new(future: F, state: Rc<RefCell<JoinState<F::Output>>>) -> Self {
        TaskFuture {
            future,
            state: Finisher(state),
        }
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        {
            let mut state = this.state.borrow_mut();
            if state.cancelled {
                return Poll::Ready(());
            }
            state.set_task_waker(cx.waker());
        }
        let future = this.future;
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => {
                let error = panic_error("task", payload);
                // Nobody holds the handle: this event is the only trace.
                if Rc::strong_count(this.state) == 1 {
                    crate::diag::callback_panicked("task", &error);
                }
                Err(error)
            }
        };
        this.state.borrow_mut().finish(outcome);
        Poll::Ready(())
    }
}
