//! [`ChatChannel`]: a [`Dispatcher`] that frames input by terminator and
//! feeds a [`Chat`] (Python's `async_chat`).

use std::cell::RefCell;
use std::fmt;

use super::Terminator;
use super::fifo::{Fifo, Sink};
use super::producer::Producer;
use super::splitter::{Piece, Splitter};
use crate::ctx::Ctx;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};

/// The default read size per event (Python's `ac_in_buffer_size`).
pub const DEFAULT_IN_BUFFER_SIZE: usize = 64 * 1024;
/// The default output refill mark (Python's `ac_out_buffer_size`): producers
/// are asked for more while less than this is queued.
pub const DEFAULT_OUT_BUFFER_SIZE: usize = 64 * 1024;

thread_local! {
    /// One read buffer per thread, shared by every chat channel: an idle
    /// channel holds no input buffer of its own.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The callbacks of a terminator-framed channel (Python's `async_chat`
/// subclass). Drive it with a [`ChatChannel`].
///
/// # Examples
///
/// A line echo: each line comes back upper-cased.
///
/// ```
/// use asyncore::chat::{Chat, ChatChannel, ChatCtx};
/// use asyncore::Result;
///
/// struct Shout {
///     line: Vec<u8>,
/// }
///
/// impl Chat for Shout {
///     fn collect_incoming_data(&mut self, _cx: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
///         self.line.extend_from_slice(data);
///         Ok(())
///     }
///     fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
///         let mut reply = std::mem::take(&mut self.line).to_ascii_uppercase();
///         reply.push(b'\n');
///         cx.push(&reply)
///     }
/// }
///
/// let channel = ChatChannel::new(Shout { line: Vec::new() }).with_terminator("\n");
/// # let _ = channel;
/// ```
pub trait Chat: 'static {
    /// Receives a piece of the current record (Python's
    /// `collect_incoming_data`). A record may come in several pieces, the
    /// terminator never among them.
    fn collect_incoming_data(&mut self, cx: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()>;

    /// Called when the terminator ends a record (Python's
    /// `found_terminator`). A terminator set here applies to the bytes
    /// already received.
    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()>;

    /// Called when a non-blocking connect succeeded. Default: nothing.
    fn handle_connect(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// Called once when the peer shut down its side, with whatever input
    /// was held back undecoded (a partial terminator, or a record that
    /// never got its terminator). Default: close once queued output is sent.
    ///
    /// Python dropped the held-back bytes and closed at once, discarding
    /// queued output.
    fn handle_end_of_stream(&mut self, cx: &mut ChatCtx<'_, '_>, remainder: &[u8]) -> Result<()> {
        let _ = remainder;
        cx.close_when_done()
    }

    /// Called exactly once when the channel closes. Default: nothing.
    fn handle_close(&mut self, cx: &mut ChatCtx<'_, '_>) {
        let _ = cx;
    }

    /// Called with an error a callback returned, a panic, a failed connect,
    /// or [`Error::RecordTooLong`]. Default: emits a
    /// [`tracing`] event as [`Dispatcher::handle_error`](crate::Dispatcher::handle_error)
    /// does, and closes.
    fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, error: Error) {
        crate::diag::uncaptured(cx.ctx().map(), cx.id(), &error);
        cx.close();
    }
}

/// The chat state a callback may change while input is being decoded
/// (kept apart from the splitter, which lends out the input).
struct ChatState {
    /// The current terminator; counts down for `Terminator::Count`.
    terminator: Terminator,
    /// Producers and the close mark, behind which later pushes queue.
    fifo: Fifo,
    /// `discard_buffers` was called: drop undecoded input.
    discard: bool,
    /// The terminator was set: restart the record-length count.
    terminator_set: bool,
    /// Bytes read per event.
    in_buffer_size: usize,
    /// Producers are asked for more while less than this is queued.
    out_buffer_size: usize,
}

/// A terminator-framed channel: a [`Dispatcher`] that reads, splits input
/// into records by its [`Terminator`], and calls a [`Chat`] (Python's
/// `async_chat`).
///
/// Input: [`Terminator::Bytes`], [`Terminator::Count`] or
/// [`Terminator::None`] (the default), with a maximum record length for
/// byte terminators (64 KiB unless changed; over it, `handle_error` gets
/// [`Error::RecordTooLong`]). Output: [`ChatCtx::push`] sends at once and
/// queues the rest, [`ChatCtx::push_with_producer`] streams from a
/// [`Producer`], and while the queue is above the channel's high watermark
/// the channel stops reading its peer.
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Chat, ChatChannel, ChatCtx, Terminator};
/// use asyncore::{Map, Result, Socket};
///
/// struct Lines(Vec<Vec<u8>>, Vec<u8>);
///
/// impl Chat for Lines {
///     fn collect_incoming_data(&mut self, _: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
///         self.1.extend_from_slice(data);
///         Ok(())
///     }
///     fn found_terminator(&mut self, _: &mut ChatCtx<'_, '_>) -> Result<()> {
///         self.0.push(std::mem::take(&mut self.1));
///         Ok(())
///     }
/// }
///
/// let map = Map::new()?;
/// let (ours, _theirs) = Socket::unix_stream_pair()?;
/// let channel = ChatChannel::new(Lines(Vec::new(), Vec::new()))
///     .with_terminator("\r\n")
///     .with_max_record_len(Some(1024));
/// map.add(ours, channel)?;
/// # Ok::<(), asyncore::Error>(())
/// ```
pub struct ChatChannel<C> {
    /// The user's callbacks.
    chat: C,
    /// Undecoded input.
    splitter: Splitter,
    /// Terminator and output fifo.
    state: ChatState,
}

impl<C> fmt::Debug for ChatChannel<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatChannel")
            .field("terminator", &self.state.terminator)
            .field("buffered", &self.splitter.buffered().len())
            .field("fifo", &self.state.fifo)
            .finish_non_exhaustive()
    }
}

impl<C: Chat> ChatChannel<C> {
    /// Wraps `chat` with no terminator (every byte is data) and the default
    /// sizes.
    pub fn new(chat: C) -> Self {
        ChatChannel {
            chat,
            splitter: Splitter::new(),
            state: ChatState {
                terminator: Terminator::None,
                fifo: Fifo::default(),
                discard: false,
                terminator_set: false,
                in_buffer_size: DEFAULT_IN_BUFFER_SIZE,
                out_buffer_size: DEFAULT_OUT_BUFFER_SIZE,
            },
        }
    }

    /// Sets the initial terminator.
    #[must_use]
    pub fn with_terminator(mut self, terminator: impl Into<Terminator>) -> Self {
        self.state.terminator = terminator.into();
        self
    }

    /// Sets the maximum record length for byte terminators (`None`: no
    /// limit; the default is 64 KiB).
    #[must_use]
    pub fn with_max_record_len(mut self, max: Option<usize>) -> Self {
        self.splitter.set_max_record_len(max);
        self
    }

    /// Sets the bytes read per event (Python's `ac_in_buffer_size`,
    /// 64 KiB by default; at least 1).
    #[must_use]
    pub fn with_in_buffer_size(mut self, size: usize) -> Self {
        self.state.in_buffer_size = size.max(1);
        self
    }

    /// Sets how much queued output makes producers wait (Python's
    /// `ac_out_buffer_size`, 64 KiB by default; at least 1).
    #[must_use]
    pub fn with_out_buffer_size(mut self, size: usize) -> Self {
        self.state.out_buffer_size = size.max(1);
        self
    }

    /// Returns the wrapped [`Chat`].
    pub fn get_ref(&self) -> &C {
        &self.chat
    }

    /// Decodes buffered input and calls the chat, until more input is
    /// needed or the channel is closing (Python kept calling a chat that had
    /// closed itself).
    /// Hands the buffered input to the chat, piece by piece.
    fn deliver(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        while !cx.is_closing() {
            let Some(piece) = self.splitter.next_piece(&mut self.state.terminator)? else {
                break;
            };
            Self::hand(&mut self.chat, &mut self.state, cx, piece)?;
            self.after_piece();
        }
        Ok(())
    }

    /// Hands freshly read bytes to the chat straight from the read buffer
    /// (no copy into the splitter, unless bytes are buffered from before),
    /// then buffers what is left: a held-back partial terminator, or the
    /// rest of the input if the channel is closing.
    fn deliver_read(&mut self, cx: &mut Ctx<'_>, mut input: &[u8]) -> Result<()> {
        let handed = self.deliver_borrowed(cx, &mut input);
        // Kept even after an error, as bytes fed to the splitter would be.
        self.splitter.feed(input);
        handed?;
        self.deliver(cx)
    }

    /// The pieces of `input` the splitter can decode without buffering;
    /// advances `input` past them.
    fn deliver_borrowed(&mut self, cx: &mut Ctx<'_>, input: &mut &[u8]) -> Result<()> {
        while !cx.is_closing() {
            let piece = self
                .splitter
                .next_piece_in(input, &mut self.state.terminator)?;
            let Some(piece) = piece else { break };
            Self::hand(&mut self.chat, &mut self.state, cx, piece)?;
            if self.after_piece() {
                *input = &[];
            }
        }
        Ok(())
    }

    /// One piece to the chat callbacks.
    fn hand(chat: &mut C, state: &mut ChatState, cx: &mut Ctx<'_>, piece: Piece<'_>) -> Result<()> {
        let mut ccx = ChatCtx { cx, state };
        match piece {
            Piece::Data(data) => chat.collect_incoming_data(&mut ccx, data),
            Piece::Terminator => chat.found_terminator(&mut ccx),
        }
    }

    /// Applies what a callback asked of the input side; returns `true` if
    /// the input was discarded.
    fn after_piece(&mut self) -> bool {
        let discarded = std::mem::take(&mut self.state.discard);
        if discarded {
            self.splitter.clear();
        }
        if std::mem::take(&mut self.state.terminator_set) {
            self.splitter.reset_record();
        }
        discarded
    }

    fn ctx<'c, 'm>(state: &'c mut ChatState, cx: &'c mut Ctx<'m>) -> ChatCtx<'c, 'm> {
        ChatCtx { cx, state }
    }
}

impl<C: Chat> Dispatcher for ChatChannel<C> {
    fn writable(&self) -> bool {
        !self.state.fifo.is_empty()
    }

    fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.chat
            .handle_connect(&mut Self::ctx(&mut self.state, cx))?;
        refill(&mut self.state, cx)
    }

    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let size = self.state.in_buffer_size;
        // Taken out for the call: a callback that runs another map's loop
        // on this thread finds the slot empty and reads into a buffer of
        // its own instead of finding this one borrowed.
        let mut buf = READ_BUFFER.with(|slot| std::mem::take(&mut *slot.borrow_mut()));
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let read = match cx.recv(&mut buf[..size]) {
            Ok(n) => self.deliver_read(cx, &buf[..n]),
            Err(e) => Err(e.into()),
        };
        READ_BUFFER.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.len() < buf.len() {
                *slot = buf;
            }
        });
        read?;
        refill(&mut self.state, cx)
    }

    fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        refill(&mut self.state, cx)
    }

    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let remainder = self.splitter.take_buffered();
        self.chat
            .handle_end_of_stream(&mut Self::ctx(&mut self.state, cx), &remainder)?;
        refill(&mut self.state, cx)
    }

    fn handle_close(&mut self, cx: &mut Ctx<'_>) {
        self.chat.handle_close(&mut Self::ctx(&mut self.state, cx));
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.chat
            .handle_error(&mut Self::ctx(&mut self.state, cx), error);
    }
}

/// Moves output from the fifo into the channel's queue while the queue is
/// below the refill mark (Python's `initiate_send`, without its one send
/// per event).
fn refill(state: &mut ChatState, cx: &mut Ctx<'_>) -> Result<()> {
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

/// What a [`Chat`] callback may do: the terminator, output, and (through
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

impl<'m> ChatCtx<'_, 'm> {
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

    /// Closes the channel once the running callback returns; see
    /// [`Ctx::close`].
    pub fn close(&mut self) {
        self.cx.close();
    }
}
