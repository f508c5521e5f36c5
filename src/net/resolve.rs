//! Name resolution off the loop (design decision 15): `getaddrinfo` runs on
//! a small pool of helper threads, and its answer comes back to the task
//! that asked through a waker, so a pass never waits on a lookup. asyncio
//! does the same with its executor.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Most lookups that run at once; more wait in the queue.
const MAX_THREADS: usize = 8;
/// A helper thread with nothing to do for this long ends.
const IDLE_EXIT: Duration = Duration::from_secs(10);

/// What a TCP connect aims at: addresses already known, or a host name
/// (and port) that is resolved off the loop first.
///
/// Built by [`ToTarget`] from the usual address forms; a string that is an
/// IP address literal (`"127.0.0.1:80"`, `"[::1]:80"`) needs no lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// These addresses, tried in the Happy Eyeballs order.
    Addrs(Vec<SocketAddr>),
    /// A host name to resolve, and the port to connect to.
    Host {
        /// The name, as given (no brackets, no port).
        host: String,
        /// The port.
        port: u16,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Host { host, port } => write!(f, "{host}:{port}"),
            Target::Addrs(addrs) if addrs.len() == 1 => write!(f, "{}", addrs[0]),
            Target::Addrs(addrs) => {
                f.write_str("[")?;
                for (i, a) in addrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The address forms a TCP connect accepts: socket addresses, `(ip, port)`
/// pairs, `"host:port"` strings, `(host, port)` pairs and slices of socket
/// addresses (what [`std::net::ToSocketAddrs`] takes, except that a name
/// is not resolved here but later, off the loop).
pub trait ToTarget {
    /// The target; resolves nothing.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a string without a port or with
    /// a port that is not a number.
    fn to_target(&self) -> io::Result<Target>;
}

impl<T: ToTarget + ?Sized> ToTarget for &T {
    fn to_target(&self) -> io::Result<Target> {
        (**self).to_target()
    }
}

impl ToTarget for Target {
    fn to_target(&self) -> io::Result<Target> {
        Ok(self.clone())
    }
}

impl ToTarget for SocketAddr {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![*self]))
    }
}

macro_rules! via_socket_addr {
    ($($t:ty),*) => {$(
        impl ToTarget for $t {
            fn to_target(&self) -> io::Result<Target> {
                Ok(Target::Addrs(vec![SocketAddr::from(*self)]))
            }
        }
    )*};
}

via_socket_addr!(
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToTarget for [SocketAddr] {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(self.to_vec()))
    }
}

impl ToTarget for Vec<SocketAddr> {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(self.clone()))
    }
}

impl ToTarget for str {
    fn to_target(&self) -> io::Result<Target> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Target::Addrs(vec![addr]));
        }
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid address {self:?}: expected host:port"),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(invalid)?;
        let port = port.parse().map_err(|_| invalid())?;
        (host, port).to_target()
    }
}

impl ToTarget for String {
    fn to_target(&self) -> io::Result<Target> {
        self.as_str().to_target()
    }
}

impl ToTarget for (&str, u16) {
    fn to_target(&self) -> io::Result<Target> {
        let (host, port) = *self;
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Target::Addrs(vec![SocketAddr::new(ip, port)]));
        }
        if bare.is_empty() || bare.contains(':') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid host name {host:?}"),
            ));
        }
        Ok(Target::Host {
            host: bare.to_owned(),
            port,
        })
    }
}

impl ToTarget for (String, u16) {
    fn to_target(&self) -> io::Result<Target> {
        (self.0.as_str(), self.1).to_target()
    }
}

/// Resolves `host` (a name or an IP literal) to its addresses on a helper
/// thread, so the loop keeps serving meanwhile. The addresses come in the
/// system's order (`getaddrinfo` with `/etc/gai.conf`).
///
/// # Errors
///
/// The lookup's error, with the host named in its message; an answer with
/// no address is [`io::ErrorKind::NotFound`].
///
/// # Examples
///
/// ```
/// let addrs = asyncore::block_on(asyncore::lookup_host("localhost", 80))??;
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// # Ok::<(), asyncore::Error>(())
/// ```
pub fn lookup_host(host: &str, port: u16) -> Lookup {
    let slot = Arc::new(Mutex::new(Answer::default()));
    let job = Job {
        host: host.to_owned(),
        port,
        slot: slot.clone(),
    };
    submit(job);
    Lookup { slot }
}

/// The answer of a lookup in flight, as [`lookup_host`] returns it.
#[derive(Debug)]
#[must_use = "a lookup does nothing useful unless awaited"]
pub struct Lookup {
    /// Shared with the helper thread.
    slot: Arc<Mutex<Answer>>,
}

#[derive(Debug, Default)]
struct Answer {
    result: Option<io::Result<Vec<SocketAddr>>>,
    waker: Option<Waker>,
}

impl Future for Lookup {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut answer = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match answer.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                answer.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// One lookup for the pool.
struct Job {
    host: String,
    port: u16,
    slot: Arc<Mutex<Answer>>,
}

impl Job {
    fn answer(self, result: io::Result<Vec<SocketAddr>>) {
        let waker = {
            let mut answer = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            answer.result = Some(result);
            answer.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn run(self) {
        let result = match (self.host.as_str(), self.port).to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{} resolved to no address", self.host),
                    ))
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot resolve {}: {e}", self.host),
            )),
        };
        self.answer(result);
    }
}

/// The helper threads and their queue.
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

fn submit(job: Job) {
    let pool = pool();
    let mut state = pool.state.lock().unwrap_or_else(PoisonError::into_inner);
    state.jobs.push_back(job);
    if state.idle > 0 {
        pool.work.notify_one();
        return;
    }
    if state.threads >= MAX_THREADS {
        return;
    }
    state.threads += 1;
    let spawned = std::thread::Builder::new()
        .name("asyncore-resolver".into())
        .spawn(helper);
    if let Err(e) = spawned {
        state.threads -= 1;
        if state.threads == 0 {
            // Nobody would ever take the queue: fail what waits in it.
            let jobs: Vec<Job> = state.jobs.drain(..).collect();
            drop(state);
            for job in jobs {
                job.answer(Err(io::Error::new(
                    e.kind(),
                    format!("cannot start a resolver thread: {e}"),
                )));
            }
        }
    }
}

/// A helper thread: runs lookups until none came for [`IDLE_EXIT`].
fn helper() {
    let pool = pool();
    let mut state = pool.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            job.run();
            state = pool.state.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        state.idle += 1;
        let (next, timeout) = pool
            .work
            .wait_timeout(state, IDLE_EXIT)
            .unwrap_or_else(PoisonError::into_inner);
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.jobs.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_need_no_lookup() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!("127.0.0.1:80".to_target().unwrap(), Target::Addrs(vec![v4]));
        assert_eq!("[::1]:443".to_target().unwrap(), Target::Addrs(vec![v6]));
        assert_eq!(("::1", 443).to_target().unwrap(), Target::Addrs(vec![v6]));
        assert_eq!(("[::1]", 443).to_target().unwrap(), Target::Addrs(vec![v6]));
        assert_eq!(v4.to_target().unwrap(), Target::Addrs(vec![v4]));
        assert_eq!(
            [v6, v4][..].to_target().unwrap(),
            Target::Addrs(vec![v6, v4])
        );
    }

    #[test]
    fn names_wait_for_the_resolver() {
        let host = Target::Host {
            host: "localhost".into(),
            port: 8080,
        };
        assert_eq!("localhost:8080".to_target().unwrap(), host);
        assert_eq!(("localhost".to_string(), 8080).to_target().unwrap(), host);
        assert_eq!(host.to_string(), "localhost:8080");
    }

    #[test]
    fn bad_strings_are_invalid_input() {
        for bad in ["localhost", "localhost:http", ":80", "a:b:80", "[::1]"] {
            let e = bad.to_target().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
