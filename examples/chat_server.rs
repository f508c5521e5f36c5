//! A line-based chat server on the asynchat layer: every line a client sends
//! goes to all the other clients, prefixed with the sender's number. It
//! shows [`ChatChannel`] with a `"\n"` terminator and a record limit, state
//! shared between channels (`Rc<RefCell<Room>>`), and reaching other
//! channels through the map ([`Map::push`], [`Map::pending_output`],
//! [`Map::close`]).
//!
//! Run it and talk to it from two or more terminals:
//!
//! ```text
//! cargo run --example chat_server -- --addr 127.0.0.1:7001
//! nc 127.0.0.1 7001
//! ```
//!
//! What a client sees (lines end in `\r\n`; a client may end its own lines
//! in `\n` or `\r\n`):
//!
//! ```text
//! * welcome #3; here: #1 #2          (on connecting; others get "* #3 joined from ADDR")
//! [#1] hello                         (a line #1 sent; the sender gets no copy)
//! * #2 left                          (a client went away)
//! ```
//!
//! Lines starting with `/` are commands: `/who` lists the members, `/quit`
//! says goodbye and closes. Empty lines are ignored.
//!
//! Two limits keep one client from hurting the others:
//!
//! * **Line length.** A line longer than `--max-line` bytes (default 1024,
//!   not counting the line end) gets `error: line too long (at least N
//!   bytes, limit M)` back, and the connection closes once that message is
//!   sent. The channel's maximum record length stops buffering at the
//!   limit, so an endless line costs no memory.
//! * **Slow readers are dropped.** A broadcast is pushed to every member's
//!   output queue; a client that does not read lets its queue grow. When a
//!   member's unsent output would pass 256 KiB (on top of what the kernel
//!   buffers, typically several hundred KiB more), the member is closed and
//!   the others get `* #N dropped: not reading`. The alternative, skipping
//!   messages for it, would leave that client with a silently incomplete
//!   conversation, and one that is this far behind is usually gone; IRC
//!   servers do the same ("Max SendQ exceeded"). Pausing the senders
//!   instead would let one stalled client stall the whole room. Either way
//!   the server's memory is bounded by members × 256 KiB, and pushing to a
//!   stalled member costs a copy into its queue, no system call.
//!
//! Options: `--addr HOST:PORT` (default `127.0.0.1:7001`; port 0 picks a free
//! port), `--max-line N`, and `--max-passes N` to return after `N` passes of
//! the loop. The first line on stdout is `chat_server: listening on ADDR`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;
use std::rc::Rc;

use asyncore::chat::{Chat, ChatChannel, ChatCtx};
use asyncore::signal::{SIGINT, SIGTERM};
use asyncore::{Address, ChannelId, Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket};
use clap::Parser;
use clap::builder::RangedU64ValueParser;

mod support;

/// A member whose unsent output would pass this is dropped.
const MAX_PENDING: usize = 256 * 1024;

/// Who is in the chat; shared by the listener and every client channel.
struct Room {
    /// The members, by channel. A channel leaves the room before it closes
    /// (or in its `handle_close`), so a broadcast never targets a channel
    /// that is gone.
    members: BTreeMap<ChannelId, Member>,
    /// The number the next member gets.
    next_number: u64,
    /// The longest line a client may send, in bytes, without its line end.
    max_line: usize,
}

/// One member of the room.
struct Member {
    /// How the others see it: `#N`.
    name: String,
}

type Shared = Rc<RefCell<Room>>;

/// Sends `text` to every member except `except`. Members that are too far
/// behind are closed instead, and the others are told; that notice is a
/// broadcast of its own, so it is queued on a work list rather than sent
/// recursively.
fn broadcast(map: &Map, room: &Shared, except: Option<ChannelId>, text: Vec<u8>) {
    let mut work = vec![(except, text)];
    while let Some((except, text)) = work.pop() {
        let targets: Vec<ChannelId> = room
            .borrow()
            .members
            .keys()
            .copied()
            .filter(|&id| Some(id) != except)
            .collect();
        for id in targets {
            let pending = map.pending_output(id);
            if pending + text.len() > MAX_PENDING {
                // Leave the room first: its handle_close then stays quiet.
                let left = room.borrow_mut().members.remove(&id);
                if let Some(member) = left {
                    map.close(id);
                    let notice = format!(
                        "* {} dropped: not reading ({} KiB unsent)\r\n",
                        member.name,
                        pending / 1024
                    );
                    work.push((None, notice.into_bytes()));
                }
                continue;
            }
            // Closed or closing (it is leaving), or a write that failed
            // because the peer went away (the loop closes the channel and
            // its handle_close tells the room): nothing to do here.
            let _ = map.push(id, &text);
        }
    }
}

/// Removes `id` from the room and tells the others why, if it was there.
fn leave(map: &Map, room: &Shared, id: ChannelId, why: &str) {
    let left = room.borrow_mut().members.remove(&id);
    if let Some(member) = left {
        let notice = format!("* {} {why}\r\n", member.name);
        broadcast(map, room, Some(id), notice.into_bytes());
    }
}

/// The listening channel: adds each connection to the room.
struct Listener {
    room: Shared,
}

impl Listener {
    fn join(&self, cx: &mut Ctx<'_>, socket: Socket, peer: &Address) -> Result<()> {
        let max_line = self.room.borrow().max_line;
        let channel = ChatChannel::new(Client {
            room: self.room.clone(),
            line: Vec::new(),
        })
        .with_terminator("\n")
        // One more byte than the limit for a `\r` before the `\n`;
        // `found_terminator` checks the line without it.
        .with_max_record_len(Some(max_line.saturating_add(1)));
        let id = cx.add(socket, channel)?;
        let (name, others) = {
            let mut room = self.room.borrow_mut();
            let others: Vec<String> = room.members.values().map(|m| m.name.clone()).collect();
            let name = format!("#{}", room.next_number);
            room.next_number += 1;
            room.members.insert(id, Member { name: name.clone() });
            (name, others)
        };
        let map = cx.map();
        let welcome = if others.is_empty() {
            format!("* welcome {name}; nobody else is here\r\n")
        } else {
            format!("* welcome {name}; here: {}\r\n", others.join(" "))
        };
        map.push(id, welcome.as_bytes())?;
        let notice = format!("* {name} joined from {peer}\r\n");
        broadcast(map, &self.room, Some(id), notice.into_bytes());
        Ok(())
    }
}

impl Dispatcher for Listener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, peer: Address) -> Result<()> {
        // Chat lines are small writes that should leave at once.
        let _ = socket.set_nodelay(true);
        // An error here is about this one connection; returning it would
        // reach `handle_error` and close the listener.
        if let Err(e) = self.join(cx, socket, &peer) {
            eprintln!("chat_server: dropping the connection from {peer}: {e}");
        }
        Ok(())
    }

    fn handle_accept_error(&mut self, _cx: &mut Ctx<'_>, error: io::Error) -> Result<()> {
        // The loop has already paused the listener; it resumes by itself.
        eprintln!("chat_server: accept failed ({error}); pausing accepts for a moment");
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Ctx<'_>) {
        // A graceful shutdown closes the listener on purpose.
        if cx.map().is_shutting_down() {
            return;
        }
        eprintln!("chat_server: the listener closed; stopping");
        cx.map().stop();
    }
}

/// One client connection.
struct Client {
    /// The room it is in.
    room: Shared,
    /// The line being received (at most `max_line + 1` bytes: the channel's
    /// record limit stops it there).
    line: Vec<u8>,
}

impl Client {
    /// Handles one complete line (without its `\n`).
    fn line(&mut self, cx: &mut ChatCtx<'_, '_>, mut line: Vec<u8>) -> Result<()> {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let (max_line, name) = {
            let room = self.room.borrow();
            let name = room.members.get(&cx.id()).map(|m| m.name.clone());
            (room.max_line, name)
        };
        // Not in the room any more: dropped, and closing.
        let Some(name) = name else { return Ok(()) };
        if line.len() > max_line {
            return self.too_long(cx, line.len(), max_line);
        }
        match line.as_slice() {
            b"" => Ok(()),
            b"/who" => {
                let names: Vec<String> = {
                    let room = self.room.borrow();
                    room.members.values().map(|m| m.name.clone()).collect()
                };
                let reply = format!("* here: {} (you are {name})\r\n", names.join(" "));
                cx.push(reply.as_bytes())
            }
            b"/quit" => {
                let map = cx.ctx().map();
                leave(map, &self.room, cx.id(), "left");
                cx.push(b"* bye\r\n")?;
                cx.close_when_done()
            }
            [b'/', ..] => cx.push(b"* unknown command; try /who or /quit\r\n"),
            text => {
                let mut message = Vec::with_capacity(name.len() + text.len() + 5);
                message.push(b'[');
                message.extend_from_slice(name.as_bytes());
                message.extend_from_slice(b"] ");
                message.extend_from_slice(text);
                message.extend_from_slice(b"\r\n");
                let map = cx.ctx().map();
                broadcast(map, &self.room, Some(cx.id()), message);
                Ok(())
            }
        }
    }

    /// Tells the client its line was too long, and closes once that is
    /// sent.
    fn too_long(&mut self, cx: &mut ChatCtx<'_, '_>, length: usize, limit: usize) -> Result<()> {
        let map = cx.ctx().map();
        leave(map, &self.room, cx.id(), "left: line too long");
        let reply = format!("error: line too long (at least {length} bytes, limit {limit})\r\n");
        cx.push(reply.as_bytes())?;
        cx.close_when_done()
    }
}

impl Chat for Client {
    fn collect_incoming_data(&mut self, _cx: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
        self.line.extend_from_slice(data);
        Ok(())
    }

    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        self.line(cx, line)
    }

    fn handle_end_of_stream(&mut self, cx: &mut ChatCtx<'_, '_>, remainder: &[u8]) -> Result<()> {
        // A last line without its line end still counts.
        let mut line = std::mem::take(&mut self.line);
        line.extend_from_slice(remainder);
        if !line.is_empty() {
            self.line(cx, line)?;
        }
        let map = cx.ctx().map();
        leave(map, &self.room, cx.id(), "left");
        cx.close_when_done()
    }

    fn handle_shutdown(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        // Every user hears why the room closes, then the connection ends
        // once that line (and what was queued before it) is sent.
        cx.push(b"* the server is shutting down\r\n")?;
        cx.close_when_done()
    }

    fn handle_close(&mut self, cx: &mut ChatCtx<'_, '_>) {
        let map = cx.ctx().map();
        leave(map, &self.room, cx.id(), "left");
    }

    fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, error: Error) {
        if let Error::RecordTooLong { length, .. } = error {
            // The limit includes one byte for a `\r`; report the line limit.
            let limit = self.room.borrow().max_line;
            if self.too_long(cx, length, limit).is_ok() {
                return;
            }
        } else {
            eprintln!("chat_server: closing connection {}: {error}", cx.id());
        }
        cx.close();
    }
}

/// A line-based multi-user chat server on asyncore's ChatChannel.
///
/// Every line a client sends goes to all the other clients, prefixed with
/// the sender's number; /who lists the members, /quit leaves. Talk to it
/// with `nc HOST PORT` from two terminals. The first line on stdout is
/// "chat_server: listening on ADDR". Set RUST_LOG (e.g.
/// RUST_LOG=asyncore=debug) to see the library's events on stderr.
#[derive(Debug, Parser)]
#[command(name = "chat_server", args_override_self = true)]
struct Args {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7001")]
    addr: String,
    /// The longest line a client may send, in bytes, not counting the line
    /// end; a longer line gets an error and the connection closes.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1024,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..),
    )]
    max_line: usize,
    /// Return after N passes of the loop (default: serve until stopped).
    #[arg(long, value_name = "N")]
    max_passes: Option<u64>,
}

fn main() -> ExitCode {
    support::init_logging();
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chat_server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> std::result::Result<(), String> {
    let map = Map::new().map_err(|e| format!("cannot create the loop: {e}"))?;
    let listener = Socket::tcp_listen(&args.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let room = Rc::new(RefCell::new(Room {
        members: BTreeMap::new(),
        next_number: 1,
        max_line: args.max_line,
    }));
    map.add(listener, Listener { room })
        .map_err(|e| format!("cannot watch the listener: {e}"))?;
    // SIGTERM or SIGINT: every user gets a closing line, then the server
    // exits 0 (what is still open after 4 s is closed).
    map.on_signals(&[SIGTERM, SIGINT], |map, _| {
        map.shutdown(std::time::Duration::from_secs(4))
    })
    .map_err(|e| format!("cannot watch for signals: {e}"))?;

    {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "chat_server: listening on {local}");
        if let Some(inet) = local.as_inet() {
            let _ = writeln!(
                stdout,
                "chat_server: try it with `nc {} {}` from two terminals",
                inet.ip(),
                inet.port()
            );
        }
        let _ = stdout.flush();
    }

    let mut options = RunOptions::new();
    if let Some(n) = args.max_passes {
        options = options.count(n);
    }
    match map.run(&options) {
        Ok(Exit::Stopped) => Err("stopped: the listener is gone".into()),
        Ok(Exit::Shutdown(summary)) => {
            eprintln!(
                "chat_server: shut down: {} channel(s) closed cleanly, {} forced at the deadline",
                summary.closed, summary.forced
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("the loop failed: {e}")),
    }
}
