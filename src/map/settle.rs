//! Safe points: a close or an end of file that an operation from outside a
//! channel's own callbacks caused is finished (its hooks run) at the next
//! one, never inside another channel's hook.

use super::{ChannelId, Map};
use crate::event_loop::Session;

impl Map {
    /// Finishes what an operation from outside the channel's own callbacks
    /// (a task, another channel) left pending: a close (through
    /// `handle_close`) or an end of file (through `handle_eof`).
    ///
    /// While the loop runs, this waits for the next safe point (the end of
    /// the current event's dispatch, task poll or timer callback), so the
    /// channel's hooks never run inside another channel's hook: Python ran
    /// `handle_close` re-entrantly inside `send`. Outside the loop it
    /// happens at once.
    pub(crate) fn settle(&self, id: ChannelId) {
        let mut inner = self.inner.borrow_mut();
        let pending = inner.get(id).is_some_and(|c| c.closing || c.eof_pending);
        if !pending {
            return;
        }
        if inner.running {
            inner.unsettled.push(id);
            return;
        }
        drop(inner);
        self.settle_now(id);
    }

    fn settle_now(&self, id: ChannelId) {
        if let Some(mut session) = Session::open(self, id) {
            session.after_hook();
            session.finish();
        }
    }

    /// Settles the channels left pending since the last safe point.
    pub(crate) fn settle_pending(&self) {
        loop {
            let id = self.inner.borrow_mut().unsettled.pop();
            match id {
                Some(id) => self.settle_now(id),
                None => return,
            }
        }
    }
}
