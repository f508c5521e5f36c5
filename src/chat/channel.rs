//! [`ChatChannel`]: a [`Dispatcher`] that frames input by terminator and
//! feeds a [`Chat`] (Python's `async_chat`): reading, decoding, and the
//! hooks that keep the output queue filled.

use std::cell::RefCell;
use std::fmt;

use super::context::{ChatState, refill};
use super::fifo::Fifo;
use super::splitter::{Piece, Splitter};
use super::{Chat, ChatCtx, Terminator};
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

/// A terminator-framed channel: a [`Dispatcher`] that reads, splits input
/// into records by its [`Terminator`], and calls a [`Chat`] (Python's
/// `async_chat`).
///
/// Input: [`Terminator::Bytes`], [`Terminator::Count`] or
/// [`Terminator::None`] (the default), with a maximum record length for
/// byte terminators (64 KiB unless changed; over it, `handle_error` gets
/// [`Error::RecordTooLong`]). Output: [`ChatCtx::push`] sends at once and
/// queues the rest, [`ChatCtx::push_with_producer`] streams from a
/// [`Producer`](super::Producer), and while the queue is above the channel's high watermark
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
                upgraded: false,
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
            self.after_upgrade(&mut &[][..])?;
        }
        Ok(())
    }

    /// After a callback switched the channel to TLS: drops the plaintext
    /// that followed the command (undecoded input, and the rest of the
    /// current read), and reports it if there was any.
    fn after_upgrade(&mut self, rest: &mut &[u8]) -> Result<()> {
        if !std::mem::take(&mut self.state.upgraded) {
            return Ok(());
        }
        let bytes = self.splitter.take_buffered().len() + rest.len();
        *rest = &[];
        #[cfg(feature = "tls")]
        if bytes > 0 {
            return Err(Error::Tls(crate::tls::TlsError::PlaintextAfterStartTls {
                bytes,
            }));
        }
        let _ = bytes;
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
            self.after_upgrade(input)?;
        }
        Ok(())
    }

    /// One piece to the chat callbacks.
    fn hand(chat: &mut C, state: &mut ChatState, cx: &mut Ctx<'_>, piece: Piece<'_>) -> Result<()> {
        let mut ccx = ChatCtx::new(cx, state);
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
        ChatCtx::new(cx, state)
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

    fn handle_shutdown(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.chat
            .handle_shutdown(&mut Self::ctx(&mut self.state, cx))?;
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
