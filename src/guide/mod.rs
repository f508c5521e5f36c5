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
//! # asynchat
//!
//! | Python | here |
//! |---|---|
//! | `class C(asynchat.async_chat)` | `impl `[`Chat`]` for C`, added as [`ChatChannel`]`::new(C)` |
//! | `collect_incoming_data(data)`, `found_terminator()` | [`Chat::collect_incoming_data`], [`Chat::found_terminator`] |
//! | `set_terminator(b"\r\n")`, `set_terminator(n)`, `set_terminator(None)` | [`ChatCtx::set_terminator`] with [`Terminator::Bytes`], [`Terminator::Count`], [`Terminator::None`] (`"\r\n"`, `n` and byte strings convert) |
//! | `get_terminator()` | [`ChatCtx::terminator`] |
//! | `push(data)` | [`ChatCtx::push`] |
//! | `push_with_producer(p)` | [`ChatCtx::push_with_producer`] with any [`Producer`] |
//! | `simple_producer(data, buffer_size=512)` | [`SimpleProducer::with_buffer_size`] (or [`SimpleProducer::new`]: 512) |
//! | a file-backed producer | [`ReaderProducer`] |
//! | `fifo` (2.x) / `producer_fifo` | [`Fifo`] (inside every [`ChatChannel`]) |
//! | `close_when_done()` | [`ChatCtx::close_when_done`] |
//! | `discard_buffers()` | [`ChatCtx::discard_buffers`] |
//! | `ac_in_buffer_size`, `ac_out_buffer_size` | [`ChatChannel::with_in_buffer_size`], [`ChatChannel::with_out_buffer_size`] |
//! | `find_prefix_at_end(haystack, needle)` | [`find_prefix_at_end`] |
//! | the framing loop in `handle_read` | [`Splitter`], usable on its own (pure, no I/O) |
//!
//! ```
//! use asyncore::chat::{Chat, ChatChannel, ChatCtx, SimpleProducer};
//! use asyncore::Result;
//!
//! // class Greeter(asynchat.async_chat):
//! //     def __init__(self, sock):
//! //         super().__init__(sock); self.set_terminator(b"\r\n"); self.buf = []
//! //     def collect_incoming_data(self, data): self.buf.append(data)
//! //     def found_terminator(self):
//! //         self.push_with_producer(asynchat.simple_producer(b"hello " + b"".join(self.buf)))
//! //         self.close_when_done()
//! struct Greeter(Vec<u8>);
//!
//! impl Chat for Greeter {
//!     fn collect_incoming_data(&mut self, _: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
//!         self.0.extend_from_slice(data);
//!         Ok(())
//!     }
//!     fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
//!         let reply = [b"hello ".as_slice(), &self.0].concat();
//!         cx.push_with_producer(SimpleProducer::new(reply))?;
//!         cx.close_when_done()
//!     }
//! }
//!
//! let channel = ChatChannel::new(Greeter(Vec::new())).with_terminator("\r\n");
//! # let _ = channel;
//! ```
//!
//! Deliberate differences in asynchat (each covered by a test that says so):
//!
//! * **The default terminator is [`Terminator::None`]**: Python had none
//!   and failed with `AttributeError` on the first read.
//! * **Records have a maximum length** while a byte terminator is searched
//!   for (64 KiB by default, [`ChatChannel::with_max_record_len`]): beyond
//!   it `handle_error` gets [`Error::RecordTooLong`](crate::Error::RecordTooLong)
//!   instead of memory growing without bound. Counts and `None` are raw
//!   modes and not limited.
//! * **Input back-pressure**: while the channel's output queue is above its
//!   high watermark the channel stops reading its peer (Python's
//!   `readable()` was always true).
//! * **End of stream is a hook**, [`Chat::handle_end_of_stream`], given the
//!   held-back bytes (a partial terminator, an unterminated last record);
//!   its default sends queued output, then closes. Python dropped both.
//! * **Framing stops once the channel closes**: a `found_terminator` that
//!   closes gets no more calls for input already buffered.
//! * **Output goes out as fast as the socket takes it**: Python sent one
//!   `ac_out_buffer_size` slice per write event; here queued chunks leave in
//!   vectored writes until the socket is full, and pushes are not split.
//!   Empty pushes cost nothing (Python wasted a `send` and stalled the
//!   queue for one event).
//! * **A count cannot be negative** ([`Terminator::Count`] holds a
//!   `usize`), so `set_terminator(-1)`'s `ValueError` has no counterpart;
//!   `Count(0)` behaves like `None`, as Python's `0` did.
//! * **Kept from Python on purpose**: a count decays to `Count(0)` (all
//!   later input is data until a new terminator is set), a terminator set in
//!   `found_terminator` applies to bytes already received, and
//!   `discard_buffers` also drops a pending `close_when_done`.
//!
//! # The callbacks as an event stream
//!
//! [`Map::add_events`] drives a channel from a task instead of a
//! dispatcher: each callback becomes a [`ChannelEvent`], and
//! `readable()`/`writable()` become [`EventStream::set_interest`].
//!
//! | callback | event |
//! |---|---|
//! | `handle_connect` | [`ChannelEvent::Connected`] |
//! | `handle_read` | [`ChannelEvent::Readable`] (then [`EventStream::recv`]) |
//! | `handle_write` | [`ChannelEvent::Writable`] (then [`EventStream::send`] or `push`) |
//! | `handle_accepted(sock, addr)` | [`ChannelEvent::Accepted`]`(socket, addr)` |
//! | `handle_expt` | [`ChannelEvent::Exceptional`] |
//! | `handle_eof` | [`ChannelEvent::Eof`] (the channel stays open: close it, or keep sending) |
//! | `handle_error(e)` | [`ChannelEvent::Error`]`(e)` |
//! | `handle_close` | [`ChannelEvent::Closed`], then the stream ends |
//!
//! A readiness event is reported once and not again until the task has
//! taken it, so a task that is busy elsewhere does not make the loop spin.
//! For byte streams the async socket types ([`TcpStream`] and friends)
//! with `AsyncRead`/`AsyncWrite` are the simpler tool; for asynchat,
//! [`ChatStream`](crate::chat::ChatStream) yields the frames.
//!
//! # TLS: `ssl.wrap_socket` on a dispatcher
//!
//! In Python a TLS dispatcher wrapped its socket (`ssl.wrap_socket` or
//! `SSLContext.wrap_socket(..., do_handshake_on_connect=False)`) and then
//! had to drive the handshake by hand, catch `SSLWantReadError` and
//! `SSLWantWriteError` in every `recv`/`send`, and remember that `select`
//! knows nothing of bytes the SSL object holds. Here TLS is under the
//! hooks (feature `tls`, on by default, on rustls):
//!
//! | Python | here |
//! |---|---|
//! | `ctx.wrap_socket(sock, server_side=True)` in `handle_accepted` | [`Socket::tls_server`] with a [`TlsAcceptor`], then [`Ctx::add`](crate::Ctx::add) as usual |
//! | `ctx.wrap_socket(sock, server_hostname=h)` before `connect` | [`Socket::tls_client`] with a [`TlsConnector`] and the name |
//! | `do_handshake()` and the `SSLWant*Error` dance | nothing: the loop runs the handshake; `handle_connect` (client) or the first `handle_read` (server) come after it |
//! | `SSLError` from the handshake | `handle_error` once with [`Error::Tls`](crate::Error::Tls), then `handle_close` |
//! | `sock.pending()` to find buffered bytes | nothing: a channel whose decrypted input waits in rustls is dispatched again without a poller event |
//! | `unwrap()` before closing | nothing: closing sends `close_notify` after the queued output |
//! | `ctx.wrap_socket` on a live connection (STARTTLS) | [`Ctx::start_tls_server`](crate::Ctx::start_tls_server), [`ChatCtx::start_tls_server`](crate::chat::ChatCtx::start_tls_server) |
//! | `asyncio` `start_tls`, `ssl=` | [`TlsStream::accept`] and [`TlsStream::connect`] |
//!
//! ```
//! use asyncore::tls::TlsAcceptor;
//! use asyncore::{Address, Ctx, Dispatcher, Result, Socket};
//!
//! struct TlsServer(TlsAcceptor);
//!
//! impl Dispatcher for TlsServer {
//!     fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
//!         // Any Dispatcher serves the TLS channel: it sees plaintext.
//!         cx.add(socket.tls_server(&self.0)?, Echo)?;
//!         Ok(())
//!     }
//! }
//!
//! struct Echo;
//!
//! impl Dispatcher for Echo {
//!     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
//!         let mut buf = [0u8; 16 * 1024];
//!         let n = cx.recv(&mut buf)?;
//!         cx.push(&buf[..n])
//!     }
//! }
//! # let _ = TlsServer;
//! ```
//!
//! [`Socket::tls_server`]: crate::Socket::tls_server
//! [`Socket::tls_client`]: crate::Socket::tls_client
//! [`TlsAcceptor`]: crate::tls::TlsAcceptor
//! [`TlsConnector`]: crate::tls::TlsConnector
//! [`TlsStream::accept`]: crate::tls::TlsStream::accept
//! [`TlsStream::connect`]: crate::tls::TlsStream::connect
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
//! 18. **No `log`/`log_info`; `tracing` events instead.** Python's
//!     defaults print to stderr; ours never print. The default
//!     `handle_error` and `handle_accept_error` emit a [`tracing`] event
//!     (`warn`, or `error` for a panic) with the `channel`, `peer` and
//!     `error` as fields, and the loop emits `error` events for panicking
//!     callbacks and tasks nobody awaits, and `debug` events for closed
//!     channels inside a `run` span. Install a subscriber
//!     (`tracing-subscriber` with `RUST_LOG=asyncore=debug`) to see them,
//!     or override the hooks. `repr`, `compact_traceback` and `_strerror`
//!     have no counterpart: errors are values with `Display`.
//! 19. **A TLS peer that ends without `close_notify` is a truncation.**
//!     Python's `ssl` module raised `SSLEOFError` from `recv` only with
//!     `suppress_ragged_eofs=False`, and asyncore then closed quietly.
//!     Here `handle_error` gets [`TlsError::Truncated`](crate::tls::TlsError::Truncated)
//!     and `handle_eof` does not run: a cut-short transfer never looks
//!     complete.
//! 20. **Plaintext pipelined after STARTTLS is dropped and reported.** A
//!     chat channel that starts TLS from `found_terminator` discards the
//!     undecoded bytes that followed the command (CVE-2011-0411) and
//!     reports [`TlsError::PlaintextAfterStartTls`](crate::tls::TlsError::PlaintextAfterStartTls).
//! 21. **A connect by host name never blocks, and tries every address.**
//!     Python's `connect(("localhost", port))` ran `getaddrinfo` inside the
//!     loop and used one address. Here the lookup runs on a helper thread
//!     and the addresses race by Happy Eyeballs; see [`services`].
//! 22. **Ready channels are served newcomers first.** Python served them in
//!     the order `select` or `poll` returned them. Level-triggered epoll
//!     reports channels it reported before ahead of ones that became ready
//!     after them, so a channel that just missed a wait was served last in
//!     the next pass, and under load some connections were served later
//!     than others pass after pass. A pass now
//!     serves the channels that became ready since its previous wait
//!     first (each group in the poller's order); every ready channel is
//!     still served in every pass. [`ServeOrder::Poller`](crate::ServeOrder::Poller)
//!     restores the poller's order. The test is `tests/serve_order.rs`.
//! 23. **Stream sockets are edge-triggered on Linux.** Python polls
//!     level-triggered, and so did we: a channel with input left is
//!     reported again by every wait, in the place the previous wait gave
//!     it, so under load channels were served in the previous pass's order
//!     rather than in the order their input arrived (`BENCHMARKS.md`, "Tail
//!     latency"). Plain TCP and Unix stream channels are now registered
//!     edge-triggered with epoll, which reports them in the order their
//!     readiness changed, as tokio's are. The callbacks see no difference:
//!     when a dispatch did not see its readiness used up (a read filled its
//!     buffer, a write went out whole while the channel still wants to
//!     write, the handler read nothing or read through
//!     [`Map::raw_fd`](crate::Map::raw_fd)), the loop asks epoll to look
//!     again, so `handle_read` is still called while input is left. One
//!     thing comes later: a peer's end of file that arrives with its last
//!     data is one edge with it, so after a read that came back short the
//!     loop peeks for it once the channel has been quiet for a
//!     millisecond: `handle_eof` may run up to two milliseconds after the
//!     last `handle_read`. Async
//!     streams keep reported readiness until an operation would block, so
//!     `readable()` returns at once while input may be left, and a task
//!     reads until [`WouldBlock`](std::io::ErrorKind::WouldBlock) (or a
//!     read that came back short) before it waits again, as with tokio.
//!     Listeners, datagram sockets, pipes, TLS
//!     streams and the other backends stay level-triggered. The tests are
//!     `tests/edge_triggered.rs` and `tests/serve_order.rs`.
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
//! [`Map::add_events`]: crate::Map::add_events
//! [`EventStream::set_interest`]: crate::EventStream::set_interest
//! [`EventStream::recv`]: crate::EventStream::recv
//! [`EventStream::send`]: crate::EventStream::send
//! [`ChannelEvent`]: crate::ChannelEvent
//! [`ChannelEvent::Connected`]: crate::ChannelEvent::Connected
//! [`ChannelEvent::Readable`]: crate::ChannelEvent::Readable
//! [`ChannelEvent::Writable`]: crate::ChannelEvent::Writable
//! [`ChannelEvent::Accepted`]: crate::ChannelEvent::Accepted
//! [`ChannelEvent::Exceptional`]: crate::ChannelEvent::Exceptional
//! [`ChannelEvent::Eof`]: crate::ChannelEvent::Eof
//! [`ChannelEvent::Error`]: crate::ChannelEvent::Error
//! [`ChannelEvent::Closed`]: crate::ChannelEvent::Closed
//! [`TcpStream`]: crate::TcpStream
//! [`Chat`]: crate::chat::Chat
//! [`Chat::collect_incoming_data`]: crate::chat::Chat::collect_incoming_data
//! [`Chat::found_terminator`]: crate::chat::Chat::found_terminator
//! [`Chat::handle_end_of_stream`]: crate::chat::Chat::handle_end_of_stream
//! [`ChatChannel`]: crate::chat::ChatChannel
//! [`ChatChannel::with_in_buffer_size`]: crate::chat::ChatChannel::with_in_buffer_size
//! [`ChatChannel::with_out_buffer_size`]: crate::chat::ChatChannel::with_out_buffer_size
//! [`ChatChannel::with_max_record_len`]: crate::chat::ChatChannel::with_max_record_len
//! [`ChatCtx::set_terminator`]: crate::chat::ChatCtx::set_terminator
//! [`ChatCtx::terminator`]: crate::chat::ChatCtx::terminator
//! [`ChatCtx::push`]: crate::chat::ChatCtx::push
//! [`ChatCtx::push_with_producer`]: crate::chat::ChatCtx::push_with_producer
//! [`ChatCtx::close_when_done`]: crate::chat::ChatCtx::close_when_done
//! [`ChatCtx::discard_buffers`]: crate::chat::ChatCtx::discard_buffers
//! [`Terminator::Bytes`]: crate::chat::Terminator::Bytes
//! [`Terminator::Count`]: crate::chat::Terminator::Count
//! [`Terminator::None`]: crate::chat::Terminator::None
//! [`Producer`]: crate::chat::Producer
//! [`SimpleProducer`]: crate::chat::SimpleProducer
//! [`SimpleProducer::new`]: crate::chat::SimpleProducer::new
//! [`SimpleProducer::with_buffer_size`]: crate::chat::SimpleProducer::with_buffer_size
//! [`ReaderProducer`]: crate::chat::ReaderProducer
//! [`Fifo`]: crate::chat::Fifo
//! [`Splitter`]: crate::chat::Splitter
//! [`find_prefix_at_end`]: crate::chat::find_prefix_at_end

pub mod services;
