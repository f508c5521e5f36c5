//! A session: the loop holding a channel's dispatcher while it calls its
//! hooks, applying the error rule and the close rule.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::channel::Driver;
use crate::ctx::Ctx;
use crate::diag;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result, panic_error};
use crate::map::{ChannelId, Map};

/// A channel's dispatcher, taken out of the map while its hooks run.
///
/// Taking it out lets hooks use the map freely (add, close, push to other
/// channels) with no borrow held. While it is out, closing the channel only
/// marks it; [`Session::finish`] then runs `handle_close` and removes it.
pub(crate) struct Session<'a> {
    /// The map the channel is in.
    map: &'a Map,
    /// The channel.
    id: ChannelId,
    /// Its dispatcher, owned by the session until `finish`.
    driver: Box<dyn Dispatcher>,
}

impl<'a> Session<'a> {
    /// Takes channel `id`'s dispatcher. `None` if the channel is closed or
    /// one of its hooks is already running (that session will finish it).
    pub(crate) fn open(map: &'a Map, id: ChannelId) -> Option<Session<'a>> {
        let driver = match &mut map.inner.borrow_mut().get_mut(id)?.driver {
            Driver::Callback(driver) => driver.take()?,
            Driver::Async(_) => return None,
        };
        Some(Session { map, id, driver })
    }

    pub(crate) fn map(&self) -> &'a Map {
        self.map
    }

    pub(crate) fn id(&self) -> ChannelId {
        self.id
    }

    /// Whether the channel is closing: no hook but `handle_close` may run.
    pub(crate) fn closing(&self) -> bool {
        self.map
            .inner
            .borrow()
            .get(self.id)
            .is_none_or(|c| c.closing)
    }

    pub(crate) fn mark_closing(&self) {
        if let Some(channel) = self.map.inner.borrow_mut().get_mut(self.id) {
            channel.closing = true;
        }
    }

    /// Runs hook `name` unless the channel is closing, then applies the
    /// error rule and runs `handle_eof` if the hook met end of file.
    /// Returns `false` once the channel is closing.
    pub(crate) fn call(
        &mut self,
        name: &'static str,
        hook: impl FnOnce(&mut dyn Dispatcher, &mut Ctx<'_>) -> Result<()>,
    ) -> bool {
        if self.closing() {
            return false;
        }
        let mut cx = Ctx::new(self.map, self.id);
        let driver = &mut *self.driver;
        let result = catch_unwind(AssertUnwindSafe(|| hook(driver, &mut cx)));
        self.route_caught(name, result);
        self.after_hook()
    }

    /// Runs `handle_eof` if the hook that just returned met end of file.
    /// Returns `false` once the channel is closing.
    pub(crate) fn after_hook(&mut self) -> bool {
        let eof = self
            .map
            .inner
            .borrow_mut()
            .get_mut(self.id)
            .is_some_and(|c| std::mem::take(&mut c.eof_pending));
        if eof && !self.closing() {
            let mut cx = Ctx::new(self.map, self.id);
            let driver = &mut *self.driver;
            let result = catch_unwind(AssertUnwindSafe(|| driver.handle_eof(&mut cx)));
            self.route_caught("handle_eof", result);
        }
        !self.closing()
    }

    /// Routes a hook's outcome. A panic is reported to `handle_error` and
    /// then closes the channel, whatever `handle_error` does: the
    /// dispatcher stopped halfway and its state cannot be trusted.
    fn route_caught(&mut self, name: &'static str, outcome: std::thread::Result<Result<()>>) {
        match outcome {
            Ok(result) => self.route(result),
            Err(payload) => {
                self.report(panic_error(name, payload));
                self.mark_closing();
            }
        }
    }

    /// The error rule: would-block is nothing, a disconnect closes, the rest
    /// goes to `handle_error`.
    pub(crate) fn route(&mut self, result: Result<()>) {
        match result {
            Ok(()) => {}
            Err(e) if e.is_would_block() => {}
            Err(e) if e.is_disconnect() => self.mark_closing(),
            Err(e) => self.report(e),
        }
    }

    /// Calls `handle_error` (unless the channel is closing already); a
    /// panic there closes the channel.
    pub(crate) fn report(&mut self, error: Error) {
        if self.closing() {
            return;
        }
        let mut cx = Ctx::new(self.map, self.id);
        let driver = &mut *self.driver;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| driver.handle_error(&mut cx, error)))
        {
            diag::hook_panicked(self.map, self.id, &panic_error("handle_error", payload));
            self.mark_closing();
        }
    }

    /// Asks a yes/no question of the dispatcher (`readable`, `writable`); a
    /// panic is reported and closes the channel, and answers `false`.
    pub(crate) fn ask(
        &mut self,
        name: &'static str,
        question: impl FnOnce(&dyn Dispatcher) -> bool,
    ) -> bool {
        let driver = &*self.driver;
        match catch_unwind(AssertUnwindSafe(|| question(driver))) {
            Ok(answer) => answer,
            Err(payload) => {
                self.report(panic_error(name, payload));
                self.mark_closing();
                false
            }
        }
    }

    /// Ends the session: updates the channel's interest and gives the
    /// dispatcher back, or, if the channel is closing, runs `handle_close`
    /// and removes it.
    pub(crate) fn finish(mut self) {
        // A shutdown that started while this channel's hook ran (the hook
        // started it, say) reaches the channel now.
        if !self.closing() && self.needs_shutdown_notice() {
            self.call("handle_shutdown", |d, cx| d.handle_shutdown(cx));
        }
        if !self.closing() {
            let readable = self.ask("readable", |d| d.readable());
            let writable = self.ask("writable", |d| d.writable());
            let mut inner = self.map.inner.borrow_mut();
            if let Some(channel) = inner.get_mut(self.id) {
                if !channel.closing {
                    let interest = channel.interest(readable, writable);
                    // An edge-triggered channel's poller is asked again
                    // about readiness its dispatch did not see used up.
                    let unspent = std::mem::take(&mut channel.unspent);
                    let recheck = channel.reg.is_edge() && unspent.needs_recheck(interest);
                    match channel.reg.set_interest_rechecking(interest, recheck) {
                        Ok(()) => {
                            channel.driver = Driver::Callback(Some(self.driver));
                            #[cfg(feature = "tls")]
                            if interest.read && channel.reg.get().tls().is_some() {
                                super::tls::queue_buffered_input(&mut inner, self.id);
                            }
                            return;
                        }
                        Err(e) => {
                            drop(inner);
                            self.report(Error::Io(e));
                            self.mark_closing();
                        }
                    }
                }
            }
        }
        self.close_now();
    }

    /// Whether a shutdown is in progress and has not reached this channel
    /// yet; marks it reached.
    fn needs_shutdown_notice(&self) -> bool {
        let mut inner = self.map.inner.borrow_mut();
        if inner.shutdown.is_none() {
            return false;
        }
        let Some(channel) = inner.get_mut(self.id) else {
            return false;
        };
        if channel.shutdown_notified {
            return false;
        }
        channel.shutdown_notified = true;
        channel.linger = matches!(
            channel.kind,
            crate::net::SocketKind::Stream | crate::net::SocketKind::Pipe
        ) && channel.state != crate::net::SocketState::Listening;
        true
    }

    /// Runs `handle_close` once and removes the channel (deregistering and
    /// closing its socket).
    fn close_now(mut self) {
        let mut cx = Ctx::new(self.map, self.id);
        let driver = &mut *self.driver;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| driver.handle_close(&mut cx))) {
            diag::hook_panicked(self.map, self.id, &panic_error("handle_close", payload));
        }
        diag::closed(self.id);
        let channel = self.map.inner.borrow_mut().remove(self.id);
        // Dropped outside the borrow: the registration deletes itself from
        // the poller, then the fd closes; the dispatcher drops last.
        drop(channel);
        drop(self.driver);
    }
}
