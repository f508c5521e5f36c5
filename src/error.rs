//! The crate's error type and the rule that sorts errors into "the peer went
//! away" and "something went wrong".

use std::io;

/// A specialised `Result` for handlers and loop operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors reported by the loop, by channels and by handlers.
///
/// Handlers return `Result<(), Error>`; any [`io::Error`] converts into it
/// with `?`, and [`Error`] converts back into an [`io::Error`] for code that
/// wants one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error(transparent)]
    Io(io::Error),
    /// A non-blocking connect finished with an error (refused, unreachable,
    /// timed out); the cause is the socket's pending error.
    #[error("connect failed: {0}")]
    Connect(#[source] io::Error),
    /// A handler panicked; the message is the panic payload when it was a
    /// string.
    #[error("handler `{callback}` panicked: {message}")]
    Panicked {
        /// The callback that panicked, e.g. `handle_read`.
        callback: &'static str,
        /// The panic message, or `"<non-string panic payload>"`.
        message: String,
    },
    /// The channel is not (or no longer) in the map.
    #[error("channel {0} is closed or was never in this map")]
    Closed(crate::ChannelId),
    /// The channel was asked to close once its output is flushed, so it
    /// takes no more output.
    #[error("channel {0} is closing: no more output is accepted")]
    Closing(crate::ChannelId),
    /// A chat channel's record grew past its maximum length before its
    /// terminator arrived.
    #[error("record too long: {length} bytes without a terminator (limit {limit})")]
    RecordTooLong {
        /// Bytes of the record seen so far.
        length: usize,
        /// The maximum record length.
        limit: usize,
    },
    /// A task was cancelled through its
    /// [`JoinHandle`](crate::JoinHandle) before it finished.
    #[error("the task was cancelled")]
    Cancelled,
    /// An operation given a time limit ([`timeout`](crate::timeout)) did
    /// not finish in time.
    #[error("timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// The map this object belongs to is gone.
    #[error("the map is gone")]
    MapGone,
    /// `run` was called on a map whose loop is already running (from a
    /// callback, for instance).
    #[error("the loop of this map is already running")]
    AlreadyRunning,
    /// An operation does not apply to this kind of channel (for example
    /// `push` on a datagram socket); the text says which.
    #[error("unsupported on this channel: {0}")]
    Unsupported(&'static str),
    /// A TLS connection failed: the handshake (with the rustls error, such
    /// as the alert that ended it), its timeout, a truncation, or loading a
    /// certificate.
    #[cfg(feature = "tls")]
    #[error("TLS: {0}")]
    Tls(#[source] crate::tls::TlsError),
    /// Any other error a handler wants to report.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// Wraps any error type, for handlers with errors of their own.
    pub fn other<E>(error: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        Error::Other(error.into())
    }

    /// Returns `true` if this error means the peer went away: connection
    /// reset or aborted, broken pipe, not connected, shut down, or an
    /// unexpected end of file. `EBADF` counts too (as in Python): the map
    /// owns every fd, so it only arises from the wrong end of a pipe, e.g.
    /// the read interest of a write end whose reader is gone.
    ///
    /// The loop turns such errors into a plain close (`handle_close`), not
    /// `handle_error`: the same rule on every backend, unlike Python where
    /// `select` and `poll` routed them differently.
    pub fn is_disconnect(&self) -> bool {
        match self {
            Error::Io(e) => is_disconnect(e),
            _ => false,
        }
    }

    /// Returns `true` for an I/O error of kind [`io::ErrorKind::WouldBlock`]:
    /// readiness was spurious. A handler that returns it is treated as
    /// having done nothing.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Returns `true` if a non-blocking connect failed.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect(_))
    }

    /// Returns `true` if a handler panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked { .. })
    }

    /// Returns `true` for an I/O error that means the process or system is
    /// out of descriptors or buffers (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`): retrying at once would fail again, so back off (the
    /// callback loop pauses a listener by itself; an async accept loop
    /// should sleep before accepting again).
    pub fn is_resource_exhausted(&self) -> bool {
        matches!(self, Error::Io(e) if is_resource_exhausted(e))
    }

    /// Returns `true` if a chat record exceeded its maximum length.
    pub fn is_record_too_long(&self) -> bool {
        matches!(self, Error::RecordTooLong { .. })
    }

    /// Returns the underlying I/O error, if this is an I/O or connect error.
    pub fn as_io(&self) -> Option<&io::Error> {
        match self {
            Error::Io(e) | Error::Connect(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    /// Wraps an I/O error; one that carries a TLS error (from a read or
    /// write on a TLS channel) becomes [`Error::Tls`] again.
    fn from(error: io::Error) -> Self {
        #[cfg(feature = "tls")]
        if error
            .get_ref()
            .is_some_and(|inner| inner.is::<crate::tls::TlsError>())
        {
            let inner = error.into_inner().expect("checked above");
            return Error::Tls(*inner.downcast().expect("checked above"));
        }
        Error::Io(error)
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Io(e) | Error::Connect(e) => e,
            #[cfg(feature = "tls")]
            Error::Tls(e) => {
                let kind = match e {
                    crate::tls::TlsError::Truncated => io::ErrorKind::UnexpectedEof,
                    crate::tls::TlsError::HandshakeTimedOut(_) => io::ErrorKind::TimedOut,
                    crate::tls::TlsError::Load { .. }
                    | crate::tls::TlsError::InvalidServerName(_)
                    | crate::tls::TlsError::NotAStream(_) => io::ErrorKind::InvalidInput,
                    _ => io::ErrorKind::InvalidData,
                };
                io::Error::new(kind, e)
            }
            Error::Closed(_) => io::Error::new(io::ErrorKind::NotConnected, error),
            Error::Closing(_) => io::Error::new(io::ErrorKind::BrokenPipe, error),
            Error::Unsupported(_) => io::Error::new(io::ErrorKind::Unsupported, error),
            Error::RecordTooLong { .. } => io::Error::new(io::ErrorKind::InvalidData, error),
            Error::TimedOut(_) => io::Error::new(io::ErrorKind::TimedOut, error),
            other => io::Error::other(other),
        }
    }
}

/// The disconnect rule for raw I/O errors; see [`Error::is_disconnect`].
/// A TLS error is never one (a truncation is reported, not a plain close).
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    if is_tls(e) {
        return false;
    }
    if matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | UnexpectedEof
    ) {
        return true;
    }
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(libc::ESHUTDOWN | libc::EBADF)) {
        return true;
    }
    false
}

/// Whether a raw I/O error carries a TLS error.
pub(crate) fn is_tls(e: &io::Error) -> bool {
    #[cfg(feature = "tls")]
    return e
        .get_ref()
        .is_some_and(|inner| inner.is::<crate::tls::TlsError>());
    #[cfg(not(feature = "tls"))]
    {
        let _ = e;
        false
    }
}

/// See [`Error::is_resource_exhausted`].
pub(crate) fn is_resource_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether an accept error is about the one connection (it went away
/// before it was taken) rather than the listener: skip it and go on.
pub(crate) fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(libc::EPROTO)
}

/// Turns a caught panic payload into an [`Error::Panicked`].
pub(crate) fn panic_error(callback: &'static str, payload: Box<dyn std::any::Any + Send>) -> Error {
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    };
    Error::Panicked { callback, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_rule() {
        assert!(Error::from(io::Error::from(io::ErrorKind::ConnectionReset)).is_disconnect());
        assert!(Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).is_disconnect());
        assert!(!Error::from(io::Error::from(io::ErrorKind::ConnectionRefused)).is_disconnect());
        assert!(!Error::Connect(io::Error::from(io::ErrorKind::ConnectionReset)).is_disconnect());
        #[cfg(unix)]
        assert!(is_disconnect(&io::Error::from_raw_os_error(
            libc::ESHUTDOWN
        )));
    }

    #[test]
    fn accept_error_classes() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(Error::Io(io::Error::from_raw_os_error(libc::EMFILE)).is_resource_exhausted());
        assert!(is_resource_exhausted(&emfile));
        assert!(!is_transient_accept_error(&emfile));
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert!(is_transient_accept_error(&aborted));
        assert!(!Error::Io(aborted).is_resource_exhausted());
        assert!(is_transient_accept_error(&io::Error::from_raw_os_error(
            libc::EPROTO
        )));
    }

    #[test]
    fn panic_payloads() {
        let e = panic_error("handle_read", Box::new("boom"));
        assert_eq!(e.to_string(), "handler `handle_read` panicked: boom");
        let e = panic_error("handle_write", Box::new(String::from("bang")));
        assert!(e.is_panic());
        let e = panic_error("handle_write", Box::new(7u8));
        assert!(e.to_string().contains("non-string"));
    }

    #[test]
    fn converts_back_to_io() {
        let e: io::Error = Error::Unsupported("push on a datagram socket").into();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        let e: io::Error = Error::Io(io::ErrorKind::TimedOut.into()).into();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
