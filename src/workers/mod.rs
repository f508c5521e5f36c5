//! One loop per core: [`Workers`] starts N threads, each with a map of its
//! own set up by a closure, and stops and joins them (design decision 14:
//! a map stays one thread; scale is many maps).
//!
//! Connections spread over the workers in one of two ways:
//!
//! * Listeners that share a port with `SO_REUSEPORT`
//!   ([`Socket::tcp_listen_reuseport`]), one per worker, where the kernel
//!   balances accepted connections among them (Linux; FreeBSD's
//!   `SO_REUSEPORT_LB`): [`reuseport_balances`] says whether it does here.
//!   The example below.
//! * Elsewhere, one acceptor that hands each connection to the workers in
//!   turn through their [`RemoteHandle`]s: [`Workers::start_handoff`].
//!
//! ```
//! use std::sync::Mutex;
//! use asyncore::workers::Workers;
//! use asyncore::{Dispatcher, Socket};
//!
//! struct Refuse; // accepts connections and drops them
//! impl Dispatcher for Refuse {}
//!
//! // One listener per worker, all on one port.
//! let first = Socket::tcp_listen_reuseport("127.0.0.1:0")?;
//! let addr = first.local_addr()?.as_inet().unwrap();
//! let mut listeners = vec![first];
//! listeners.push(Socket::tcp_listen_reuseport(addr)?);
//! let listeners = Mutex::new(listeners);
//! let workers = Workers::start(2, move |map, _index| {
//!     let listener = listeners.lock().unwrap().pop().expect("one each");
//!     map.add(listener, Refuse)?;
//!     Ok(())
//! })?;
//! assert_eq!(workers.len(), 2);
//! workers.stop();
//! for outcome in workers.join() {
//!     assert!(outcome.is_ok());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::ToSocketAddrs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::{Error, Result, panic_error};
use crate::event_loop::{Exit, RunOptions};
use crate::executor::RemoteHandle;
use crate::map::Map;
use crate::net::Socket;

mod handoff;

pub use handoff::reuseport_balances;

/// How one worker ended.
pub type WorkerOutcome = Result<Exit>;

/// A worker thread: its loop's handle and the thread.
#[derive(Debug)]
struct Worker {
    remote: RemoteHandle,
    thread: JoinHandle<WorkerOutcome>,
    /// Cleared when the worker's thread ends, however it ends.
    alive: Arc<AtomicBool>,
}

/// Clears a worker's `alive` flag when its thread ends (a panic too).
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// N threads, each running a map of its own; see the [module](self).
#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts `n` workers (0: one per available core). Each creates a map,
    /// calls `setup(&map, index)` on its own thread (add listeners, spawn
    /// tasks: both styles), then runs the map's loop until it is stopped or
    /// empty.
    ///
    /// A worker whose setup fails or panics ends, and its outcome says so
    /// (also as an `error` [`tracing`] event); the others go on serving.
    ///
    /// # Errors
    ///
    /// A thread could not be started (the workers started so far are
    /// stopped and joined).
    pub fn start<F>(n: usize, setup: F) -> io::Result<Workers>
    where
        F: Fn(&Map, usize) -> Result<()> + Send + Sync + 'static,
    {
        let n = if n == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            n
        };
        let setup = Arc::new(setup);
        let mut workers = Workers {
            workers: Vec::with_capacity(n),
        };
        for index in 0..n {
            let (tx, rx) = mpsc::channel();
            let setup = setup.clone();
            let alive = Arc::new(AtomicBool::new(true));
            let guard = Alive(alive.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("asyncore-worker-{index}"))
                .spawn(move || {
                    let _guard = guard;
                    run_worker(index, &*setup, &tx)
                });
            let thread = match spawned {
                Ok(thread) => thread,
                Err(e) => {
                    workers.stop();
                    drop(workers.join());
                    return Err(e);
                }
            };
            match rx.recv() {
                Ok(remote) => workers.workers.push(Worker {
                    remote,
                    thread,
                    alive,
                }),
                // The map could not even be created: the outcome says why.
                Err(_) => {
                    let outcome = thread.join().unwrap_or(Err(Error::MapGone));
                    let e = outcome.err().map_or_else(
                        || io::Error::other("a worker ended before it started"),
                        io::Error::from,
                    );
                    workers.stop();
                    drop(workers.join());
                    return Err(e);
                }
            }
        }
        Ok(workers)
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Whether worker `index` is still running (its thread has not ended);
    /// `false` for an index out of range.
    pub fn is_running(&self, index: usize) -> bool {
        self.workers
            .get(index)
            .is_some_and(|w| w.alive.load(Ordering::Acquire))
    }

    /// The handles of the workers' loops, in index order: post closures to
    /// a worker, or stop one.
    pub fn remotes(&self) -> Vec<RemoteHandle> {
        self.workers.iter().map(|w| w.remote.clone()).collect()
    }

    /// Asks every worker's loop to return after its current pass (it may
    /// not have started yet: the stop waits for it).
    pub fn stop(&self) {
        for worker in &self.workers {
            worker.remote.call_soon(|map| map.stop());
        }
    }

    /// Waits for every worker to end and returns how each did, in index
    /// order: the loop's [`Exit`], or the error or panic that ended it.
    pub fn join(self) -> Vec<WorkerOutcome> {
        self.workers
            .into_iter()
            .map(|w| {
                w.thread
                    .join()
                    .unwrap_or_else(|payload| Err(panic_error("worker", payload)))
            })
            .collect()
    }
}

/// One worker's thread: the map, the setup, the loop.
fn run_worker(
    index: usize,
    setup: &(dyn Fn(&Map, usize) -> Result<()> + Send + Sync),
    started: &mpsc::Sender<RemoteHandle>,
) -> WorkerOutcome {
    let map = Map::new()?;
    let _ = started.send(map.remote());
    let outcome = match catch_unwind(AssertUnwindSafe(|| setup(&map, index))) {
        Ok(Ok(())) => map.run(&RunOptions::new()),
        Ok(Err(e)) => Err(e),
        Err(payload) => Err(panic_error("worker setup", payload)),
    };
    if let Err(e) = &outcome {
        crate::diag::worker_ended(index, e);
    }
    outcome
}

impl Socket {
    /// A TCP listener on `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`):
    /// several such listeners may share one port, one per worker, and the
    /// kernel spreads new connections over them (Linux; on FreeBSD with
    /// `SO_REUSEPORT_LB`).
    ///
    /// # Errors
    ///
    /// Resolution, `socket`, `setsockopt`, `bind` or `listen` errors
    /// (`EADDRINUSE` if a listener without the option holds the port).
    pub fn tcp_listen_reuseport(addr: impl ToSocketAddrs) -> io::Result<Socket> {
        crate::net::tcp_listen_with(addr, crate::net::DEFAULT_BACKLOG, |socket| {
            #[cfg(target_os = "freebsd")]
            socket.set_reuse_port_lb(true)?;
            #[cfg(not(target_os = "freebsd"))]
            socket.set_reuse_port(true)?;
            Ok(())
        })
    }
}
