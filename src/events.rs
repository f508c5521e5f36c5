//! Channel events as an async stream: the dispatcher callbacks, delivered to
//! a task instead of a [`Dispatcher`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::ctx::Ctx;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::map::{ChannelId, Map, WeakMap};
use crate::net::{Address, Socket};

/// Accepted connections queued at most before a listener's stream stops
/// accepting until its consumer catches up.
const MAX_ACCEPTED: usize = 64;

/// One event of a channel, mirroring a [`Dispatcher`] callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// A non-blocking connect succeeded (`handle_connect`).
    Connected,
    /// Input is ready (`handle_read`): call [`EventStream::recv`].
    Readable,
    /// Output is possible (`handle_write`): call [`EventStream::send`].
    Writable,
    /// A listener accepted a connection (`handle_accepted`).
    Accepted(Socket, Address),
    /// Out-of-band data is pending (`handle_expt`): call
    /// [`EventStream::recv_out_of_band`].
    Exceptional,
    /// The peer shut down its side (`handle_eof`); the channel stays open
    /// for sending until closed.
    Eof,
    /// An error (`handle_error`): a failed connect, or a socket error.
    Error(Error),
    /// The channel closed (`handle_close`); the stream ends after this.
    Closed,
}

/// What the channel and its stream share.
#[derive(Default)]
struct EventState {
    /// The consumer wants to hear about input / output.
    want_read: bool,
    want_write: bool,
    /// Readiness reported and not yet taken by the consumer: interest in
    /// that direction is suspended meanwhile, so an unconsumed level-
    /// triggered condition does not wake the loop again and again.
    readable: bool,
    writable: bool,
    exceptional: bool,
    /// One-off events, in order.
    queue: VecDeque<ChannelEvent>,
    /// `Closed` was delivered: the stream has ended.
    ended: bool,
    /// The task polling the stream.
    waker: Option<Waker>,
}

impl EventState {
    fn push(&mut self, event: ChannelEvent) {
        self.queue.push_back(event);
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn accepted(&self) -> usize {
        self.queue
            .iter()
            .filter(|e| matches!(e, ChannelEvent::Accepted(..)))
            .count()
    }
}

/// The dispatcher that turns callbacks into events.
struct EventDriver(Rc<RefCell<EventState>>);

impl Dispatcher for EventDriver {
    fn readable(&self) -> bool {
        let s = self.0.borrow();
        s.want_read && !s.readable && s.accepted() < MAX_ACCEPTED
    }

    fn writable(&self) -> bool {
        let s = self.0.borrow();
        s.want_write && !s.writable
    }

    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.borrow_mut().push(ChannelEvent::Connected);
        Ok(())
    }

    fn handle_accepted(&mut self, _cx: &mut Ctx<'_>, socket: Socket, peer: Address) -> Result<()> {
        self.0
            .borrow_mut()
            .push(ChannelEvent::Accepted(socket, peer));
        Ok(())
    }

    fn handle_accept_error(&mut self, _cx: &mut Ctx<'_>, error: io::Error) -> Result<()> {
        self.0
            .borrow_mut()
            .push(ChannelEvent::Error(Error::Io(error)));
        Ok(())
    }

    fn handle_read(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        let mut s = self.0.borrow_mut();
        s.readable = true;
        s.wake();
        Ok(())
    }

    fn handle_write(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        let mut s = self.0.borrow_mut();
        s.writable = true;
        s.wake();
        Ok(())
    }

    fn handle_expt(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        let mut s = self.0.borrow_mut();
        s.exceptional = true;
        s.wake();
        Ok(())
    }

    fn handle_eof(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.0.borrow_mut().push(ChannelEvent::Eof);
        Ok(())
    }

    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        self.0.borrow_mut().push(ChannelEvent::Closed);
    }

    fn handle_error(&mut self, _cx: &mut Ctx<'_>, error: Error) {
        self.0.borrow_mut().push(ChannelEvent::Error(error));
    }
}

/// A channel driven as a [`Stream`] of [`ChannelEvent`]s: the dispatcher
/// callbacks, for a task. Created with [`Map::add_events`].
///
/// The stream asks for input and output as [`EventStream::set_interest`]
/// says (input only, by default). Readiness is reported once and then not
/// again until the task has taken the event, so memory stays bounded and an
/// unconsumed condition does not wake the loop. After
/// [`ChannelEvent::Closed`] the stream ends. Dropping the stream closes the
/// channel.
///
/// # Examples
///
/// ```
/// use asyncore::{ChannelEvent, Map, Socket};
/// use futures::StreamExt;
///
/// let map = Map::new()?;
/// let (ours, theirs) = Socket::unix_stream_pair()?;
/// let mut events = map.add_events(ours)?;
/// let peer = map.add_events(theirs)?;
/// map.block_on(async {
///     peer.push(b"hi")?;
///     peer.close_when_done()?;
///     let mut got = Vec::new();
///     while let Some(event) = events.next().await {
///         match event {
///             ChannelEvent::Readable => {
///                 let mut buf = [0u8; 16];
///                 match events.recv(&mut buf) {
///                     Ok(n) => got.extend_from_slice(&buf[..n]),
///                     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
///                     Err(e) => return Err(asyncore::Error::from(e)),
///                 }
///             }
///             ChannelEvent::Eof => events.close(),
///             _ => {}
///         }
///     }
///     assert_eq!(got, b"hi");
///     Ok::<(), asyncore::Error>(())
/// })??;
/// # Ok::<(), asyncore::Error>(())
/// ```
pub struct EventStream {
    /// The map (weak: the stream usually lives in a task of the map).
    map: WeakMap,
    /// The channel.
    id: ChannelId,
    /// Shared with the channel's dispatcher.
    state: Rc<RefCell<EventState>>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Map {
    /// Adds `socket` as a channel driven by an [`EventStream`] instead of a
    /// [`Dispatcher`].
    ///
    /// # Errors
    ///
    /// As [`Map::add`].
    pub fn add_events(&self, socket: Socket) -> Result<EventStream> {
        let state = Rc::new(RefCell::new(EventState {
            want_read: true,
            ..EventState::default()
        }));
        let id = self.add(socket, EventDriver(state.clone()))?;
        Ok(EventStream {
            map: WeakMap::new(self),
            id,
            state,
        })
    }
}

impl EventStream {
    /// Returns the channel's id.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    fn map(&self) -> Result<Map> {
        self.map.upgrade()
    }

    /// Sets what the stream reports: input (and pending connections,
    /// out-of-band data) and output readiness. By default input only.
    pub fn set_interest(&self, read: bool, write: bool) {
        {
            let mut s = self.state.borrow_mut();
            s.want_read = read;
            s.want_write = write;
            // Readiness already reported but not taken is dropped too.
            s.readable &= read;
            s.writable &= write;
        }
        if let Ok(map) = self.map() {
            map.refresh(self.id);
        }
    }

    /// Reads into `buf`; see [`Ctx::recv`]. End of file is reported as
    /// [`ChannelEvent::Eof`] as well as `Ok(0)`.
    ///
    /// # Errors
    ///
    /// As [`Ctx::recv`].
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.map()?.recv(self.id, buf)
    }

    /// Writes from `buf` directly; see [`Ctx::send`].
    ///
    /// # Errors
    ///
    /// As [`Ctx::send`].
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.map()?.send(self.id, buf)
    }

    /// Sends `data`, queueing what the socket does not take; see
    /// [`Map::push`].
    ///
    /// # Errors
    ///
    /// As [`Map::push`].
    pub fn push(&self, data: &[u8]) -> Result<()> {
        self.map()?.push(self.id, data)
    }

    /// Receives a datagram; see [`Ctx::recv_from`].
    ///
    /// # Errors
    ///
    /// As [`Ctx::recv_from`].
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        self.map()?.recv_from(self.id, buf)
    }

    /// Sends a datagram; see [`Ctx::send_to`].
    ///
    /// # Errors
    ///
    /// As [`Ctx::send_to`].
    pub fn send_to(&self, buf: &[u8], addr: &Address) -> io::Result<usize> {
        self.map()?.send_to(self.id, buf, addr)
    }

    /// Reads out-of-band data; see [`Ctx::recv_out_of_band`].
    ///
    /// # Errors
    ///
    /// As [`Ctx::recv_out_of_band`].
    pub fn recv_out_of_band(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.map()?.recv_out_of_band(self.id, buf)
    }

    /// Shuts down one or both directions; see [`Ctx::shutdown`].
    ///
    /// # Errors
    ///
    /// As [`Ctx::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.map()?.shutdown_socket(self.id, how)
    }

    /// Closes once queued output is sent; see [`Map::close_when_done`].
    ///
    /// # Errors
    ///
    /// As [`Map::close_when_done`].
    pub fn close_when_done(&self) -> Result<()> {
        self.map()?.close_when_done(self.id)
    }

    /// Closes the channel now; [`ChannelEvent::Closed`] follows.
    pub fn close(&self) {
        if let Ok(map) = self.map() {
            map.close(self.id);
        }
    }

    /// Takes the next event, if one is ready.
    fn take(&self) -> Option<ChannelEvent> {
        let mut s = self.state.borrow_mut();
        // One-off events first, so `Connected` precedes the readiness it
        // came with and `Closed` ends everything.
        if let Some(event) = s.queue.pop_front() {
            if matches!(event, ChannelEvent::Closed) {
                s.ended = true;
            }
            return Some(event);
        }
        if std::mem::take(&mut s.exceptional) {
            return Some(ChannelEvent::Exceptional);
        }
        if std::mem::take(&mut s.readable) {
            return Some(ChannelEvent::Readable);
        }
        if std::mem::take(&mut s.writable) {
            return Some(ChannelEvent::Writable);
        }
        None
    }
}

impl Stream for EventStream {
    type Item = ChannelEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChannelEvent>> {
        if self.state.borrow().ended {
            return Poll::Ready(None);
        }
        if let Some(event) = self.take() {
            // Taking readiness (or an accepted connection) re-enables
            // the interest it suspended.
            if let Ok(map) = self.map() {
                map.refresh(self.id);
            }
            return Poll::Ready(Some(event));
        }
        if self.map().is_err() {
            return Poll::Ready(None);
        }
        self.state.borrow_mut().waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.close();
    }
}
