//! The [`Dispatcher`] trait: asyncore's callbacks.

use std::io;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::net::{Address, Socket};

/// The callbacks of a channel, asyncore style.
///
/// A dispatcher drives one socket in a [`Map`](crate::Map). The loop turns
/// readiness into meaning (a connect finished, a connection is pending, the
/// peer hung up) and calls the matching hook with a [`Ctx`], through which
/// the hook uses its socket and the map.
///
/// # Implementing
///
/// Every method has a default, so implement only what the channel needs:
///
/// | method | called when | default |
/// |---|---|---|
/// | [`readable`](Dispatcher::readable) | the loop asks whether to poll for input | `true` |
/// | [`writable`](Dispatcher::writable) | the loop asks whether to poll for output | `false` |
/// | [`handle_connect`](Dispatcher::handle_connect) | a non-blocking connect succeeded | nothing |
/// | [`handle_accepted`](Dispatcher::handle_accepted) | a listener accepted a connection | drops (closes) it |
/// | [`handle_accept_error`](Dispatcher::handle_accept_error) | accept ran out of descriptors or memory | emits a `warn` event |
/// | [`handle_read`](Dispatcher::handle_read) | input is ready | reads and discards up to 64 KiB |
/// | [`handle_write`](Dispatcher::handle_write) | output is possible and `writable()` is true | nothing |
/// | [`handle_expt`](Dispatcher::handle_expt) | out-of-band (urgent) data arrived | reads and discards it |
/// | [`handle_eof`](Dispatcher::handle_eof) | the peer shut down its side (a `recv` returned 0) | closes once queued output is sent |
/// | [`handle_close`](Dispatcher::handle_close) | the channel closes, for whatever reason | nothing |
/// | [`handle_error`](Dispatcher::handle_error) | a hook returned an error or panicked, or a connect failed | emits a `warn` event (`error` for a panic) and closes |
///
/// Within one readiness event the order is: connect, exceptional (urgent
/// data), read, write, error. (Python ran exceptional after write; see the
/// [guide](crate::guide).) Handlers return [`Result`]; the loop sorts errors:
///
/// * [`io::ErrorKind::WouldBlock`] (spurious readiness): ignored.
/// * A disconnect (reset, broken pipe, not connected; see
///   [`Error::is_disconnect`]): the channel closes, `handle_close` runs, no
///   `handle_error`.
/// * Anything else, and panics: [`handle_error`](Dispatcher::handle_error).
///
/// # Closing
///
/// [`Ctx::close`] closes the channel once the running hook returns;
/// [`Ctx::close_when_done`] once queued output is sent. Either way
/// [`handle_close`](Dispatcher::handle_close) runs exactly once, after which
/// no hook of the channel runs again, not even for events already fetched
/// in the same pass.
///
/// # Examples
///
/// An echo server: the listener hands each connection to an `Echo`
/// channel, and a client checks the echo and stops the loop.
///
/// ```
/// use asyncore::{Address, Ctx, Dispatcher, Map, Result, RunOptions, Socket};
///
/// struct Server;
///
/// impl Dispatcher for Server {
///     fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
///         cx.add(socket, Echo)?;
///         Ok(())
///     }
/// }
///
/// struct Echo;
///
/// impl Dispatcher for Echo {
///     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
///         let mut buf = [0u8; 4096];
///         let n = cx.recv(&mut buf)?;
///         // push sends at once and queues what the socket does not take.
///         cx.push(&buf[..n])?;
///         Ok(())
///     }
///     // The default handle_eof flushes what is queued, then closes.
/// }
///
/// struct Client {
///     got: Vec<u8>,
/// }
///
/// impl Dispatcher for Client {
///     fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
///         cx.push(b"hello")?;
///         Ok(())
///     }
///     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
///         let mut buf = [0u8; 64];
///         let n = cx.recv(&mut buf)?;
///         self.got.extend_from_slice(&buf[..n]);
///         if self.got == b"hello" {
///             cx.map().stop();
///         }
///         Ok(())
///     }
/// }
///
/// let map = Map::new()?;
/// let listener = Socket::tcp_listen("127.0.0.1:0")?;
/// let addr = listener.local_addr()?.as_inet().unwrap();
/// map.add(listener, Server)?;
/// map.add(Socket::tcp_connect(addr)?, Client { got: Vec::new() })?;
/// let exit = map.run(&RunOptions::new().count(100))?;
/// assert_eq!(exit, asyncore::Exit::Stopped);
/// # Ok::<(), asyncore::Error>(())
/// ```
pub trait Dispatcher: 'static {
    /// Returns whether the loop should poll the channel for input (for a
    /// listener: for pending connections). Default: `true`.
    ///
    /// Asked after each of the channel's own callbacks and on
    /// [`Map::refresh`](crate::Map::refresh), not every pass.
    fn readable(&self) -> bool {
        true
    }

    /// Returns whether the loop should poll the channel for output.
    /// Default: `false`.
    ///
    /// Python's default was `true`, which makes every idle connected
    /// channel wake the loop in every pass. Output queued with
    /// [`Ctx::push`] is polled for and sent whatever this returns; a
    /// connecting socket is always polled, so `handle_connect` still fires.
    fn writable(&self) -> bool {
        false
    }

    /// Called when a non-blocking connect succeeded. The channel already
    /// counts as connected. Default: does nothing.
    ///
    /// A failed connect calls [`handle_error`](Dispatcher::handle_error)
    /// with [`Error::Connect`] and the cause, then closes the channel.
    fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// Called for each connection a listener accepted; `socket` is
    /// non-blocking and `peer` is the peer's address. Add it to the map with
    /// [`Ctx::add`] to serve it. Default: drops the socket, closing the
    /// connection.
    ///
    /// The loop accepts (up to a budget of 128 per event, skipping aborted
    /// connections); Python's `handle_accept` is this loop.
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, peer: Address) -> Result<()> {
        let _ = (cx, socket, peer);
        Ok(())
    }

    /// Called when accept failed for lack of resources (`EMFILE`, `ENFILE`,
    /// `ENOBUFS`, `ENOMEM`). The listener stays open; the loop stops
    /// polling it for a back-off of 10 ms, doubling up to 1 s while the
    /// failures go on, so it neither spins nor drops the listener. Default:
    /// emits a `warn` [`tracing`] event with the listener's `channel`, its
    /// `local` address and the `error`.
    fn handle_accept_error(&mut self, cx: &mut Ctx<'_>, error: io::Error) -> Result<()> {
        crate::diag::accept_paused(cx.map(), cx.id(), &error);
        Ok(())
    }

    /// Called when the channel is readable. Default: reads up to 64 KiB and
    /// discards it (so an unattended readable channel still notices its
    /// peer hanging up instead of spinning).
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 64 * 1024];
        cx.recv(&mut buf)?;
        Ok(())
    }

    /// Called when the channel is writable, its queued output has been
    /// flushed, and [`writable`](Dispatcher::writable) returns `true`.
    /// Default: does nothing.
    fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// Called when out-of-band (urgent, `MSG_OOB`) data is pending; read it
    /// with [`Ctx::recv_out_of_band`]. Default: reads and discards it (a
    /// stale report with no urgent byte left, `EINVAL`, is ignored).
    fn handle_expt(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 16];
        match cx.recv_out_of_band(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Called once when a `recv` on the channel returned 0: the peer shut
    /// down its sending side. The channel is not polled for input again,
    /// but can still send (a half-closed connection). Default:
    /// [`Ctx::close_when_done`], so queued output still reaches the peer.
    ///
    /// Python closed the channel at end of file; this hook is the
    /// half-close it lacked (bpo-35913).
    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        cx.close_when_done()
    }

    /// Called when a graceful shutdown starts ([`Map::shutdown`](crate::Map::shutdown)).
    /// Default: a listener or datagram socket closes; a stream (or pipe)
    /// stops reading and closes once its queued output is sent
    /// ([`Ctx::close_when_done`]). What is still open at the shutdown's
    /// deadline is closed then.
    fn handle_shutdown(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        match cx.kind() {
            Some(crate::SocketKind::Stream | crate::SocketKind::Pipe) if !cx.is_accepting() => {
                cx.close_when_done()
            }
            _ => {
                cx.close();
                Ok(())
            }
        }
    }

    /// Called exactly once when the channel closes, whatever the reason:
    /// the peer went away, a handler closed it, an error closed it, or
    /// [`Map::close_all`](crate::Map::close_all). The socket is still open
    /// during the call and closed right after. Default: does nothing.
    ///
    /// Unlike Python, this is a notification: the channel closes whether or
    /// not the hook calls [`Ctx::close`].
    fn handle_close(&mut self, cx: &mut Ctx<'_>) {
        let _ = cx;
    }

    /// Called with an error a hook returned (other than would-block and
    /// disconnects), a hook's panic ([`Error::Panicked`]), or a failed
    /// connect ([`Error::Connect`]). Default: emits a [`tracing`] event
    /// (`warn`; `error` for a panic) with the `channel`, `peer` and `error`
    /// as fields, and closes the channel. A panic in this hook closes the
    /// channel.
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        crate::diag::uncaptured(cx.map(), cx.id(), &error);
        cx.close();
    }
}
