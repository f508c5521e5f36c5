//! UDP channel sockets.

use std::io;
use std::net::ToSocketAddrs;

use socket2::{Domain, Protocol, Type};

use super::socket::each_addr;
use super::{Socket, SocketKind, SocketState};

impl Socket {
    /// Creates a UDP socket bound to `addr`; use
    /// [`Ctx::recv_from`](crate::Ctx::recv_from) and
    /// [`Ctx::send_to`](crate::Ctx::send_to) on it.
    ///
    /// # Errors
    ///
    /// Resolution or `bind(2)` errors.
    pub fn udp_bind(addr: impl ToSocketAddrs) -> io::Result<Socket> {
        each_addr(addr, |a| {
            let socket =
                socket2::Socket::new(Domain::for_address(a), Type::DGRAM, Some(Protocol::UDP))?;
            socket.bind(&a.into())?;
            Socket::from_socket2(socket, SocketState::Unconnected, SocketKind::Datagram)
        })
    }

    /// Wraps a std UDP socket (made non-blocking).
    ///
    /// # Errors
    ///
    /// The `fcntl(2)` error setting non-blocking mode.
    pub fn from_udp_socket(socket: std::net::UdpSocket) -> io::Result<Socket> {
        Socket::from_socket2(
            socket.into(),
            SocketState::Unconnected,
            SocketKind::Datagram,
        )
    }
}
