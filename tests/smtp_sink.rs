//! End-to-end tests of the `smtp_sink` example: the binary runs as a real
//! process, a small SMTP client written here talks to it over TCP, and the
//! tests read the files it stores. With `--tls-cert` and `--tls-key` it
//! offers STARTTLS, which the tests take up with tokio-rustls (and Python's
//! `smtplib`, where `python3` exists), with certificates made at test time.
//!
//! The example is built on first use with the cargo, profile and target
//! directory of this test. Every server is killed when its guard drops, its
//! mail directory removed, and every socket read has a timeout.
// The example serves STARTTLS, and these tests speak it.
#![cfg(feature = "tls")]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use asyncore::tls::{TlsConnector, rustls};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use util::process::{self, IO_TIMEOUT, Server, assert_bad_command_line, run_to_end, wait_until};

/// The server's `--max-size` in these tests.
const MAX_SIZE: usize = 10_000;

// ---------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------

/// Returns the path of the `smtp_sink` example, building it on first use.
fn binary() -> PathBuf {
    process::example(&["smtp_sink"], "smtp_sink")
}

/// A running `smtp_sink` with its own mail directory; killed, and then the
/// directory removed, on drop.
struct Sink {
    // Fields drop in this order: the server is gone before its directory.
    server: Server,
    maildir: MailDir,
    /// The certificate and key files, with `--tls-cert` and `--tls-key`.
    tls: Option<TlsFiles>,
}

/// A temporary directory, removed with its contents on drop.
struct MailDir(PathBuf);

impl Drop for MailDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty temporary directory path for this test process.
fn temp_dir(what: &str) -> MailDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "asyncore-smtp-sink-{what}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    MailDir(dir)
}

/// A self-signed certificate for `localhost` and `127.0.0.1` (PEM) and
/// its key, written to files for the server.
struct TlsFiles {
    cert_pem: String,
    dir: MailDir,
}

impl TlsFiles {
    fn new() -> TlsFiles {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let dir = temp_dir("tls-");
        std::fs::create_dir_all(&dir.0).unwrap();
        let cert_pem = made.cert.pem();
        std::fs::write(dir.0.join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(dir.0.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        TlsFiles { cert_pem, dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.0.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.0.join("key.pem")
    }

    /// A tokio-rustls connector that trusts the certificate.
    fn connector(&self) -> tokio_rustls::TlsConnector {
        let ours = TlsConnector::from_ca_pem(self.cert_pem.as_bytes()).unwrap();
        tokio_rustls::TlsConnector::from(ours.config().clone())
    }
}

impl Sink {
    fn start() -> Sink {
        Sink::start_with(None)
    }

    /// A sink that offers STARTTLS.
    fn start_tls() -> Sink {
        Sink::start_with(Some(TlsFiles::new()))
    }

    fn start_with(tls: Option<TlsFiles>) -> Sink {
        // Removed on drop even if the server fails to start.
        let maildir = temp_dir("");
        let mut command = Command::new(binary());
        command
            .args(["--addr", "127.0.0.1:0", "--hostname", "sink.test"])
            .args(["--max-size", &MAX_SIZE.to_string()])
            .arg("--maildir")
            .arg(&maildir.0);
        if let Some(files) = &tls {
            command
                .arg("--tls-cert")
                .arg(files.cert())
                .arg("--tls-key")
                .arg(files.key());
        }
        let line_end = if tls.is_some() { " (tls)" } else { "" };
        Sink {
            server: Server::start("smtp_sink", command, line_end),
            maildir,
            tls,
        }
    }

    fn tls(&self) -> &TlsFiles {
        self.tls.as_ref().expect("a sink started with TLS")
    }

    fn stderr(&self) -> String {
        self.server.stderr()
    }

    /// Connects and reads the greeting.
    fn connect(&self) -> Client {
        let stream = self.server.connect();
        let mut client = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        let (code, lines) = client.reply();
        assert_eq!(code, 220, "greeting {lines:?}");
        assert!(lines[0].starts_with("sink.test "), "greeting {lines:?}");
        client
    }

    /// The names of the stored messages, sorted.
    fn messages(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.maildir.0)
            .expect("read the mail directory")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".eml") && !name.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Every file in the mail directory, temporary ones included.
    fn all_files(&self) -> Vec<String> {
        std::fs::read_dir(&self.maildir.0)
            .expect("read the mail directory")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn read_message(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.maildir.0.join(name)).expect("read a stored message")
    }

    fn assert_alive(&mut self) {
        self.server.assert_alive();
    }
}

// ---------------------------------------------------------------------------
// A small SMTP client
// ---------------------------------------------------------------------------

struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Reads one reply, multi-line (`250-...`) or not: its code and the
    /// text of each line.
    #[track_caller]
    fn reply(&mut self) -> (u16, Vec<String>) {
        let mut reply = Reply::default();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("reading a reply (after {:?}): {e}", reply.texts));
            if let Some(done) = reply.line(n, &line) {
                return done;
            }
        }
    }

    /// Sends raw bytes.
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to smtp_sink");
    }

    /// Sends one command line and reads its reply.
    #[track_caller]
    fn command(&mut self, line: &str) -> (u16, Vec<String>) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends a command and checks the reply's code; returns its text.
    #[track_caller]
    fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, texts) = self.command(line);
        assert_eq!(got, code, "{line:?} -> {got} {texts:?}");
        texts.join("\n")
    }

    /// A whole transaction after `HELO`/`EHLO`; returns the final reply.
    #[track_caller]
    fn send_mail(&mut self, from: &str, to: &[&str], body: &[u8]) -> (u16, Vec<String>) {
        self.expect(&format!("MAIL FROM:<{from}>"), 250);
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), 250);
        }
        self.expect("DATA", 354);
        self.send(&dot_stuff(body));
        self.send(b".\r\n");
        self.reply()
    }

    /// Reads until the server closes the connection; returns what came.
    fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).expect("read to EOF");
        rest
    }

    /// Reads until the server closes or resets the connection (within the
    /// read timeout); returns what came.
    #[track_caller]
    fn read_to_end_or_error(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        if let Err(e) = self.reader.read_to_end(&mut rest) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the server did not close the connection: {e}"
            );
        }
        rest
    }
}

/// A reply being read, line by line.
#[derive(Default)]
struct Reply {
    texts: Vec<(u16, String)>,
}

impl Reply {
    /// Takes the next line (`n` bytes read, `0` at the end of the stream);
    /// returns the code and texts once the reply is complete.
    #[track_caller]
    fn line(&mut self, n: usize, line: &str) -> Option<(u16, Vec<String>)> {
        let texts = &mut self.texts;
        assert!(n > 0, "the server closed the connection (after {texts:?})");
        let line = line
            .strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("reply line without CRLF: {line:?}"));
        assert!(line.len() >= 3, "short reply line {line:?}");
        let code: u16 = line[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply line {line:?}"));
        let (more, text) = match line.as_bytes().get(3) {
            Some(b'-') => (true, &line[4..]),
            Some(b' ') => (false, &line[4..]),
            None => (false, ""),
            Some(_) => panic!("bad reply line {line:?}"),
        };
        if let Some(&(first, _)) = texts.first() {
            assert_eq!(code, first, "codes differ within one reply");
        }
        texts.push((code, text.to_owned()));
        (!more).then(|| {
            (
                code,
                std::mem::take(texts).into_iter().map(|(_, t)| t).collect(),
            )
        })
    }
}

// ---------------------------------------------------------------------------
// The same client over TLS, after STARTTLS
// ---------------------------------------------------------------------------

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Runs `f` on a current-thread tokio runtime, within [`IO_TIMEOUT`].
#[track_caller]
fn block_on<T>(f: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(IO_TIMEOUT, f)
            .await
            .expect("the TLS client timed out")
    })
}

/// After `220` to `STARTTLS`: the TLS handshake over the client's own TCP
/// connection, trusting `tls`'s certificate, for server name `localhost`.
/// Must run within a tokio runtime.
async fn handshake(client: Client, tls: &TlsFiles) -> std::io::Result<TlsClient> {
    // Nothing may have come after the 220: the server waits for our hello.
    assert!(
        client.reader.buffer().is_empty(),
        "bytes after the 220: {:?}",
        client.reader.buffer()
    );
    let Client { stream, reader } = client;
    drop(reader);
    stream.set_nonblocking(true)?;
    let tcp = tokio::net::TcpStream::from_std(stream)?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tls.connector().connect(name, tcp).await?;
    Ok(TlsClient {
        io: tokio::io::BufReader::new(stream),
    })
}

/// The SMTP client of [`Client`], over tokio-rustls.
struct TlsClient {
    io: tokio::io::BufReader<TlsStream>,
}

impl TlsClient {
    async fn reply(&mut self) -> (u16, Vec<String>) {
        let mut reply = Reply::default();
        loop {
            let mut line = String::new();
            let n = self.io.read_line(&mut line).await.unwrap_or_else(|e| {
                panic!("reading a reply over TLS (after {:?}): {e}", reply.texts)
            });
            if let Some(done) = reply.line(n, &line) {
                return done;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write over TLS");
        self.io.flush().await.expect("flush over TLS");
    }

    async fn command(&mut self, line: &str) -> (u16, Vec<String>) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, texts) = self.command(line).await;
        assert_eq!(got, code, "over TLS: {line:?} -> {got} {texts:?}");
        texts.join("\n")
    }

    async fn send_mail(&mut self, from: &str, to: &[&str], body: &[u8]) -> (u16, Vec<String>) {
        self.expect(&format!("MAIL FROM:<{from}>"), 250).await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), 250).await;
        }
        self.expect("DATA", 354).await;
        self.send(&dot_stuff(body)).await;
        self.send(b".\r\n").await;
        self.reply().await
    }

    /// Reads until the server ends the session; fails unless it ends with
    /// `close_notify`.
    async fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        self.io
            .read_to_end(&mut rest)
            .await
            .expect("a clean end (close_notify) over TLS");
        rest
    }
}

/// The `EHLO` reply lines of the test sinks, with STARTTLS or not.
fn ehlo_lines(starttls: bool) -> Vec<String> {
    let mut lines = vec![
        "sink.test".to_owned(),
        format!("SIZE {MAX_SIZE}"),
        "8BITMIME".to_owned(),
    ];
    if starttls {
        lines.push("STARTTLS".to_owned());
    }
    lines.push("HELP".to_owned());
    lines
}

/// Is `python3` on PATH?
fn have_python3() -> bool {
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    python.is_ok_and(|s| s.success())
}

/// SMTP transparency: a line starting with `.` gets another one. The body
/// must end with CRLF (or be empty).
fn dot_stuff(body: &[u8]) -> Vec<u8> {
    assert!(body.is_empty() || body.ends_with(b"\r\n"));
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n' && i > 0 && body[i - 1] == b'\r';
    }
    out
}

/// What a stored message must hold: the envelope, then the body.
fn stored(peer: SocketAddr, from: &str, to: &[&str], body: &[u8]) -> Vec<u8> {
    let mut file = format!(
        "X-Peer: {peer}\r\nX-MailFrom: {from}\r\nX-RcptTo: {}\r\n",
        to.join(", ")
    )
    .into_bytes();
    file.extend_from_slice(body);
    file
}

#[track_caller]
fn assert_same(got: &[u8], want: &[u8]) {
    assert!(
        got == want,
        "stored message differs:\n got: {:?}\nwant: {:?}",
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(want)
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn ehlo_lists_the_hostname_first_then_size() {
    let sink = Sink::start();
    let mut client = sink.connect();
    let (code, lines) = client.command("EHLO client.test");
    assert_eq!(code, 250);
    assert_eq!(
        lines,
        [
            "sink.test".to_owned(),
            format!("SIZE {MAX_SIZE}"),
            "8BITMIME".to_owned(),
            "HELP".to_owned()
        ]
    );
    client.expect("HELP", 250);
    client.expect("QUIT", 221);
}

#[test]
fn stores_a_message_with_dot_stuffing_undone() {
    let sink = Sink::start();
    let mut client = sink.connect();
    let peer = client.stream.local_addr().unwrap();
    client.expect("EHLO client.test", 250);
    let body = b"Subject: dots\r\n\
        \r\n\
        .leading dot\r\n\
        ..two dots\r\n\
        .\r\n\
        a line that ends in a dot.\r\n\
        .. .\r\n\
        last\r\n";
    let to = ["rcpt1@example.com", "rcpt2@example.com"];
    let (code, text) = client.send_mail("sender@example.com", &to, body);
    assert_eq!(code, 250, "{text:?}");
    client.expect("QUIT", 221);
    assert!(client.read_to_end().is_empty());

    let names = sink.messages();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(text[0].contains(&names[0]), "{text:?} vs {names:?}");
    let want = stored(peer, "sender@example.com", &to, body);
    assert_same(&sink.read_message(&names[0]), &want);
    assert_eq!(sink.all_files().len(), 1, "a temporary file is left");
}

#[test]
fn two_messages_in_one_session_and_rset_between() {
    let sink = Sink::start();
    let mut client = sink.connect();
    let peer = client.stream.local_addr().unwrap();
    client.expect("HELO client.test", 250);
    let first = b"Subject: one\r\n\r\nfirst\r\n";
    assert_eq!(
        client
            .send_mail("a@example.com", &["b@example.com"], first)
            .0,
        250
    );

    // An abandoned transaction leaves nothing behind.
    client.expect("MAIL FROM:<abandoned@example.com>", 250);
    client.expect("RCPT TO:<nobody@example.com>", 250);
    client.expect("RSET", 250);
    client.expect("RCPT TO:<nobody@example.com>", 503);
    client.expect("DATA", 503);

    let second = b"Subject: two\r\n\r\nsecond\r\n";
    let to = ["c@example.com", "d@example.com"];
    assert_eq!(client.send_mail("b@example.com", &to, second).0, 250);
    client.expect("NOOP", 250);
    client.expect("QUIT", 221);

    let mut files: Vec<Vec<u8>> = sink
        .messages()
        .iter()
        .map(|name| sink.read_message(name))
        .collect();
    assert_eq!(files.len(), 2);
    files.sort_by_key(|f| !f.windows(5).any(|w| w == b"first"));
    assert_same(
        &files[0],
        &stored(peer, "a@example.com", &["b@example.com"], first),
    );
    assert_same(&files[1], &stored(peer, "b@example.com", &to, second));
}

#[test]
fn bad_sequences_get_503_and_unknown_commands_500() {
    let sink = Sink::start();
    let mut client = sink.connect();
    // Before HELO/EHLO: these are fine...
    client.expect("NOOP", 250);
    client.expect("RSET", 250);
    client.expect("VRFY someone@example.com", 252);
    // ...these are not.
    assert_eq!(
        client.expect("MAIL FROM:<a@example.com>", 503),
        "Error: send HELO first"
    );
    client.expect("RCPT TO:<b@example.com>", 503);
    client.expect("DATA", 503);

    client.expect("HELO", 501);
    client.expect("HELO client.test", 250);
    client.expect("EHLO client.test", 503);
    assert_eq!(
        client.expect("RCPT TO:<b@example.com>", 503),
        "Error: need MAIL command"
    );
    client.expect("MAIL FROM:<a@example.com>", 250);
    client.expect("MAIL FROM:<a@example.com>", 503);
    assert_eq!(client.expect("DATA", 503), "Error: need RCPT command");
    client.expect("RCPT TO b@example.com", 501);
    client.expect("RCPT TO:<b@example.com> NOTIFY=NEVER", 501); // HELO: no parameters
    client.expect("RCPT TO:<b@example.com>", 250);
    client.expect("DATA now", 501);

    assert_eq!(
        client.expect("FOO bar", 500),
        "Error: command \"FOO\" not recognized"
    );
    assert_eq!(client.expect("", 500), "Error: bad syntax");
    client.expect("NOOP now", 501);
    client.expect("EXPN list", 502);
    let long = format!("RCPT TO:<{}@example.com>", "x".repeat(600));
    assert_eq!(client.expect(&long, 500), "Error: line too long");
    // A line far over the limit costs nothing and the session goes on.
    let huge = format!("NOOP {}", "y".repeat(200_000));
    assert_eq!(client.expect(&huge, 500), "Error: line too long");
    client.expect("NOOP", 250);
    client.expect("QUIT", 221);
    assert!(client.read_to_end().is_empty());
    assert!(sink.messages().is_empty());
}

#[test]
fn mail_parameters_after_ehlo() {
    let sink = Sink::start();
    let mut client = sink.connect();
    client.expect("EHLO client.test", 250);
    let text = client.expect(
        &format!("MAIL FROM:<a@example.com> SIZE={}", MAX_SIZE + 1),
        552,
    );
    assert_eq!(
        text,
        "Error: message size exceeds fixed maximum message size"
    );
    client.expect(
        "MAIL FROM:<a@example.com> SIZE=99999999999999999999999",
        552,
    );
    client.expect("MAIL FROM:<a@example.com> SIZE=big", 501);
    client.expect("MAIL FROM:<a@example.com> BODY=BINARYMIME", 501);
    client.expect("MAIL FROM:<a@example.com> SMTPUTF8", 555);
    client.expect("MAIL FROM:<a@example.com> size=10 body=8bitmime", 250);
    client.expect("RSET", 250);
    client.expect("MAIL FROM:<>", 250);
    client.expect("RCPT TO:<>", 501);
    client.expect("RCPT TO:<b@example.com> NOTIFY=NEVER", 555);
    client.expect("RCPT TO: <b@example.com>", 250);
    client.expect("QUIT", 221);
}

#[test]
fn a_message_over_the_size_limit_gets_552_and_no_file() {
    let sink = Sink::start();
    let mut client = sink.connect();
    let peer = client.stream.local_addr().unwrap();
    client.expect("EHLO client.test", 250);
    // No SIZE announced: the limit is enforced while receiving.
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n";
    let big: Vec<u8> = line.repeat(MAX_SIZE / line.len() + 50);
    let (code, text) = client.send_mail("a@example.com", &["b@example.com"], &big);
    assert_eq!((code, text[0].as_str()), (552, "Error: Too much mail data"));
    assert!(sink.all_files().is_empty(), "{:?}", sink.all_files());

    // Far over the limit, with a terminator lookalike in the middle of a
    // line: still read to the real end, and the session goes on.
    let mut huge = b"Subject: huge\r\n\r\n".to_vec();
    for _ in 0..2000 {
        huge.extend_from_slice(b"abc.\r\n.def\r\n");
        huge.extend_from_slice(line);
    }
    let (code, _) = client.send_mail("a@example.com", &["b@example.com"], &huge);
    assert_eq!(code, 552);
    // The transaction is over: DATA needs a new MAIL and RCPT.
    client.expect("DATA", 503);

    let small = b"Subject: small\r\n\r\nfits\r\n";
    assert_eq!(
        client
            .send_mail("a@example.com", &["b@example.com"], small)
            .0,
        250
    );
    client.expect("QUIT", 221);
    let names = sink.messages();
    assert_eq!(names.len(), 1);
    assert_same(
        &sink.read_message(&names[0]),
        &stored(peer, "a@example.com", &["b@example.com"], small),
    );
    assert_eq!(sink.all_files().len(), 1);
}

#[test]
fn a_message_of_exactly_the_limit_is_accepted() {
    let sink = Sink::start();
    let mut client = sink.connect();
    client.expect("EHLO client.test", 250);
    let mut body = vec![b'x'; MAX_SIZE - 2];
    body.extend_from_slice(b"\r\n");
    let (code, text) = client.send_mail("a@example.com", &["b@example.com"], &body);
    assert_eq!(code, 250, "{text:?}");
    let mut over = vec![b'x'; MAX_SIZE - 1];
    over.extend_from_slice(b"\r\n");
    let (code, _) = client.send_mail("a@example.com", &["b@example.com"], &over);
    assert_eq!(code, 552);
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn empty_messages_and_pipelined_commands() {
    let sink = Sink::start();
    let mut client = sink.connect();
    let peer = client.stream.local_addr().unwrap();
    client.expect("HELO client.test", 250);
    // The final dot right after 354: the CRLF before it ended the DATA
    // line (Python's smtpd waited forever here).
    assert_eq!(client.send_mail("", &["b@example.com"], b"").0, 250);

    // Everything in one write: the terminator switches apply to bytes that
    // are already buffered.
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    client.send(b"one line\r\n.\r\nNOOP\r\nMAIL FROM:<c@example.com>\r\n");
    for code in [250, 250, 354, 250, 250, 250] {
        assert_eq!(client.reply().0, code);
    }
    client.send(b"RCPT TO:<d@example.com>\r\nDATA\r\n.\r\nQUIT\r\n");
    for code in [250, 354, 250, 221] {
        assert_eq!(client.reply().0, code);
    }
    assert!(client.read_to_end().is_empty());

    let mut files: Vec<Vec<u8>> = sink
        .messages()
        .iter()
        .map(|name| sink.read_message(name))
        .collect();
    files.sort();
    let mut want = vec![
        stored(peer, "<>", &["b@example.com"], b""),
        stored(peer, "a@example.com", &["b@example.com"], b"one line\r\n"),
        stored(peer, "c@example.com", &["d@example.com"], b""),
    ];
    want.sort();
    assert_eq!(files.len(), 3);
    for (got, want) in files.iter().zip(&want) {
        assert_same(got, want);
    }
}

#[test]
fn the_final_dot_may_arrive_in_pieces_and_lookalikes_are_data() {
    let sink = Sink::start();
    let mut client = sink.connect();
    let peer = client.stream.local_addr().unwrap();
    client.expect("HELO client.test", 250);
    client.expect("MAIL FROM:<a@example.com>", 250);
    client.expect("RCPT TO:<b@example.com>", 250);
    client.expect("DATA", 354);
    client.stream.set_nodelay(true).unwrap();
    // Only CRLF . CRLF ends the data: a dot after a bare LF or CR, or in
    // the middle of a line, is data (no smuggling of a second message).
    let body: [&[u8]; 7] = [
        b"bare lf\n.\nstill data\r",
        b"\n",
        b"smuggle\n.\r\n",
        b"MAIL FROM:<evil@example.com>\r\n",
        b"cr\r.\r\n",
        b"x.",
        b"\r\n",
    ];
    let end: [&[u8]; 3] = [b".", b"\r", b"\n"];
    for piece in body.iter().chain(&end) {
        client.send(piece);
        thread::sleep(Duration::from_millis(20));
    }
    let (code, text) = client.reply();
    assert_eq!(code, 250, "{text:?}");
    client.expect("QUIT", 221);
    let names = sink.messages();
    assert_eq!(names.len(), 1);
    assert_same(
        &sink.read_message(&names[0]),
        &stored(peer, "a@example.com", &["b@example.com"], &body.concat()),
    );
}

#[test]
fn quit_replies_221_and_closes() {
    let sink = Sink::start();
    let mut client = sink.connect();
    client.expect("QUIT", 221);
    assert!(client.read_to_end().is_empty());
    // A client that just goes away mid-message leaves no file behind.
    let mut client = sink.connect();
    client.expect("HELO client.test", 250);
    client.expect("MAIL FROM:<a@example.com>", 250);
    client.expect("RCPT TO:<b@example.com>", 250);
    client.expect("DATA", 354);
    client.send(b"Subject: unfinished\r\n\r\nsome text\r\n");
    client.stream.shutdown(Shutdown::Both).unwrap();
    drop(client);
    assert!(
        wait_until(IO_TIMEOUT, || sink.all_files().is_empty()),
        "left behind: {:?}",
        sink.all_files()
    );
    // And the server still serves.
    let mut client = sink.connect();
    client.expect("NOOP", 250);
}

#[test]
fn concurrent_sessions_store_every_message_under_its_own_name() {
    const CLIENTS: usize = 20;
    const EACH: usize = 5;
    let mut sink = Sink::start();
    let sink_ref = &sink;
    thread::scope(|scope| {
        for c in 0..CLIENTS {
            scope.spawn(move || {
                let mut client = sink_ref.connect();
                client.expect("EHLO client.test", 250);
                for m in 0..EACH {
                    let body = format!("Subject: {c}/{m}\r\n\r\nbody {c} {m}\r\n");
                    let to = format!("rcpt{c}@example.com");
                    let (code, text) = client.send_mail("a@example.com", &[&to], body.as_bytes());
                    assert_eq!(code, 250, "{text:?}");
                }
                client.expect("QUIT", 221);
            });
        }
    });
    let names = sink.messages();
    assert_eq!(names.len(), CLIENTS * EACH);
    for c in 0..CLIENTS {
        for m in 0..EACH {
            let subject = format!("Subject: {c}/{m}\r\n");
            let found = names
                .iter()
                .filter(|name| {
                    let file = sink.read_message(name);
                    file.windows(subject.len()).any(|w| w == subject.as_bytes())
                })
                .count();
            assert_eq!(found, 1, "message {c}/{m}");
        }
    }
    sink.assert_alive();
}

#[test]
fn python_smtplib_can_send_a_message() {
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !python.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no python3");
        return;
    }
    let sink = Sink::start();
    let script = r#"
import smtplib, sys
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "py@example.com"
msg["To"] = "you@example.com"
msg["Subject"] = "from smtplib"
msg.set_content("hello\n.a dot line\n..two\n.\nend\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=15) as s:
    code, features = s.ehlo()
    assert code == 250 and s.has_extn("size"), features
    s.send_message(msg, to_addrs=["you@example.com", "other@example.com"])
    s.sendmail("py@example.com", ["raw@example.com"], b"Subject: raw\r\n\r\n.\r\n")
print("sent")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &sink.server.addr().port().to_string()])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 failed: {}\nserver stderr: {}",
        String::from_utf8_lossy(&out.stderr),
        sink.stderr()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sent");

    let files: Vec<String> = sink
        .messages()
        .iter()
        .map(|name| String::from_utf8(sink.read_message(name)).unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let mail = files
        .iter()
        .find(|f| f.contains("Subject: from smtplib"))
        .expect("the EmailMessage");
    assert!(mail.starts_with("X-Peer: 127.0.0.1:"), "{mail}");
    assert!(
        mail.contains("\r\nX-MailFrom: py@example.com\r\n"),
        "{mail}"
    );
    assert!(
        mail.contains("\r\nX-RcptTo: you@example.com, other@example.com\r\n"),
        "{mail}"
    );
    assert!(
        mail.ends_with("\r\n\r\nhello\r\n.a dot line\r\n..two\r\n.\r\nend\r\n"),
        "{mail:?}"
    );
    let raw = files
        .iter()
        .find(|f| f.contains("Subject: raw"))
        .expect("the raw message");
    assert!(
        raw.ends_with("X-RcptTo: raw@example.com\r\nSubject: raw\r\n\r\n.\r\n"),
        "{raw:?}"
    );
}

// ---------------------------------------------------------------------------
// STARTTLS
// ---------------------------------------------------------------------------

/// The message the STARTTLS tests deliver: CRLFs, a line that is
/// dot-stuffed on the wire (`..leading dot`), and 8-bit bytes.
const TLS_BODY: &[u8] = b"Subject: over tls\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    \r\n\
    first line\r\n\
    .leading dot\r\n\
    8-bit: caf\xc3\xa9 \xff\x80\xfe\r\n\
    \r\n\
    last\r\n";

/// The stored message whose `X-Peer` is `peer`.
#[track_caller]
fn message_from(sink: &Sink, peer: SocketAddr) -> Vec<u8> {
    let head = format!("X-Peer: {peer}\r\n");
    let found: Vec<Vec<u8>> = sink
        .messages()
        .iter()
        .map(|name| sink.read_message(name))
        .filter(|file| file.starts_with(head.as_bytes()))
        .collect();
    assert_eq!(found.len(), 1, "messages from {peer}");
    found.into_iter().next().unwrap()
}

/// A stored message without its first line (`X-Peer`).
fn without_peer(file: &[u8]) -> &[u8] {
    let end = file
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a first line");
    &file[end + 2..]
}

#[test]
fn without_the_flags_starttls_is_an_unknown_command() {
    let sink = Sink::start();
    let mut client = sink.connect();
    assert_eq!(client.command("EHLO client.test"), (250, ehlo_lines(false)));
    assert_eq!(
        client.expect("STARTTLS", 500),
        "Error: command \"STARTTLS\" not recognized"
    );
    client.expect("HELP STARTTLS", 501);
    client.expect("QUIT", 221);
}

#[test]
fn starttls_needs_a_greeting_and_no_arguments() {
    let sink = Sink::start_tls();
    let mut client = sink.connect();
    assert_eq!(client.expect("STARTTLS", 503), "Error: send HELO first");
    assert_eq!(
        client.expect("HELP", 250),
        "Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS"
    );
    assert_eq!(client.expect("HELP STARTTLS", 250), "Syntax: STARTTLS");
    assert_eq!(client.command("EHLO client.test"), (250, ehlo_lines(true)));
    assert_eq!(client.expect("STARTTLS now", 501), "Syntax: STARTTLS");
    // Still plaintext, and the session goes on.
    client.expect("NOOP", 250);
    client.expect("QUIT", 221);
    assert!(client.read_to_end().is_empty());
}

#[test]
fn a_message_over_starttls_is_stored_as_in_plaintext() {
    let sink = Sink::start_tls();
    let to = ["rcpt@example.com", "other@example.com"];

    // Once in plaintext, on a server that offers TLS.
    let mut plain = sink.connect();
    let plain_peer = plain.stream.local_addr().unwrap();
    assert_eq!(plain.command("EHLO client.test"), (250, ehlo_lines(true)));
    let (code, text) = plain.send_mail("sender@example.com", &to, TLS_BODY);
    assert_eq!(code, 250, "{text:?}");
    plain.expect("QUIT", 221);
    assert!(plain.read_to_end().is_empty());

    // Then over TLS.
    let mut client = sink.connect();
    let tls_peer = client.stream.local_addr().unwrap();
    assert_eq!(client.command("EHLO client.test"), (250, ehlo_lines(true)));
    client.expect("MAIL FROM:<forgotten@example.com>", 250);
    assert_eq!(client.expect("STARTTLS", 220), "Ready to start TLS");
    let tls = sink.tls();
    let queued = block_on(async move {
        let mut client = handshake(client, tls).await.expect("the TLS handshake");
        // RFC 3207: the session starts over, EHLO and MAIL are forgotten.
        assert_eq!(
            client.expect("MAIL FROM:<a@example.com>", 503).await,
            "Error: send HELO first"
        );
        assert_eq!(
            client.command("EHLO client.test").await,
            (250, ehlo_lines(false))
        );
        client.expect("RCPT TO:<b@example.com>", 503).await;
        assert_eq!(
            client.expect("STARTTLS", 503).await,
            "Error: TLS already active"
        );
        let (code, text) = client.send_mail("sender@example.com", &to, TLS_BODY).await;
        assert_eq!(code, 250, "{text:?}");
        client.expect("NOOP", 250).await;
        client.expect("QUIT", 221).await;
        assert!(client.read_to_end().await.is_empty());
        text.join("\n")
    });

    let names = sink.messages();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|name| queued.contains(name)),
        "{queued:?} vs {names:?}"
    );
    let over_tls = message_from(&sink, tls_peer);
    let in_plaintext = message_from(&sink, plain_peer);
    assert_same(
        &over_tls,
        &stored(tls_peer, "sender@example.com", &to, TLS_BODY),
    );
    assert_same(
        &in_plaintext,
        &stored(plain_peer, "sender@example.com", &to, TLS_BODY),
    );
    assert_same(without_peer(&over_tls), without_peer(&in_plaintext));
    assert_eq!(sink.all_files().len(), 2, "a temporary file is left");
}

/// Whether the connection `client` ended: its TLS handshake fails, or any
/// read after it sees the end of the stream (or an error).
fn assert_no_tls_session(client: Client, tls: &TlsFiles) {
    block_on(async move {
        match handshake(client, tls).await {
            Err(_) => {}
            Ok(mut session) => {
                let mut rest = Vec::new();
                let read = session.io.read_to_end(&mut rest).await;
                assert!(
                    read.is_err() || rest.is_empty(),
                    "the server talked after injected plaintext: {rest:?}"
                );
            }
        }
    });
}

#[test]
fn plaintext_pipelined_after_starttls_never_acts() {
    let mut sink = Sink::start_tls();

    // CVE-2011-0411: a command injected behind STARTTLS, in one write.
    let mut client = sink.connect();
    client.expect("EHLO client.test", 250);
    client.send(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
    assert_eq!(client.reply(), (220, vec!["Ready to start TLS".to_owned()]));
    assert_no_tls_session(client, sink.tls());

    // A whole transaction behind it, after HELO.
    let mut client = sink.connect();
    client.expect("HELO client.test", 250);
    client.send(
        b"STARTTLS\r\nHELO evil\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@example.com>\r\n\
          DATA\r\nSubject: injected\r\n\r\nevil\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(client.reply().0, 220);
    assert_no_tls_session(client, sink.tls());

    let dropped = "bytes of plaintext after the command that started TLS were dropped";
    assert!(
        wait_until(IO_TIMEOUT, || sink.stderr().matches(dropped).count() == 2),
        "stderr: {}",
        sink.stderr()
    );
    assert!(sink.all_files().is_empty(), "{:?}", sink.all_files());

    // The server goes on, in plaintext and over TLS.
    sink.assert_alive();
    let mut client = sink.connect();
    let peer = client.stream.local_addr().unwrap();
    client.expect("HELO client.test", 250);
    client.expect("STARTTLS", 220);
    let tls = sink.tls();
    block_on(async move {
        let mut client = handshake(client, tls).await.expect("the TLS handshake");
        client.expect("EHLO client.test", 250).await;
        let (code, text) = client
            .send_mail("good@example.com", &["b@example.com"], TLS_BODY)
            .await;
        assert_eq!(code, 250, "{text:?}");
        client.expect("QUIT", 221).await;
    });
    let names = sink.messages();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_same(
        &sink.read_message(&names[0]),
        &stored(peer, "good@example.com", &["b@example.com"], TLS_BODY),
    );
    sink.assert_alive();
}

#[test]
fn a_failed_handshake_closes_only_that_session() {
    let mut sink = Sink::start_tls();
    let mut client = sink.connect();
    client.expect("EHLO client.test", 250);
    client.expect("STARTTLS", 220);
    // Not a ClientHello.
    client.send(b"MAIL FROM:<evil@x>\r\n");
    let _ = client.read_to_end_or_error();
    let mut client = sink.connect();
    client.expect("EHLO client.test", 250);
    client.expect("QUIT", 221);
    assert!(sink.all_files().is_empty());
    sink.assert_alive();
}

#[test]
fn tls_cert_and_key_come_in_pairs() {
    let dir = temp_dir("args-");
    let maildir = dir.0.join("mail");
    let maildir = maildir.to_str().unwrap();
    for (flag, missing) in [("--tls-cert", "--tls-key"), ("--tls-key", "--tls-cert")] {
        let args = ["--maildir", maildir, flag, "some.pem"];
        let done = run_to_end(&binary(), &args, Duration::from_secs(30));
        assert_bad_command_line(&done, &args, missing);
    }
    // Both, but not loadable: exit 1 with a message, nothing served.
    let args = [
        "--maildir",
        maildir,
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ];
    let done = run_to_end(&binary(), &args, Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stdout.is_empty());
    assert!(
        done.stderr.starts_with("smtp_sink: cannot set up TLS: ")
            && done.stderr.contains("/nonexistent/cert.pem"),
        "{}",
        done.stderr
    );
    assert!(!Path::new(maildir).exists());
}

#[test]
fn python_smtplib_can_send_a_message_over_starttls() {
    if !have_python3() {
        eprintln!("skipped: no python3");
        return;
    }
    let sink = Sink::start_tls();
    let script = r#"
import smtplib, ssl, sys
port, cafile, body = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("127.0.0.1", port, timeout=15) as s:
    code, features = s.ehlo()
    assert code == 250 and s.has_extn("starttls"), features
    code, text = s.starttls(context=ctx)
    assert code == 220, (code, text)
    assert s.sock.version() is not None
    code, features = s.ehlo()
    assert code == 250 and not s.has_extn("starttls"), features
    s.sendmail("py@example.com", ["you@example.com"], body)
    print("sent", s.sock.getsockname()[1])
"#;
    let hex: String = TLS_BODY.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(sink.server.addr().port().to_string())
        .arg(sink.tls().cert())
        .arg(hex)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 failed: {}\nserver stderr: {}",
        String::from_utf8_lossy(&out.stderr),
        sink.stderr()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let port: u16 = stdout
        .trim()
        .strip_prefix("sent ")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("python3 printed {stdout:?}"));
    let peer: SocketAddr = ([127, 0, 0, 1], port).into();
    let names = sink.messages();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_same(
        &sink.read_message(&names[0]),
        &stored(peer, "py@example.com", &["you@example.com"], TLS_BODY),
    );
}
