//! An echo server on the callback API, built to survive real traffic: it
//! shows a listener handing connections to `Echo` channels, and what the
//! loop does so that a handful of lines hold up under load:
//!
//! * thousands of concurrent clients, each costing a socket and a small
//!   record in the map (one 16 KiB buffer on the stack serves every read;
//!   there is no buffer per connection beyond unsent output);
//! * a client that sends but never reads costs bounded memory: the output
//!   queue's high watermark stops reading from it while 64 KiB of its echo
//!   are unsent, and reading resumes below 16 KiB;
//! * a client that half-closes (shuts down its sending side) still gets
//!   every byte back before the server closes (the default `handle_eof`
//!   closes once the output queue is empty);
//! * clients that reset are closed quietly;
//! * out of file descriptors, the loop pauses accepting with back-off
//!   instead of spinning, tells `handle_accept_error` (a note on stderr),
//!   and accepts again once descriptors are free.
//!
//! Run it and talk to it:
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7000 --style callback
//! nc 127.0.0.1 7000
//! ```
//!
//! Options: `--addr HOST:PORT` (default `127.0.0.1:7000`; port 0 picks a free
//! port), `--style callback` (`async` arrives with the async executor), and
//! `--max-passes N` to return after `N` passes of the loop. The first line
//! on stdout is `echo_server: listening on ADDR (style callback)`.

use std::io::{self, Write};
use std::process::ExitCode;

use asyncore::{
    Address, Ctx, DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK, Dispatcher, Error, Exit, Map,
    Result, RunOptions, Socket,
};

const USAGE: &str =
    "usage: echo_server [--addr HOST:PORT] [--style callback|async] [--max-passes N]";

/// Stop reading a client once this much of its echo is unsent...
const HIGH_WATERMARK: usize = DEFAULT_HIGH_WATERMARK;
/// ...and read again once the queue drains to this.
const LOW_WATERMARK: usize = DEFAULT_LOW_WATERMARK;

/// The listening channel: hands each connection to an [`Echo`].
struct Listener;

impl Dispatcher for Listener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, _peer: Address) -> Result<()> {
        // Echoes are small writes that should leave at once.
        let _ = socket.set_nodelay(true);
        // An error here is about this one connection (which is dropped);
        // returning it would reach `handle_error` and close the listener.
        let added = cx
            .add(socket, Echo)
            .and_then(|id| cx.map().set_write_limits(id, HIGH_WATERMARK, LOW_WATERMARK));
        if let Err(e) = added {
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
        // Only an unexpected listener error gets here; without a listener
        // the server is of no use.
        eprintln!("echo_server: the listener closed; stopping");
        cx.map().stop();
    }
}

/// One client connection: sends back whatever it reads.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        // Sends what the socket takes now and queues the rest; above the
        // high watermark the loop stops polling this channel for input.
        cx.push(&buf[..n])
    }

    // The defaults do the rest: `handle_eof` closes once the echo is sent,
    // a reset closes the channel without a fuss, and other errors are
    // logged and close only this channel.
    fn handle_error(&mut self, cx: &mut Ctx<'_>, error: Error) {
        eprintln!("echo_server: closing connection {}: {error}", cx.id());
        cx.close();
    }
}

/// Parsed command line.
struct Args {
    addr: String,
    max_passes: Option<u64>,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:7000".into(),
        max_passes: None,
    };
    let mut style = String::from("callback");
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value.into())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--addr" => args.addr = value()?,
            "--style" => style = value()?,
            "--max-passes" => {
                let v = value()?;
                let n = v
                    .parse()
                    .map_err(|_| format!("bad --max-passes {v:?}: expected a whole number"))?;
                args.max_passes = Some(n);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    match style.as_str() {
        "callback" => Ok(args),
        "async" => Err(
            "--style async arrives with the async executor (not built yet); use --style callback"
                .into(),
        ),
        other => Err(format!("unknown --style {other:?}; use --style callback")),
    }
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("echo_server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("echo_server: {message}");
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
    map.add(listener, Listener)
        .map_err(|e| format!("cannot watch the listener: {e}"))?;

    {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "echo_server: listening on {local} (style callback)");
        if let Some(inet) = local.as_inet() {
            let _ = writeln!(
                stdout,
                "echo_server: try it with `nc {} {}`",
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
        Ok(_) => Ok(()),
        Err(e) => Err(format!("the loop failed: {e}")),
    }
}
