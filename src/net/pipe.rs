//! Pipes and other pollable fds (Python's `file_dispatcher`).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

use super::{Io, Socket, SocketKind, SocketState};

impl Socket {
    /// Creates a pipe, returning its read end and its write end as channel
    /// sockets.
    ///
    /// # Errors
    ///
    /// `pipe(2)` errors (e.g. out of file descriptors).
    pub fn pipe() -> io::Result<(Socket, Socket)> {
        let (reader, writer) = io::pipe()?;
        Ok((
            Socket::from_fd(reader.into())?,
            Socket::from_fd(writer.into())?,
        ))
    }

    /// Wraps any pollable fd, such as a pipe end, a tty or a character
    /// device; the channel reads and writes it with `read(2)`/`write(2)`.
    ///
    /// Unlike Python's `file_dispatcher` this takes ownership instead of
    /// calling `dup`: pass `fd.try_clone()?` to keep a copy. The fd is made
    /// non-blocking, which affects every fd sharing its open file
    /// description (a dup'ed stdin, say). Regular files cannot be polled
    /// with epoll: [`Map::add`](crate::Map::add) refuses them with
    /// `EPERM`.
    ///
    /// # Errors
    ///
    /// The `fcntl(2)` error setting non-blocking mode.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Socket> {
        // socket2's fcntl-based set_nonblocking works on any fd.
        let as_socket = socket2::Socket::from(fd);
        as_socket.set_nonblocking(true)?;
        let file = File::from(OwnedFd::from(as_socket));
        Ok(Socket::new(
            Io::File(file),
            SocketState::Connected,
            SocketKind::Pipe,
        ))
    }
}
