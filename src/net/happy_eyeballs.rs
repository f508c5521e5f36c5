//! Happy Eyeballs (RFC 8305): connecting to a host with several addresses
//! by racing attempts, IPv6 and IPv4 interleaved, each new one started
//! 250 ms after the last (or at once when the last failed). The first to
//! connect wins; the others are closed.
//!
//! Both faces use this one race: an async `TcpStream::connect` awaits it,
//! and a callback channel added with a host name has it run as a task of
//! its map (see `map::connect`).

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use super::Socket;
use super::resolve::{Target, lookup_host};
use crate::async_net::Source;
use crate::map::WeakMap;
use crate::time::Sleep;

/// RFC 8305's recommended "Connection Attempt Delay".
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Every address of a connect failed; the message names each with its
/// error. It is the inner error of the [`io::Error`] a connect by host
/// name (or to several addresses) returns, whose kind is that of the last
/// attempt.
///
/// # Examples
///
/// ```
/// use asyncore::ConnectError;
///
/// fn attempts(e: &std::io::Error) -> usize {
///     e.get_ref()
///         .and_then(|inner| inner.downcast_ref::<ConnectError>())
///         .map_or(0, |c| c.attempts().len())
/// }
/// # let _ = attempts;
/// ```
#[derive(Debug)]
pub struct ConnectError {
    /// What was asked for.
    target: String,
    /// Each address tried, in the order tried, with how it failed.
    attempts: Vec<(SocketAddr, io::Error)>,
}

impl ConnectError {
    /// Each address tried, in the order tried, with its error.
    pub fn attempts(&self) -> &[(SocketAddr, io::Error)] {
        &self.attempts
    }

    /// The target as given (`host:port`, or the addresses).
    pub fn target(&self) -> &str {
        &self.target
    }

    fn into_io(self) -> io::Error {
        let kind = self
            .attempts
            .last()
            .map_or(io::ErrorKind::NotFound, |(_, e)| e.kind());
        io::Error::new(kind, self)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot connect to {}", self.target)?;
        if self.attempts.is_empty() {
            return f.write_str(": no address to try");
        }
        for (i, (addr, e)) in self.attempts.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{addr}: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectError {}

/// RFC 8305 section 4: alternate the families, starting with the family of
/// the first address (the system's preference); duplicates are dropped.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    let first_v6 = unique.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        unique.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(first.len() + second.len());
    first.reverse();
    second.reverse();
    loop {
        match (first.pop(), second.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// One attempt in flight: its address, and the future of its connect.
type Attempt = (
    SocketAddr,
    Pin<Box<dyn Future<Output = io::Result<Source>>>>,
);

/// Connects to `target` in `map`: resolves it off the loop if it is a name,
/// then races the addresses. Returns the winner's channel; the losers are
/// closed when this returns (or when the future is dropped).
///
/// # Errors
///
/// The lookup's error, or a [`ConnectError`] naming every address tried.
pub(crate) async fn connect(map: &WeakMap, target: Target) -> io::Result<Source> {
    let label = target.to_string();
    let addrs = match target {
        Target::Addrs(addrs) => addrs,
        Target::Host { host, port } => lookup_host(&host, port).await?,
    };
    let mut next = interleave(addrs).into_iter();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut failed: Vec<(SocketAddr, io::Error)> = Vec::new();
    let mut delay: Option<Sleep> = None;
    loop {
        if delay.is_none() {
            // Start the next address that can start (a socket or connect
            // error at once counts as that attempt failing). Once none is
            // left, only the attempts in flight are waited on.
            for addr in next.by_ref() {
                match start(map, addr) {
                    Ok(attempt) => {
                        attempts.push((addr, attempt));
                        delay = Some(crate::time::sleep(ATTEMPT_DELAY));
                        break;
                    }
                    Err(e) => failed.push((addr, e)),
                }
            }
        }
        if attempts.is_empty() {
            return Err(ConnectError {
                target: label,
                attempts: failed,
            }
            .into_io());
        }
        let outcome = poll_fn(|cx| {
            for (i, (_, attempt)) in attempts.iter_mut().enumerate() {
                if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
                    return Poll::Ready(Some((i, result)));
                }
            }
            match delay.as_mut().map(|d| Pin::new(d).poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(None),
                _ => Poll::Pending,
            }
        })
        .await;
        match outcome {
            Some((i, Ok(source))) => {
                drop(attempts.remove(i));
                return Ok(source);
            }
            Some((i, Err(e))) => {
                let (addr, _) = attempts.remove(i);
                failed.push((addr, e));
                // A failure starts the next attempt at once.
                delay = None;
            }
            None => delay = None,
        }
    }
}

/// Starts a connect to `addr` as a channel of `map`.
fn start(
    map: &WeakMap,
    addr: SocketAddr,
) -> io::Result<Pin<Box<dyn Future<Output = io::Result<Source>>>>> {
    let source = Source::in_map(&map.upgrade()?, Socket::tcp_connect_addr(addr)?)?;
    Ok(Box::pin(async move {
        poll_fn(|cx| source.poll_connected(cx)).await?;
        Ok(source)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn families_alternate_from_the_first() {
        let got = interleave(addrs(&[
            "[::1]:1",
            "[::2]:1",
            "10.0.0.1:1",
            "10.0.0.2:1",
            "10.0.0.3:1",
        ]));
        let want = addrs(&[
            "[::1]:1",
            "10.0.0.1:1",
            "[::2]:1",
            "10.0.0.2:1",
            "10.0.0.3:1",
        ]);
        assert_eq!(got, want);
        let got = interleave(addrs(&["10.0.0.1:1", "[::1]:1", "10.0.0.1:1"]));
        assert_eq!(got, addrs(&["10.0.0.1:1", "[::1]:1"]));
        assert!(interleave(Vec::new()).is_empty());
    }

    #[test]
    fn the_error_names_every_address() {
        let e = ConnectError {
            target: "localhost:9".into(),
            attempts: vec![
                ("[::1]:9".parse().unwrap(), io::ErrorKind::TimedOut.into()),
                (
                    "127.0.0.1:9".parse().unwrap(),
                    io::ErrorKind::ConnectionRefused.into(),
                ),
            ],
        }
        .into_io();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        let text = e.to_string();
        assert!(
            text.starts_with("cannot connect to localhost:9: [::1]:9: "),
            "{text}"
        );
        assert!(text.contains("; 127.0.0.1:9: "), "{text}");
    }
}
