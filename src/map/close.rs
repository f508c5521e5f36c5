//! Closing channels: idempotent, deferred while the channel's own callback
//! runs, and always through exactly one `handle_close`.

use super::{ChannelId, Map};
use crate::channel::Driver;
use crate::event_loop::Session;

impl Map {
    /// Closes channel `id`: `handle_close` runs once, then the socket is
    /// deregistered and closed, and the id no longer names a channel.
    /// Queued output is dropped; use [`Map::close_when_done`] to send it
    /// first.
    ///
    /// Closing is idempotent. If the channel's own callback is running (it
    /// closes itself, or another channel's `handle_close` closes it), the
    /// close happens when that callback returns, and no further callback of
    /// the channel runs. Returns `true` if the channel was open.
    pub fn close(&self, id: ChannelId) -> bool {
        {
            let mut inner = self.inner.borrow_mut();
            let Some(channel) = inner.get_mut(id) else {
                return false;
            };
            channel.closing = true;
            if let Driver::Async(_) = channel.driver {
                // An async socket's tasks see it gone at their next use.
                drop(inner);
                self.remove_async(id);
                return true;
            }
        }
        if let Some(session) = Session::open(self, id) {
            session.finish();
        }
        true
    }

    /// Closes every channel of the map, each through its `handle_close`
    /// (Python's `close_all`).
    pub fn close_all(&self) {
        for id in self.ids() {
            self.close(id);
        }
    }
}
