//! Timers for both faces: `sleep`, `timeout` and `interval` for tasks,
//! `call_later`/`call_at` for callbacks.
//!
//! # Precision
//!
//! A timer never fires early: it fires in the first pass that starts its
//! wake-up check at or after its deadline. The wait itself has nanosecond
//! resolution on Linux (a timerfd in `polling`), and the kernel adds its
//! timer slack, typically 50 µs; a busy loop adds the time of the pass
//! that was running. Deadlines use [`Instant`], so
//! wall-clock changes do not move them.

mod call;
mod idle;
mod interval;
mod sleep;
mod timeout;

pub use call::TimerHandle;
pub use interval::{Interval, interval};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Timeout, timeout};

use std::time::{Duration, Instant};

/// `start + duration`, saturating at about thirty years from `start`
/// instead of overflowing (`Duration::MAX` means "never", in effect).
pub(crate) fn after(start: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    start.checked_add(duration.min(FAR)).unwrap_or(start)
}
