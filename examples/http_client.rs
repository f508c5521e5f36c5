//! A tiny HTTP/1.0 client on the callback API: it shows a non-blocking
//! connect ([`Socket::tcp_connect`]) whose success arrives as
//! `handle_connect` and whose failure arrives as `handle_error` with the
//! cause, [`Ctx::push`] sending the request, and a channel that lives until
//! the server closes, at which point the map is empty and the loop returns.
//!
//! Run it against any HTTP server, or HTTPS:
//!
//! ```text
//! python3 -m http.server 8000 &
//! cargo run --example http_client -- http://127.0.0.1:8000/
//! cargo run --example http_client -- --timeout 10 http://example.com/
//! cargo run --example http_client -- https://example.com/
//! cargo run --example http_client -- --cafile /tmp/tls/cert.pem https://localhost:7443/
//! ```
//!
//! Over `https://` the connect is followed by a TLS handshake
//! ([`Socket::tls_client`]) before `handle_connect`; the server must prove
//! it is HOST with a certificate from Mozilla's roots (webpki-roots) or,
//! with `--cafile FILE`, from the CA certificates in FILE. A certificate
//! that does not verify is a clear error and exit status 1; so is a server
//! that ends without `close_notify` (the response may be cut short).
//!
//! It sends `GET /PATH HTTP/1.0` with `Host` and `User-Agent` headers and
//! copies everything the server sends, status line, headers and body, raw,
//! to stdout. Exit status: 0 once the server has closed the connection; 1 if
//! the host cannot be resolved or reached (`http_client: cannot connect to
//! HOST:PORT: connection refused` on stderr), the connection breaks, or
//! `--timeout SECS` runs out; 2 for a bad command line.

use std::cell::RefCell;
use std::io::{self, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::tls::{TlsConnector, TlsError};
use asyncore::{ConnectError, Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket};
use clap::Parser;

mod support;

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug)]
struct Url {
    /// `https://`: TLS to the host.
    tls: bool,
    /// The host as it appears in the URL, without brackets for IPv6.
    host: String,
    port: u16,
    /// The request target: path and query, starting with `/`.
    path: String,
}

impl Url {
    /// Parses `http[s]://HOST[:PORT][/PATH]`; the port defaults to 80 (443
    /// for https) and the path to `/`. A fragment (`#...`) is dropped.
    fn parse(url: &str) -> std::result::Result<Url, String> {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the URL contains spaces or control characters".into());
        }
        let (tls, rest) = match (url.get(..7), url.get(..8)) {
            (Some(scheme), _) if scheme.eq_ignore_ascii_case("http://") => (false, &url[7..]),
            (_, Some(scheme)) if scheme.eq_ignore_ascii_case("https://") => (true, &url[8..]),
            _ => return Err("the URL must start with http:// or https://".into()),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("user names in URLs are not supported".into());
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let end = bracketed
                .find(']')
                .ok_or("unterminated [ in the host of the URL")?;
            let after = &bracketed[end + 1..];
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or("junk after ] in the URL")?),
            };
            (&bracketed[..end], port)
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("the URL has an empty host".into());
        }
        let port = match port {
            None | Some("") => Url::default_port(tls),
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return Err(format!("bad port {p:?} in the URL")),
            },
        };
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok(Url {
            tls,
            host: host.to_owned(),
            port,
            path,
        })
    }

    fn default_port(tls: bool) -> u16 {
        if tls { 443 } else { 80 }
    }

    /// The host as written in a URL or `Host` header: IPv6 in brackets.
    fn host_for_uri(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// `HOST:PORT`, for messages.
    fn target(&self) -> String {
        format!("{}:{}", self.host_for_uri(), self.port)
    }

    /// The request, HTTP/1.0 so that the server closes when done.
    fn request(&self) -> Vec<u8> {
        let host = if self.port == Url::default_port(self.tls) {
            self.host_for_uri()
        } else {
            self.target()
        };
        format!(
            "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: asyncore-http-client/{}\r\nAccept: */*\r\n\r\n",
            self.path,
            env!("CARGO_PKG_VERSION"),
        )
        .into_bytes()
    }
}

/// How the fetch ended; shared between `main` and the channel.
#[derive(Debug, Default)]
enum Outcome {
    #[default]
    Pending,
    /// The server sent its response and closed.
    Done,
    /// Why it failed, for stderr.
    Failed(String),
}

/// What every connection attempt shares.
struct Job {
    target: String,
    /// Over TLS: the configuration and the name the server must prove.
    tls: Option<(TlsConnector, String)>,
    request: Vec<u8>,
    outcome: RefCell<Outcome>,
}

impl Job {
    fn fail(&self, message: String) {
        let mut outcome = self.outcome.borrow_mut();
        if matches!(*outcome, Outcome::Pending) {
            *outcome = Outcome::Failed(message);
        }
    }
}

/// The connection (its connect tries every address of the host).
struct Client {
    job: Rc<Job>,
    /// The server closed its side: the response is complete.
    eof: bool,
    /// `handle_connect` ran: connected, and over TLS past the handshake.
    connected: bool,
    /// This channel no longer decides the outcome (it failed and
    /// reported).
    done: bool,
}

/// A short, lower-case reason for a connect or socket error. A connect to
/// several addresses names each, unless they all failed the same way.
fn reason(e: &io::Error) -> String {
    if let Some(c) = e.get_ref().and_then(|i| i.downcast_ref::<ConnectError>()) {
        let each: Vec<(String, String)> = c
            .attempts()
            .iter()
            .map(|(addr, e)| (addr.to_string(), reason(e)))
            .collect();
        if let Some((_, first)) = each.first() {
            if each.iter().all(|(_, why)| why == first) {
                return first.clone();
            }
            let list: Vec<String> = each.iter().map(|(a, why)| format!("{a}: {why}")).collect();
            return list.join("; ");
        }
    }
    use io::ErrorKind::*;
    let known = match e.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        TimedOut => "connection timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "address not available",
        PermissionDenied => "permission denied",
        _ => return e.to_string(),
    };
    known.to_owned()
}

/// Starts the connect to the URL's host, adding its channel to `map`. A
/// host name is resolved off the loop, and every address is tried (Happy
/// Eyeballs), so `localhost` reaches a server on 127.0.0.1 even when `::1`
/// comes first.
fn connect(map: &Map, job: &Rc<Job>, url: &Url) -> io::Result<()> {
    let socket = Socket::tcp_connect((url.host.as_str(), url.port))?;
    let socket = match &job.tls {
        Some((connector, name)) => socket.tls_client(connector, name)?,
        None => socket,
    };
    let client = Client {
        job: job.clone(),
        eof: false,
        connected: false,
        done: false,
    };
    map.add(socket, client)?;
    Ok(())
}

impl Dispatcher for Client {
    fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.connected = true;
        cx.push(&self.job.request)
    }

    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = match cx.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let error = Error::from(e);
                if error.is_disconnect() {
                    let why = error.as_io().map(reason).unwrap_or_default();
                    self.job
                        .fail(format!("connection to {} broke: {why}", self.job.target));
                    self.done = true;
                }
                return Err(error);
            }
        };
        let mut stdout = io::stdout().lock();
        if let Err(e) = stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()) {
            self.job.fail(format!("cannot write to stdout: {e}"));
            self.done = true;
            cx.close();
        }
        Ok(())
    }

    fn handle_eof(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        self.eof = true;
        cx.close_when_done()
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        self.done = true;
        cx.close();
        let target = &self.job.target;
        match error {
            Error::Connect(cause) => self
                .job
                .fail(format!("cannot connect to {target}: {}", reason(&cause))),
            // A bad certificate (untrusted, for another name, expired)
            // or any other handshake failure.
            Error::Tls(TlsError::Protocol(cause)) if !self.connected => self
                .job
                .fail(format!("TLS handshake with {target} failed: {cause}")),
            Error::Tls(TlsError::Truncated) => self.job.fail(format!(
                "{target} ended the connection without close_notify: the response may be cut short"
            )),
            other => self
                .job
                .fail(format!("error on the connection to {target}: {other}")),
        }
    }

    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        if self.done {
            return;
        }
        let mut outcome = self.job.outcome.borrow_mut();
        if matches!(*outcome, Outcome::Pending) {
            *outcome = if self.eof {
                Outcome::Done
            } else {
                Outcome::Failed(format!(
                    "the connection to {} closed before the response ended",
                    self.job.target
                ))
            };
        }
    }
}

/// An HTTP/1.0 client on asyncore's callback API, after Python's asyncore
/// example: GETs one URL and copies the raw response to stdout.
///
/// Sends GET /PATH HTTP/1.0 with Host and User-Agent headers, then copies
/// the status line, headers and body, raw, to stdout. Exit status: 0 once
/// the server has closed the connection; 1 if the host cannot be resolved
/// or reached, the connection breaks or the timeout runs out; 2 for a bad
/// command line. Set RUST_LOG (e.g. RUST_LOG=asyncore=debug) to see the
/// library's events on stderr.
#[derive(Debug, Parser)]
#[command(name = "http_client", args_override_self = true)]
struct Args {
    /// Give up after SECS seconds (a decimal number, e.g. 10 or 0.5;
    /// default: wait as long as the connection lasts).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    timeout: Option<Duration>,
    /// Trust the CA certificates in FILE (PEM) for https:// instead of
    /// Mozilla's roots.
    #[arg(long, value_name = "FILE")]
    cafile: Option<std::path::PathBuf>,
    /// What to fetch: http[s]://HOST[:PORT][/PATH]. The port defaults to 80
    /// (443 for https) and the path to /; IPv6 hosts go in brackets.
    #[arg(value_name = "URL", value_parser = Url::parse)]
    url: Url,
}

/// A `--timeout`: a positive number of seconds.
fn parse_secs(value: &str) -> std::result::Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "expected a positive number of seconds, e.g. 10 or 0.5".to_owned())
}

fn main() -> ExitCode {
    support::init_logging();
    let args = Args::parse();
    match fetch(&args.url, args.timeout, args.cafile.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("http_client: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Fetches `url`, copying the response to stdout.
fn fetch(
    url: &Url,
    timeout: Option<Duration>,
    cafile: Option<&std::path::Path>,
) -> std::result::Result<(), String> {
    let tls = if url.tls {
        let connector = match cafile {
            Some(path) => {
                TlsConnector::from_ca_file(path).map_err(|e| format!("cannot use --cafile: {e}"))?
            }
            None => TlsConnector::with_webpki_roots(),
        };
        Some((connector, url.host.clone()))
    } else {
        None
    };
    let job = Rc::new(Job {
        tls,
        target: url.target(),
        request: url.request(),
        outcome: RefCell::default(),
    });
    let cannot = |why: String| format!("cannot connect to {}: {why}", job.target);
    let map = Map::new().map_err(|e| format!("cannot create the loop: {e}"))?;
    connect(&map, &job, url).map_err(|e| cannot(reason(&e)))?;

    // The loop runs until the map is empty: the server closed, or every
    // connect failed. With --timeout, it runs pass by pass against a
    // deadline instead.
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let options = match deadline {
            None => RunOptions::new(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!(
                        "timed out after {:?} talking to {}",
                        timeout.unwrap_or_default(),
                        job.target
                    ));
                }
                RunOptions::new().timeout(left).count(1)
            }
        };
        match map.run(&options) {
            Ok(Exit::Empty) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("the loop failed: {e}")),
        }
    }
    let _ = io::stdout().flush();
    match std::mem::take(&mut *job.outcome.borrow_mut()) {
        Outcome::Done => Ok(()),
        Outcome::Failed(message) => Err(message),
        Outcome::Pending => Err(format!(
            "the connection to {} ended without a response",
            job.target
        )),
    }
}
