//! Signals as loop events, for both faces (design decision 14).
//!
//! The signal handler does no work: signal-hook's registry writes one byte
//! to a self-pipe, and the pipe's read end is a channel of the map like
//! any other. Its reads become calls of a handler
//! ([`Map::on_signals`]) or items of a [`Signals`] stream
//! ([`Map::signals`]), on the loop's thread. Several maps may listen for
//! the same signal: each has pipes of its own, and every one hears every
//! delivery.
//!
//! Deliveries of one signal that arrive before the loop reads them may
//! merge (as the kernel merges pending signals); a signal that was
//! delivered is never missed.
//!
//! ```
//! use asyncore::Map;
//! use asyncore::signal::{SIGTERM, SIGUSR1};
//!
//! let map = Map::new()?;
//! // A callback: stop the loop on SIGTERM or SIGUSR1.
//! map.on_signals(&[SIGTERM, SIGUSR1], |map, _signal| map.stop())?;
//! signal_hook::low_level::raise(SIGUSR1)?;
//! assert_eq!(map.run(&asyncore::RunOptions::new())?, asyncore::Exit::Stopped);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each registration keeps its pipe's write end for the rest of the
//! process, with signal-hook: a handler may still be running on another
//! thread when a registration is removed, so its descriptor is never
//! closed under it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::map::{ChannelId, Map, WeakMap};
use crate::{Ctx, Dispatcher, Socket};

pub use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// A handler of [`Map::on_signals`].
type Handler = Box<dyn FnMut(&Map, i32)>;

/// What the channels of one registration share.
#[derive(Default)]
struct Shared {
    /// The callback, taken out while it runs.
    handler: Option<Handler>,
    /// Deliveries not yet taken from a [`Signals`] stream.
    queue: VecDeque<i32>,
    /// The task waiting on the stream.
    waker: Option<Waker>,
}

/// The read end of one signal's self-pipe.
struct SignalPipe {
    signal: i32,
    registration: signal_hook::SigId,
    shared: Rc<RefCell<Shared>>,
    /// A stream (queue the deliveries) rather than a callback.
    stream: bool,
}

/// Most deliveries one read takes; the rest come in the next pass, so a
/// signal storm cannot hold the loop.
const READ_AT_ONCE: usize = 64;

impl Dispatcher for SignalPipe {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; READ_AT_ONCE];
        let n = cx.recv(&mut buf)?;
        for _ in 0..n {
            if self.stream {
                let mut shared = self.shared.borrow_mut();
                shared.queue.push_back(self.signal);
                if let Some(waker) = shared.waker.take() {
                    waker.wake();
                }
                continue;
            }
            // Taken out for the call: the handler may use the map freely.
            let handler = self.shared.borrow_mut().handler.take();
            if let Some(mut handler) = handler {
                handler(cx.map(), self.signal);
                let mut shared = self.shared.borrow_mut();
                if shared.handler.is_none() {
                    shared.handler = Some(handler);
                }
            }
        }
        Ok(())
    }

    /// A graceful shutdown stops listening, so the map can empty: a second
    /// signal during the grace period gets the process's own reaction
    /// (termination, for `SIGTERM` and `SIGINT`).
    fn handle_shutdown(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }

    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        if let Some(waker) = self.shared.borrow_mut().waker.take() {
            waker.wake();
        }
    }
}

impl Drop for SignalPipe {
    /// However the channel goes (closed, or its map dropped), the
    /// registration goes with it.
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.registration);
    }
}

fn register(
    map: &Map,
    signals: &[i32],
    shared: &Rc<RefCell<Shared>>,
    stream: bool,
) -> Result<Vec<ChannelId>> {
    let mut ids = Vec::with_capacity(signals.len());
    let undo = |map: &Map, ids: &[ChannelId]| {
        for &id in ids {
            map.close(id);
        }
    };
    for &signal in signals {
        // signal-hook panics on these; say so as an error instead.
        if signal <= 0 || signal_hook::consts::FORBIDDEN.contains(&signal) {
            undo(map, &ids);
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("signal {signal} cannot be caught"),
            )));
        }
        let registered = (|| -> Result<ChannelId> {
            let (read, write) = UnixStream::pair()?;
            read.set_nonblocking(true)?;
            write.set_nonblocking(true)?;
            let registration =
                signal_hook::low_level::pipe::register(signal, write).map_err(|e| {
                    Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("signal {signal}: {e}"),
                    ))
                })?;
            let pipe = SignalPipe {
                signal,
                registration,
                shared: shared.clone(),
                stream,
            };
            match Socket::from_unix_stream(read) {
                Ok(socket) => map.add(socket, pipe),
                Err(e) => {
                    signal_hook::low_level::unregister(registration);
                    Err(e.into())
                }
            }
        })();
        match registered {
            Ok(id) => ids.push(id),
            Err(e) => {
                undo(map, &ids);
                return Err(e);
            }
        }
    }
    Ok(ids)
}

impl Map {
    /// Calls `handler(map, signal)` on the loop's thread for each delivery
    /// of one of `signals` (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGUSR1`...).
    /// Returns the channels that listen, one per signal: close them
    /// ([`Map::close`]) to stop listening. While they are open the map is
    /// not empty, so [`Map::run`] does not return [`Exit::Empty`](crate::Exit::Empty).
    ///
    /// The process's own reaction to the signal (termination, for most) is
    /// replaced as long as a registration of it exists.
    ///
    /// # Errors
    ///
    /// A signal that cannot be caught (`SIGKILL`, `SIGSTOP`, or one
    /// signal-hook forbids such as `SIGSEGV`), or no descriptors for the
    /// pipes. Nothing stays registered then.
    pub fn on_signals(
        &self,
        signals: &[i32],
        handler: impl FnMut(&Map, i32) + 'static,
    ) -> Result<Vec<ChannelId>> {
        let shared = Rc::new(RefCell::new(Shared {
            handler: Some(Box::new(handler)),
            ..Shared::default()
        }));
        register(self, signals, &shared, false)
    }

    /// A [`Stream`] of the deliveries of `signals`, for tasks; dropping it
    /// stops listening. See [`Map::on_signals`].
    ///
    /// # Errors
    ///
    /// As [`Map::on_signals`].
    pub fn signals(&self, signals: &[i32]) -> Result<Signals> {
        let shared = Rc::new(RefCell::new(Shared::default()));
        let ids = register(self, signals, &shared, true)?;
        Ok(Signals {
            map: WeakMap::new(self),
            ids,
            shared,
        })
    }
}

/// The deliveries of some signals, as a [`Stream`] of signal numbers; see
/// [`Map::signals`]. Ends (`None`) if its map or its channels are gone.
pub struct Signals {
    map: WeakMap,
    ids: Vec<ChannelId>,
    shared: Rc<RefCell<Shared>>,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("channels", &self.ids)
            .finish_non_exhaustive()
    }
}

impl Stream for Signals {
    type Item = i32;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        let mut shared = self.shared.borrow_mut();
        if let Some(signal) = shared.queue.pop_front() {
            return Poll::Ready(Some(signal));
        }
        let open = self
            .map
            .upgrade()
            .is_ok_and(|map| self.ids.iter().any(|&id| map.contains(id)));
        if !open {
            return Poll::Ready(None);
        }
        shared.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        if let Ok(map) = self.map.upgrade() {
            for &id in &self.ids {
                map.close(id);
            }
        }
    }
}
