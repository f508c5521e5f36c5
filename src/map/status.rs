//! What a channel is: its addresses, connection state, kind and raw fd.

use super::{ChannelId, Map};
use crate::error::Result;
use crate::net::{Address, SocketKind, SocketState};

impl Map {
    /// Returns channel `id`'s local address.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed), or the `getsockname(2)` error (unsupported for a
    /// pipe).
    pub fn local_addr(&self, id: ChannelId) -> Result<Address> {
        Ok(self.inner.borrow().channel(id)?.reg.get().local_addr()?)
    }

    /// Returns the address of channel `id`'s peer.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed), or the `getpeername(2)` error (not connected;
    /// unsupported for a pipe).
    pub fn peer_addr(&self, id: ChannelId) -> Result<Address> {
        Ok(self.inner.borrow().channel(id)?.reg.get().peer_addr()?)
    }

    /// Returns `true` if channel `id` is a connected stream (or a pipe).
    /// During `handle_connect` this is already `true`.
    pub fn is_connected(&self, id: ChannelId) -> bool {
        self.state(id) == Some(SocketState::Connected)
    }

    /// Returns `true` while channel `id`'s non-blocking connect is in
    /// progress (including the lookup and the attempts of a connect by
    /// host name).
    pub fn is_connecting(&self, id: ChannelId) -> bool {
        matches!(
            self.state(id),
            Some(SocketState::Resolving | SocketState::Connecting)
        )
    }

    /// Returns `true` if channel `id` is a listening socket.
    pub fn is_accepting(&self, id: ChannelId) -> bool {
        self.state(id) == Some(SocketState::Listening)
    }

    /// Returns the kind of channel `id`, or `None` if it is closed.
    pub fn kind(&self, id: ChannelId) -> Option<SocketKind> {
        self.inner.borrow().get(id).map(|c| c.kind)
    }

    fn state(&self, id: ChannelId) -> Option<SocketState> {
        self.inner.borrow().get(id).map(|c| c.state)
    }

    pub(crate) fn set_state(&self, id: ChannelId, state: SocketState) {
        if let Some(channel) = self.inner.borrow_mut().get_mut(id) {
            channel.state = state;
        }
    }

    /// Returns the raw fd of channel `id`, for lookups and socket options
    /// this crate does not wrap. Do not close it or change its blocking
    /// mode: the map owns it.
    #[cfg(unix)]
    pub fn raw_fd(&self, id: ChannelId) -> Option<std::os::fd::RawFd> {
        use std::os::fd::{AsFd, AsRawFd};
        self.inner
            .borrow()
            .get(id)
            .map(|c| c.reg.get().as_fd().as_raw_fd())
    }
}
