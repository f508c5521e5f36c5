//! One acceptor for many workers, where the kernel does not spread
//! connections over `SO_REUSEPORT` listeners: worker 0's loop accepts, and
//! hands each connection to the workers in turn through their
//! [`RemoteHandle`]s (a [`Socket`] is `Send`; a channel is not).

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::Workers;
use crate::ctx::Ctx;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result, panic_error};
use crate::executor::RemoteHandle;
use crate::map::Map;
use crate::net::{Address, Socket, SocketKind};

/// Whether the kernel balances connections over listeners that share a
/// port with [`Socket::tcp_listen_reuseport`] (Linux, Android and
/// FreeBSD). Where it does not, use [`Workers::start_handoff`].
pub fn reuseport_balances() -> bool {
    cfg!(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd"
    ))
}

/// What serves a handed-off connection on a worker's map.
type Handler = dyn Fn(&Map, Socket) -> Result<()> + Send + Sync;

/// A worker as the acceptor sees it.
struct Target {
    remote: RemoteHandle,
    alive: Arc<AtomicBool>,
}

/// Shared by the acceptor and the workers.
struct Handoff {
    handler: Box<Handler>,
    /// Filled once every worker has started.
    targets: OnceLock<Vec<Target>>,
}

impl Handoff {
    /// Runs the handler for one connection on worker `index`'s map; an
    /// error or a panic drops that connection only.
    fn serve(&self, map: &Map, socket: Socket, index: usize) {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.handler)(map, socket)));
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(payload) => panic_error("handoff handler", payload),
        };
        crate::diag::handoff_failed(index, &error);
    }
}

/// The listener's dispatcher on worker 0.
struct Acceptor {
    handoff: Arc<Handoff>,
    /// The worker the next connection goes to.
    next: usize,
}

impl Dispatcher for Acceptor {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        let Some(targets) = self.handoff.targets.get() else {
            // The other workers are still starting.
            self.handoff.serve(cx.map(), socket, 0);
            return Ok(());
        };
        for _ in 0..targets.len() {
            let index = self.next % targets.len();
            self.next = self.next.wrapping_add(1);
            let target = &targets[index];
            // A worker that ended is skipped: its turn goes to the next.
            if !target.alive.load(Ordering::Acquire) {
                continue;
            }
            if index == 0 {
                self.handoff.serve(cx.map(), socket, 0);
            } else {
                let handoff = self.handoff.clone();
                target
                    .remote
                    .call_soon(move |map| handoff.serve(map, socket, index));
            }
            return Ok(());
        }
        // Only reachable if this worker's flag is already down (it is
        // ending): serve here all the same.
        self.handoff.serve(cx.map(), socket, 0);
        Ok(())
    }
}

impl Workers {
    /// Starts `n` workers (0: one per core) fed by one acceptor: worker 0
    /// accepts on `listener` and hands each connection to the workers in
    /// turn (itself included), where `handler(&map, socket)` serves it:
    /// `map.add(socket, dispatcher)` in the callback style, or
    /// [`TcpStream::from_socket`](crate::TcpStream::from_socket) and a
    /// task in the async one.
    ///
    /// Use it where [`reuseport_balances`] is `false`; it works everywhere.
    /// `setup(&map, index)` runs first on each worker, as with
    /// [`Workers::start`] (signal handlers, timers). Each worker then runs
    /// until stopped or shut down, even with no channel of its own.
    ///
    /// A worker that ended is skipped and its turn goes to the next. A
    /// handler that fails or panics drops that one connection, reported
    /// as a `warn` [`tracing`] event. The acceptor lives on worker 0: a
    /// graceful [`Map::shutdown`] there closes the listener (the default
    /// [`Dispatcher::handle_shutdown`]), and if worker 0 ends, accepting
    /// ends with it while the others finish their connections.
    ///
    /// # Errors
    ///
    /// `listener` is not a listening socket
    /// ([`io::ErrorKind::InvalidInput`]), or as [`Workers::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use asyncore::workers::Workers;
    /// use asyncore::{Ctx, Dispatcher, Socket};
    ///
    /// struct Echo;
    /// impl Dispatcher for Echo {
    ///     fn handle_read(&mut self, cx: &mut Ctx<'_>) -> asyncore::Result<()> {
    ///         let mut buf = [0; 1024];
    ///         let n = cx.recv(&mut buf)?;
    ///         cx.push(&buf[..n])
    ///     }
    /// }
    ///
    /// let listener = Socket::tcp_listen("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?.as_inet().unwrap();
    /// let workers = Workers::start_handoff(2, listener, |_, _| Ok(()), |map, socket| {
    ///     map.add(socket, Echo).map(drop)
    /// })?;
    /// let mut client = std::net::TcpStream::connect(addr)?;
    /// client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    /// client.write_all(b"hi")?;
    /// let mut echo = [0; 2];
    /// client.read_exact(&mut echo)?;
    /// assert_eq!(&echo, b"hi");
    /// workers.stop();
    /// assert!(workers.join().iter().all(Result::is_ok));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_handoff<S, H>(
        n: usize,
        listener: Socket,
        setup: S,
        handler: H,
    ) -> io::Result<Workers>
    where
        S: Fn(&Map, usize) -> Result<()> + Send + Sync + 'static,
        H: Fn(&Map, Socket) -> Result<()> + Send + Sync + 'static,
    {
        if listener.kind() != SocketKind::Listener {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the acceptor needs a listener, not a {:?} socket",
                    listener.kind()
                ),
            ));
        }
        let handoff = Arc::new(Handoff {
            handler: Box::new(handler),
            targets: OnceLock::new(),
        });
        let listener = Mutex::new(Some(listener));
        let for_workers = handoff.clone();
        let workers = Workers::start(n, move |map, index| {
            if index == 0 {
                let listener = listener
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .ok_or_else(|| Error::other("the acceptor's listener was taken already"))?;
                map.add(
                    listener,
                    Acceptor {
                        handoff: for_workers.clone(),
                        next: 0,
                    },
                )?;
            }
            setup(map, index)?;
            // Alive until stopped or shut down, channels or not.
            drop(map.spawn(map.shutdown_requested()));
            Ok(())
        })?;
        let targets = workers
            .workers
            .iter()
            .map(|w| Target {
                remote: w.remote.clone(),
                alive: w.alive.clone(),
            })
            .collect();
        let _ = handoff.targets.set(targets);
        Ok(workers)
    }
}
