//! Channel sockets: TCP (IPv4 and IPv6), UDP, Unix stream and datagram
//! sockets, and pipes or any other pollable fd.
//!
//! A [`Socket`] is a non-blocking socket that is not in a map yet; give it to
//! [`Map::add`](crate::Map::add) or [`Ctx::add`](crate::Ctx::add) together
//! with its [`Dispatcher`](crate::Dispatcher).

mod address;
mod io;
#[cfg(unix)]
mod pipe;
mod socket;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use address::Address;
pub(crate) use io::Io;
pub(crate) use socket::SocketState;
pub use socket::{Socket, SocketKind};
pub(crate) use tcp::{DEFAULT_BACKLOG, tcp_listen_with};
