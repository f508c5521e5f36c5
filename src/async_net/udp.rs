//! Async UDP: [`UdpSocket`].

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::source::{Direction, Source};
use crate::net::{Address, Socket};

/// An async UDP socket in a map.
#[derive(Debug)]
pub struct UdpSocket {
    /// The socket's channel.
    source: Source,
}

impl UdpSocket {
    /// Binds a UDP socket in the map whose loop runs on this thread, or the
    /// thread's default map.
    ///
    /// # Errors
    ///
    /// As [`Socket::udp_bind`], or the poller refused the socket.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            source: Source::new(Socket::udp_bind(addr)?)?,
        })
    }

    /// Sends a datagram to `addr`.
    ///
    /// # Errors
    ///
    /// `sendto(2)` errors other than would-block.
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        let addr = Address::Inet(addr);
        poll_fn(|cx| {
            self.source
                .poll_io(cx, Direction::Write, |io| io.send_to(buf, &addr))
        })
        .await
    }

    /// Receives a datagram, returning its length and sender.
    ///
    /// # Errors
    ///
    /// `recvfrom(2)` errors other than would-block.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = poll_fn(|cx| {
            self.source
                .poll_io(cx, Direction::Read, |io| io.recv_from(buf))
        })
        .await?;
        let addr = addr
            .as_inet()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an internet address"))?;
        Ok((n, addr))
    }

    /// Returns the local address.
    ///
    /// # Errors
    ///
    /// `getsockname(2)` errors.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source
            .with_io(|io| io.local_addr())?
            .as_inet()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an internet address"))
    }
}
