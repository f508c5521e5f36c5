//! Our servers: callback style, async style and a chat channel.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::servers::{Server, Shared};
use asyncore::chat::{Chat, ChatChannel, ChatCtx};
use asyncore::tls::{TlsAcceptor, TlsStream};
use asyncore::{
    Address, Ctx, Dispatcher, Error, Map, RemoteHandle, Result, RunOptions, Socket, TcpListener,
    TcpStream,
};
use futures::io::AsyncWriteExt;

struct Listener {
    shared: Arc<Shared>,
    /// The loop's index, in a server of several (0 otherwise).
    index: usize,
    chat: bool,
    /// Serve TLS with this.
    tls: Option<TlsAcceptor>,
}

impl Dispatcher for Listener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _: Address) -> Result<()> {
        if self.shared.stop.load(Ordering::Acquire) {
            cx.map().stop();
            return Ok(());
        }
        let _ = socket.set_nodelay(true);
        let socket = match &self.tls {
            Some(acceptor) => socket.tls_server(acceptor)?,
            None => socket,
        };
        let added = if self.chat {
            let ch = ChatChannel::new(LineEcho { line: Vec::new() }).with_terminator("\n");
            cx.add(socket, ch)
        } else {
            cx.add(socket, Echo)
        };
        added.expect("adding a connection");
        self.shared.count_accept(self.index);
        Ok(())
    }
}

/// The echo of examples/echo_server.rs: a stack buffer, then `push`.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        // Uninitialised: no 16 KiB memset per read.
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let data = cx.recv_uninit(&mut buf)?;
        cx.push(data)
    }

    fn handle_error(&mut self, cx: &mut Ctx<'_>, _: Error) {
        cx.close();
    }
}

/// A line echo on the asynchat layer: each line comes back with its
/// newline.
struct LineEcho {
    line: Vec<u8>,
}

impl Chat for LineEcho {
    fn collect_incoming_data(&mut self, _: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
        self.line.extend_from_slice(data);
        Ok(())
    }

    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        self.line.push(b'\n');
        let r = cx.push(&self.line);
        self.line.clear();
        r
    }

    fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, _: Error) {
        cx.close();
    }
}

pub(super) fn callback(l: std::net::TcpListener, shared: Arc<Shared>, kind: Server) {
    let map = Map::new().unwrap();
    let sock = Socket::from_tcp_listener(l).unwrap();
    let chat = matches!(kind, Server::OursChat | Server::OursChatPo);
    add_callback(&map, sock, shared.clone(), 0, chat);
    let _ = map.run(&RunOptions::new().serve_order(kind.order()));
    report_passes(&map, &shared);
}

/// The callback echo's listener on `map`, as loop `index` of `shared`'s
/// server.
pub(crate) fn add_callback(map: &Map, sock: Socket, shared: Arc<Shared>, index: usize, chat: bool) {
    let listener = Listener {
        shared,
        index,
        chat,
        tls: None,
    };
    map.add(sock, listener).unwrap();
}

pub(super) fn run_async(l: std::net::TcpListener, shared: Arc<Shared>, kind: Server) {
    let map = Map::new().unwrap();
    let sock = Socket::from_tcp_listener(l).unwrap();
    spawn_async(&map, sock, shared.clone(), 0);
    let _ = map.run(&RunOptions::new().serve_order(kind.order()));
    report_passes(&map, &shared);
}

/// Leaves the loop's per-pass figures for the harness (feature
/// `pass-stats`; nothing without it).
fn report_passes(map: &Map, shared: &Shared) {
    #[cfg(feature = "pass-stats")]
    {
        *shared.pass_report.lock().unwrap() = Some(map.pass_stats().to_string());
    }
    #[cfg(not(feature = "pass-stats"))]
    let _ = (map, shared);
}

/// The async echo's accept loop on `map`, as loop `index` of `shared`'s
/// server.
pub(crate) fn spawn_async(map: &Map, sock: Socket, shared: Arc<Shared>, index: usize) {
    let listener = TcpListener::from_socket(map, sock).unwrap();
    let remote = map.remote();
    drop(map.spawn(accept_loop(listener, remote, shared, index)));
}

async fn accept_loop(
    listener: TcpListener,
    remote: RemoteHandle,
    shared: Arc<Shared>,
    index: usize,
) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            if shared.stop.load(Ordering::Acquire) {
                remote.stop();
                return;
            }
            let _ = stream.set_nodelay(true);
            drop(asyncore::spawn(echo(stream)).expect("spawn"));
            shared.count_accept(index);
        }
    }
}

/// An async echo loop over a stream type with `readable()`,
/// `try_read_uninit` and `try_write`: no buffer held across an await (an
/// idle task is small); `flush` after each write when the stream may hold
/// output back (TLS records in rustls, as with tokio-rustls).
macro_rules! echo_loop {
    ($(#[$doc:meta])* $name:ident, $stream:ty, flush: $flush:literal) => {
        $(#[$doc])*
        async fn $name(stream: $stream) {
            let mut stream = &stream;
            loop {
                if stream.readable().await.is_err() {
                    return;
                }
                let unsent = {
                    let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
                    match stream.try_read_uninit(&mut buf) {
                        Ok([]) => None,
                        Ok(data) => {
                            let sent = match stream.try_write(data) {
                                Ok(sent) => sent,
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                                Err(_) => return,
                            };
                            Some(data[sent..].to_vec())
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(_) => return,
                    }
                };
                let Some(unsent) = unsent else {
                    let _ = stream.close().await;
                    return;
                };
                if !unsent.is_empty() && stream.write_all(&unsent).await.is_err() {
                    return;
                }
                if $flush && stream.flush().await.is_err() {
                    return;
                }
            }
        }
    };
}

echo_loop!(
    /// The plain async echo, as in `examples/echo_server.rs`.
    echo, TcpStream, flush: false
);
echo_loop!(
    /// The async echo over TLS.
    echo_tls, TlsStream, flush: true
);

pub(super) fn callback_tls(l: std::net::TcpListener, shared: Arc<Shared>) {
    let map = Map::new().unwrap();
    let sock = Socket::from_tcp_listener(l).unwrap();
    let tls = Some(crate::tls::identity().acceptor.clone());
    map.add(
        sock,
        Listener {
            shared,
            index: 0,
            chat: false,
            tls,
        },
    )
    .unwrap();
    let _ = map.run(&RunOptions::new());
}

pub(super) fn run_async_tls(l: std::net::TcpListener, shared: Arc<Shared>) {
    let map = Map::new().unwrap();
    let sock = Socket::from_tcp_listener(l).unwrap();
    let listener = TcpListener::from_socket(&map, sock).unwrap();
    let remote = map.remote();
    let acceptor = crate::tls::identity().acceptor.clone();
    drop(map.spawn(async move {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                if shared.stop.load(Ordering::Acquire) {
                    remote.stop();
                    return;
                }
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                drop(
                    asyncore::spawn(async move {
                        if let Ok(tls) = TlsStream::accept(stream, &acceptor).await {
                            echo_tls(tls).await;
                        }
                    })
                    .expect("spawn"),
                );
                shared.accepted.fetch_add(1, Ordering::Release);
            }
        }
    }));
    let _ = map.run(&RunOptions::new());
}
