//! Coming from Python's asyncore: how its names map onto this crate, and
//! every place where this crate deliberately behaves differently.
//!
//! # The names
//!
//! | Python | here |
//! |---|---|
//! | `asyncore.loop(timeout=30.0, use_poll=False, map=None, count=None)` | [`Map::run`]`(&`[`RunOptions`]`::new().timeout(..).count(..))`, or [`run`](crate::run) for the default map |
//! | `asyncore.poll(timeout, map)` (one pass) | `map.run(&RunOptions::new().timeout(t).count(1))` |
//! | `asyncore.socket_map` | [`default_map`](crate::default_map) (one per thread), or any [`Map`] |
//! | `asyncore.close_all(map)` | [`Map::close_all`], [`close_all`](crate::close_all) |
//! | `asyncore.ExitNow` | [`Map::stop`]: `run` returns [`Exit::Stopped`] after the pass |
//! | `class D(asyncore.dispatcher)` | `impl `[`Dispatcher`]` for D`, added with [`Map::add`]`(socket, D)` |
//! | `create_socket(); set_reuse_addr(); bind(a); listen(n)` | [`Socket::tcp_listen`]`(a)` (or `tcp_listen_with_backlog`) |
//! | `create_socket(); connect(a)` | [`Socket::tcp_connect`]`(a)`, then [`Map::add`] |
//! | `handle_accept()` + `accept()` | the loop accepts; you get [`Dispatcher::handle_accepted`]`(cx, socket, addr)` |
//! | `self.send(data)`, `self.recv(n)` | [`Ctx::send`], [`Ctx::recv`] (non-blocking, `io::Result`) |
//! | `sendto`/`recvfrom` on a UDP dispatcher | [`Ctx::send_to`], [`Ctx::recv_from`] with [`Address`] |
//! | `self.close()` | [`Ctx::close`], [`Map::close`] |
//! | `connected`, `accepting`, `connecting` | [`Ctx::is_connected`], [`Ctx::is_accepting`], [`Ctx::is_connecting`] |
//! | `addr`, `getpeername()` | [`Ctx::local_addr`], [`Ctx::peer_addr`] |
//! | `dispatcher_with_send.send(data)` | [`Ctx::push`] (any channel has an output queue) |
//! | `file_dispatcher(fd)` | [`Socket::from_fd`], [`Socket::pipe`] |
//! | `handle_error()` + `compact_traceback()` | [`Dispatcher::handle_error`]`(cx, error)`: the [`Error`] is a value |
//! | `socket.AF_UNIX` stream and datagram | [`Socket::unix_listen`], [`Socket::unix_connect`], [`Socket::unix_datagram_bind`], pairs |
//!
//! A Python dispatcher and its Rust counterpart:
//!
//! ```python
//! class Echo(asyncore.dispatcher_with_send):
//!     def handle_read(self):
//!         self.send(self.recv(8192))
//! ```
//!
//! ```
//! use asyncore::{Ctx, Dispatcher, Result};
//!
//! struct Echo;
//!
//! impl Dispatcher for Echo {
//!     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
//!         let mut buf = [0u8; 8192];
//!         let n = cx.recv(&mut buf)?;
//!         cx.push(&buf[..n])
//!     }
//! }
//! ```
//!
//! The loop knobs:
//!
//! ```
//! use std::time::Duration;
//! use asyncore::{Exit, Map, RunOptions};
//!
//! let map = Map::new()?;
//! // asyncore.loop(timeout=0.01, map=map, count=5): an empty map returns at once.
//! let exit = map.run(&RunOptions::new().timeout(Duration::from_millis(10)).count(5))?;
//! assert_eq!(exit, Exit::Empty);
//! # Ok::<(), asyncore::Error>(())
//! ```
//!
//! `async_chat`, `simple_producer` and `fifo` (asynchat) are not built yet.
//!
//! # Deliberate differences
//!
//! Each is covered by a test that says so next to it.
//!
//! 1. **`writable()` defaults to `false`.** Python's `true` woke the loop in
//!    every pass for every idle connected channel. Queued output
//!    ([`Ctx::push`]) is polled for whatever `writable()` says, and a
//!    connecting socket is always polled, so `handle_connect` still fires.
//! 2. **Interest is asked when it can change, not every pass.**
//!    `readable()`/`writable()` are asked after each of the channel's own
//!    callbacks, when it is added, when code touches it through the map,
//!    and for all channels when `run` starts. If a channel's interest
//!    depends on state another channel changes, call [`Map::refresh`]. A
//!    pass costs O(ready channels), not O(channels).
//! 3. **One error rule.** Disconnect errors (reset, aborted, broken pipe,
//!    not connected, shut down) close the channel through `handle_close`;
//!    other errors and panics go to `handle_error`. Python routed the same
//!    error differently under `select` and `poll`.
//! 4. **`handle_close` runs exactly once, and nothing after it.** It is a
//!    notification: the channel closes whether or not it calls `close`. A
//!    close requested inside a callback happens when the callback returns;
//!    events already fetched for the channel in the same pass are dropped.
//!    Python could call `handle_close` twice and keep calling handlers on a
//!    closed channel (bpo-30985).
//! 5. **End of file is [`Dispatcher::handle_eof`], and half-close works.**
//!    Its default sends what is queued, then closes
//!    ([`Ctx::close_when_done`]); override it to keep writing on a
//!    half-closed connection. Python closed at end of file (bpo-35913).
//! 6. **Connect is reported with its outcome.** Inside `handle_connect` the
//!    channel already counts as connected (Python flipped the flags after).
//!    A failed connect reaches `handle_error` as [`Error::Connect`] with the
//!    cause (refused, unreachable), then the channel closes; a connect that
//!    fails at once returns the error from [`Socket::tcp_connect`] and
//!    nothing is registered.
//! 7. **The loop accepts.** [`Dispatcher::handle_accepted`] gets each
//!    connection, up to 128 per event (Python accepted one per pass). When
//!    accept runs out of descriptors (`EMFILE`, `ENFILE`) the listener
//!    stays open and unpolled for a back-off of 10 ms doubling to 1 s, and
//!    [`Dispatcher::handle_accept_error`] is told. Python closed the
//!    listener, or spun if `handle_error` did not.
//! 8. **Spurious readiness is harmless.** [`Ctx::recv`] returns
//!    `WouldBlock`, and a hook that returns that error did nothing. Python
//!    raised `BlockingIOError` into `handle_error` (bpo-16133).
//! 9. **Events never reach the wrong channel.** Channels are keyed by a
//!    slot plus a generation ([`ChannelId`]), not by fd, so a channel that
//!    reuses a closed channel's fd within a pass does not get its events
//!    (bpo-30931).
//! 10. **Panics are caught.** A panicking hook reaches `handle_error` as
//!     [`Error::Panicked`]; a panic in `handle_error` closes the channel.
//!     The loop goes on.
//! 11. **Default hooks do not spin.** The default `handle_read` reads and
//!     discards, the default `handle_expt` reads the urgent byte, so a
//!     channel that does not handle input still notices its peer leaving.
//!     Python's defaults only logged, and level-triggered polling called
//!     them again and again.
//! 12. **Output is bounded.** Each channel's output queue has watermarks
//!     (64 KiB / 16 KiB by default, [`Map::set_write_limits`]): above the
//!     high one the channel is not polled for reading, so a peer that never
//!     reads costs bounded memory. Pushing while connecting queues (Python's
//!     `dispatcher_with_send` closed the channel). After
//!     [`Ctx::close_when_done`] the channel stops reading and refuses more
//!     output.
//! 13. **No `use_poll`.** The backend is the best the OS has (epoll,
//!     kqueue, event ports, poll(2)); there is no `select` and no
//!     `FD_SETSIZE` limit.
//! 14. **Timeouts are [`Duration`](std::time::Duration)s.** `None` waits
//!     for an event; sub-millisecond timeouts are not truncated to zero.
//! 15. **The default map is per thread**, and maps are `!Send`. Python's
//!     `socket_map` was per process.
//! 16. **`file_dispatcher` takes ownership of the fd** instead of
//!     `dup`-ing it, and regular files are refused (epoll cannot poll them;
//!     Python's `select` called them always ready). Use pipes.
//! 17. **Urgent data is handled before input.** Within one event the hooks
//!     run connect, `handle_expt`, `handle_read`, `handle_write` (Python:
//!     read, write, then exceptional). `polling` reports a lone urgent byte
//!     as readable too, and a plain `recv` at the urgent mark makes Linux
//!     skip the byte before `handle_expt` could read it.
//! 18. **No `log`/`log_info`.** The default `handle_error` and
//!     `handle_accept_error` print one line to stderr; override them to use
//!     your logger. `repr`, `compact_traceback` and `_strerror` have no
//!     counterpart: errors are values with `Display`.
//!
//! [`Map`]: crate::Map
//! [`Map::run`]: crate::Map::run
//! [`Map::add`]: crate::Map::add
//! [`Map::close`]: crate::Map::close
//! [`Map::close_all`]: crate::Map::close_all
//! [`Map::stop`]: crate::Map::stop
//! [`Map::refresh`]: crate::Map::refresh
//! [`Map::set_write_limits`]: crate::Map::set_write_limits
//! [`RunOptions`]: crate::RunOptions
//! [`Exit::Stopped`]: crate::Exit::Stopped
//! [`Dispatcher`]: crate::Dispatcher
//! [`Dispatcher::handle_accepted`]: crate::Dispatcher::handle_accepted
//! [`Dispatcher::handle_accept_error`]: crate::Dispatcher::handle_accept_error
//! [`Dispatcher::handle_error`]: crate::Dispatcher::handle_error
//! [`Dispatcher::handle_eof`]: crate::Dispatcher::handle_eof
//! [`Socket::tcp_listen`]: crate::Socket::tcp_listen
//! [`Socket::tcp_connect`]: crate::Socket::tcp_connect
//! [`Socket::from_fd`]: crate::Socket::from_fd
//! [`Socket::pipe`]: crate::Socket::pipe
//! [`Socket::unix_listen`]: crate::Socket::unix_listen
//! [`Socket::unix_connect`]: crate::Socket::unix_connect
//! [`Socket::unix_datagram_bind`]: crate::Socket::unix_datagram_bind
//! [`Ctx::send`]: crate::Ctx::send
//! [`Ctx::recv`]: crate::Ctx::recv
//! [`Ctx::send_to`]: crate::Ctx::send_to
//! [`Ctx::recv_from`]: crate::Ctx::recv_from
//! [`Ctx::close`]: crate::Ctx::close
//! [`Ctx::push`]: crate::Ctx::push
//! [`Ctx::close_when_done`]: crate::Ctx::close_when_done
//! [`Ctx::is_connected`]: crate::Ctx::is_connected
//! [`Ctx::is_accepting`]: crate::Ctx::is_accepting
//! [`Ctx::is_connecting`]: crate::Ctx::is_connecting
//! [`Ctx::local_addr`]: crate::Ctx::local_addr
//! [`Ctx::peer_addr`]: crate::Ctx::peer_addr
//! [`Address`]: crate::Address
//! [`Error`]: crate::Error
//! [`Error::Connect`]: crate::Error::Connect
//! [`Error::Panicked`]: crate::Error::Panicked
//! [`ChannelId`]: crate::ChannelId
