//! Graceful shutdown: stop accepting, let every channel finish, flush, and
//! force-close what is left at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{Map, WeakMap};
use crate::event_loop::Session;

/// How a graceful shutdown ended, in [`Exit::Shutdown`](crate::Exit::Shutdown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownSummary {
    /// Channels that closed by themselves before the deadline.
    pub closed: usize,
    /// Channels still open at the deadline, closed then.
    pub forced: usize,
}

/// A shutdown in progress.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    /// Channels open when it started.
    started_with: usize,
    /// Set at the deadline: how many were closed then.
    forced: Option<usize>,
}

impl Map {
    /// Starts a graceful shutdown: every callback channel gets
    /// [`handle_shutdown`](crate::Dispatcher::handle_shutdown) (by default
    /// a listener closes, a stream closes once its queued output is sent),
    /// every [`Map::shutdown_requested`] future completes so tasks can wind
    /// down, and after `grace` whatever is still open is closed.
    /// [`Map::run`] then returns [`Exit::Shutdown`](crate::Exit::Shutdown)
    /// with a [`ShutdownSummary`], as soon as the map is empty (channels
    /// and tasks) or at the deadline. A second call does nothing.
    pub fn shutdown(&self, grace: Duration) {
        let waiters = {
            let mut inner = self.inner.borrow_mut();
            if inner.shutdown.is_some() {
                return;
            }
            inner.shutdown = Some(ShutdownState {
                started_with: inner.len,
                forced: None,
            });
            std::mem::take(&mut inner.shutdown_waiters)
        };
        for waker in waiters {
            waker.wake();
        }
        self.call_later(grace, |map| map.force_shutdown());
        // Each channel's session delivers `handle_shutdown` as it
        // finishes; a channel whose hook is running gets it when that hook
        // returns.
        for id in self.ids() {
            if let Some(session) = Session::open(self, id) {
                session.finish();
            }
        }
    }

    /// Whether [`Map::shutdown`] was called and the shutdown is not over.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.borrow().shutdown.is_some()
    }

    /// A future that completes once [`Map::shutdown`] is called: the
    /// cancellation signal for tasks (select it against an accept loop, a
    /// read, a sleep).
    pub fn shutdown_requested(&self) -> ShutdownRequested {
        ShutdownRequested {
            map: WeakMap::new(self),
        }
    }

    /// The deadline: closes what is left.
    fn force_shutdown(&self) {
        let forced = self.len();
        if let Some(state) = self.inner.borrow_mut().shutdown.as_mut() {
            state.forced = Some(forced);
        } else {
            return;
        }
        self.close_all();
    }

    /// The summary, once the shutdown is over (the map is empty, or the
    /// deadline passed); the map is then no longer shutting down.
    pub(crate) fn shutdown_finished(&self) -> Option<ShutdownSummary> {
        let empty = self.is_empty() && self.tasks() == 0;
        let mut inner = self.inner.borrow_mut();
        let state = inner.shutdown.as_ref()?;
        if !empty && state.forced.is_none() {
            return None;
        }
        let forced = state.forced.unwrap_or(0);
        let summary = ShutdownSummary {
            closed: state.started_with.saturating_sub(forced),
            forced,
        };
        inner.shutdown = None;
        Some(summary)
    }
}

/// The future of [`Map::shutdown_requested`]; completes at once if the map
/// is shutting down or gone.
#[derive(Clone, Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ShutdownRequested {
    map: WeakMap,
}

impl Future for ShutdownRequested {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Ok(map) = self.map.upgrade() else {
            return Poll::Ready(());
        };
        let mut inner = map.inner.borrow_mut();
        if inner.shutdown.is_some() {
            return Poll::Ready(());
        }
        let waker: &Waker = cx.waker();
        if !inner.shutdown_waiters.iter().any(|w| w.will_wake(waker)) {
            inner.shutdown_waiters.push(waker.clone());
        }
        Poll::Pending
    }
}
