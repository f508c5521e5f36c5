//! Async sockets in a map: TCP (IPv4 and IPv6), UDP, Unix stream and
//! datagram sockets, driven by tasks in the same map as callback channels.

mod source;
mod stream_io;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod udp;
#[cfg(unix)]
mod unix;

pub(crate) use source::{Direction, Source, wake_waiters};
pub use tcp::{TcpListener, TcpStream};
#[cfg(feature = "tls")]
pub use tls::TlsStream;
#[cfg(feature = "tls")]
pub(crate) use tls::{handshake_step, poll_ready_tls};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};
