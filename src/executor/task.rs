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
        state: Rc<RefCell<JoinState<F::Output>>>,
    }
}

impl<F: Future> TaskFuture<F> {
    pub(crate) fn new(future: F, state: Rc<RefCell<JoinState<F::Output>>>) -> Self {
        TaskFuture { future, state }
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
            Err(payload) => Err(panic_error("task", payload)),
        };
        this.state.borrow_mut().finish(outcome);
        Poll::Ready(())
    }
}
