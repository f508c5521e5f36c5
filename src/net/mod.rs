//! Channel sockets: TCP (IPv4 and IPv6), UDP, Unix stream and datagram
//! sockets, and pipes or any other pollable fd.
//!
//! A [`Socket`] is a non-blocking socket that is not in a map yet; give it to
//! [`Map::add`](crate::Map::add) or [`Ctx::add`](crate::Ctx::add) together
//! with its [`Dispatcher`](crate::Dispatcher).

mod address;
mod happy_eyeballs;
mod io;
#[cfg(unix)]
mod pipe;
mod resolve;
mod socket;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use address::Address;
pub use happy_eyeballs::ConnectError;
pub(crate) use happy_eyeballs::connect as connect_any;
pub(crate) use io::Io;
pub use resolve::{Lookup, Target, ToTarget, lookup_host};
pub(crate) use socket::SocketState;
pub use socket::{Socket, SocketKind};
pub(crate) use tcp::{DEFAULT_BACKLOG, tcp_listen_with};
