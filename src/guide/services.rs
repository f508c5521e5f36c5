//! Running a service: every core, signals, a graceful stop, and host names
//! that never block the loop. Python's asyncore had none of these; this is
//! what the crate offers instead, and why it is built this way.
//!
//! # Every core
//!
//! A map is one thread, by design (decision 14): scale is many maps.
//! [`Workers::start`] runs `n` threads (0: one per core), each with its own
//! map set up by your closure, in either style. Each worker's listener
//! comes from [`Socket::tcp_listen_reuseport`]: every worker binds the same
//! port and the kernel spreads connections over them (Linux
//! `SO_REUSEPORT`, FreeBSD `SO_REUSEPORT_LB`). Where the kernel does not
//! balance, one acceptor hands each accepted socket to the workers in turn
//! through their [`RemoteHandle`]s (a [`Socket`] is `Send`, a channel is
//! not); see the [`workers`](crate::workers) module. A worker whose setup
//! or loop panics ends alone; [`Workers::join`] reports how each ended.
//!
//! # Signals
//!
//! [`Map::on_signals`] runs a handler on the loop thread, and
//! [`Map::signals`] is a `Stream` of signal numbers for tasks. The signal
//! handler itself only writes a byte to a self-pipe (signal-hook's
//! registry), which the map reads like any channel, so no user code ever
//! runs in signal context. Several maps may listen for the same signal.
//!
//! # A graceful stop
//!
//! [`Map::shutdown`] stops accepting, calls [`Dispatcher::handle_shutdown`]
//! on every channel (the default closes listeners and lets streams finish),
//! wakes tasks awaiting [`Map::shutdown_requested`], and force-closes what
//! is left at the deadline. A stream that finishes *lingers*: it sends its
//! queued output, ends its sending side, and reads (discarding) until the
//! peer ends too, because closing with unread input makes the kernel reset
//! the connection and destroy bytes the peer has not read yet. [`Map::run`]
//! then returns [`Exit::Shutdown`] with how many channels closed cleanly
//! and how many were forced.
//!
//! # Host names
//!
//! [`Socket::tcp_connect`] and [`TcpStream::connect`] take a socket
//! address, `"host:port"`, `(host, port)` or several addresses
//! ([`ToTarget`]). An IP literal connects at once, as before. A name is
//! resolved by [`lookup_host`] on a small pool of helper threads (asyncio
//! runs `getaddrinfo` in its executor the same way), and the answer comes
//! back to the loop as a wake-up: a pass never waits on a lookup
//! (decision 15). The addresses then race by Happy Eyeballs (RFC 8305):
//! IPv6 and IPv4 interleaved, starting with the family the system prefers,
//! a new attempt 250 ms after the last one started or as soon as it
//! failed. The first to connect wins and the others are closed. So
//! `localhost:PORT` reaches a server bound to 127.0.0.1 only even where
//! `::1` comes first, and an IPv6 path that silently drops packets costs
//! 250 ms, not a SYN timeout. If every attempt fails, the error's inner
//! [`ConnectError`] names each address with its error.
//!
//! A callback channel added with a name counts as connecting
//! ([`Map::is_connecting`]) until the race ends. Its socket is a
//! placeholder, polled for nothing; the winner's socket takes its place
//! (under the TLS layer too, for [`Socket::tls_client`]), and then the
//! loop calls `handle_connect` as for any connect. While the race runs,
//! its attempts are channels of the map as well, and closing the channel
//! closes them.
//!
//! [`Workers::start`]: crate::workers::Workers::start
//! [`Workers::join`]: crate::workers::Workers::join
//! [`Socket::tcp_listen_reuseport`]: crate::Socket::tcp_listen_reuseport
//! [`RemoteHandle`]: crate::RemoteHandle
//! [`Socket`]: crate::Socket
//! [`Socket::tcp_connect`]: crate::Socket::tcp_connect
//! [`Socket::tls_client`]: crate::Socket::tls_client
//! [`TcpStream::connect`]: crate::TcpStream::connect
//! [`ToTarget`]: crate::ToTarget
//! [`lookup_host`]: crate::lookup_host
//! [`ConnectError`]: crate::ConnectError
//! [`Map::on_signals`]: crate::Map::on_signals
//! [`Map::signals`]: crate::Map::signals
//! [`Map::shutdown`]: crate::Map::shutdown
//! [`Map::shutdown_requested`]: crate::Map::shutdown_requested
//! [`Map::is_connecting`]: crate::Map::is_connecting
//! [`Map::run`]: crate::Map::run
//! [`Exit::Shutdown`]: crate::Exit::Shutdown
//! [`Dispatcher::handle_shutdown`]: crate::Dispatcher::handle_shutdown
