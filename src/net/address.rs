//! Peer and local addresses of every socket family a channel can have.

use std::fmt;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::{Path, PathBuf};

use socket2::SockAddr;

/// The address of a channel's socket or of its peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An IPv4 or IPv6 address with a port.
    Inet(SocketAddr),
    /// A Unix socket path; `None` for an unnamed socket (a socket pair, an
    /// unbound client) or a Linux abstract name.
    #[cfg(unix)]
    Unix(Option<PathBuf>),
}

impl Address {
    /// Returns the IP address and port, if this is an internet address.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Address::Inet(addr) => Some(*addr),
            #[cfg(unix)]
            Address::Unix(_) => None,
        }
    }

    /// Returns the path, if this is a named Unix socket address.
    #[cfg(unix)]
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Address::Unix(path) => path.as_deref(),
            Address::Inet(_) => None,
        }
    }

    pub(crate) fn from_sockaddr(addr: &SockAddr) -> Address {
        if let Some(inet) = addr.as_socket() {
            return Address::Inet(inet);
        }
        #[cfg(unix)]
        {
            Address::Unix(addr.as_pathname().map(Path::to_path_buf))
        }
        #[cfg(not(unix))]
        unreachable!("only internet addresses exist off Unix")
    }

    pub(crate) fn to_sockaddr(&self) -> std::io::Result<SockAddr> {
        match self {
            Address::Inet(addr) => Ok(SockAddr::from(*addr)),
            #[cfg(unix)]
            Address::Unix(Some(path)) => SockAddr::unix(path),
            #[cfg(unix)]
            Address::Unix(None) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "cannot send to an unnamed Unix socket address",
            )),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::Inet(addr)
    }
}

#[cfg(unix)]
impl From<&Path> for Address {
    fn from(path: &Path) -> Self {
        Address::Unix(Some(path.to_path_buf()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(addr) => addr.fmt(f),
            #[cfg(unix)]
            Address::Unix(Some(path)) => path.display().fmt(f),
            #[cfg(unix)]
            Address::Unix(None) => f.write_str("(unnamed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_inet() {
        let a: SocketAddr = "[::1]:8080".parse().unwrap();
        let addr = Address::from_sockaddr(&SockAddr::from(a));
        assert_eq!(addr, Address::Inet(a));
        assert_eq!(addr.to_string(), "[::1]:8080");
        assert_eq!(addr.to_sockaddr().unwrap().as_socket(), Some(a));
    }

    #[cfg(unix)]
    #[test]
    fn unix_paths_and_unnamed() {
        let named = Address::from(Path::new("/tmp/x.sock"));
        assert_eq!(named.as_path(), Some(Path::new("/tmp/x.sock")));
        assert_eq!(named.to_string(), "/tmp/x.sock");
        let unnamed = Address::Unix(None);
        assert_eq!(unnamed.to_string(), "(unnamed)");
        assert!(unnamed.to_sockaddr().is_err());
        assert_eq!(unnamed.as_inet(), None);
    }
}
