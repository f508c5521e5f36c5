//! The one module with `unsafe` code: a registration that owns its I/O
//! object, so the fd cannot close while the poller still watches it, and the
//! two socket2 calls that want `MaybeUninit` buffers.
//!
//! `polling::Poller::add` is unsafe because the caller must delete the source
//! before closing it: kqueue and poll(2) would otherwise keep polling a
//! number that may already belong to another file. [`Registration`] owns the
//! object and deletes it in `Drop` before the object (and its fd) goes away.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use polling::{Event, PollMode, Poller};

/// What a channel wants to be told about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interest {
    /// Readability (for a listener: a pending connection).
    pub(crate) read: bool,
    /// Writability (for a connecting socket: the connect finished).
    pub(crate) write: bool,
}

impl Interest {
    pub(crate) const NONE: Interest = Interest {
        read: false,
        write: false,
    };

    pub(crate) fn is_empty(self) -> bool {
        !self.read && !self.write
    }
}

/// An I/O object registered with a poller.
///
/// # Invariant
///
/// From construction until `drop` (or [`Registration::into_inner`]) `io` is
/// registered in `poller` under `key`, and `io` is owned here, so its fd
/// stays open for as long as it is registered. Only `&T` is handed out: the
/// fd cannot be closed or replaced behind the poller's back.
#[derive(Debug)]
pub(crate) struct Registration<T: AsFd> {
    /// The registered object; owned so that it outlives its registration.
    io: T,
    /// The poller it is registered with.
    poller: Arc<Poller>,
    /// The key events for `io` carry.
    key: usize,
    /// The interest last given to the poller.
    interest: Interest,
    /// Whether the registration can still report an event. A oneshot
    /// registration is disarmed by its first event.
    armed: bool,
    /// Whether the poller supports level-triggered mode (all but event
    /// ports); without it every registration is oneshot and re-armed.
    level: bool,
}

impl<T: AsFd> Registration<T> {
    /// Registers `io` with `poller` under `key`.
    ///
    /// # Errors
    ///
    /// Whatever the poller's `add` returns, e.g. `EPERM` for a regular file
    /// on epoll, or `ENOSPC` when the user's watch limit is reached.
    pub(crate) fn new(
        poller: Arc<Poller>,
        io: T,
        key: usize,
        interest: Interest,
    ) -> io::Result<Self> {
        let level = poller.supports_level();
        let mode = mode_for(interest, level);
        // SAFETY: `io` moves into the returned `Registration`, which deletes
        // it from `poller` in `Drop` (or `into_inner`) before `io` can be
        // dropped, so the fd is never closed while registered. If `add`
        // fails nothing was registered and `io` simply drops.
        unsafe {
            poller.add_with_mode(io.as_fd().as_raw_fd(), event(key, interest), mode)?;
        }
        Ok(Registration {
            io,
            poller,
            key,
            interest,
            armed: true,
            level,
        })
    }

    /// Returns the registered object.
    pub(crate) fn get(&self) -> &T {
        &self.io
    }

    /// Returns the interest last given to the poller.
    pub(crate) fn interest(&self) -> Interest {
        self.interest
    }

    /// Records that the poller reported an event for this registration: a
    /// oneshot registration is now disarmed.
    pub(crate) fn note_event(&mut self) {
        if !self.level || self.interest.is_empty() {
            self.armed = false;
        }
    }

    /// Gives the poller a new interest, with a system call only when it
    /// differs from the registered one (or a oneshot registration needs
    /// re-arming).
    ///
    /// An empty interest is registered as oneshot: epoll reports HUP and ERR
    /// whatever the interest, and in level mode a hung-up socket with no
    /// interest would wake every wait. Oneshot reports it at most once.
    pub(crate) fn set_interest(&mut self, interest: Interest) -> io::Result<()> {
        if interest.is_empty() {
            if self.interest.is_empty() {
                return Ok(());
            }
        } else if interest == self.interest && self.armed {
            return Ok(());
        }
        let mode = mode_for(interest, self.level);
        self.poller
            .modify_with_mode(self.io.as_fd(), event(self.key, interest), mode)?;
        self.interest = interest;
        self.armed = true;
        Ok(())
    }
}

impl<T: AsFd> Drop for Registration<T> {
    fn drop(&mut self) {
        // Never panic in drop: a failed delete (the poller is gone, or the
        // kernel dropped the registration already) leaves nothing to undo.
        let _ = self.poller.delete(self.io.as_fd());
    }
}

fn mode_for(interest: Interest, level: bool) -> PollMode {
    if level && !interest.is_empty() {
        PollMode::Level
    } else {
        PollMode::Oneshot
    }
}

fn event(key: usize, interest: Interest) -> Event {
    Event::new(key, interest.read, interest.write)
}

/// Views an initialised byte buffer as a `MaybeUninit` one for socket2.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the same layout as `u8`. The callee
    // (socket2's recv family) only ever writes initialised bytes into the
    // slice, so every byte stays initialised and `buf` remains valid as
    // `[u8]` afterwards.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// `recvfrom(2)` into an initialised buffer.
pub(crate) fn recv_from(
    socket: &socket2::Socket,
    buf: &mut [u8],
) -> io::Result<(usize, socket2::SockAddr)> {
    socket.recv_from(as_uninit(buf))
}

/// `recv(2)` with `MSG_OOB` into an initialised buffer.
pub(crate) fn recv_out_of_band(socket: &socket2::Socket, buf: &mut [u8]) -> io::Result<usize> {
    socket.recv_out_of_band(as_uninit(buf))
}
