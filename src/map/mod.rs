//! The channel map: a slab of channels with generations, owning the poller.

mod close;
mod connect;
mod id;
mod output;
mod settle;
mod shutdown;
mod socket_io;
#[cfg(feature = "tls")]
mod starttls;
mod status;
mod thread_default;
mod weak;

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

use polling::{Events, Poller};

pub(crate) use connect::ConnectTask;
pub use id::ChannelId;
pub(crate) use id::TICK_KEY;
pub use shutdown::{ShutdownRequested, ShutdownSummary};
pub use thread_default::{close_all, default_map, run};
pub(crate) use weak::WeakMap;

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::channel::{self, Channel, Driver};
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result, panic_error};
use crate::event_loop::{Readiness, Session};
use crate::executor::{Executor, Shared};
use crate::net::Socket;
use crate::sys::{Interest, Registration};
use crate::timer::Timers;

/// A map of channels and the loop that drives them.
///
/// A `Map` is a cheap handle: clones share the same channels, poller and
/// loop. It is `!Send`: a map and its channels belong to one thread (the
/// default map is per thread, see [`default_map`]).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<asyncore::Map>();
/// ```
///
/// # Behaviour
///
/// * **Waiting.** The map waits with [`polling`], i.e. epoll on Linux,
///   kqueue on macOS and the BSDs, event ports on illumos, poll(2)
///   elsewhere. Sockets stay registered (plain stream sockets
///   edge-triggered on epoll, in the order their readiness changed; the
///   rest level-triggered) and the registered interest is cached, so a
///   channel whose `readable()`/`writable()` did not change costs no
///   system call in a pass. A handler is called again while its input is
///   left either way.
/// * **When interest is asked.** A channel's `readable()`/`writable()` are
///   asked after each of its own callbacks, when it is added, when code
///   touches it through the map ([`Map::push`], [`Map::refresh`]), and for
///   every channel when [`Map::run`] starts. A dispatcher whose interest
///   depends on state another channel changes must ask for a
///   [`Map::refresh`]. (Python asked every channel in every pass, which made
///   a pass O(channels).)
/// * **Spurious wake-ups** happen (a readable event whose `recv` would
///   block); `recv` then returns [`io::ErrorKind::WouldBlock`], and a handler
///   that returns that error is treated as having done nothing.
/// * **Hang-ups.** A peer that hangs up is seen by the channel's next read
///   (end of file, see [`Dispatcher::handle_eof`]) or write (broken pipe,
///   a close). A channel with no interest at all is told nothing and costs
///   nothing; the kernel's hang-up report cannot make the loop spin.
/// * **Dropping** the last handle closes every socket without calling any
///   handler; call [`Map::close_all`] first to run `handle_close`.
///
/// # Examples
///
/// ```
/// use asyncore::{Ctx, Dispatcher, Map, RunOptions, Socket};
///
/// struct Quiet;
/// impl Dispatcher for Quiet {}
///
/// let map = Map::new()?;
/// let id = map.add(Socket::tcp_listen("127.0.0.1:0")?, Quiet)?;
/// assert_eq!(map.len(), 1);
/// map.run(&RunOptions::new().timeout(std::time::Duration::ZERO).count(1))?;
/// map.close(id);
/// assert!(map.is_empty());
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Clone)]
pub struct Map {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

/// The map's state. Borrowed only briefly: never while user code runs.
pub(crate) struct Inner {
    /// The poller every channel of this map is registered with.
    pub(crate) poller: Arc<Poller>,
    /// Buffer for `Poller::wait`.
    pub(crate) events: Events,
    /// Ready channels of the current pass, copied out of `events` so that
    /// no borrow is held while callbacks run.
    pub(crate) ready: Vec<(usize, Readiness)>,
    /// Scratch space for ordering `ready` (kept for its allocation).
    pub(crate) ready_again: Vec<(usize, Readiness)>,
    /// The slab: a slot per channel index.
    slots: Vec<Slot>,
    /// Free slot indices.
    free: Vec<u32>,
    /// Number of open channels.
    len: usize,
    /// Timers: listener back-off, `sleep`, `call_later`.
    pub(crate) timers: Timers,
    /// Spawned tasks.
    pub(crate) executor: Executor,
    /// A `run` of this map is in progress.
    pub(crate) running: bool,
    /// `stop` was called: `run` returns after the current pass.
    pub(crate) stop: bool,
    /// Channels closed or at end of file through an operation from outside
    /// their own hooks, to settle at the next safe point.
    pub(crate) unsettled: Vec<ChannelId>,
    /// A graceful shutdown in progress.
    pub(crate) shutdown: Option<shutdown::ShutdownState>,
    /// Tasks waiting for a shutdown to start.
    pub(crate) shutdown_waiters: Vec<std::task::Waker>,
    /// Waits on the poller so far (wrapping): names a wait for
    /// `Channel::last_wait`.
    pub(crate) waits: u32,
    /// Edge-triggered channels whose input may still hold an end of file.
    pub(crate) suspects: crate::event_loop::edge::Suspects,
    /// Per-pass figures (benchmarks only).
    #[cfg(feature = "pass-stats")]
    pub(crate) pass_stats: crate::event_loop::stats::Recorder,
}

/// One slot of the slab.
struct Slot {
    /// Bumped every time the slot's channel is removed.
    generation: u32,
    /// The channel, if the slot is in use.
    channel: Option<Channel>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("channels", &self.len)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_borrow() {
            Ok(inner) => f
                .debug_struct("Map")
                .field("channels", &inner.len)
                .field("running", &inner.running)
                .finish(),
            Err(_) => f.write_str("Map { <busy> }"),
        }
    }
}

impl Map {
    /// Creates an empty map with its own poller.
    ///
    /// # Errors
    ///
    /// The poller could not be created (e.g. out of file descriptors).
    pub fn new() -> io::Result<Map> {
        let poller = Arc::new(Poller::new()?);
        let shared = Arc::new(Shared::new(poller.clone()));
        let suspects = crate::event_loop::edge::Suspects::new(&poller);
        Ok(Map {
            inner: Rc::new(RefCell::new(Inner {
                poller,
                events: Events::new(),
                ready: Vec::new(),
                slots: Vec::new(),
                free: Vec::new(),
                len: 0,
                timers: Timers::default(),
                executor: Executor::new(shared),
                running: false,
                stop: false,
                unsettled: Vec::new(),
                waits: 0,
                suspects,
                ready_again: Vec::new(),
                #[cfg(feature = "pass-stats")]
                pass_stats: Default::default(),
                shutdown: None,
                shutdown_waiters: Vec::new(),
            })),
        })
    }

    /// Adds a channel: `socket` driven by `dispatcher`. Returns its id.
    ///
    /// The channel is polled from the next pass on. Its `readable()` and
    /// `writable()` are asked at once.
    ///
    /// # Errors
    ///
    /// * [`Error::Io`]: the poller refused the socket: `EPERM` for a
    ///   regular file on epoll, `ENOSPC`/`ENOMEM` when a kernel limit is
    ///   hit. The socket is closed.
    /// * [`Error::Panicked`]: the dispatcher's `readable()` or `writable()`
    ///   panicked.
    pub fn add<D: Dispatcher>(&self, socket: Socket, dispatcher: D) -> Result<ChannelId> {
        self.add_boxed(socket, Box::new(dispatcher))
    }

    /// Adds a channel whose dispatcher is already boxed; see [`Map::add`].
    ///
    /// # Errors
    ///
    /// As [`Map::add`].
    pub fn add_boxed(&self, socket: Socket, dispatcher: Box<dyn Dispatcher>) -> Result<ChannelId> {
        let asked = catch_unwind(AssertUnwindSafe(|| {
            (dispatcher.readable(), dispatcher.writable())
        }));
        let (readable, writable) = asked.map_err(|payload| panic_error("readable", payload))?;
        let interest = channel::interest(socket.state, readable, writable);
        let mut socket = socket;
        let target = socket.target.take();
        let id =
            self.inner
                .borrow_mut()
                .insert(socket, Driver::Callback(Some(dispatcher)), interest)?;
        if let Some(target) = target {
            self.start_connect(id, *target);
        }
        Ok(id)
    }

    /// Returns the number of open channels.
    pub fn len(&self) -> usize {
        self.inner.borrow().len
    }

    /// Returns `true` if the map holds no channel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the number of live tasks.
    pub fn tasks(&self) -> usize {
        self.inner.borrow().executor.len()
    }

    /// Returns `true` if `id` names an open channel of this map.
    pub fn contains(&self, id: ChannelId) -> bool {
        self.inner.borrow().get(id).is_some()
    }

    /// Returns the ids of all open channels, in slab order.
    pub fn ids(&self) -> Vec<ChannelId> {
        self.inner.borrow().ids()
    }

    /// Asks channel `id` for its `readable()`/`writable()` again and updates
    /// what the poller watches. Call it when another channel changed state
    /// that this channel's interest depends on. Does nothing for a closed
    /// channel; for a channel whose callback is running, the loop asks when
    /// the callback returns.
    pub fn refresh(&self, id: ChannelId) {
        if let Some(session) = Session::open(self, id) {
            session.finish();
        }
    }

    /// Asks the loop to return from [`Map::run`] after the current pass
    /// ([`Exit::Stopped`](crate::Exit::Stopped)); the asyncore equivalent of
    /// raising `ExitNow`, without leaving the pass half done.
    pub fn stop(&self) {
        self.inner.borrow_mut().stop = true;
    }
}

impl Inner {
    /// Registers `socket` and stores the channel, returning its id.
    pub(crate) fn insert(
        &mut self,
        socket: Socket,
        driver: Driver,
        interest: Interest,
    ) -> Result<ChannelId> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                if self.slots.len() > ChannelId::MAX_INDEX {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "the map is full",
                    )));
                }
                self.slots.push(Slot {
                    generation: 0,
                    channel: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[index as usize].generation;
        let id = ChannelId { index, generation };
        let Socket {
            io, state, kind, ..
        } = socket;
        #[cfg(feature = "tls")]
        let handshake_timeout = io.tls().map(|t| t.handshake_timeout());
        let edge = crate::event_loop::edge::wanted(&io, kind, state);
        let reg = match Registration::new(self.poller.clone(), io, id.key(), interest, edge) {
            Ok(reg) => reg,
            Err(e) => {
                self.free.push(index);
                return Err(e.into());
            }
        };
        let channel = Channel::new(reg, kind, state, driver);
        self.slots[index as usize].channel = Some(channel);
        self.len += 1;
        #[cfg(feature = "tls")]
        if let Some(timeout) = handshake_timeout {
            let at = std::time::Instant::now() + timeout;
            self.timers
                .schedule(at, crate::timer::TimerAction::HandshakeDeadline(id));
        }
        Ok(id)
    }

    /// Removes channel `id`, returning it (its socket still open: dropping
    /// the `Channel` deletes the registration and closes the fd).
    pub(crate) fn remove(&mut self, id: ChannelId) -> Option<Channel> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let channel = slot.channel.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        Some(channel)
    }

    pub(crate) fn get(&self, id: ChannelId) -> Option<&Channel> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.channel.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.channel.as_mut()
    }

    /// Looks up the channel a poller key names; `None` for a stale key (the
    /// channel closed and maybe its slot was reused within this pass).
    pub(crate) fn id_for_key(&self, key: usize) -> Option<ChannelId> {
        let (index, generation) = ChannelId::from_key(key);
        let slot = self.slots.get(index as usize)?;
        if slot.channel.is_none() || !ChannelId::generation_matches(slot.generation, generation) {
            return None;
        }
        Some(ChannelId {
            index,
            generation: slot.generation,
        })
    }

    /// Like `get`, but an error naming the channel when it is gone.
    pub(crate) fn channel(&self, id: ChannelId) -> Result<&Channel> {
        self.get(id).ok_or(Error::Closed(id))
    }

    pub(crate) fn channel_mut(&mut self, id: ChannelId) -> Result<&mut Channel> {
        self.get_mut(id).ok_or(Error::Closed(id))
    }

    pub(crate) fn ids(&self) -> Vec<ChannelId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.channel.is_some())
            .map(|(index, slot)| ChannelId {
                index: index as u32,
                generation: slot.generation,
            })
            .collect()
    }
}
