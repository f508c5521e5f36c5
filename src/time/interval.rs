//! [`Interval`]: a stream of ticks at a fixed period.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::sleep::{Sleep, sleep};

/// Ticks every period; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    /// The next tick.
    sleep: Sleep,
    /// Time between ticks.
    period: Duration,
}

/// Returns a stream that yields the deadline of each tick: the first one
/// after `period`, then every `period`. A tick that comes late does not
/// make the next ones come early in a burst: the schedule restarts from the
/// late tick.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval: the period must not be zero");
    Interval {
        sleep: sleep(period),
        period,
    }
}

impl Interval {
    /// Waits for the next tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let deadline = self.sleep.deadline();
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                let now = Instant::now();
                let on_time = super::after(deadline, self.period);
                // A late tick restarts the schedule instead of bursting.
                let next = if now >= on_time {
                    super::after(now, self.period)
                } else {
                    on_time
                };
                self.sleep.reset_from(now, next);
                Poll::Ready(deadline)
            }
        }
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
