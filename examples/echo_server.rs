//! An echo server, written twice: once on the callback API (`--style
//! callback`, the default) and once as async tasks (`--style async`). Both
//! are built to survive real traffic and give the same guarantees:
//!
//! * thousands of concurrent clients (the tests run 5 000);
//! * a client that sends but never reads costs bounded memory;
//! * a client that half-closes (shuts down its sending side) still gets
//!   every byte back before the server closes;
//! * clients that reset end only their own connection, quietly;
//! * out of file descriptors (`EMFILE`, `ENFILE`), the server pauses
//!   accepting with a back-off of 10 ms doubling to 1 s instead of spinning
//!   or exiting, notes it on stderr (`accept failed`), and accepts again
//!   once descriptors are free.
//!
//! **Callback style.** A listener hands each connection to an `Echo`
//! channel. A connection costs a socket and a small record in the map: one
//! 16 KiB buffer on the stack serves every read, and there is no buffer per
//! connection beyond unsent output. The output queue's high watermark stops
//! reading from a client while 64 KiB of its echo are unsent (reading
//! resumes below 16 KiB); the default `handle_eof` closes once the queue is
//! empty; the loop itself backs off accepting on `EMFILE`.
//!
//! **Async style.** An accept loop on an [`asyncore::TcpListener`] spawns
//! one task per connection: wait until readable, read into a stack buffer,
//! write it back; at end of file, close. A task does not read while a write
//! is pending, so a client that never reads stalls only its own task, and
//! the kernel's socket buffers bound what it costs. No buffer lives across
//! an `.await` (`readable()` + `try_read_uninit`), so an idle connection
//! costs only its task and channel records. The accept loop does its own `EMFILE`
//! back-off with [`asyncore::sleep`].
//!
//! Run it and talk to it:
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7000 --style callback
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7000 --style async
//! nc 127.0.0.1 7000
//! ```
//!
//! Options: `--addr HOST:PORT` (default `127.0.0.1:7000`; port 0 picks a free
//! port), `--style callback|async`, `--tls-cert FILE --tls-key FILE` (PEM)
//! to serve TLS, `--threads N` (default 1; 0 = one per core) for N loops
//! on N threads sharing the port (`SO_REUSEPORT` where the kernel balances
//! it; elsewhere, or with `--accept-handoff`, one acceptor on the first
//! loop hands connections to the loops in turn), and `--max-passes N` to
//! return after `N` passes of the loop (with one thread). The first line on
//! stdout is `echo_server: listening on ADDR (style STYLE)`, with ` (tls)`
//! appended when TLS is on.
//!
//! **Stopping.** On SIGTERM or SIGINT every loop shuts down gracefully: it
//! stops accepting, echoes back what it has read, ends each connection
//! (its sending side first, then it waits for the client's end, so no
//! echo is lost to a reset), closes what is left after 4 s, prints the
//! summary on stderr (`echo_server: shut down: N channel(s) closed
//! cleanly, M forced at the deadline`) and exits 0.
//!
//! **TLS.** With a certificate and key the same code serves TLS: the
//! callback listener wraps each accepted socket with
//! [`Socket::tls_server`] (the `Echo` handler is unchanged: it sees
//! plaintext), and the async accept loop runs
//! [`TlsStream::accept`](asyncore::tls::TlsStream::accept) before the same
//! echo loop. A client whose handshake fails (or stalls past 10 s) ends
//! only its own connection.
//!
//! ```text
//! cargo run --example gen_cert -- --out /tmp/tls
//! cargo run --release --example echo_server -- --tls-cert /tmp/tls/cert.pem --tls-key /tmp/tls/key.pem
//! openssl s_client -connect 127.0.0.1:7000 -CAfile /tmp/tls/cert.pem -quiet
//! ```

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::process::ExitCode;
use std::time::Duration;

use asyncore::signal::{SIGINT, SIGTERM};
use asyncore::tls::{TlsAcceptor, TlsStream};
use asyncore::workers::{self, Workers};
use asyncore::{
    Address, Ctx, DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK, Dispatcher, Error, Exit, Map,
    RemoteHandle, Result, RunOptions, Socket, TcpListener, TcpStream,
};
use asyncore::{ShutdownRequested, ShutdownSummary};
use clap::{Parser, ValueEnum};
use futures::io::AsyncWriteExt;

mod support;

// ---------------------------------------------------------------------------
// Callback style
// ---------------------------------------------------------------------------

/// Stop reading a client once this much of its echo is unsent...
const HIGH_WATERMARK: usize = DEFAULT_HIGH_WATERMARK;
/// ...and read again once the queue drains to this.
const LOW_WATERMARK: usize = DEFAULT_LOW_WATERMARK;

/// The listening channel: hands each connection to an [`Echo`], over TLS
/// when it has an acceptor.
struct Listener(Option<TlsAcceptor>);

impl Dispatcher for Listener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        // An error here is about this one connection (which is dropped);
        // returning it would reach `handle_error` and close the listener.
        if let Err(e) = add_echo(cx.map(), socket, self.0.as_ref()) {
            eprintln!("echo_server: dropping a new connection: {e}");
        }
        Ok(())
    }

    fn handle_accept_error(&mut self, _cx: &mut Ctx<'_>, error: io::Error) -> Result<()> {
        // The loop has already paused the listener; it resumes by itself.
        eprintln!("echo_server: accept failed ({error}); pausing accepts for a moment");
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Ctx<'_>) {
        // A graceful shutdown closes the listener on purpose: the loop goes
        // on until the connections are done.
        if cx.map().is_shutting_down() {
            return;
        }
        // Otherwise only an unexpected listener error gets here; without a
        // listener the server is of no use.
        eprintln!("echo_server: the listener closed; stopping");
        cx.map().stop();
    }
}

/// Serves one accepted connection with an [`Echo`] channel in `map`.
fn add_echo(map: &Map, socket: Socket, tls: Option<&TlsAcceptor>) -> Result<()> {
    // Echoes are small writes that should leave at once.
    let _ = socket.set_nodelay(true);
    let socket = match tls {
        Some(acceptor) => socket.tls_server(acceptor)?,
        None => socket,
    };
    let id = map.add(socket, Echo)?;
    map.set_write_limits(id, HIGH_WATERMARK, LOW_WATERMARK)
}

/// One client connection: sends back whatever it reads.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        // Uninitialised: no 16 KiB memset per read.
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let data = cx.recv_uninit(&mut buf)?;
        // Sends what the socket takes now and queues the rest; above the
        // high watermark the loop stops polling this channel for input.
        cx.push(data)
    }

    // The defaults do the rest: `handle_eof` closes once the echo is sent,
    // and a reset closes the channel without a fuss. Other errors close
    // only this channel: TLS trouble (a failed handshake, an end without
    // `close_notify`) is the client's business and only a debug event;
    // the rest is noted on stderr.
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        match error {
            e @ Error::Tls(_) => tracing::debug!("closing connection {}: {e}", cx.id()),
            e => eprintln!("echo_server: closing connection {}: {e}", cx.id()),
        }
        cx.close();
    }
}

/// Adds the callback listener; the map's loop then serves with it.
fn start_callback(
    map: &Map,
    listener: Socket,
    tls: Option<TlsAcceptor>,
) -> std::result::Result<(), String> {
    map.add(listener, Listener(tls))
        .map(drop)
        .map_err(|e| format!("cannot watch the listener: {e}"))
}

// ---------------------------------------------------------------------------
// Async style
// ---------------------------------------------------------------------------

/// The read buffer of one read, on the stack: it is never held across an
/// `.await`, so waiting connections do not hold one.
const ASYNC_BUFFER: usize = 16 * 1024;
/// The first pause after running out of descriptors...
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// ...doubling up to this while the failures go on.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Spawns the accept loop; the map's loop runs it with the connections.
fn start_async(
    map: &Map,
    listener: Socket,
    tls: Option<TlsAcceptor>,
) -> std::result::Result<(), String> {
    let listener = TcpListener::from_socket(map, listener)
        .map_err(|e| format!("cannot watch the listener: {e}"))?;
    // A remote handle stops the loop without the task owning the map.
    let remote = map.remote();
    let shutdown = map.shutdown_requested();
    drop(map.spawn(accept_loop(listener, remote, tls, shutdown)));
    Ok(())
}

/// Accepts connections forever, one echo task each; stops the loop if the
/// listener fails.
async fn accept_loop(
    listener: TcpListener,
    remote: RemoteHandle,
    tls: Option<TlsAcceptor>,
    shutdown: ShutdownRequested,
) {
    let mut backoff = BACKOFF_MIN;
    let for_tasks = shutdown.clone();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A graceful shutdown stops accepting: the listener closes with
        // this task.
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            match futures::future::select(accept, shutdown.as_mut()).await {
                futures::future::Either::Left((accepted, _)) => accepted,
                futures::future::Either::Right(((), _)) => return,
            }
        };
        match accepted {
            Ok((stream, _peer)) => {
                backoff = BACKOFF_MIN;
                if let Err(e) = spawn_echo(stream, tls.clone(), for_tasks.clone()) {
                    eprintln!("echo_server: dropping a new connection: {e}");
                }
            }
            // Connections that went away before they were taken are
            // skipped by `accept` itself; what is left is about the
            // listener or the process.
            Err(e) => {
                let e = Error::from(e);
                if !e.is_resource_exhausted() {
                    // Anything but running out of descriptors: retrying
                    // could spin.
                    eprintln!("echo_server: the listener failed ({e}); stopping");
                    remote.stop();
                    return;
                }
                eprintln!("echo_server: accept failed ({e}); pausing accepts for {backoff:?}");
                asyncore::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Serves one connection with an echo task in the stream's map.
fn spawn_echo(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    shutdown: ShutdownRequested,
) -> io::Result<()> {
    // Echoes are small writes that should leave at once.
    let _ = stream.set_nodelay(true);
    // The handle is dropped: the task runs on by itself.
    let task = match tls {
        Some(acceptor) => asyncore::spawn(echo_tls(stream, acceptor, shutdown))?,
        None => asyncore::spawn(echo(stream, shutdown))?,
    };
    drop(task);
    Ok(())
}

/// One connection's task: echoes until end of file, then closes. Resets
/// end it quietly; other errors are noted. Either way only this
/// connection ends.
async fn echo(stream: TcpStream, shutdown: ShutdownRequested) {
    if let Err(e) = echo_until_eof(&stream, shutdown).await {
        let peer = stream.peer_addr().map(|a| a.to_string());
        note_end(peer.as_deref().unwrap_or("a client"), e);
    }
    // Dropping the stream closes the socket.
}

/// A TLS connection's task: the handshake, then as [`echo`]. A failed
/// handshake ends only this connection.
async fn echo_tls(stream: TcpStream, acceptor: TlsAcceptor, shutdown: ShutdownRequested) {
    let peer = stream.peer_addr().map(|a| a.to_string());
    let peer = peer.as_deref().unwrap_or("a client").to_owned();
    let result = match TlsStream::accept(stream, &acceptor).await {
        Ok(tls) => echo_until_eof(&tls, shutdown).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        note_end(&peer, e);
    }
}

/// Notes why a connection ended early: nothing for a reset, a debug event
/// for TLS trouble (a client that fails its handshake, or ends without
/// `close_notify`, is that client's business), a line on stderr for the
/// rest.
fn note_end(peer: &str, e: io::Error) {
    match Error::from(e) {
        e if e.is_disconnect() => {}
        e @ Error::Tls(_) => tracing::debug!("closing the connection of {peer}: {e}"),
        e => eprintln!("echo_server: closing the connection of {peer}: {e}"),
    }
}

/// What the echo loop needs of a stream besides writing: [`TcpStream`]
/// and [`TlsStream`] have the same methods.
trait Readiness {
    async fn readable(&self) -> io::Result<()>;
    fn try_read_uninit<'b>(&self, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b mut [u8]>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

macro_rules! readiness {
    ($t:ty) => {
        impl Readiness for $t {
            async fn readable(&self) -> io::Result<()> {
                <$t>::readable(self).await
            }
            fn try_read_uninit<'b>(
                &self,
                buf: &'b mut [MaybeUninit<u8>],
            ) -> io::Result<&'b mut [u8]> {
                <$t>::try_read_uninit(self, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$t>::try_write(self, buf)
            }
        }
    };
}
readiness!(TcpStream);
readiness!(TlsStream);

/// After the sending side is shut: reads and drops input until the client
/// ends (the shutdown's deadline ends it otherwise).
async fn linger<S: Readiness>(stream: &S) -> io::Result<()> {
    loop {
        stream.readable().await?;
        let mut buf = [MaybeUninit::<u8>::uninit(); ASYNC_BUFFER];
        match stream.try_read_uninit(&mut buf) {
            Ok([]) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads and writes back until the client shuts down its side. Not
/// reading while a write is pending is the back-pressure: a client that
/// never reads fills its socket buffers, then this task just waits.
///
/// No buffer lives across an `.await`: the task waits with `readable()`,
/// reads into a stack buffer and writes back without waiting; only output
/// the socket does not take at once is copied to the heap until it is sent.
/// So an idle connection's task holds no buffer at all.
///
/// Over TLS, the flush after each echo sends the records rustls may still
/// hold (a plain stream holds none: its flush does nothing), and the close
/// sends `close_notify` before shutting the write side down.
///
/// On a graceful shutdown the task stops echoing once what it read is
/// written back, ends its sending side, and reads (dropping) until the
/// client ends too: closing with input unread would reset the connection
/// and could destroy echoes the client has not read yet.
async fn echo_until_eof<S: Readiness>(mut stream: &S, shutdown: ShutdownRequested) -> io::Result<()>
where
    for<'a> &'a S: futures::io::AsyncWrite + Unpin,
{
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let readable = std::pin::pin!(stream.readable());
        if let futures::future::Either::Right(_) =
            futures::future::select(readable, shutdown.as_mut()).await
        {
            stream.close().await?;
            return linger(stream).await;
        }
        // The buffer's scope holds no `.await`, so it is not part of the
        // task's future.
        let unsent = {
            let mut buf = [MaybeUninit::<u8>::uninit(); ASYNC_BUFFER];
            match stream.try_read_uninit(&mut buf) {
                Ok([]) => None,
                Ok(data) => {
                    let sent = match stream.try_write(data) {
                        Ok(sent) => sent,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                        Err(e) => return Err(e),
                    };
                    Some(data[sent..].to_vec())
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(Vec::new()),
                Err(e) => return Err(e),
            }
        };
        match unsent {
            // End of file: everything read has been written back.
            None => return stream.close().await,
            Some(unsent) => {
                if !unsent.is_empty() {
                    stream.write_all(&unsent).await?;
                }
                stream.flush().await?;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Command line and main
// ---------------------------------------------------------------------------

/// Which face of the crate serves.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Style {
    /// Dispatcher callbacks: a listener hands each connection to an echo
    /// channel.
    Callback,
    /// Async tasks: an accept loop spawns one task per connection.
    Async,
}

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Callback => "callback",
            Style::Async => "async",
        }
    }
}

/// An echo server on asyncore, on the callback API or as async tasks.
///
/// Sends back every byte each client sends. The first line on stdout is
/// "echo_server: listening on ADDR (style STYLE)", with " (tls)" appended
/// when serving TLS. Set RUST_LOG (e.g.
/// RUST_LOG=asyncore=debug) to see the library's events on stderr.
#[derive(Debug, Parser)]
#[command(name = "echo_server", args_override_self = true)]
struct Args {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7000")]
    addr: String,
    /// Which face of the crate serves the connections.
    #[arg(long, value_enum, default_value_t = Style::Callback)]
    style: Style,
    /// Loops (threads) to serve with, sharing the port; 0 means one per
    /// core.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// With several threads, accept on the first loop and hand each
    /// connection to the loops in turn, instead of SO_REUSEPORT listeners
    /// (the default where the kernel does not balance those).
    #[arg(long)]
    accept_handoff: bool,
    /// Return after N passes of the loop (default: serve until stopped).
    #[arg(long, value_name = "N")]
    max_passes: Option<u64>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    support::init_logging();
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("echo_server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> std::result::Result<(), String> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            TlsAcceptor::from_pem_files(cert, key)
                .map_err(|e| format!("cannot load the TLS certificate and key: {e}"))?,
        ),
        _ => None,
    };
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // One listener per loop; with several, they share the port
    // (SO_REUSEPORT) and the kernel spreads connections over them. Where it
    // does not (or when asked), one listener and a hand-off instead.
    let handoff = threads > 1 && (args.accept_handoff || !workers::reuseport_balances());
    let listen = |addr: &str| {
        if threads == 1 || handoff {
            Socket::tcp_listen(addr)
        } else {
            Socket::tcp_listen_reuseport(addr)
        }
    };
    let first = listen(&args.addr).map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = first
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let tls_note = if tls.is_some() { " (tls)" } else { "" };
    if handoff {
        let style = args.style;
        let workers = Workers::start_handoff(
            threads,
            first,
            |map, _| {
                map.on_signals(&[SIGTERM, SIGINT], |map, _| map.shutdown(SHUTDOWN_GRACE))?;
                Ok(())
            },
            move |map, socket| serve_handed_off(map, socket, style, tls.as_ref()),
        )
        .map_err(|e| format!("cannot start {threads} loops: {e}"))?;
        print_listening(&local, style, tls_note);
        return join_workers(workers);
    }
    let mut listeners = vec![Some(first)];
    for _ in 1..threads {
        let bound = local.to_string();
        listeners.push(Some(
            listen(&bound).map_err(|e| format!("cannot listen on {bound}: {e}"))?,
        ));
    }
    let style = args.style;
    let options = match args.max_passes {
        Some(n) => RunOptions::new().count(n),
        None => RunOptions::new(),
    };

    if threads == 1 {
        let map = Map::new().map_err(|e| format!("cannot create the loop: {e}"))?;
        let listener = listeners[0].take().expect("the listener");
        set_up(&map, listener, style, tls).map_err(|e| e.to_string())?;
        print_listening(&local, style, tls_note);
        return match map.run(&options) {
            Ok(Exit::Stopped) => Err("stopped: the listener is gone".into()),
            Ok(Exit::Shutdown(summary)) => {
                report_shutdown(&[summary]);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(format!("the loop failed: {e}")),
        };
    }

    let listeners = std::sync::Mutex::new(listeners);
    let workers = Workers::start(threads, move |map, index| {
        let listener = listeners.lock().unwrap()[index]
            .take()
            .expect("one listener per worker");
        set_up(map, listener, style, tls.clone())
    })
    .map_err(|e| format!("cannot start {threads} loops: {e}"))?;
    print_listening(&local, style, tls_note);
    join_workers(workers)
}

/// Serves a connection the acceptor handed to this loop.
fn serve_handed_off(
    map: &Map,
    socket: Socket,
    style: Style,
    tls: Option<&TlsAcceptor>,
) -> asyncore::Result<()> {
    match style {
        Style::Callback => add_echo(map, socket, tls),
        Style::Async => {
            let stream = TcpStream::from_socket(map, socket)?;
            Ok(spawn_echo(stream, tls.cloned(), map.shutdown_requested())?)
        }
    }
}

/// Waits for every loop; the shutdown summary over all of them.
fn join_workers(workers: Workers) -> std::result::Result<(), String> {
    let mut summaries = Vec::new();
    let mut failed = None;
    for (index, outcome) in workers.join().into_iter().enumerate() {
        match outcome {
            Ok(Exit::Shutdown(summary)) => summaries.push(summary),
            Ok(_) => {}
            Err(e) => failed = Some(format!("loop {index} failed: {e}")),
        }
    }
    if !summaries.is_empty() {
        report_shutdown(&summaries);
    }
    failed.map_or(Ok(()), Err)
}

/// One loop's share: its listener in the chosen style, and a graceful
/// shutdown on SIGTERM or SIGINT (every loop hears the signal).
fn set_up(
    map: &Map,
    listener: Socket,
    style: Style,
    tls: Option<TlsAcceptor>,
) -> asyncore::Result<()> {
    match style {
        Style::Callback => start_callback(map, listener, tls),
        Style::Async => start_async(map, listener, tls),
    }
    .map_err(asyncore::Error::other)?;
    map.on_signals(&[SIGTERM, SIGINT], |map, _| map.shutdown(SHUTDOWN_GRACE))?;
    Ok(())
}

/// How long in-flight echoes get after SIGTERM or SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

fn print_listening(local: &Address, style: Style, tls_note: &str) {
    let mut stdout = io::stdout().lock();
    let style = style.name();
    let _ = writeln!(
        stdout,
        "echo_server: listening on {local} (style {style}){tls_note}"
    );
    if tls_note.is_empty() {
        if let Some(inet) = local.as_inet() {
            let _ = writeln!(
                stdout,
                "echo_server: try it with `nc {} {}`",
                inet.ip(),
                inet.port()
            );
        }
    } else if let Some(inet) = local.as_inet() {
        let _ = writeln!(
            stdout,
            "echo_server: try it with `openssl s_client -connect {inet} -quiet`"
        );
    }
    let _ = stdout.flush();
}

/// The shutdown summary on stderr, over every loop.
fn report_shutdown(summaries: &[ShutdownSummary]) {
    let closed: usize = summaries.iter().map(|s| s.closed).sum();
    let forced: usize = summaries.iter().map(|s| s.forced).sum();
    eprintln!(
        "echo_server: shut down: {closed} channel(s) closed cleanly, {forced} forced at the deadline"
    );
}
