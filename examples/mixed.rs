//! Both faces of the crate in one map, on one thread, with no glue:
//!
//! * a **callback-style line server** (a [`ChatChannel`] per connection,
//!   terminator `"\n"`): a plain line comes back as `echo: LINE`; `/join
//!   NAME` enters a chat room (`* welcome NAME`, the others get `* NAME
//!   joined`), `/say TEXT` sends `<NAME> TEXT` to the other members, and a
//!   member that goes away is announced (`* NAME left`);
//! * **async clients** of it: [`TcpStream::connect`], `write_all` of their
//!   lines, replies read with `futures`' `BufReader::lines`;
//! * an **async-driven chat exchange**: one task joins the room twice, as
//!   alice and bob, and has them talk through the callback server;
//! * a **callback listener handing its accepted sockets to async tasks**
//!   ([`TcpStream::from_socket`] in `handle_accepted`, then
//!   [`Map::spawn`]): a service that answers each line in upper case, used
//!   by one more async client.
//!
//! The example checks every reply, prints a one-line summary, and exits 0;
//! on any failure it prints why and exits 1. The whole run is under an
//! [`asyncore::timeout`], so it cannot hang.
//!
//! ```text
//! cargo run --example mixed
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::chat::{Chat, ChatChannel, ChatCtx};
use asyncore::{Address, ChannelId, Ctx, Dispatcher, Map, Result, Socket, TcpStream};
use clap::Parser;
use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use futures::stream::StreamExt;

mod support;

/// Async clients of the line server...
const CLIENTS: usize = 20;
/// ...each sending this many lines.
const LINES: usize = 50;
/// Messages alice and bob exchange.
const CHAT_ROUNDS: usize = 5;
/// Lines sent to the upper-case service.
const SHOUTS: usize = 10;
/// The whole run must finish within this.
const LIMIT: Duration = Duration::from_secs(10);

/// A failure, explained.
type Checked<T> = std::result::Result<T, String>;

/// Both faces of asyncore in one map, on one thread: a callback-style line
/// and chat server, async clients of it, an async-driven chat exchange and a
/// callback listener handing its sockets to async tasks.
///
/// Checks every reply, prints a one-line summary and exits 0; on any failure
/// it prints why and exits 1. It takes no arguments. Set RUST_LOG (e.g.
/// RUST_LOG=asyncore=debug) to see the library's events on stderr.
#[derive(Debug, Parser)]
#[command(name = "mixed")]
struct Args {}

fn main() -> ExitCode {
    support::init_logging();
    Args::parse();
    let start = Instant::now();
    match run() {
        Ok(summary) => {
            println!("{summary} in {:.0?}", start.elapsed());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("mixed: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up the callback servers, then runs the async side to completion.
fn run() -> Checked<String> {
    let map = Map::new().map_err(|e| format!("cannot create the loop: {e}"))?;
    let listen = |server: &str| {
        let socket = Socket::tcp_listen("127.0.0.1:0")
            .map_err(|e| format!("cannot listen for the {server}: {e}"))?;
        let addr = socket.local_addr().ok().and_then(|a| a.as_inet());
        let addr = addr.ok_or(format!("the {server} has no address"))?;
        Checked::Ok((socket, addr))
    };
    let (lines, lines_addr) = listen("line server")?;
    let (handoff, handoff_addr) = listen("hand-off listener")?;
    let room = Rc::new(RefCell::new(Room::default()));
    map.add(lines, LineListener { room: room.clone() })
        .and_then(|_| map.add(handoff, HandOff))
        .map_err(|e| format!("cannot watch a listener: {e}"))?;

    let outcome = map.block_on(asyncore::timeout(LIMIT, exercise(lines_addr, handoff_addr)));
    match outcome {
        Err(e) => Err(format!("the loop failed: {e}")),
        Ok(Err(e)) => Err(format!("the clients did not finish: {e}")),
        Ok(Ok(summary)) => summary,
    }
}

// ---------------------------------------------------------------------------
// Callback side: the line server and the hand-off listener
// ---------------------------------------------------------------------------

/// The chat room: members by channel.
#[derive(Default)]
struct Room {
    members: BTreeMap<ChannelId, String>,
}

/// Sends `line` to every member but `except`.
fn broadcast(map: &Map, room: &RefCell<Room>, except: ChannelId, line: &str) {
    let targets: Vec<ChannelId> = room.borrow().members.keys().copied().collect();
    for id in targets.into_iter().filter(|&id| id != except) {
        // A member on its way out: its handle_close announces it.
        let _ = map.push(id, format!("{line}\n").as_bytes());
    }
}

/// Accepts line-server connections as chat channels.
struct LineListener {
    room: Rc<RefCell<Room>>,
}

impl Dispatcher for LineListener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        let line = Line {
            room: self.room.clone(),
            line: Vec::new(),
        };
        cx.add(socket, ChatChannel::new(line).with_terminator("\n"))?;
        Ok(())
    }
}

/// One connection of the line server.
struct Line {
    room: Rc<RefCell<Room>>,
    /// The line being received.
    line: Vec<u8>,
}

impl Line {
    /// Answers one complete line.
    fn answer(&mut self, cx: &mut ChatCtx<'_, '_>, line: &str) -> Result<()> {
        let map = cx.ctx().map();
        let me = cx.id();
        let name = self.room.borrow().members.get(&me).cloned();
        if let Some(wanted) = line.strip_prefix("/join ") {
            let taken = self.room.borrow().members.values().any(|n| n == wanted);
            if name.is_some() || taken {
                return cx.push(b"error: already in the room, or the name is taken\n");
            }
            self.room.borrow_mut().members.insert(me, wanted.to_owned());
            cx.push(format!("* welcome {wanted}\n").as_bytes())?;
            broadcast(map, &self.room, me, &format!("* {wanted} joined"));
            Ok(())
        } else if let Some(text) = line.strip_prefix("/say ") {
            match name {
                Some(name) => broadcast(map, &self.room, me, &format!("<{name}> {text}")),
                None => cx.push(b"error: /join first\n")?,
            }
            Ok(())
        } else {
            cx.push(format!("echo: {line}\n").as_bytes())
        }
    }
}

impl Chat for Line {
    fn collect_incoming_data(&mut self, _cx: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
        self.line.extend_from_slice(data);
        Ok(())
    }

    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        self.answer(cx, line.trim_end_matches('\r'))
    }

    // The default `handle_end_of_stream` closes once the replies are sent.
    fn handle_close(&mut self, cx: &mut ChatCtx<'_, '_>) {
        let left = self.room.borrow_mut().members.remove(&cx.id());
        if let Some(name) = left {
            broadcast(
                cx.ctx().map(),
                &self.room,
                cx.id(),
                &format!("* {name} left"),
            );
        }
    }
}

/// A callback listener that serves each connection with an async task.
struct HandOff;

impl Dispatcher for HandOff {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        let stream = TcpStream::from_socket(cx.map(), socket)?;
        drop(cx.map().spawn(async move {
            if let Err(e) = shout(stream).await {
                eprintln!("mixed: the upper-case service failed: {e}");
            }
        }));
        Ok(())
    }
}

/// The async service behind [`HandOff`]: each line back in upper case.
async fn shout(stream: TcpStream) -> std::io::Result<()> {
    let mut lines = BufReader::new(&stream).lines();
    let mut writer = &stream;
    while let Some(line) = lines.next().await {
        writer
            .write_all(format!("{}\n", line?.to_uppercase()).as_bytes())
            .await?;
    }
    writer.close().await
}

// ---------------------------------------------------------------------------
// Async side: clients and the chat exchange
// ---------------------------------------------------------------------------

/// Runs every client at once and checks them all.
async fn exercise(lines: SocketAddr, handoff: SocketAddr) -> Checked<String> {
    let spawn_err = |e| format!("cannot spawn: {e}");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| asyncore::spawn(echo_client(lines, i)))
        .collect::<std::io::Result<_>>()
        .map_err(spawn_err)?;
    let chat = asyncore::spawn(chat_exchange(lines)).map_err(spawn_err)?;
    let shouts = asyncore::spawn(shout_client(handoff)).map_err(spawn_err)?;

    let mut echoes = 0;
    for client in clients {
        echoes += client.await.map_err(|e| format!("an echo client: {e}"))??;
    }
    let messages = chat.await.map_err(|e| format!("the chat: {e}"))??;
    let shouted = shouts.await.map_err(|e| format!("the shouter: {e}"))??;
    Ok(format!(
        "mixed: ok: {echoes} echoes to {CLIENTS} async clients, {messages} chat messages \
         between alice and bob, {shouted} replies from a handed-off async task"
    ))
}

/// Replies read line by line.
type Replies<'a> = Lines<BufReader<&'a TcpStream>>;

/// Connects to `addr`, with a message naming the failure.
async fn connect(addr: SocketAddr, who: &str) -> Checked<TcpStream> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{who}: cannot connect to {addr}: {e}"))
}

/// Sends `line` and a newline.
async fn send(mut stream: &TcpStream, who: &str, line: &str) -> Checked<()> {
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| format!("{who}: cannot send {line:?}: {e}"))
}

/// Reads one reply and checks it is `expected`.
async fn expect(replies: &mut Replies<'_>, who: &str, expected: &str) -> Checked<()> {
    match replies.next().await {
        Some(Ok(line)) if line == expected => Ok(()),
        Some(Ok(line)) => Err(format!("{who}: expected {expected:?}, got {line:?}")),
        Some(Err(e)) => Err(format!("{who}: reading {expected:?} failed: {e}")),
        None => Err(format!("{who}: the connection ended before {expected:?}")),
    }
}

/// Checks the server closed after our half-close, with nothing more to say.
async fn expect_end(replies: &mut Replies<'_>, who: &str) -> Checked<()> {
    match replies.next().await {
        None => Ok(()),
        Some(other) => Err(format!("{who}: expected the end, got {other:?}")),
    }
}

/// Sends all its lines at once, then checks every echo; returns how many.
async fn echo_client(addr: SocketAddr, i: usize) -> Checked<usize> {
    let who = format!("client {i}");
    let stream = connect(addr, &who).await?;
    let all: String = (0..LINES)
        .map(|n| format!("client {i} line {n}\n"))
        .collect();
    let mut writer = &stream;
    writer
        .write_all(all.as_bytes())
        .await
        .map_err(|e| format!("{who}: cannot send: {e}"))?;
    let mut replies = BufReader::new(&stream).lines();
    for n in 0..LINES {
        expect(&mut replies, &who, &format!("echo: client {i} line {n}")).await?;
    }
    let _ = writer.close().await;
    expect_end(&mut replies, &who).await?;
    Ok(LINES)
}

/// alice and bob join the room and talk; returns the messages exchanged.
async fn chat_exchange(addr: SocketAddr) -> Checked<usize> {
    let (alice, bob) = (connect(addr, "alice").await?, connect(addr, "bob").await?);
    let (mut at_alice, mut at_bob) = (BufReader::new(&alice).lines(), BufReader::new(&bob).lines());
    send(&alice, "alice", "/join alice").await?;
    expect(&mut at_alice, "alice", "* welcome alice").await?;
    send(&bob, "bob", "/join bob").await?;
    expect(&mut at_bob, "bob", "* welcome bob").await?;
    expect(&mut at_alice, "alice", "* bob joined").await?;
    let mut messages = 0;
    for round in 0..CHAT_ROUNDS {
        send(&alice, "alice", &format!("/say ping {round}")).await?;
        expect(&mut at_bob, "bob", &format!("<alice> ping {round}")).await?;
        send(&bob, "bob", &format!("/say pong {round}")).await?;
        expect(&mut at_alice, "alice", &format!("<bob> pong {round}")).await?;
        messages += 2;
    }
    // bob hangs up; the server's handle_close tells alice.
    drop(at_bob);
    drop(bob);
    expect(&mut at_alice, "alice", "* bob left").await?;
    Ok(messages)
}

/// Talks to the handed-off async service; returns the replies checked.
async fn shout_client(addr: SocketAddr) -> Checked<usize> {
    let who = "shouter";
    let stream = connect(addr, who).await?;
    let mut replies = BufReader::new(&stream).lines();
    for n in 0..SHOUTS {
        send(&stream, who, &format!("quiet line {n}")).await?;
        expect(&mut replies, who, &format!("QUIET LINE {n}")).await?;
    }
    let _ = (&stream).close().await;
    expect_end(&mut replies, who).await?;
    Ok(SHOUTS)
}
