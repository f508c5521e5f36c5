//! [`Source`]: an async socket's channel in a map, and the map operations
//! behind it.

use std::io;
use std::task::{Context, Poll, Waker};

use crate::channel::{Driver, Waiters};
use crate::error::{Error, is_transient_accept_error};
use crate::event_loop::current_map;
use crate::executor::budget;
use crate::map::{ChannelId, Map, WeakMap};
use crate::net::{Io, Socket, SocketKind, SocketState};
use crate::sys::Interest;

/// Which readiness a task waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Input, a pending connection.
    Read,
    /// Output, a finished connect.
    Write,
}

fn gone(id: ChannelId) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, Error::Closed(id))
}

impl Map {
    /// Adds `socket` as a channel driven by tasks (no interest yet).
    pub(crate) fn add_async(&self, socket: Socket) -> crate::Result<ChannelId> {
        self.inner
            .borrow_mut()
            .insert(socket, Driver::Async(Waiters::default()), Interest::NONE)
    }

    /// Runs `f` on an async channel's socket.
    pub(crate) fn async_io<T>(
        &self,
        id: ChannelId,
        f: impl FnOnce(&Io) -> io::Result<T>,
    ) -> io::Result<T> {
        let inner = self.inner.borrow();
        let channel = inner.get(id).ok_or_else(|| gone(id))?;
        f(channel.reg.get())
    }

    /// Stores `waker` as the channel's waiter for `dir` and arms that
    /// interest (a system call only if it was not armed).
    pub(crate) fn wait_ready(
        &self,
        id: ChannelId,
        dir: Direction,
        waker: &Waker,
    ) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.get_mut(id).ok_or_else(|| gone(id))?;
        let Driver::Async(waiters) = &mut channel.driver else {
            return Err(io::Error::other("not an async channel"));
        };
        let (slot, armed) = match dir {
            Direction::Read => (
                &mut waiters.read,
                Interest {
                    read: true,
                    ..waiters.armed
                },
            ),
            Direction::Write => (
                &mut waiters.write,
                Interest {
                    write: true,
                    ..waiters.armed
                },
            ),
        };
        // Several tasks may wait on one socket (an `Rc<UdpSocket>` shared
        // by two tasks): keep one waker per task.
        if !slot.iter().any(|w| w.will_wake(waker)) {
            slot.push(waker.clone());
        }
        waiters.armed = armed;
        channel.reg.set_interest(armed)
    }

    fn waiters(&self, id: ChannelId, f: impl FnOnce(&mut Waiters) -> bool) -> io::Result<bool> {
        let mut inner = self.inner.borrow_mut();
        let channel = inner.get_mut(id).ok_or_else(|| gone(id))?;
        match &mut channel.driver {
            Driver::Async(waiters) => Ok(f(waiters)),
            Driver::Callback(_) => Err(io::Error::other("not an async channel")),
        }
    }

    /// Whether readiness was reported for `dir` since an operation last
    /// found the socket would block or drained it.
    pub(crate) fn is_ready(&self, id: ChannelId, dir: Direction) -> io::Result<bool> {
        self.waiters(id, |w| match dir {
            Direction::Read => w.ready.read,
            Direction::Write => w.ready.write,
        })
    }

    /// Forgets the readiness reported for `dir` (an operation would block).
    pub(crate) fn clear_ready(&self, id: ChannelId, dir: Direction) {
        let _ = self.waiters(id, |w| {
            match dir {
                Direction::Read => w.ready.read = false,
                Direction::Write => w.ready.write = false,
            }
            true
        });
    }

    /// Removes an async channel (its socket closes), waking any waiter so
    /// it sees the channel gone.
    pub(crate) fn remove_async(&self, id: ChannelId) {
        let removed = self.inner.borrow_mut().remove(id);
        if let Some(mut channel) = removed {
            if let Driver::Async(waiters) = &mut channel.driver {
                for waker in waiters.read.drain(..).chain(waiters.write.drain(..)) {
                    waker.wake();
                }
            }
        }
    }
}

/// Wakes the tasks an event is for. A direction that had no waiter is
/// disarmed (unless edge-triggered); one that had keeps its interest (no
/// system call).
pub(crate) fn wake_waiters(map: &Map, id: ChannelId, readable: bool, writable: bool) {
    let woken = {
        let mut inner = map.inner.borrow_mut();
        let Some(channel) = inner.get_mut(id) else {
            return;
        };
        let Driver::Async(waiters) = &mut channel.driver else {
            return;
        };
        let mut armed = waiters.armed;
        waiters.ready.read |= readable;
        waiters.ready.write |= writable;
        // An edge-triggered registration reports nothing again until the
        // readiness changes: it stays armed, for free.
        let keep = channel.reg.is_edge();
        let mut woken = Vec::new();
        if readable && armed.read {
            armed.read = keep || !waiters.read.is_empty();
            woken.append(&mut waiters.read);
        }
        if writable && armed.write {
            armed.write = keep || !waiters.write.is_empty();
            woken.append(&mut waiters.write);
        }
        waiters.armed = armed;
        // Also re-arms a oneshot registration (backends without level mode).
        let _ = channel.reg.set_interest(armed);
        woken
    };
    for waker in woken {
        waker.wake();
    }
}

/// An async socket's place in a map. Dropping it closes the socket.
#[derive(Debug)]
pub(crate) struct Source {
    /// The map (weak: a task holding the socket lives in the map).
    map: WeakMap,
    /// The channel.
    id: ChannelId,
}

impl Source {
    /// Adds `socket` to the map whose loop runs on this thread (or the
    /// thread's default map).
    pub(crate) fn new(socket: Socket) -> io::Result<Source> {
        Source::in_map(&current_map()?, socket)
    }

    /// Adds `socket` to `map`.
    pub(crate) fn in_map(map: &Map, socket: Socket) -> io::Result<Source> {
        if socket.state == SocketState::Resolving {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a connect by host name is not done yet: use TcpStream::connect",
            ));
        }
        let id = map.add_async(socket)?;
        Ok(Source {
            map: WeakMap::new(map),
            id,
        })
    }

    /// Adds `socket` to `map`, refusing a socket of another kind.
    pub(crate) fn of_kind(map: &Map, socket: Socket, kind: SocketKind) -> io::Result<Source> {
        if socket.kind() != kind {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "expected a {kind:?} socket, got a {:?} socket",
                    socket.kind()
                ),
            ));
        }
        Source::in_map(map, socket)
    }

    /// Accepts a connection on a listening source: the connection's own
    /// source (in the same map) and the peer's address.
    /// Connections that went away before they were taken are skipped, as
    /// the callback loop does.
    pub(crate) async fn accept(&self) -> io::Result<(Source, socket2::SockAddr)> {
        let (socket, addr) = std::future::poll_fn(|cx| {
            loop {
                match self.poll_io(cx, Direction::Read, |io| io.socket("accept")?.accept()) {
                    Poll::Ready(Err(e)) if is_transient_accept_error(&e) => continue,
                    other => return other,
                }
            }
        })
        .await?;
        let socket = Socket::from_socket2(socket, SocketState::Connected, SocketKind::Stream)?;
        Ok((Source::in_map(&self.map()?, socket)?, addr))
    }

    pub(crate) fn map(&self) -> io::Result<Map> {
        Ok(self.map.upgrade()?)
    }

    /// Tries `op`; on would-block, waits for `dir` readiness. Each attempt
    /// spends one unit of the task's cooperative budget.
    ///
    /// No wake-up can be lost between the failed attempt and arming: a
    /// level-triggered poller reports readiness that arrived in between at
    /// the next wait; an edge-triggered one was armed before the attempt
    /// (or is armed after it, which makes epoll look at the socket anew)
    /// and reports the change.
    pub(crate) fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnOnce(&Io) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        if !budget::spend() {
            // Used up: yield, so the rest of the loop gets its turn.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let map = self.map()?;
        // One lookup of the channel: a TLS handshake that still runs goes
        // first, and waits for its own direction, whatever `op` is.
        let attempt = map.async_io(self.id, |io| {
            #[cfg(feature = "tls")]
            if let Some(wait) = super::handshake_step(io)? {
                return Ok(Err(wait));
            }
            Ok(Ok(op(io)))
        })?;
        let result = match attempt {
            Ok(result) => result,
            Err(wait) => {
                map.clear_ready(self.id, wait);
                map.wait_ready(self.id, wait, cx.waker())?;
                return Poll::Pending;
            }
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                map.clear_ready(self.id, dir);
                map.wait_ready(self.id, dir, cx.waker())?;
                Poll::Pending
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            result => Poll::Ready(result),
        }
    }

    /// [`poll_io`](Self::poll_io) for a read of up to `wanted` bytes, of
    /// which `len` tells how many came: a short read forgets the readiness
    /// (`Map::note_async_read`).
    pub(crate) fn poll_read<T>(
        &self,
        cx: &mut Context<'_>,
        wanted: usize,
        op: impl FnOnce(&Io) -> io::Result<T>,
        len: impl FnOnce(&T) -> usize,
    ) -> Poll<io::Result<T>> {
        let polled = self.poll_io(cx, Direction::Read, op);
        if let Poll::Ready(Ok(read)) = &polled {
            self.note_read(len(read), wanted);
        }
        polled
    }

    /// [`try_io`](Self::try_io) for a read; see
    /// [`poll_read`](Self::poll_read).
    pub(crate) fn try_read<T>(
        &self,
        wanted: usize,
        op: impl FnOnce(&Io) -> io::Result<T>,
        len: impl FnOnce(&T) -> usize,
    ) -> io::Result<T> {
        let result = self.try_io(Direction::Read, op);
        if let Ok(read) = &result {
            self.note_read(len(read), wanted);
        }
        result
    }

    fn note_read(&self, got: usize, wanted: usize) {
        if let Ok(map) = self.map() {
            map.note_async_read(self.id, got, wanted);
        }
    }

    /// Completes once the poller reported `dir` readiness since an
    /// operation last found the socket would block or drained it (it may
    /// be spurious: the next operation can still would-block).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<()>> {
        let map = self.map()?;
        #[cfg(feature = "tls")]
        if let Some(ready) = super::poll_ready_tls(&map, self.id, cx, dir)? {
            return ready;
        }
        // Kept, not taken: an edge-triggered socket would not report input
        // left unread again, so only a would-block forgets it.
        if map.is_ready(self.id, dir)? {
            return Poll::Ready(Ok(()));
        }
        map.wait_ready(self.id, dir, cx.waker())?;
        Poll::Pending
    }

    /// Runs `op` once, without waiting; a would-block clears the readiness
    /// `poll_ready` reports.
    pub(crate) fn try_io<T>(
        &self,
        dir: Direction,
        op: impl FnOnce(&Io) -> io::Result<T>,
    ) -> io::Result<T> {
        let map = self.map()?;
        let result = map.async_io(self.id, op);
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            map.clear_ready(self.id, dir);
        }
        result
    }

    /// Runs `op` on the socket once, without waiting.
    pub(crate) fn with_io<T>(&self, op: impl FnOnce(&Io) -> io::Result<T>) -> io::Result<T> {
        self.map()?.async_io(self.id, op)
    }

    /// Sends what the I/O object buffered itself (TLS records).
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        #[cfg(feature = "tls")]
        if self.with_io(|io| Ok(io.tls().is_some()))? {
            return self.poll_io(cx, Direction::Write, |io| io.flush_buffered());
        }
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Ends the sending side: `close_notify` and its flush first over TLS,
    /// then a shutdown of the socket's write side.
    pub(crate) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        #[cfg(feature = "tls")]
        {
            self.with_io(|io| {
                if let Some(tls) = io.tls() {
                    tls.close_notify();
                }
                Ok(())
            })?;
            std::task::ready!(self.poll_flush(cx))?;
        }
        let _ = cx;
        let result = self.with_io(|io| io.shutdown(std::net::Shutdown::Write));
        Poll::Ready(match result {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }

    #[cfg(feature = "tls")]
    pub(crate) fn id(&self) -> ChannelId {
        self.id
    }

    /// A duplicate of the socket's fd (the source keeps its own).
    pub(crate) fn dup_socket(&self) -> io::Result<socket2::Socket> {
        self.with_io(|io| io.socket("dup")?.try_clone())
    }

    /// Completes when a connect started by the socket's constructor ends.
    pub(crate) fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(cx, Direction::Write, |io| {
            if let Some(e) = io.take_error()? {
                return Err(e);
            }
            match io.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Ok(map) = self.map.upgrade() {
            map.remove_async(self.id);
        }
    }
}
