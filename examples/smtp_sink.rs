//! An SMTP server that accepts every message and stores it as a file, in
//! the spirit of Python's `smtpd` (whose `SMTPChannel` was an `async_chat`).
//! It shows a protocol on [`ChatChannel`] that switches terminators between
//! commands (`"\r\n"`) and message data, enforces limits while it reads,
//! and streams what it receives to disk.
//!
//! Run it and send it a message:
//!
//! ```text
//! cargo run --example smtp_sink -- --addr 127.0.0.1:2525 --maildir /tmp/sink
//! python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", 2525).sendmail(
//!     "me@example.com", ["you@example.com"], "Subject: hi\r\n\r\nhello\r\n")'
//! ls /tmp/sink
//! ```
//!
//! (or `swaks --server 127.0.0.1:2525 --to you@example.com`, or by hand with
//! `nc -C 127.0.0.1 2525`: commands end in CRLF.)
//!
//! With `--tls-cert FILE --tls-key FILE` it offers STARTTLS (RFC 3207):
//!
//! ```text
//! cargo run --example gen_cert -- --out /tmp/tls
//! cargo run --example smtp_sink -- --addr 127.0.0.1:2525 --maildir /tmp/sink \
//!     --tls-cert /tmp/tls/cert.pem --tls-key /tmp/tls/key.pem
//! python3 -c 'import smtplib, ssl; s = smtplib.SMTP("127.0.0.1", 2525)
//! s.starttls(context=ssl.create_default_context(cafile="/tmp/tls/cert.pem"))
//! s.sendmail("me@example.com", ["you@example.com"], "Subject: hi\r\n\r\nhello\r\n")'
//! ```
//!
//! Each accepted message becomes one file in the mail directory, named
//! `<unix-nanos>-<pid>-<counter>.eml`. It is written under a temporary name
//! (`.<name>.tmp`, in the same directory) and renamed when complete, so a
//! reader never sees half a message. The file holds the envelope as three
//! header lines, `X-Peer: IP:PORT`, `X-MailFrom: ADDR` (`<>` for the null
//! sender) and `X-RcptTo: ADDR, ADDR`, then the message as received, CRLF line
//! ends and all, with the SMTP dot-stuffing undone. The file is not
//! `fsync`ed: this is a sink for tests and development, not a mail store.
//!
//! The dialogue follows `smtpd`'s replies: `220` greeting; `HELO`/`EHLO`
//! (once per session; `EHLO` lists `SIZE`, `8BITMIME` and `HELP`); `MAIL
//! FROM:<addr> [SIZE=n] [BODY=7BIT|8BITMIME]`, `RCPT TO:<addr>` (up to 100),
//! `DATA`, `RSET`, `NOOP`, `VRFY`, `HELP`, `QUIT`; `MAIL`, `RCPT` and `DATA`
//! need `HELO`/`EHLO` first (`503`). Unknown commands get `500`, bad
//! arguments `501`, command lines over 512 bytes (538 for `MAIL` after
//! `EHLO`) `500 Error: line too long`, a `SIZE` over the limit `552`.
//!
//! STARTTLS. Only with `--tls-cert` and `--tls-key` (otherwise `STARTTLS`
//! is an unknown command, `500`). `EHLO` then lists `STARTTLS` too, and
//! `STARTTLS` after `HELO`/`EHLO` (`503` before, `501` with arguments)
//! replies `220 Ready to start TLS` in plaintext and starts the TLS
//! handshake on the same connection ([`ChatCtx::start_tls_server`]). As
//! RFC 3207 asks, the session starts over once TLS is on: the client must
//! `EHLO` again, any earlier `HELO`/`EHLO`, `MAIL` and `RCPT` are
//! forgotten, `EHLO` no longer lists `STARTTLS`, and a second `STARTTLS`
//! gets `503`. Messages are stored the same way over TLS as in plaintext,
//! byte for byte. Commands that a client pipelines after `STARTTLS` in
//! plaintext (the injection of CVE-2011-0411) are never read: the channel
//! drops them and reports
//! [`TlsError::PlaintextAfterStartTls`](asyncore::tls::TlsError::PlaintextAfterStartTls),
//! and the session is closed. A failed handshake closes the session too;
//! the server goes on.
//!
//! Limits while reading. The channel has no record limit of its own: the
//! session counts bytes as they arrive and stops keeping them past the
//! limit, as `smtpd` did, then answers at the line or message end. A
//! command line longer than the limit keeps only its first bytes; a message
//! over `--max-size` stops being written (its file is removed at once) and
//! gets `552 Error: Too much mail data` after its final dot, with the
//! session still usable. So every session costs a few hundred bytes plus a
//! file buffer, however much a client sends; and a client that sends but
//! never reads its replies is paused by the output queue's watermark.
//!
//! The end of the data. After `DATA` the message ends with a line holding a
//! single `.`, i.e. CRLF `.` CRLF. `smtpd` switched its terminator to
//! `"\r\n.\r\n"`, but the CRLF that ends the `DATA` command line has already
//! been consumed as the command's terminator, so an empty message (`.`
//! right after `354`) never matched and the session hung. This server
//! switches to `".\r\n"` and takes a match as the end only at the start of a
//! line (the data so far is empty or ends in CRLF); any other match is just
//! data (`"end.\r\n"`). The CRLF before the final dot belongs to the last
//! line of the message and is kept (`smtpd` dropped it). Only CRLF `.` CRLF
//! ends a message: a bare LF before or after the dot is data, so a message
//! cannot smuggle a second one past another server's idea of its end.
//!
//! Options: `--addr HOST:PORT` (default `127.0.0.1:2525`; port 0 picks a
//! free port), `--maildir DIR` (required; created if missing), `--max-size
//! BYTES` (default 10 MiB), `--hostname NAME` (for the greeting; default
//! the system's host name), `--tls-cert FILE` and `--tls-key FILE` (PEM,
//! both or neither) to offer STARTTLS, `--max-passes N` to return after `N`
//! passes of the loop. The first line on stdout is `smtp_sink: listening on
//! ADDR`, with ` (tls)` at the end when STARTTLS is offered.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use asyncore::chat::{Chat, ChatChannel, ChatCtx};
use asyncore::tls::TlsAcceptor;
use asyncore::{Address, Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket};
use clap::Parser;
use clap::builder::RangedU64ValueParser;

mod support;

/// The longest command line, without its CRLF (`smtpd`'s
/// `command_size_limit`).
const COMMAND_LIMIT: usize = 512;
/// What `MAIL` may add after `EHLO`, for ` SIZE=nnn...` (as in `smtpd`).
const SIZE_PARAM_ALLOWANCE: usize = 26;
/// The most recipients one message may have (RFC 5321 asks for at least
/// 100).
const MAX_RECIPIENTS: usize = 100;

const HELP_TEXT: &str = "Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY";
/// [`HELP_TEXT`] when STARTTLS is offered.
const HELP_TEXT_TLS: &str =
    "Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS";

/// Settings shared by every session.
struct Config {
    /// Where messages are stored.
    maildir: PathBuf,
    /// The largest message accepted, in bytes as transmitted.
    max_size: usize,
    /// The name in the greeting and the `HELO`/`EHLO` reply.
    hostname: String,
    /// Messages stored so far, for unique file names.
    stored: Cell<u64>,
    /// The TLS configuration, when STARTTLS is offered.
    tls: Option<TlsAcceptor>,
}

impl Config {
    /// A new unique file name: `<unix-nanos>-<pid>-<counter>.eml`.
    fn next_name(&self) -> String {
        let n = self.stored.get();
        self.stored.set(n + 1);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{nanos}-{}-{n}.eml", std::process::id())
    }
}

/// The listening channel: starts a [`Session`] per connection.
struct Listener {
    config: Rc<Config>,
}

impl Dispatcher for Listener {
    fn handle_accepted(&mut self, cx: &mut Ctx<'_>, socket: Socket, peer: Address) -> Result<()> {
        let _ = socket.set_nodelay(true);
        let session = Session::new(self.config.clone(), peer.to_string());
        let channel = ChatChannel::new(session)
            .with_terminator("\r\n")
            // The session counts and drops bytes past its own limits.
            .with_max_record_len(None);
        let greeting = format!("220 {} smtp_sink ready\r\n", self.config.hostname);
        // An error here is about this one connection; returning it would
        // reach `handle_error` and close the listener.
        let added = cx
            .add(socket, channel)
            .and_then(|id| cx.map().push(id, greeting.as_bytes()));
        if let Err(e) = added {
            eprintln!("smtp_sink: dropping the connection from {peer}: {e}");
        }
        Ok(())
    }

    fn handle_accept_error(&mut self, _cx: &mut Ctx<'_>, error: io::Error) -> Result<()> {
        eprintln!("smtp_sink: accept failed ({error}); pausing accepts for a moment");
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Ctx<'_>) {
        eprintln!("smtp_sink: the listener closed; stopping");
        cx.map().stop();
    }
}

/// One SMTP session (Python's `SMTPChannel`).
struct Session {
    config: Rc<Config>,
    /// The client's address, for `X-Peer`.
    peer: String,
    /// The command line being received, cut at the longest allowed length.
    line: Vec<u8>,
    /// Bytes of the command line received so far, kept or not.
    line_len: usize,
    /// `HELO` or `EHLO` was accepted.
    greeted: bool,
    /// It was `EHLO`: parameters are allowed and `MAIL` may be longer.
    extended: bool,
    /// The sender of the current transaction (`Some("")` is `<>`).
    mail_from: Option<String>,
    /// The recipients of the current transaction.
    rcpt_to: Vec<String>,
    /// The message being received, between `354` and the final dot.
    data: Option<Incoming>,
    /// `STARTTLS` succeeded: the session runs over TLS.
    tls_active: bool,
}

impl Session {
    fn new(config: Rc<Config>, peer: String) -> Session {
        Session {
            config,
            peer,
            line: Vec::new(),
            line_len: 0,
            greeted: false,
            extended: false,
            mail_from: None,
            rcpt_to: Vec::new(),
            data: None,
            tls_active: false,
        }
    }

    /// The longest command line currently allowed (for any command).
    fn max_line(&self) -> usize {
        if self.extended {
            COMMAND_LIMIT + SIZE_PARAM_ALLOWANCE
        } else {
            COMMAND_LIMIT
        }
    }

    /// Forgets the current transaction (`RSET`, and after each message).
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
        self.data = None;
    }

    /// Handles one complete command line.
    fn command(&mut self, cx: &mut ChatCtx<'_, '_>, line: &[u8], len: usize) -> Result<()> {
        if line.is_empty() {
            return reply(cx, "500 Error: bad syntax");
        }
        let line = String::from_utf8_lossy(line);
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        let limit = if self.extended && verb == "MAIL" {
            COMMAND_LIMIT + SIZE_PARAM_ALLOWANCE
        } else {
            COMMAND_LIMIT
        };
        if len > limit {
            return reply(cx, "500 Error: line too long");
        }
        match verb.as_str() {
            "HELO" | "EHLO" => self.hello(cx, verb == "EHLO", arg),
            "NOOP" if arg.is_empty() => reply(cx, "250 OK"),
            "NOOP" => reply(cx, "501 Syntax: NOOP"),
            "QUIT" => {
                reply(cx, "221 Bye")?;
                cx.close_when_done()
            }
            "RSET" if arg.is_empty() => {
                self.reset();
                reply(cx, "250 OK")
            }
            "RSET" => reply(cx, "501 Syntax: RSET"),
            "MAIL" => self.mail(cx, arg),
            "RCPT" => self.rcpt(cx, arg),
            "DATA" => self.start_data(cx, arg),
            "VRFY" if arg.is_empty() => reply(cx, "501 Syntax: VRFY <address>"),
            "VRFY" => reply(
                cx,
                "252 Cannot VRFY user, but will accept message and attempt delivery",
            ),
            "EXPN" => reply(cx, "502 EXPN not implemented"),
            "HELP" => self.help(cx, arg),
            "STARTTLS" if self.config.tls.is_some() => self.starttls(cx, arg),
            _ => reply(cx, &format!("500 Error: command \"{verb}\" not recognized")),
        }
    }

    fn hello(&mut self, cx: &mut ChatCtx<'_, '_>, extended: bool, arg: &str) -> Result<()> {
        if arg.is_empty() {
            let verb = if extended { "EHLO" } else { "HELO" };
            return reply(cx, &format!("501 Syntax: {verb} hostname"));
        }
        // As smtpd (see bpo-21783); RFC 5321 would treat it as a reset.
        if self.greeted {
            return reply(cx, "503 Duplicate HELO/EHLO");
        }
        self.reset();
        self.greeted = true;
        self.extended = extended;
        let host = &self.config.hostname;
        if extended {
            let size = self.config.max_size;
            // Offered until it is on (RFC 3207, 4.2).
            let starttls = if self.config.tls.is_some() && !self.tls_active {
                "250-STARTTLS\r\n"
            } else {
                ""
            };
            reply(
                cx,
                &format!("250-{host}\r\n250-SIZE {size}\r\n250-8BITMIME\r\n{starttls}250 HELP"),
            )
        } else {
            reply(cx, &format!("250 {host}"))
        }
    }

    /// `STARTTLS` (RFC 3207), when TLS is configured.
    fn starttls(&mut self, cx: &mut ChatCtx<'_, '_>, arg: &str) -> Result<()> {
        if self.tls_active {
            return reply(cx, "503 Error: TLS already active");
        }
        if !arg.is_empty() {
            return reply(cx, "501 Syntax: STARTTLS");
        }
        if !self.greeted {
            return reply(cx, "503 Error: send HELO first");
        }
        let config = self.config.clone();
        let acceptor = config.tls.as_ref().expect("STARTTLS is offered");
        // Pushed before the upgrade, so it goes out in plaintext; what the
        // client sent after the command is dropped by the channel (and
        // reported to `handle_error`, which closes the session).
        reply(cx, "220 Ready to start TLS")?;
        // A failure here reaches `handle_error`, which closes the session.
        cx.start_tls_server(acceptor)?;
        // RFC 3207, 4.2: forget everything the client said before.
        self.tls_active = true;
        self.reset();
        self.greeted = false;
        self.extended = false;
        Ok(())
    }

    fn syntax(&self, what: &str) -> String {
        let extension = if self.extended {
            " [SP <mail-parameters>]"
        } else {
            ""
        };
        format!("501 Syntax: {what} <address>{extension}")
    }

    fn mail(&mut self, cx: &mut ChatCtx<'_, '_>, arg: &str) -> Result<()> {
        if !self.greeted {
            return reply(cx, "503 Error: send HELO first");
        }
        let syntax = self.syntax("MAIL FROM:");
        let Some((address, params)) = strip_keyword("FROM:", arg).and_then(address) else {
            return reply(cx, &syntax);
        };
        if !self.extended && !params.is_empty() {
            return reply(cx, &syntax);
        }
        if self.mail_from.is_some() {
            return reply(cx, "503 Error: nested MAIL command");
        }
        let Some(params) = parameters(params) else {
            return reply(cx, &syntax);
        };
        // Checked in smtpd's order: BODY, then SIZE, then anything else.
        let value = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_deref())
        };
        if let Some(body) = value("BODY") {
            if !matches!(body, Some("7BIT" | "8BITMIME")) {
                return reply(cx, "501 Error: BODY can only be one of 7BIT, 8BITMIME");
            }
        }
        if let Some(size) = value("SIZE") {
            let Some(size) = size.filter(|s| s.bytes().all(|b| b.is_ascii_digit())) else {
                return reply(cx, &syntax);
            };
            // Digits too many for a usize are over the limit too.
            if size
                .parse::<usize>()
                .map_or(true, |n| n > self.config.max_size)
            {
                return reply(
                    cx,
                    "552 Error: message size exceeds fixed maximum message size",
                );
            }
        }
        if params.iter().any(|(key, _)| key != "BODY" && key != "SIZE") {
            return reply(
                cx,
                "555 MAIL FROM parameters not recognized or not implemented",
            );
        }
        self.mail_from = Some(address);
        reply(cx, "250 OK")
    }

    fn rcpt(&mut self, cx: &mut ChatCtx<'_, '_>, arg: &str) -> Result<()> {
        if !self.greeted {
            return reply(cx, "503 Error: send HELO first");
        }
        if self.mail_from.is_none() {
            return reply(cx, "503 Error: need MAIL command");
        }
        let syntax = self.syntax("RCPT TO:");
        let Some((address, params)) = strip_keyword("TO:", arg).and_then(address) else {
            return reply(cx, &syntax);
        };
        // The null path is only a sender.
        if address.is_empty() || (!self.extended && !params.is_empty()) {
            return reply(cx, &syntax);
        }
        match parameters(params) {
            None => return reply(cx, &syntax),
            Some(params) if !params.is_empty() => {
                return reply(
                    cx,
                    "555 RCPT TO parameters not recognized or not implemented",
                );
            }
            Some(_) => {}
        }
        if self.rcpt_to.len() >= MAX_RECIPIENTS {
            return reply(cx, "452 Error: too many recipients");
        }
        self.rcpt_to.push(address);
        reply(cx, "250 OK")
    }

    fn start_data(&mut self, cx: &mut ChatCtx<'_, '_>, arg: &str) -> Result<()> {
        if !self.greeted {
            return reply(cx, "503 Error: send HELO first");
        }
        if self.rcpt_to.is_empty() {
            return reply(cx, "503 Error: need RCPT command");
        }
        if !arg.is_empty() {
            return reply(cx, "501 Syntax: DATA");
        }
        let from = match self.mail_from.as_deref() {
            Some("") | None => "<>",
            Some(from) => from,
        };
        let head = format!(
            "X-Peer: {}\r\nX-MailFrom: {from}\r\nX-RcptTo: {}\r\n",
            self.peer,
            self.rcpt_to.join(", ")
        );
        let file = match TempFile::create(&self.config.maildir, self.config.next_name()) {
            Ok(mut file) => match file.writer.write_all(head.as_bytes()) {
                Ok(()) => file,
                Err(e) => return reply(cx, &format!("451 Error: cannot store the message: {e}")),
            },
            Err(e) => return reply(cx, &format!("451 Error: cannot store the message: {e}")),
        };
        self.data = Some(Incoming {
            size: 0,
            limit: self.config.max_size,
            line_start: true,
            prev_cr: false,
            file: Some(file),
            error: None,
        });
        // Applies to whatever the client already sent after `DATA`.
        cx.set_terminator(".\r\n");
        reply(cx, "354 End data with <CR><LF>.<CR><LF>")
    }

    /// The final dot arrived: store the message, reply, and go back to
    /// commands.
    fn end_data(&mut self, cx: &mut ChatCtx<'_, '_>, incoming: Incoming) -> Result<()> {
        cx.set_terminator("\r\n");
        self.reset();
        let status = if incoming.size > incoming.limit {
            "552 Error: Too much mail data".to_owned()
        } else {
            match incoming.commit() {
                Ok(name) => format!("250 OK: queued as {name}"),
                Err(e) => {
                    eprintln!("smtp_sink: cannot store a message from {}: {e}", self.peer);
                    format!("451 Error: cannot store the message: {e}")
                }
            }
        };
        reply(cx, &status)
    }

    fn help(&mut self, cx: &mut ChatCtx<'_, '_>, arg: &str) -> Result<()> {
        let tls = self.config.tls.is_some();
        let help_text = if tls { HELP_TEXT_TLS } else { HELP_TEXT };
        if arg.is_empty() {
            return reply(cx, &format!("250 {help_text}"));
        }
        let extension = if self.extended {
            " [SP <mail-parameters>]"
        } else {
            ""
        };
        let text = match arg.to_ascii_uppercase().as_str() {
            "EHLO" => "EHLO hostname".to_owned(),
            "HELO" => "HELO hostname".to_owned(),
            "MAIL" => format!("MAIL FROM: <address>{extension}"),
            "RCPT" => format!("RCPT TO: <address>{extension}"),
            "VRFY" => "VRFY <address>".to_owned(),
            verb @ ("DATA" | "RSET" | "NOOP" | "QUIT") => verb.to_owned(),
            "STARTTLS" if tls => "STARTTLS".to_owned(),
            _ => return reply(cx, &format!("501 {help_text}")),
        };
        reply(cx, &format!("250 Syntax: {text}"))
    }
}

impl Chat for Session {
    fn collect_incoming_data(&mut self, _cx: &mut ChatCtx<'_, '_>, data: &[u8]) -> Result<()> {
        if let Some(incoming) = &mut self.data {
            incoming.feed(data);
            return Ok(());
        }
        // Keep one byte more than any command may have, enough to know it
        // was too long.
        let room = (self.max_line() + 1).saturating_sub(self.line.len());
        self.line.extend_from_slice(&data[..data.len().min(room)]);
        self.line_len = self.line_len.saturating_add(data.len());
        Ok(())
    }

    fn found_terminator(&mut self, cx: &mut ChatCtx<'_, '_>) -> Result<()> {
        if let Some(incoming) = &mut self.data {
            if !incoming.line_start {
                // `".\r\n"` in the middle of a line is data.
                incoming.feed(b".\r\n");
                return Ok(());
            }
            let incoming = self.data.take().expect("receiving data");
            return self.end_data(cx, incoming);
        }
        let line = std::mem::take(&mut self.line);
        let len = std::mem::take(&mut self.line_len);
        self.command(cx, &line, len)
    }

    fn handle_close(&mut self, _cx: &mut ChatCtx<'_, '_>) {
        // An unfinished message's temporary file goes away.
        self.data = None;
    }

    fn handle_error(&mut self, cx: &mut ChatCtx<'_, '_>, error: Error) {
        // Also how TLS ends a session: a failed handshake, a client gone
        // without close_notify, or plaintext pipelined after STARTTLS
        // (`TlsError::PlaintextAfterStartTls`: dropped unread, and the
        // session closed rather than trusted).
        eprintln!("smtp_sink: closing the session with {}: {error}", self.peer);
        self.data = None;
        cx.close();
    }
}

/// Sends one reply (or several lines joined by CRLF), adding the final CRLF.
fn reply(cx: &mut ChatCtx<'_, '_>, text: &str) -> Result<()> {
    let mut line = Vec::with_capacity(text.len() + 2);
    line.extend_from_slice(text.as_bytes());
    line.extend_from_slice(b"\r\n");
    cx.push(&line)
}

/// Strips `keyword` (any case) from the start of `arg` and the spaces after
/// it (`smtpd`'s `_strip_command_keyword`).
fn strip_keyword<'a>(keyword: &str, arg: &'a str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| arg[keyword.len()..].trim())
}

/// Splits a path and its parameters: `<addr> PARAMS`, `addr PARAMS` or
/// `"quoted local"@domain PARAMS` (`smtpd`'s `_getaddr`). `<>` gives an
/// empty address. `None` for a missing or malformed address, or one with
/// control characters (which would break the header lines it is stored in).
fn address(arg: &str) -> Option<(String, &str)> {
    let (address, rest) = if let Some(inner) = arg.strip_prefix('<') {
        let end = scan_address(inner, |c| c == '>')?;
        if !inner[end..].starts_with('>') {
            return None;
        }
        (&inner[..end], &inner[end + 1..])
    } else {
        let end = scan_address(arg, char::is_whitespace)?;
        if end == 0 {
            return None;
        }
        (&arg[..end], &arg[end..])
    };
    if address.chars().any(char::is_control) {
        return None;
    }
    Some((address.to_owned(), rest.trim()))
}

/// The index of the first character for which `stop` holds, outside of
/// double quotes (where a backslash escapes the next character). `None` if
/// a quote is left open; the length if `stop` never holds.
fn scan_address(s: &str, stop: impl Fn(char) -> bool) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted {
            match c {
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if c == '"' {
            quoted = true;
        } else if stop(c) {
            return Some(i);
        }
    }
    (!quoted).then_some(s.len())
}

/// Parses ESMTP parameters `KEY[=VALUE] ...`, upper-cased (`smtpd`'s
/// `_getparams`). `None` if one is malformed.
fn parameters(params: &str) -> Option<Vec<(String, Option<String>)>> {
    params
        .to_ascii_uppercase()
        .split_whitespace()
        .map(|param| {
            let (key, value) = match param.split_once('=') {
                Some((_, "")) => return None,
                Some((key, value)) => (key, Some(value.to_owned())),
                None => (param, None),
            };
            let valid = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric());
            valid.then(|| (key.to_owned(), value))
        })
        .collect()
}

/// A message being received: undoes the dot-stuffing, counts, and writes
/// to its temporary file while it is within the limit.
struct Incoming {
    /// Bytes received so far, as transmitted.
    size: usize,
    /// The largest message accepted.
    limit: usize,
    /// The next byte starts a line (true at the start: the `DATA` line's
    /// CRLF came just before).
    line_start: bool,
    /// The last byte was a CR.
    prev_cr: bool,
    /// Where the message goes; dropped (and removed) once it is too large
    /// or a write failed.
    file: Option<TempFile>,
    /// Why writing failed.
    error: Option<io::Error>,
}

impl Incoming {
    /// Takes the next bytes of the message as transmitted.
    fn feed(&mut self, data: &[u8]) {
        self.size = self.size.saturating_add(data.len());
        if self.size > self.limit {
            // Too large: stop writing, free the disk space now, and keep
            // reading (and tracking lines) until the final dot.
            self.file = None;
        }
        // Undo dot-stuffing: a line that starts with a dot loses it.
        let mut start = 0;
        for (i, &b) in data.iter().enumerate() {
            if self.line_start && b == b'.' {
                self.write(&data[start..i]);
                start = i + 1;
                self.line_start = false;
                self.prev_cr = false;
                continue;
            }
            self.line_start = self.prev_cr && b == b'\n';
            self.prev_cr = b == b'\r';
        }
        self.write(&data[start..]);
    }

    fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(file) = &mut self.file {
            if let Err(e) = file.writer.write_all(data) {
                self.error = Some(e);
                self.file = None;
            }
        }
    }

    /// Gives the complete message its final name, which it returns.
    fn commit(mut self) -> io::Result<String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the message file is gone"))?;
        file.commit()
    }
}

/// A file written under a temporary name and renamed when complete;
/// removed if dropped before that.
struct TempFile {
    writer: BufWriter<File>,
    /// The temporary path.
    tmp: PathBuf,
    /// The final name, in the same directory.
    name: String,
    /// Renamed: keep it.
    kept: bool,
}

impl TempFile {
    fn create(dir: &Path, name: String) -> io::Result<TempFile> {
        let tmp = dir.join(format!(".{name}.tmp"));
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        Ok(TempFile {
            writer: BufWriter::with_capacity(64 * 1024, file),
            tmp,
            name,
            kept: false,
        })
    }

    fn commit(mut self) -> io::Result<String> {
        self.writer.flush()?;
        let path = self.tmp.with_file_name(&self.name);
        fs::rename(&self.tmp, &path)?;
        self.kept = true;
        Ok(std::mem::take(&mut self.name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: an unfinished message must not look like mail.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// An SMTP server that accepts every message and stores it as a file, in
/// the spirit of Python's smtpd.
///
/// Each accepted message becomes one file, <unix-nanos>-<pid>-<counter>.eml,
/// in the mail directory, with the envelope as X-Peer, X-MailFrom and
/// X-RcptTo header lines before the message. With --tls-cert and --tls-key
/// it offers STARTTLS. The first line on stdout is "smtp_sink: listening on
/// ADDR", with " (tls)" at the end when STARTTLS is offered. Set RUST_LOG (e.g.
/// RUST_LOG=asyncore=debug) to see the library's events on stderr.
#[derive(Debug, Parser)]
#[command(name = "smtp_sink", args_override_self = true)]
struct Args {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2525")]
    addr: String,
    /// The directory messages are stored in; created if missing.
    #[arg(long, value_name = "DIR")]
    maildir: PathBuf,
    /// The largest message accepted, in bytes as transmitted (10 MiB by
    /// default); a bigger one gets "552 Error: Too much mail data".
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 10 * 1024 * 1024,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..),
    )]
    max_size: usize,
    /// The host name in the greeting and the HELO/EHLO reply (default: the
    /// system's host name).
    #[arg(long, value_name = "NAME", value_parser = parse_hostname)]
    hostname: Option<String>,
    /// Offer STARTTLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); needs
    /// --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Return after N passes of the loop (default: serve until stopped).
    #[arg(long, value_name = "N")]
    max_passes: Option<u64>,
}

/// A `--hostname`: not empty, no spaces or control characters.
fn parse_hostname(value: &str) -> std::result::Result<String, String> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("expected a host name without spaces or control characters".into());
    }
    Ok(value.to_owned())
}

/// The system's host name, or `localhost`.
fn system_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_owned())
}

fn main() -> ExitCode {
    support::init_logging();
    let args = Args::parse();
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("smtp_sink: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> std::result::Result<(), String> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            TlsAcceptor::from_pem_files(cert, key)
                .map_err(|e| format!("cannot set up TLS: {e}"))?,
        ),
        // clap's `requires` makes them come in pairs.
        _ => None,
    };
    fs::create_dir_all(&args.maildir)
        .map_err(|e| format!("cannot create {}: {e}", args.maildir.display()))?;
    let map = Map::new().map_err(|e| format!("cannot create the loop: {e}"))?;
    let listener = Socket::tcp_listen(&args.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let config = Rc::new(Config {
        maildir: args.maildir,
        max_size: args.max_size,
        hostname: args.hostname.unwrap_or_else(system_hostname),
        stored: Cell::new(0),
        tls,
    });
    let suffix = if config.tls.is_some() { " (tls)" } else { "" };
    map.add(listener, Listener { config })
        .map_err(|e| format!("cannot watch the listener: {e}"))?;

    {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "smtp_sink: listening on {local}{suffix}");
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
