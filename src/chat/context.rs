//! [`ChatCtx`], what a [`Chat`](super::Chat) callback may do, over the
//! chat state it may change: terminator, output fifo, buffer sizes.

use std::fmt;

use super::Terminator;
use super::fifo::{Fifo, Sink};
use super::producer::Producer;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

/// The chat state a callback may change while input is being decoded
/// (kept apart from the splitter, which lends out the input).
pub(super) struct ChatState {
    /// The current terminator; counts down for `Terminator::Count`.
    pub(super) terminator: Terminator,
    /// Producers and the close mark, behind which later pushes queue.
    pub(super) fifo: Fifo,
    /// `discard_buffers` was called: drop undecoded input.
    pub(super) discard: bool,
    /// The terminator was set: restart the record-length count.
    pub(super) terminator_set: bool,
    /// The channel switched to TLS: undecoded plaintext must go.
    pub(super) upgraded: bool,
    /// Bytes read per event.
    pub(super) in_buffer_size: usize,
    /// Producers are asked for more while less than this is queued.
    pub(super) out_buffer_size: usize,
}

/// Moves output from the fifo into the channel's queue while the queue is
/// below the refill mark (Python's `initiate_send`, without its one send
/// per event).
pub(super) fn refill(state: &mut ChatState, cx: &mut Ctx<'_>) -> Result<()> {
    state.fifo.refill(&mut CtxSink(cx), state.out_buffer_size)
}

/// The channel's output queue as the fifo's sink.
struct CtxSink<'c, 'm>(&'c mut Ctx<'m>);

impl Sink for CtxSink<'_, '_> {
    fn pending(&self) -> usize {
        self.0.pending_output()
    }
    fn push(&mut self, data: &[u8]) -> Result<()> {
        self.0.push(data)
    }
    fn close_when_done(&mut self) -> Result<()> {
        self.0.close_when_done()
    }
    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }
    fn closing_error(&self) -> Error {
        Error::Closing(self.0.id())
    }
}

/// What a [`Chat`](super::Chat) callback may do: the terminator, output, and (through
/// [`ChatCtx::ctx`]) everything a [`Ctx`] offers.
pub struct ChatCtx<'c, 'm> {
    /// The channel's context.
    cx: &'c mut Ctx<'m>,
    /// The channel's terminator and output fifo.
    state: &'c mut ChatState,
}

impl fmt::Debug for ChatCtx<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatCtx")
            .field("id", &self.cx.id())
            .field("terminator", &self.state.terminator)
            .finish_non_exhaustive()
    }
}

impl<'c, 'm> ChatCtx<'c, 'm> {
    /// The context of a callback of the channel whose state is `state`.
    pub(super) fn new(cx: &'c mut Ctx<'m>, state: &'c mut ChatState) -> ChatCtx<'c, 'm> {
        ChatCtx { cx, state }
    }

    /// Returns the channel's [`Ctx`], for the socket and the map.
    pub fn ctx(&mut self) -> &mut Ctx<'m> {
        self.cx
    }

    /// Returns the channel's id.
    pub fn id(&self) -> crate::ChannelId {
        self.cx.id()
    }

    /// Sets the terminator (Python's `set_terminator`). It applies to input
    /// already received but not yet decoded, and the record-length count
    /// starts again.
    pub fn set_terminator(&mut self, terminator: impl Into<Terminator>) {
        self.state.terminator = terminator.into();
        self.state.terminator_set = true;
    }

    /// Returns the current terminator; a count shows what is left of it.
    pub fn terminator(&self) -> &Terminator {
        &self.state.terminator
    }

    /// Sends `data`: at once if nothing is queued before it, otherwise after
    /// the producers queued before it. Empty pushes cost nothing.
    ///
    /// # Errors
    ///
    /// As [`Ctx::push`].
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        self.state.fifo.push(&mut CtxSink(self.cx), data)
    }

    /// Queues a producer: its chunks are sent, in order after everything
    /// pushed before, as the socket drains (Python's `push_with_producer`).
    ///
    /// # Errors
    ///
    /// The producer's error, or as [`Ctx::push`].
    pub fn push_with_producer(&mut self, producer: impl Producer) -> Result<()> {
        let mark = self.state.out_buffer_size;
        self.state
            .fifo
            .push_producer(&mut CtxSink(self.cx), Box::new(producer), mark)
    }

    /// Closes the channel once everything queued before this call is sent
    /// (Python's `close_when_done`). Output pushed afterwards is refused.
    ///
    /// # Errors
    ///
    /// As [`Ctx::close_when_done`].
    pub fn close_when_done(&mut self) -> Result<()> {
        self.state.fifo.close_when_done(&mut CtxSink(self.cx))
    }

    /// Drops undecoded input and all unsent output, including a pending
    /// `close_when_done` that is still behind a producer (as in Python).
    pub fn discard_buffers(&mut self) {
        self.state.discard = true;
        self.state.fifo.clear();
        self.cx.discard_output();
    }

    /// Upgrades the channel to the server side of TLS (STARTTLS), usually
    /// from `found_terminator` after the command and the plaintext reply
    /// were pushed; see [`Map::start_tls_server`](crate::Map::start_tls_server).
    /// Plaintext the peer sent after the command (already read, not yet
    /// decoded) is dropped and reported to `handle_error` as
    /// [`TlsError::PlaintextAfterStartTls`](crate::tls::TlsError::PlaintextAfterStartTls):
    /// it must never be read as if it had come over TLS (CVE-2011-0411).
    ///
    /// # Errors
    ///
    /// As [`Map::start_tls_server`](crate::Map::start_tls_server).
    #[cfg(feature = "tls")]
    pub fn start_tls_server(&mut self, acceptor: &crate::tls::TlsAcceptor) -> Result<()> {
        self.cx.start_tls_server(acceptor)?;
        self.state.upgraded = true;
        Ok(())
    }

    /// Upgrades the channel to the client side of TLS (STARTTLS), with the
    /// same rule for plaintext that follows; see
    /// [`start_tls_server`](ChatCtx::start_tls_server).
    ///
    /// # Errors
    ///
    /// As [`Map::start_tls_client`](crate::Map::start_tls_client).
    #[cfg(feature = "tls")]
    pub fn start_tls_client(
        &mut self,
        connector: &crate::tls::TlsConnector,
        server_name: &str,
    ) -> Result<()> {
        self.cx.start_tls_client(connector, server_name)?;
        self.state.upgraded = true;
        Ok(())
    }

    /// Closes the channel once the running callback returns; see
    /// [`Ctx::close`].
    pub fn close(&mut self) {
        self.cx.close();
    }
}
