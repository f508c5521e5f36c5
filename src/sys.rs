//! The one module with `unsafe` code: a registration that owns its I/O
//! object, so the fd cannot close while the poller still watches it, the
//! socket2 calls that want `MaybeUninit` buffers, and reads into
//! uninitialised memory.
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

/// An I/O object watched by a poller.
///
/// # Invariant
///
/// `io` is owned here, and whenever `registered` is true it is registered in
/// `poller` under `key`; `drop` deletes it before `io` (and its fd) goes
/// away. Only `&T` is handed out: the fd cannot be closed or replaced behind
/// the poller's back.
///
/// A registration whose interest is empty is deleted from the poller rather
/// than kept with no events: epoll and poll(2) report hang-ups and errors
/// whatever the interest, so a hung-up socket nobody wants to hear from
/// would otherwise wake every wait.
#[derive(Debug)]
pub(crate) struct Registration<T: AsFd> {
    /// The watched object; owned so that it outlives its registration.
    io: T,
    /// The poller it is registered with.
    poller: Arc<Poller>,
    /// The key events for `io` carry.
    key: usize,
    /// The interest last given to the poller (empty when not registered).
    interest: Interest,
    /// Whether `io` is currently registered in `poller`.
    registered: bool,
    /// Whether the registration can still report an event: a oneshot
    /// registration is disarmed by its first event.
    armed: bool,
    /// Level-triggered mode (all backends but event ports); without it,
    /// registrations are oneshot and re-armed after each event.
    level: bool,
    /// Edge-triggered mode (epoll only, for plain stream sockets): the
    /// poller reports a change of readiness once, in the order changes
    /// happened, and the loop keeps what it learnt (see
    /// `event_loop::edge`).
    edge: bool,
}

impl<T: AsFd> Registration<T> {
    /// Registers `io` with `poller` under `key`. The fd is always added
    /// once, so a poller that refuses it fails here, even when `interest`
    /// is empty.
    ///
    /// # Errors
    ///
    /// Whatever the poller's `add` returns, e.g. `EPERM` for a regular file
    /// on epoll, or `ENOSPC` when the user's watch limit is reached.
    ///
    /// `edge` asks for edge-triggered mode, granted only where the backend
    /// is epoll (see [`Registration::is_edge`]).
    pub(crate) fn new(
        poller: Arc<Poller>,
        io: T,
        key: usize,
        interest: Interest,
        edge: bool,
    ) -> io::Result<Self> {
        let level = poller.supports_level();
        let edge = edge && level && EDGE_BACKEND && poller.supports_edge();
        let mut reg = Registration {
            io,
            poller,
            key,
            interest: Interest::NONE,
            registered: false,
            armed: false,
            level,
            edge,
        };
        reg.add(interest)?;
        if interest.is_empty() {
            reg.delete();
        }
        Ok(reg)
    }

    fn mode(&self) -> PollMode {
        if self.edge {
            PollMode::Edge
        } else if self.level {
            PollMode::Level
        } else {
            PollMode::Oneshot
        }
    }

    /// Adds `io` to the poller.
    fn add(&mut self, interest: Interest) -> io::Result<()> {
        debug_assert!(!self.registered);
        // SAFETY: `io` is owned by `self`, and `drop` (or `set_interest`
        // with an empty interest) deletes it from `poller` while `io` is
        // still alive, so the fd is never closed while registered. On error
        // nothing was registered and `registered` stays false.
        unsafe {
            self.poller.add_with_mode(
                self.io.as_fd().as_raw_fd(),
                event(self.key, interest),
                self.mode(),
            )?;
        }
        self.registered = true;
        self.armed = true;
        self.interest = interest;
        Ok(())
    }

    /// Removes `io` from the poller, ignoring errors: there is nothing to
    /// undo if the kernel already forgot it.
    fn delete(&mut self) {
        if self.registered {
            let _ = self.poller.delete(self.io.as_fd());
            self.registered = false;
            self.interest = Interest::NONE;
        }
    }

    /// Changes the registered object in place through `change` (a new
    /// socket in place of the old one, say). It is deleted from the poller
    /// first and added back with the same interest afterwards, so no fd is
    /// ever closed, or swapped, while registered.
    ///
    /// # Errors
    ///
    /// The poller refused the changed object; it is kept, unregistered,
    /// and the next [`set_interest`](Registration::set_interest) tries
    /// again.
    pub(crate) fn rebuild(&mut self, change: impl FnOnce(&mut T)) -> io::Result<()> {
        let interest = self.interest;
        self.delete();
        change(&mut self.io);
        if !interest.is_empty() {
            self.add(interest)?;
        }
        Ok(())
    }

    /// Whether the registration is edge-triggered: the poller reports each
    /// change of readiness once, so whoever uses the object must remember
    /// readiness until an operation shows it used up.
    pub(crate) fn is_edge(&self) -> bool {
        self.edge
    }

    /// Turns edge-triggered mode off from the next time the object is
    /// added (so call [`rebuild`](Registration::rebuild) after it): for an
    /// object that starts buffering input of its own, like TLS, which the
    /// socket's readiness no longer describes.
    pub(crate) fn use_level(&mut self) {
        self.edge = false;
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
        if !self.level {
            self.armed = false;
        }
    }

    /// Gives the poller a new interest, with a system call only when it
    /// differs from the registered one (or a oneshot registration needs
    /// re-arming). An empty interest deletes the registration; a non-empty
    /// one adds it back.
    ///
    /// # Errors
    ///
    /// The poller's `modify` or `add` error.
    pub(crate) fn set_interest(&mut self, interest: Interest) -> io::Result<()> {
        self.set_interest_rechecking(interest, false)
    }

    /// [`set_interest`](Registration::set_interest), and if `recheck`, asks
    /// the poller to look at an edge-triggered object again: a modified
    /// edge-triggered registration reports the readiness the object has
    /// now, as if it had just changed. One system call (the same one when
    /// the interest changes too); nothing more for a level-triggered one.
    ///
    /// # Errors
    ///
    /// The poller's `modify` or `add` error.
    pub(crate) fn set_interest_rechecking(
        &mut self,
        interest: Interest,
        recheck: bool,
    ) -> io::Result<()> {
        if interest.is_empty() {
            self.delete();
            return Ok(());
        }
        if !self.registered {
            return self.add(interest);
        }
        if interest == self.interest && self.armed && !(recheck && self.edge) {
            return Ok(());
        }
        self.poller
            .modify_with_mode(self.io.as_fd(), event(self.key, interest), self.mode())?;
        self.interest = interest;
        self.armed = true;
        Ok(())
    }
}

impl<T: AsFd> Drop for Registration<T> {
    fn drop(&mut self) {
        // Never panics: `delete` ignores errors.
        self.delete();
    }
}

/// Edge-triggered mode is used where it is tested: epoll.
pub(crate) const EDGE_BACKEND: bool = cfg!(any(target_os = "linux", target_os = "android"));

fn event(key: usize, interest: Interest) -> Event {
    Event::new(key, interest.read, interest.write)
}

/// A one-shot timer as a pollable fd (Linux `timerfd`): it becomes
/// readable once, when it expires. The loop arms one for its suspects
/// (see `event_loop::edge`) at most once per check, rather than bounding
/// every wait with a timeout, which makes `polling` arm a kernel timer for
/// each wait.
#[derive(Debug)]
pub(crate) struct Ticker(std::os::fd::OwnedFd);

impl Ticker {
    /// A new, disarmed timer.
    ///
    /// # Errors
    ///
    /// `timerfd_create`'s (out of descriptors, say); `Unsupported` where
    /// there is no timerfd (where no channel is edge-triggered either).
    pub(crate) fn new() -> io::Result<Ticker> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::fd::FromRawFd;
            // SAFETY: timerfd_create takes no pointers.
            let fd = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created and is open, and nothing else
            // owns it.
            Ok(Ticker(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Makes the fd readable once, `after` from now (replacing any earlier
    /// expiry).
    ///
    /// # Errors
    ///
    /// `timerfd_settime`'s.
    pub(crate) fn arm(&self, after: std::time::Duration) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let spec = libc::itimerspec {
                it_interval: zero,
                it_value: libc::timespec {
                    tv_sec: after.as_secs() as libc::time_t,
                    tv_nsec: after.subsec_nanos() as libc::c_long,
                },
            };
            // SAFETY: `spec` is a valid itimerspec that outlives the call,
            // the old-value pointer may be null, and the fd is open (owned
            // by `self`).
            let r = unsafe {
                libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let _ = after;
        Ok(())
    }

    /// Takes the expiry, so that the fd is no longer readable.
    pub(crate) fn clear(&self) {
        let mut count = [0u8; 8];
        // SAFETY: the pointer and length describe `count`, valid for writes
        // of 8 bytes for the whole call; the fd is open (owned by `self`).
        let _ = unsafe { libc::read(self.0.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    }
}

impl AsFd for Ticker {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
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

/// Whether a stream socket has more to read: input, or an end of file
/// that a read which came back short may have left behind (epoll, as
/// `polling` registers it, reports a peer's shutdown that arrives with the
/// last data as one edge). A one-byte `MSG_PEEK`; `false` only when it
/// would block.
pub(crate) fn has_more_input(io: &crate::net::Io) -> bool {
    let crate::net::Io::Socket(socket) = io else {
        return true;
    };
    let mut byte = [MaybeUninit::<u8>::uninit()];
    !matches!(socket.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// `recv(2)` with `MSG_OOB` into an initialised buffer.
pub(crate) fn recv_out_of_band(socket: &socket2::Socket, buf: &mut [u8]) -> io::Result<usize> {
    socket.recv_out_of_band(as_uninit(buf))
}

/// Reads into uninitialised memory (no need to zero a buffer first) and
/// returns the part the read filled.
pub(crate) fn read_uninit<'b>(
    io: &crate::net::Io,
    buf: &'b mut [MaybeUninit<u8>],
) -> io::Result<&'b mut [u8]> {
    let n = match io {
        crate::net::Io::Socket(s) => s.recv(buf)?,
        #[cfg(unix)]
        crate::net::Io::File(f) => {
            // SAFETY: the pointer and length describe `buf`, which is
            // valid for writes of `buf.len()` bytes for the whole call;
            // read(2) writes at most that many bytes and no others.
            let r = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            r as usize
        }
        #[cfg(feature = "tls")]
        crate::net::Io::Tls(t) => t.read_chunk(|chunk| {
            let n = chunk.len().min(buf.len());
            // SAFETY: `chunk` and `buf` are distinct allocations (rustls's
            // buffer, the caller's), both valid for `n` bytes; `u8` and
            // `MaybeUninit<u8>` have one layout.
            unsafe {
                std::ptr::copy_nonoverlapping(chunk.as_ptr(), buf.as_mut_ptr().cast::<u8>(), n);
            }
            n
        })?,
    };
    let n = n.min(buf.len());
    let filled = &mut buf[..n];
    // SAFETY: recv(2), read(2) and the TLS copy returned `n`: they
    // initialised the first `n` bytes of `buf` (never more than its
    // length), and `MaybeUninit<u8>` has the layout of `u8`.
    Ok(unsafe { &mut *(filled as *mut [MaybeUninit<u8>] as *mut [u8]) })
}
