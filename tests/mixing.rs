//! Callback channels and async tasks in one map, in every direction: a
//! callback listener handing accepted sockets to tasks, a task adding a
//! callback channel, a handler spawning a task and observing its result, a
//! callback echo server with async clients and an async server with
//! callback clients, and the two ends of one socket pair driven one each
//! way.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::Duration;

use asyncore::{
    Address, Ctx, Dispatcher, Error, JoinHandle, Map, Result, Socket, TcpListener, TcpStream,
    UnixStream,
};
use futures::FutureExt;
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use futures::io::{AsyncReadExt, AsyncWriteExt};

use util::async_util::{Echo, echo_round_trip, serve_echo, within};
use util::{TempDir, drain_nonblocking, payload, run_until};

/// Waits (in the loop) until `map` has no task left.
async fn tasks_drained(map: &Map) {
    while map.tasks() > 0 {
        asyncore::sleep(Duration::from_millis(1)).await;
    }
}

// ---------------------------------------------------------------------------
// (1) A callback listener hands accepted sockets to tasks
// ---------------------------------------------------------------------------

/// Hands each accepted TCP connection to an echo task (`Ctx::spawn`).
struct TcpHandoff {
    served: Rc<RefCell<Vec<u64>>>,
}

impl Dispatcher for TcpHandoff {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        let stream = TcpStream::from_socket(cx.map(), socket)?;
        let served = self.served.clone();
        // Detached: the handle is dropped, the task runs on.
        drop(cx.spawn(async move {
            let n = serve_echo(stream).await?;
            served.borrow_mut().push(n);
            io::Result::Ok(())
        }));
        Ok(())
    }
}

/// Hands each accepted Unix connection to an echo task (`Map::spawn`).
struct UnixHandoff {
    served: Rc<RefCell<Vec<u64>>>,
}

impl Dispatcher for UnixHandoff {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        let stream = UnixStream::from_socket(cx.map(), socket)?;
        let served = self.served.clone();
        drop(cx.map().spawn(async move {
            let n = serve_echo(stream).await?;
            served.borrow_mut().push(n);
            io::Result::Ok(())
        }));
        Ok(())
    }
}

#[test]
fn a_callback_listener_hands_tcp_connections_to_tasks() {
    const CLIENTS: usize = 8;
    let map = Map::new().unwrap();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    let served = Rc::new(RefCell::new(Vec::new()));
    map.add(
        listener,
        TcpHandoff {
            served: served.clone(),
        },
    )
    .unwrap();
    let echoes = within(&map, async {
        let clients = (0..CLIENTS).map(|i| async move {
            let stream = TcpStream::connect(addr).await?;
            let data = payload(1000 * (i + 1));
            let echo = echo_round_trip(&stream, &data).await?;
            io::Result::Ok(echo == data)
        });
        let echoes = futures::future::join_all(clients).await;
        tasks_drained(&map).await;
        echoes
    });
    for (i, ok) in echoes.into_iter().enumerate() {
        assert!(ok.unwrap(), "client {i}: wrong echo");
    }
    let mut served = served.borrow().clone();
    served.sort_unstable();
    let expected: Vec<u64> = (1..=CLIENTS as u64).map(|i| 1000 * i).collect();
    assert_eq!(served, expected, "one task per connection");
    assert_eq!(map.len(), 1, "only the listener is left");
}

#[test]
fn a_callback_listener_hands_unix_connections_to_tasks() {
    let dir = TempDir::new("handoff");
    let path = dir.join("handoff.sock");
    let map = Map::new().unwrap();
    let served = Rc::new(RefCell::new(Vec::new()));
    map.add(
        Socket::unix_listen(&path).unwrap(),
        UnixHandoff {
            served: served.clone(),
        },
    )
    .unwrap();
    let echoes = within(&map, async {
        let clients = (0..4).map(|i| {
            let path = path.clone();
            async move {
                let stream = UnixStream::connect(&path).await?;
                let data = payload(50_000 + i);
                let echo = echo_round_trip(&stream, &data).await?;
                io::Result::Ok(echo == data)
            }
        });
        let echoes = futures::future::join_all(clients).await;
        tasks_drained(&map).await;
        echoes
    });
    assert!(echoes.into_iter().all(|ok| ok.unwrap()));
    assert_eq!(served.borrow().len(), 4);
}

// ---------------------------------------------------------------------------
// (2) A task adds a callback channel
// ---------------------------------------------------------------------------

/// Connects, upper-cases what it reads back to the peer, and reports
/// what it saw when it closes.
struct Upper {
    seen: Vec<u8>,
    connected: bool,
    done: Option<oneshot::Sender<(bool, Vec<u8>)>>,
}

impl Dispatcher for Upper {
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        self.connected = true;
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 4096];
        let n = cx.recv(&mut buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        cx.push(&buf[..n].to_ascii_uppercase())
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        if let Some(done) = self.done.take() {
            let _ = done.send((self.connected, std::mem::take(&mut self.seen)));
        }
    }
}

#[test]
fn a_task_adds_a_callback_channel_that_works() {
    let map = Map::new().unwrap();
    let m = map.clone();
    let task = map.spawn(async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (done_tx, done_rx) = oneshot::channel();
        let id = m
            .add(
                Socket::tcp_connect(addr)?,
                Upper {
                    seen: Vec::new(),
                    connected: false,
                    done: Some(done_tx),
                },
            )
            .map_err(io::Error::from)?;
        assert!(m.contains(id));
        let (stream, _) = listener.accept().await?;
        let answer = echo_round_trip(&stream, b"hello from a task").await?;
        let (connected, seen) = done_rx.await.expect("the channel reported");
        io::Result::Ok((answer, connected, seen, m.contains(id)))
    });
    let (answer, connected, seen, still_open) = within(&map, task).unwrap().unwrap();
    assert_eq!(answer, b"HELLO FROM A TASK");
    assert!(connected, "handle_connect ran");
    assert_eq!(seen, b"hello from a task");
    assert!(!still_open, "the channel closed after end of file");
    assert_eq!(map.len(), 0);
}

// ---------------------------------------------------------------------------
// (3) A handler spawns a task and later observes its result
// ---------------------------------------------------------------------------

/// On "start", spawns a task that waits a little, pushes to this very
/// channel through the map, and returns 42; on "result", reports the
/// task's output through its `JoinHandle`.
struct Boss {
    worker: Option<JoinHandle<u32>>,
}

impl Dispatcher for Boss {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 64];
        let n = cx.recv(&mut buf)?;
        match &buf[..n] {
            b"start" => {
                let map = cx.map().clone();
                let id = cx.id();
                self.worker = Some(cx.spawn(async move {
                    asyncore::sleep(Duration::from_millis(5)).await;
                    map.push(id, b"[pushed by the task]").unwrap();
                    42
                }));
                cx.push(b"[started]")
            }
            b"result" => {
                let reply = match self.worker.as_mut().map(FutureExt::now_or_never) {
                    Some(Some(Ok(v))) => format!("[result {v}]"),
                    Some(Some(Err(e))) => format!("[error {e}]"),
                    Some(None) => "[not yet]".to_owned(),
                    None => "[no worker]".to_owned(),
                };
                cx.push(reply.as_bytes())
            }
            other => Err(Error::other(format!("unexpected {other:?}"))),
        }
    }
}

#[test]
fn a_handler_spawns_a_task_and_observes_its_result() {
    let map = Map::new().unwrap();
    let (ours, mut peer) = StdUnixStream::pair().unwrap();
    peer.set_nonblocking(true).unwrap();
    map.add(
        Socket::from_unix_stream(ours).unwrap(),
        Boss { worker: None },
    )
    .unwrap();
    let mut got = Vec::new();
    peer.write_all(b"start").unwrap();
    run_until(&map, "the task pushed to the channel", || {
        drain_nonblocking(&mut peer, &mut got);
        got.ends_with(b"[pushed by the task]")
    });
    assert_eq!(got, b"[started][pushed by the task]");
    run_until(&map, "the task finished", || map.tasks() == 0);
    got.clear();
    peer.write_all(b"result").unwrap();
    run_until(&map, "the handler reported", || {
        drain_nonblocking(&mut peer, &mut got);
        got.ends_with(b"]")
    });
    assert_eq!(got, b"[result 42]");
}

// ---------------------------------------------------------------------------
// (4) Callback server with async clients, async server with callback clients
// ---------------------------------------------------------------------------

struct EchoServer;

impl Dispatcher for EchoServer {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        cx.add(socket, Echo)?;
        Ok(())
    }
}

#[test]
fn a_callback_echo_server_with_async_clients() {
    const CLIENTS: usize = 6;
    let map = Map::new().unwrap();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    map.add(listener, EchoServer).unwrap();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            map.spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                let data = payload(64 * 1024 + i);
                let echo = echo_round_trip(&stream, &data).await?;
                io::Result::Ok((echo == data, echo.len()))
            })
        })
        .collect();
    let results = within(&map, futures::future::join_all(handles));
    for (i, r) in results.into_iter().enumerate() {
        let (ok, len) = r.unwrap().unwrap();
        assert!(ok, "client {i}: wrong echo ({len} bytes)");
    }
    // The server's echo channels close after the clients' end of file.
    run_until(&map, "the echo channels closed", || map.len() == 1);
}

/// Sends `data` once connected, half-closes once it is flushed, collects
/// the echo, and reports it when the channel closes.
struct Client {
    data: Vec<u8>,
    echo: Vec<u8>,
    shut: bool,
    report: mpsc::UnboundedSender<(usize, Vec<u8>)>,
    index: usize,
}

impl Dispatcher for Client {
    fn writable(&self) -> bool {
        !self.shut
    }
    fn handle_connect(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        cx.push(&self.data)
    }
    fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        if cx.pending_output() == 0 && cx.is_connected() {
            cx.shutdown(std::net::Shutdown::Write)?;
            self.shut = true;
        }
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        self.echo.extend_from_slice(&buf[..n]);
        Ok(())
    }
    fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
        let _ = self
            .report
            .unbounded_send((self.index, std::mem::take(&mut self.echo)));
    }
}

#[test]
fn an_async_echo_server_with_callback_clients() {
    const CLIENTS: usize = 6;
    let map = Map::new().unwrap();
    let (report, mut reports) = mpsc::unbounded();
    let m = map.clone();
    let echoes = within(&map, async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = asyncore::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await?;
                asyncore::spawn(serve_echo(stream))?;
            }
            #[allow(unreachable_code)]
            io::Result::Ok(())
        })
        .unwrap();
        for index in 0..CLIENTS {
            m.add(
                Socket::tcp_connect(addr).unwrap(),
                Client {
                    data: payload(100_000 + index),
                    echo: Vec::new(),
                    shut: false,
                    report: report.clone(),
                    index,
                },
            )
            .unwrap();
        }
        let mut echoes = Vec::new();
        while echoes.len() < CLIENTS {
            echoes.push(reports.next().await.unwrap());
        }
        server.cancel();
        echoes
    });
    assert_eq!(echoes.len(), CLIENTS);
    for (index, echo) in echoes {
        assert!(
            echo == payload(100_000 + index),
            "client {index}: wrong echo ({} bytes)",
            echo.len()
        );
    }
    within(&map, tasks_drained(&map));
    assert_eq!(map.len(), 0, "listener and clients are gone");
}

// ---------------------------------------------------------------------------
// (5) One socket pair, one end each way
// ---------------------------------------------------------------------------

#[test]
fn a_socket_pair_with_a_callback_end_and_an_async_end() {
    let map = Map::new().unwrap();
    let (callback_end, async_end) = Socket::unix_stream_pair().unwrap();
    let id = map.add(callback_end, Echo).unwrap();
    let stream = UnixStream::from_socket(&map, async_end).unwrap();
    assert_eq!(map.len(), 2);
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let echo = within(&map, async move {
        let mut echo = Vec::new();
        for i in 0..50u8 {
            (&stream).write_all(&[i; 100]).await?;
            let mut buf = [0u8; 100];
            (&stream).read_exact(&mut buf).await?;
            assert!(buf.iter().all(|&b| b == i));
            s.set(s.get() + 1);
            echo.extend_from_slice(&buf);
        }
        (&stream).close().await?;
        let mut rest = Vec::new();
        (&stream).read_to_end(&mut rest).await?;
        io::Result::Ok((echo.len(), rest))
    });
    let (len, rest) = echo.unwrap();
    assert_eq!(len, 5000);
    assert!(rest.is_empty());
    assert_eq!(seen.get(), 50);
    // The callback end closed after end of file; the async end went with
    // the future.
    assert!(!map.contains(id));
    assert_eq!(map.len(), 0);
}
