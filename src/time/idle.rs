//! Idle timeouts for channels: close a channel that has been quiet too long.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::map::{ChannelId, Map};
use crate::timer::TimerAction;

impl Map {
    /// Closes channel `id` (through its `handle_close`) once it has gone
    /// `timeout` without a readiness event; `None` turns the timeout off.
    /// Any event (input, output, connect, ...) restarts the count; checking
    /// costs one clock read per event of this channel and one timer per
    /// `timeout` period. Twisted's `TimeoutMixin`, for callback channels;
    /// tasks use [`timeout`](crate::timeout).
    ///
    /// A timeout that is changed while one is active takes effect at the
    /// next check.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed): the channel is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use asyncore::{Exit, Map, RunOptions, Socket};
    ///
    /// struct Quiet;
    /// impl asyncore::Dispatcher for Quiet {}
    ///
    /// let map = Map::new()?;
    /// let (ours, _peer) = Socket::unix_stream_pair()?;
    /// let id = map.add(ours, Quiet)?;
    /// map.set_idle_timeout(id, Some(Duration::from_millis(20)))?;
    /// let start = Instant::now();
    /// assert_eq!(map.run(&RunOptions::new())?, Exit::Empty); // closed when idle
    /// assert!(start.elapsed() >= Duration::from_millis(20));
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn set_idle_timeout(&self, id: ChannelId, timeout: Option<Duration>) -> Result<()> {
        let now = Instant::now();
        let mut inner = self.inner.borrow_mut();
        let channel = inner.channel_mut(id)?;
        let had = channel.idle.is_some();
        channel.idle = timeout.map(|t| (t, now));
        if let (Some(t), false) = (timeout, had) {
            inner
                .timers
                .schedule(super::after(now, t), TimerAction::IdleCheck(id));
        }
        Ok(())
    }

    /// A channel's idle timer fired: close it if it has been idle long
    /// enough, or check again when it could be.
    pub(crate) fn check_idle(&self, id: ChannelId, now: Instant) {
        {
            let mut inner = self.inner.borrow_mut();
            let Some(channel) = inner.get_mut(id) else {
                return;
            };
            let Some((timeout, last)) = channel.idle else {
                return;
            };
            let due = super::after(last, timeout);
            if due > now {
                inner.timers.schedule(due, TimerAction::IdleCheck(id));
                return;
            }
        }
        self.close(id);
    }
}
