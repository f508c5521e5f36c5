//! [`Timeout`]: a future with a time limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::sleep::{Sleep, sleep};
use crate::error::{Error, Result};

pin_project! {
    /// A future with a time limit; see [`timeout`].
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
        limit: Duration,
    }
}

/// Runs `future` with a time limit: its output, or
/// [`Error::TimedOut`] if `limit` passes first (the future is then dropped
/// by the caller). The future is polled first, so one that is ready
/// completes even with a zero limit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use asyncore::{sleep, timeout, Error};
///
/// let map = asyncore::Map::new()?;
/// let slow = map.block_on(timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))))?;
/// assert!(matches!(slow, Err(Error::TimedOut(_))));
/// let fast = map.block_on(timeout(Duration::from_secs(60), async { 1 }))?;
/// assert_eq!(fast?, 1);
/// # Ok::<(), asyncore::Error>(())
/// ```
pub fn timeout<F: Future>(limit: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(limit),
        limit,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::TimedOut(*this.limit))),
            Poll::Pending => Poll::Pending,
        }
    }
}
