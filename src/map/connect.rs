//! A callback channel's connect by host name: a task of the map resolves
//! the name off the loop and races the addresses (`net::happy_eyeballs`);
//! the winner's socket then takes the placeholder's place in the channel,
//! which goes on as any connecting channel (its `handle_connect` comes
//! from the loop).

use std::io;

use super::{ChannelId, Map, WeakMap};
use crate::error::Error;
use crate::event_loop::Session;
use crate::executor::JoinHandle;
use crate::net::{Io, SocketState, Target};

/// The connect task of a resolving channel: dropped with the channel, it
/// cancels the task, and the attempts in flight close with it.
#[derive(Debug)]
pub(crate) struct ConnectTask(Option<JoinHandle<()>>);

impl ConnectTask {
    /// Forgets the task without cancelling it (it is the one finishing).
    fn detach(&mut self) {
        self.0 = None;
    }
}

impl Drop for ConnectTask {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.cancel();
        }
    }
}

impl Map {
    /// Starts the connect of channel `id`, just added as resolving.
    pub(crate) fn start_connect(&self, id: ChannelId, target: Target) {
        let weak = WeakMap::new(self);
        let handle = self.spawn(async move {
            let won = crate::net::connect_any(&weak, target).await;
            // A duplicate of the winner's fd moves to the channel; the
            // attempt's own channel closes first.
            let socket = won.and_then(|source| source.dup_socket());
            if let Ok(map) = weak.upgrade() {
                map.end_connect(id, socket);
            }
        });
        if let Ok(channel) = self.inner.borrow_mut().channel_mut(id) {
            channel.connect_task = Some(ConnectTask(Some(handle)));
        }
    }

    /// Ends channel `id`'s connect by host name: the winner's socket goes
    /// under the channel, or the error to its hooks.
    fn end_connect(&self, id: ChannelId, result: io::Result<socket2::Socket>) {
        let failure = {
            let mut inner = self.inner.borrow_mut();
            let Ok(channel) = inner.channel_mut(id) else {
                return;
            };
            if let Some(task) = &mut channel.connect_task {
                task.detach();
            }
            channel.connect_task = None;
            match result {
                Ok(socket) => {
                    channel.state = SocketState::Connecting;
                    channel
                        .reg
                        .rebuild(|io| match io {
                            #[cfg(feature = "tls")]
                            Io::Tls(tls) => tls.set_socket(socket),
                            other => *other = Io::Socket(socket),
                        })
                        .err()
                }
                Err(e) => Some(e),
            }
        };
        match failure {
            // Now polled for write: the loop sees the connect done and
            // calls `handle_connect`.
            None => self.refresh(id),
            Some(e) => self.fail_connect(id, e),
        }
    }

    /// The connect failed: `handle_error` with [`Error::Connect`], then
    /// `handle_close`.
    fn fail_connect(&self, id: ChannelId, e: io::Error) {
        if let Some(mut session) = Session::open(self, id) {
            session.report(Error::Connect(e));
            session.mark_closing();
            session.finish();
        }
    }
}
