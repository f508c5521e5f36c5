//! The TLS command lines of the examples, as real processes over real
//! sockets: `gen_cert` makes the files, `echo_server --tls-cert --tls-key`
//! serves TLS in both styles (against rustls's own blocking client, and
//! `openssl s_client` where it exists), and `http_client` fetches
//! `https://` URLs, trusting `--cafile` or refusing the server.
#![cfg(feature = "tls")]

mod util;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use asyncore::tls::{TlsAcceptor, TlsConnector, rustls};
use util::TempDir;
use util::process::{self, IO_TIMEOUT, Server, run_to_end};

const EXAMPLES: &[&str] = &["echo_server", "gen_cert", "http_client"];

fn example(name: &str) -> PathBuf {
    process::example(EXAMPLES, name)
}

/// Runs `gen_cert --out DIR`; returns the certificate and key paths.
fn gen_cert(dir: &TempDir) -> (PathBuf, PathBuf) {
    let out = dir.join("tls");
    let done = run_to_end(
        &example("gen_cert"),
        &["--out", out.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert!(done.status.success(), "gen_cert: {}", done.stderr);
    let (cert, key) = (out.join("cert.pem"), out.join("key.pem"));
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains(cert.to_str().unwrap()), "{stdout}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the key is its owner's only: {mode:o}");
    (cert, key)
}

fn tls_echo_server(style: &str, cert: &Path, key: &Path) -> Server {
    let mut command = Command::new(example("echo_server"));
    command.args(["--addr", "127.0.0.1:0", "--style", style]);
    command
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key);
    Server::start("echo_server", command, &format!(" (style {style}) (tls)"))
}

/// rustls's blocking client over `stream`, trusting `cert`.
fn tls_client(
    stream: TcpStream,
    cert: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let config = TlsConnector::from_ca_file(cert).unwrap().config().clone();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    rustls::StreamOwned::new(conn, stream)
}

/// Bytes that are not all text.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn echo_over_tls(server: &Server, cert: &Path) {
    let mut tls = tls_client(server.connect(), cert);
    for message in [pattern(64), pattern(100 * 1024)] {
        tls.write_all(&message).unwrap();
        tls.flush().unwrap();
        let mut back = vec![0; message.len()];
        tls.read_exact(&mut back).unwrap();
        assert!(back == message, "the echo differs");
    }
    // Our close_notify: the server echoes the end and sends its own, so
    // the read ends cleanly (a truncation would be UnexpectedEof).
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).expect("a clean close_notify");
    assert!(rest.is_empty());
}

fn echo_server_serves_tls_made_by_gen_cert(style: &str) {
    let dir = TempDir::new("tls-echo");
    let (cert, key) = gen_cert(&dir);
    let mut server = tls_echo_server(style, &cert, &key);
    echo_over_tls(&server, &cert);

    // A client that speaks plaintext gets an alert (or nothing) and the
    // end; the server goes on serving.
    let mut plain = server.connect();
    plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(answer.len() < 64, "at most an alert: {answer:?}");
    server.assert_alive();
    echo_over_tls(&server, &cert);
    server.assert_alive();
}

#[test]
fn echo_server_serves_tls_made_by_gen_cert_callback() {
    echo_server_serves_tls_made_by_gen_cert("callback");
}

#[test]
fn echo_server_serves_tls_made_by_gen_cert_async() {
    echo_server_serves_tls_made_by_gen_cert("async");
}

#[test]
fn echo_server_talks_to_openssl_s_client() {
    let have = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("skipped: no openssl");
        return;
    }
    let dir = TempDir::new("tls-openssl");
    let (cert, key) = gen_cert(&dir);
    for style in ["callback", "async"] {
        let server = tls_echo_server(style, &cert, &key);
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(server.addr().to_string())
            .arg("-CAfile")
            .arg(&cert)
            .args(["-verify_return_error", "-verify_hostname", "localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello from openssl\n").unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            let mut line = vec![0; b"hello from openssl\n".len()];
            stdout.read_exact(&mut line).map(|()| line)
        });
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(reader.join());
        });
        let line = rx.recv_timeout(IO_TIMEOUT);
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        let line = line.expect("openssl echoed nothing in time").unwrap();
        assert_eq!(line.unwrap(), b"hello from openssl\n", "{style}");
    }
}

#[test]
fn echo_server_tls_flags_need_each_other_and_good_files() {
    let dir = TempDir::new("tls-flags");
    let (cert, _key) = gen_cert(&dir);
    let cert = cert.to_str().unwrap();
    let done = run_to_end(
        &example("echo_server"),
        &["--addr", "127.0.0.1:0", "--tls-cert", cert],
        Duration::from_secs(30),
    );
    process::assert_bad_command_line(&done, &["--tls-cert", cert], "--tls-key");
    // A certificate where the key should be: a clear error, status 1.
    let done = run_to_end(
        &example("echo_server"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            cert,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("cannot load the TLS certificate and key"),
        "{}",
        done.stderr
    );
}

/// One HTTPS response on a thread: reads the request head, answers, ends
/// with close_notify. Returns the head, or the server's error.
fn https_once(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> thread::JoinHandle<io::Result<String>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        let conn =
            rustls::ServerConnection::new(acceptor.config().clone()).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read(&mut byte)? == 0 {
                return Err(io::Error::other("no request head"));
            }
            head.push(byte[0]);
        }
        tls.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello over tls\n")?;
        tls.conn.send_close_notify();
        tls.flush()?;
        Ok(String::from_utf8_lossy(&head).into_owned())
    })
}

#[test]
fn http_client_fetches_https_trusting_its_cafile() {
    let dir = TempDir::new("tls-http");
    let (cert, key) = gen_cert(&dir);
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = https_once(listener, acceptor);
    let url = format!("https://localhost:{port}/hi");
    let done = run_to_end(
        &example("http_client"),
        &["--cafile", cert.to_str().unwrap(), &url],
        Duration::from_secs(30),
    );
    assert!(done.status.success(), "{}", done.stderr);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.starts_with("HTTP/1.0 200 OK\r\n"), "{stdout}");
    assert!(stdout.ends_with("hello over tls\n"), "{stdout}");
    let head = server.join().unwrap().unwrap();
    assert!(head.starts_with("GET /hi HTTP/1.0\r\n"), "{head}");
    assert!(
        head.contains(&format!("Host: localhost:{port}\r\n")),
        "{head}"
    );
}

#[test]
fn http_client_refuses_a_server_it_cannot_verify() {
    let dir = TempDir::new("tls-untrusted");
    let (cert, key) = gen_cert(&dir);
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = https_once(listener, acceptor);
    // No --cafile: Mozilla's roots do not know a self-signed certificate.
    let done = run_to_end(
        &example("http_client"),
        &[&format!("https://localhost:{port}/")],
        Duration::from_secs(30),
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stdout.is_empty());
    assert!(
        done.stderr.contains("TLS handshake with localhost") && done.stderr.contains("certificate"),
        "{}",
        done.stderr
    );
    assert!(server.join().unwrap().is_err(), "the server saw no request");
}
