//! Helpers of the TLS tests: certificates made at test time (nothing secret
//! is committed) and a tokio runtime on a thread of its own for the
//! tokio-rustls peer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use asyncore::tls::{TlsAcceptor, TlsConnector, rustls};

/// A self-signed certificate for `localhost` and its key, as PEM.
pub(crate) struct Identity {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// Makes a fresh [`Identity`].
pub(crate) fn identity() -> Identity {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    Identity {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    }
}

impl Identity {
    /// A server configuration with this certificate.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from_pem(self.cert.as_bytes(), self.key.as_bytes()).unwrap()
    }

    /// A TLS client socket connecting to `addr` as `localhost`, trusting
    /// this certificate only.
    pub(crate) fn connect(&self, addr: std::net::SocketAddr) -> asyncore::Socket {
        asyncore::Socket::tcp_connect(addr)
            .unwrap()
            .tls_client(&self.connector(), "localhost")
            .unwrap()
    }

    /// A client configuration that trusts this certificate only.
    pub(crate) fn connector(&self) -> TlsConnector {
        TlsConnector::from_ca_pem(self.cert.as_bytes()).unwrap()
    }
}

/// The name the certificates are for.
pub(crate) fn server_name() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("localhost").unwrap()
}

/// Runs `f` on a tokio current-thread runtime on its own thread, bounded by
/// [`DEADLINE`](super::DEADLINE); `done` is set when it returns.
pub(crate) fn tokio_thread<T: Send + 'static>(
    done: &Arc<AtomicBool>,
    f: impl AsyncFnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let done = done.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = runtime.block_on(async {
            tokio::time::timeout(super::DEADLINE, f())
                .await
                .expect("the tokio side timed out")
        });
        done.store(true, Ordering::SeqCst);
        out
    })
}
