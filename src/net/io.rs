//! The I/O object a channel owns: a socket, or (on Unix) any other pollable
//! fd such as a pipe end, read and written with read(2)/write(2).

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};

use super::Address;
use crate::sys;

/// A channel's I/O object.
#[derive(Debug)]
pub(crate) enum Io {
    /// Any socket: TCP, UDP, Unix stream or datagram.
    Socket(socket2::Socket),
    /// A pipe end or other non-socket fd.
    #[cfg(unix)]
    File(std::fs::File),
    /// A stream socket speaking TLS: reads and writes are plaintext.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsIo>),
}

impl AsFd for Io {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Io::Socket(s) => s.as_fd(),
            #[cfg(unix)]
            Io::File(f) => f.as_fd(),
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.socket().as_fd(),
        }
    }
}

fn not_a_socket(what: &'static str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} needs a socket, not a pipe or file"),
    )
}

impl Io {
    pub(crate) fn socket(&self, what: &'static str) -> io::Result<&socket2::Socket> {
        match self {
            Io::Socket(s) => Ok(s),
            #[cfg(unix)]
            Io::File(_) => Err(not_a_socket(what)),
            #[cfg(feature = "tls")]
            Io::Tls(t) => Ok(t.socket()),
        }
    }

    /// The TLS layer, if the channel speaks TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(&self) -> Option<&crate::tls::TlsIo> {
        match self {
            Io::Tls(t) => Some(t),
            _ => None,
        }
    }

    /// Sends whatever the I/O object buffered itself (TLS records); a
    /// plain socket buffers nothing.
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self {
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.flush_records(),
            _ => Ok(()),
        }
    }

    /// Ends the sending side: `close_notify` first over TLS (as far as the
    /// socket takes it now), then `shutdown(SHUT_WR)`.
    pub(crate) fn finish_writing(&self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Io::Tls(t) = self {
            t.close_notify();
            let _ = t.flush_records();
        }
        self.shutdown(Shutdown::Write)
    }

    /// Whether bytes the I/O object buffered itself still wait for the
    /// socket.
    pub(crate) fn has_buffered_output(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.wants_write(),
            _ => false,
        }
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Socket(s) => (&*s).read(buf),
            #[cfg(unix)]
            Io::File(f) => (&*f).read(buf),
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.read(buf),
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Socket(s) => (&*s).write(buf),
            #[cfg(unix)]
            Io::File(f) => (&*f).write(buf),
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.write(buf),
        }
    }

    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Io::Socket(s) => s.send_vectored(bufs),
            #[cfg(unix)]
            Io::File(f) => (&*f).write_vectored(bufs),
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.write_vectored(bufs),
        }
    }

    pub(crate) fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        let (n, addr) = sys::recv_from(self.socket("recv_from")?, buf)?;
        Ok((n, Address::from_sockaddr(&addr)))
    }

    pub(crate) fn send_to(&self, buf: &[u8], addr: &Address) -> io::Result<usize> {
        self.socket("send_to")?.send_to(buf, &addr.to_sockaddr()?)
    }

    pub(crate) fn recv_out_of_band(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv_out_of_band(self.socket("recv_out_of_band")?, buf)
    }

    pub(crate) fn send_out_of_band(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket("send_out_of_band")?.send_out_of_band(buf)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket("shutdown")?.shutdown(how)
    }

    pub(crate) fn local_addr(&self) -> io::Result<Address> {
        Ok(Address::from_sockaddr(
            &self.socket("local_addr")?.local_addr()?,
        ))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Address> {
        Ok(Address::from_sockaddr(
            &self.socket("peer_addr")?.peer_addr()?,
        ))
    }

    /// Takes the socket's pending error (`SO_ERROR`); a pipe has none.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Io::Socket(s) => s.take_error(),
            #[cfg(unix)]
            Io::File(_) => Ok(None),
            #[cfg(feature = "tls")]
            Io::Tls(t) => t.socket().take_error(),
        }
    }
}
