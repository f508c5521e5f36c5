//! [`Chat`]: the callbacks of a terminator-framed channel.

use super::ChatCtx;
use crate::error::{Error, Result};

/// The callbacks of a terminator-framed channel (Python's `async_chat`
/// subclass). Drive it with a [`ChatChannel`](super::ChatChannel).
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

    /// Called when a graceful shutdown starts
    /// ([`Map::shutdown`](crate::Map::shutdown)). Default: close once
    /// everything queued (producers included) is sent.
    fn handle_shutdown(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
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
