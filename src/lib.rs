//! Python's asyncore for Rust: one thread, one loop, one map of socket
//! channels driven by `readable`/`writable`/`handle_*` callbacks.
//!
//! * A [`Map`] holds channels: non-blocking sockets ([`Socket`]: TCP over
//!   IPv4 and IPv6, UDP, Unix stream and datagram sockets, pipes) each
//!   driven by a [`Dispatcher`].
//! * [`Map::run`] (or [`run`] on the thread's [`default_map`]) is
//!   `asyncore.loop`: passes of wait-then-dispatch, with a wait timeout per
//!   pass and an optional pass count ([`RunOptions`]).
//! * Callbacks get a [`Ctx`]: the channel's socket (`recv`, `send`,
//!   `recv_from`, `send_to`, out-of-band data, `shutdown`), its output queue
//!   ([`Ctx::push`], [`Ctx::close_when_done`], Python's
//!   `dispatcher_with_send`), and the map (add channels, close or refresh
//!   others, stop the loop).
//! * The [`chat`] module is asynchat: [`ChatChannel`](chat::ChatChannel)
//!   frames a channel's input by a [`Terminator`](chat::Terminator) (bytes,
//!   a count, or none) and calls a [`Chat`](chat::Chat)'s
//!   `collect_incoming_data`/`found_terminator`; output goes through
//!   `push`, [`Producer`](chat::Producer)s and `close_when_done`.
//!
//! The loop waits with the [`polling`] crate: epoll on Linux, kqueue on
//! macOS and the BSDs, event ports on illumos, poll(2) elsewhere. Sockets
//! stay registered (plain stream sockets edge-triggered on epoll, the rest
//! level-triggered: see the guide's difference 23), and a channel costs a
//! system call only when its interest changes, so a pass is O(ready
//! channels), not O(channels).
//!
//! The async face lives in the same map: a small executor of our own
//! ([`Map::spawn`], [`Map::block_on`], [`JoinHandle`], [`RemoteHandle`]
//! for other threads), async sockets ([`TcpListener`], [`TcpStream`],
//! [`UdpSocket`], Unix sockets) with `futures`' `AsyncRead`/`AsyncWrite`,
//! any channel as a [`Stream`](futures_core::Stream) of [`ChannelEvent`]s
//! ([`Map::add_events`]), chat channels as a stream of frames
//! ([`chat::ChatStream`]), and timers for both faces ([`sleep`],
//! [`timeout`], [`interval`], [`Map::call_later`]).
//!
//! Where this crate deliberately differs from Python's asyncore (default
//! `writable()`, error routing, half-close, fd reuse, accept exhaustion, ...)
//! is listed in the [`guide`].
//!
//! # Example: a callback-style echo server and client
//!
//! ```
//! use asyncore::{Address, Ctx, Dispatcher, Exit, Map, Result, RunOptions, Socket};
//!
//! struct Server;
//! impl Dispatcher for Server {
//!     fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
//!         cx.add(socket, Echo)?;
//!         Ok(())
//!     }
//! }
//!
//! struct Echo;
//! impl Dispatcher for Echo {
//!     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
//!         let mut buf = [0u8; 1024];
//!         let n = cx.recv(&mut buf)?;
//!         cx.push(&buf[..n])
//!     }
//! }
//!
//! struct Client(Vec<u8>);
//! impl Dispatcher for Client {
//!     fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
//!         cx.push(b"ping")?;
//!         // Half-close: the server flushes its echo, then closes.
//!         cx.shutdown(std::net::Shutdown::Write)?;
//!         Ok(())
//!     }
//!     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
//!         let mut buf = [0u8; 1024];
//!         let n = cx.recv(&mut buf)?;
//!         self.0.extend_from_slice(&buf[..n]);
//!         Ok(())
//!     }
//!     fn handle_close(&mut self, cx: &mut Ctx<'_>) {
//!         assert_eq!(self.0, b"ping");
//!         cx.map().stop();
//!     }
//! }
//!
//! let map = Map::new()?;
//! let listener = Socket::tcp_listen("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! map.add(listener, Server)?;
//! map.add(Socket::tcp_connect(addr.as_inet().unwrap())?, Client(Vec::new()))?;
//! assert_eq!(map.run(&RunOptions::new().count(100))?, Exit::Stopped);
//! # Ok::<(), asyncore::Error>(())
//! ```
//!
//! # Example: async style
//!
//! The same map runs `async fn` handlers: [`Map::spawn`] tasks, await
//! [`TcpListener::accept`], read and write [`TcpStream`]s through
//! `futures`' `AsyncRead`/`AsyncWrite`, and [`Map::block_on`] a future.
//!
//! ```
//! use asyncore::{Map, TcpListener, TcpStream};
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let map = Map::new()?;
//! let reply = map.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     asyncore::spawn(async move {
//!         let (mut stream, _) = listener.accept().await?;
//!         let mut buf = [0u8; 64];
//!         let n = stream.read(&mut buf).await?;
//!         stream.write_all(&buf[..n].to_ascii_uppercase()).await?;
//!         std::io::Result::Ok(())
//!     })?;
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"ping").await?;
//!     let mut reply = [0u8; 4];
//!     client.read_exact(&mut reply).await?;
//!     std::io::Result::Ok(reply)
//! })??;
//! assert_eq!(&reply, b"PING");
//! # Ok::<(), asyncore::Error>(())
//! ```
//!
//! # Example: both styles in one map
//!
//! A callback-style listener hands each accepted socket to an async task;
//! an async client talks to it, all in one loop.
//!
//! ```
//! use asyncore::{Address, Ctx, Dispatcher, Map, Result, Socket, TcpStream};
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//!
//! struct Handoff;
//!
//! impl Dispatcher for Handoff {
//!     fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
//!         let mut stream = TcpStream::from_socket(cx.map(), socket)?;
//!         cx.spawn(async move {
//!             let mut line = Vec::new();
//!             stream.read_to_end(&mut line).await?;
//!             stream.write_all(&line).await?; // echo after the client's half-close
//!             std::io::Result::Ok(())
//!         });
//!         Ok(())
//!     }
//! }
//!
//! let map = Map::new()?;
//! let listener = Socket::tcp_listen("127.0.0.1:0")?;
//! let addr = listener.local_addr()?.as_inet().unwrap();
//! let listener = map.add(listener, Handoff)?;
//! let echo = map.block_on(async {
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"mixed").await?;
//!     client.close().await?;
//!     let mut echo = Vec::new();
//!     client.read_to_end(&mut echo).await?;
//!     std::io::Result::Ok(echo)
//! })??;
//! assert_eq!(echo, b"mixed");
//! map.close(listener);
//! # Ok::<(), asyncore::Error>(())
//! ```
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod async_net;
mod channel;
pub mod chat;
mod ctx;
mod diag;
mod dispatcher;
mod error;
mod event_loop;
mod events;
mod executor;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod guide;
mod map;
mod net;
mod out_queue;
#[cfg(unix)]
pub mod signal;
#[allow(unsafe_code)]
mod sys;
pub mod time;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
pub mod workers;

/// Compiles the README's examples as doctests, so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use async_net::{TcpListener, TcpStream, UdpSocket};
#[cfg(unix)]
pub use async_net::{UnixDatagram, UnixListener, UnixStream};
pub use ctx::Ctx;
pub use dispatcher::Dispatcher;
pub use error::{Error, Result};
#[cfg(feature = "pass-stats")]
#[cfg_attr(docsrs, doc(cfg(feature = "pass-stats")))]
pub use event_loop::stats::{Histogram, PassStats};
pub use event_loop::{DEFAULT_TIMEOUT, Exit, RunOptions, ServeOrder};
pub use events::{ChannelEvent, EventStream};
pub use executor::{JoinHandle, RemoteHandle, block_on, spawn};
pub use map::{ChannelId, Map, ShutdownRequested, ShutdownSummary, close_all, default_map, run};
pub use net::{Address, ConnectError, Lookup, Socket, SocketKind, Target, ToTarget, lookup_host};
pub use out_queue::{DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK};
pub use time::{Interval, Sleep, Timeout, TimerHandle, interval, sleep, sleep_until, timeout};
