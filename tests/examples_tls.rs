//! The TLS command lines of the examples, as real processes over real
//! sockets: `echo_server --tls-cert --tls-key` serves TLS in both styles
//! (against tokio-rustls, and `openssl s_client` where it exists) and
//! survives clients that do not speak TLS or refuse its certificate;
//! `gen_cert` makes files that serve; `http_client` fetches `https://`
//! URLs from a tokio-rustls server, trusting `--cafile` or refusing the
//! server.
//!
//! Certificates are made at test time with rcgen (or by `gen_cert`);
//! nothing secret is committed. Every wait is bounded: the tokio sides run
//! under a timeout, processes under a deadline.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use asyncore::tls::{TlsAcceptor, TlsConnector, rustls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::process::{self, IO_TIMEOUT, Server, assert_bad_command_line, run_to_end};
use util::{TempDir, payload};

const EXAMPLES: &[&str] = &["echo_server", "gen_cert", "http_client"];

/// Returns the path of example `name`; the first call builds the three.
fn example(name: &str) -> PathBuf {
    process::example(EXAMPLES, name)
}

// ---------------------------------------------------------------------------
// Certificates, servers and clients
// ---------------------------------------------------------------------------

/// A self-signed certificate and its key, as PEM files in a temporary
/// directory.
struct Identity {
    /// Removed on drop.
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

/// Makes an identity for `names` with rcgen (an IP address becomes an IP
/// name).
fn identity(names: &[&str]) -> Identity {
    let made =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let dir = TempDir::new("tls-examples");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    Identity {
        _dir: dir,
        cert,
        key,
    }
}

impl Identity {
    /// A client configuration trusting only this certificate.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        TlsConnector::from_ca_file(&self.cert)
            .unwrap()
            .config()
            .clone()
    }

    /// A server configuration with this certificate.
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        TlsAcceptor::from_pem_files(&self.cert, &self.key)
            .unwrap()
            .config()
            .clone()
    }
}

/// Starts `echo_server --tls-cert CERT --tls-key KEY` in `style` on a free
/// port; the first line must end in `(style STYLE) (tls)`.
fn tls_echo_server(style: &str, cert: &Path, key: &Path) -> Server {
    let mut command = Command::new(example("echo_server"));
    command
        .args(["--addr", "127.0.0.1:0", "--style", style, "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        // The default log filter: stderr shows only what the server prints.
        .env_remove("RUST_LOG");
    Server::start("echo_server", command, &format!(" (style {style}) (tls)"))
}

/// Runs `f` on a tokio current-thread runtime on its own thread, under
/// [`IO_TIMEOUT`].
fn tokio_thread<T: Send + 'static>(f: impl AsyncFnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(IO_TIMEOUT, f())
                .await
                .expect("the tokio side timed out")
        })
    })
}

fn server_name(name: &str) -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap()
}

/// With tokio-rustls, as `name`: echoes 64 B, then 100 KiB (written while
/// the echo comes back), then ends with close_notify and reads to a clean
/// end: `read_to_end` fails with UnexpectedEof unless the server ends with
/// its own close_notify.
fn tls_echo(addr: SocketAddr, config: Arc<rustls::ClientConfig>, name: &str) {
    let name = server_name(name);
    tokio_thread(async move || {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        let small = payload(64);
        tls.write_all(&small).await.unwrap();
        let mut back = vec![0; small.len()];
        tls.read_exact(&mut back).await.unwrap();
        assert_eq!(back, small, "the 64 B echo differs");

        let big = payload(100 * 1024);
        let (mut rd, mut wr) = tokio::io::split(tls);
        let sent = big.clone();
        let writer = tokio::spawn(async move {
            wr.write_all(&sent).await.unwrap();
            // close_notify (and the TCP write side's end).
            wr.shutdown().await.unwrap();
        });
        let mut echoed = Vec::new();
        rd.read_to_end(&mut echoed)
            .await
            .expect("the echo, then a clean close_notify");
        writer.await.unwrap();
        assert!(
            echoed == big,
            "the echo differs ({} bytes back)",
            echoed.len()
        );
    })
    .join()
    .unwrap();
}

/// A tokio-rustls client that does not trust the server: its handshake
/// must fail (with the certificate as the reason).
fn refused_handshake(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> String {
    tokio_thread(async move || {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        match connector.connect(server_name("localhost"), tcp).await {
            Ok(_) => panic!("the handshake succeeded with an untrusted certificate"),
            Err(e) => e.to_string(),
        }
    })
    .join()
    .unwrap()
}

// ---------------------------------------------------------------------------
// echo_server
// ---------------------------------------------------------------------------

fn echo_server_serves_tls(style: &str) {
    let id = identity(&["localhost"]);
    let mut server = tls_echo_server(style, &id.cert, &id.key);
    let fds = server.open_fds();
    tls_echo(server.addr(), id.client_config(), "localhost");
    // Several at once.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, config) = (server.addr(), id.client_config());
            thread::spawn(move || tls_echo(addr, config, "localhost"))
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    server.assert_alive();
    server.assert_fds_return_to(fds);
    assert_eq!(server.stderr(), "", "nothing on stderr");
}

fn echo_server_survives_clients_that_do_not_speak_tls(style: &str) {
    let id = identity(&["localhost"]);
    let mut server = tls_echo_server(style, &id.cert, &id.key);
    let fds = server.open_fds();

    // Plaintext garbage instead of a ClientHello: an alert at most, then
    // the end.
    let mut plain = server.connect();
    plain
        .write_all(b"GET / HTTP/1.0\r\n\r\nthis is not TLS at all\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(answer.len() < 64, "at most an alert: {answer:?}");

    // A client that refuses the certificate ends its handshake with an
    // alert.
    let other = identity(&["localhost"]);
    let why = refused_handshake(server.addr(), other.client_config());
    assert!(why.contains("certificate"), "{why}");

    // A client that connects and leaves without a word.
    drop(server.connect());

    // None of it took the server down or left a descriptor behind.
    server.assert_alive();
    tls_echo(server.addr(), id.client_config(), "localhost");
    server.assert_alive();
    server.assert_fds_return_to(fds);
    // Per-connection TLS trouble is not noise on stderr.
    assert_eq!(server.stderr(), "", "nothing on stderr");
}

mod callback {
    #[test]
    fn echo_server_serves_tls() {
        super::echo_server_serves_tls("callback");
    }

    #[test]
    fn echo_server_survives_clients_that_do_not_speak_tls() {
        super::echo_server_survives_clients_that_do_not_speak_tls("callback");
    }
}

mod async_style {
    #[test]
    fn echo_server_serves_tls() {
        super::echo_server_serves_tls("async");
    }

    #[test]
    fn echo_server_survives_clients_that_do_not_speak_tls() {
        super::echo_server_survives_clients_that_do_not_speak_tls("async");
    }
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
    const LINE: &[u8] = b"hello from openssl\n";
    let id = identity(&["localhost"]);
    for style in ["callback", "async"] {
        let server = tls_echo_server(style, &id.cert, &id.key);
        // -quiet implies -ign_eof: s_client stays after its stdin ends, so
        // the guard kills it once the line is back.
        let child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(server.addr().to_string())
            .arg("-CAfile")
            .arg(&id.cert)
            .args(["-verify_return_error", "-verify_hostname", "localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openssl s_client");
        let mut guard = process::Guard(child);
        let stderr = process::collect(guard.0.stderr.take().unwrap());
        guard.0.stdin.take().unwrap().write_all(LINE).unwrap();
        let mut stdout = guard.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = vec![0; LINE.len()];
            let _ = tx.send(stdout.read_exact(&mut line).map(|()| line));
        });
        let line = rx.recv_timeout(IO_TIMEOUT);
        guard.stop();
        let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
        let line = line
            .unwrap_or_else(|_| panic!("{style}: openssl echoed nothing in time; {stderr}"))
            .unwrap_or_else(|e| panic!("{style}: openssl's output ended: {e}; {stderr}"));
        assert_eq!(line, LINE, "{style}");
    }
}

#[test]
fn echo_server_tls_flags_need_each_other_and_good_files() {
    let id = identity(&["localhost"]);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let bin = example("echo_server");
    for (args, culprit) in [
        (&["--tls-cert", cert][..], "--tls-key <FILE>"),
        (&["--tls-key", key], "--tls-cert <FILE>"),
        (&["--tls-cert"], "'--tls-cert"),
    ] {
        let mut argv = vec!["--addr", "127.0.0.1:0"];
        argv.extend_from_slice(args);
        let done = run_to_end(&bin, &argv, Duration::from_secs(30));
        assert_bad_command_line(&done, &argv, culprit);
    }
    // Files that do not serve: a clear error, status 1, before listening.
    let missing = id.cert.with_file_name("missing.pem");
    let missing = missing.to_str().unwrap();
    for (cert, key, why) in [
        (cert, cert, "private key"),
        (key, key, "certificate"),
        (missing, key, "missing.pem"),
        (cert, missing, "missing.pem"),
    ] {
        for style in ["callback", "async"] {
            let args = [
                "--addr",
                "127.0.0.1:0",
                "--style",
                style,
                "--tls-cert",
                cert,
                "--tls-key",
                key,
            ];
            let done = run_to_end(&bin, &args, Duration::from_secs(30));
            assert_eq!(done.status.code(), Some(1), "{args:?}: {}", done.stderr);
            assert!(done.stdout.is_empty(), "{args:?}: listened anyway");
            assert!(
                done.stderr
                    .starts_with("echo_server: cannot load the TLS certificate and key: ")
                    && done.stderr.contains(why)
                    && !done.stderr.contains("panicked"),
                "{args:?}: {}",
                done.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------
// gen_cert
// ---------------------------------------------------------------------------

/// Runs `gen_cert --out DIR ARGS...`; returns its stdout, the certificate
/// and the key paths.
fn gen_cert(out: &Path, args: &[&str]) -> (String, PathBuf, PathBuf) {
    let mut argv = vec!["--out", out.to_str().unwrap()];
    argv.extend_from_slice(args);
    let done = run_to_end(&example("gen_cert"), &argv, Duration::from_secs(30));
    assert!(done.status.success(), "gen_cert: {}", done.stderr);
    assert!(done.stderr.is_empty(), "gen_cert: {}", done.stderr);
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    (stdout, out.join("cert.pem"), out.join("key.pem"))
}

#[test]
fn gen_cert_writes_files_that_echo_server_serves() {
    let dir = TempDir::new("gen-cert");
    // A directory that does not exist yet, two levels deep.
    let out = dir.join("made/here");
    let (stdout, cert, key) = gen_cert(&out, &[]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], format!("gen_cert: wrote {}", cert.display()));
    assert_eq!(lines[1], format!("gen_cert: wrote {}", key.display()));
    for hint in [
        format!("--tls-cert {} --tls-key {}", cert.display(), key.display()),
        "openssl s_client -connect 127.0.0.1:7000".to_owned(),
        "http_client".to_owned(),
    ] {
        assert!(lines[2].contains(&hint), "no {hint:?} in {stdout}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key is its owner's only: {mode:o}");

    let server = tls_echo_server("callback", &cert, &key);
    let trust = TlsConnector::from_ca_file(&cert).unwrap().config().clone();
    // Both default names: localhost and the IP 127.0.0.1.
    tls_echo(server.addr(), trust.clone(), "localhost");
    tls_echo(server.addr(), trust, "127.0.0.1");

    // Again, over the old files (whose key was made readable to all), for
    // names of our own.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, cert, key) = gen_cert(&out, &["--name", "echo.test", "--name", "::1"]);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the rewritten key: {mode:o}");
    let server = tls_echo_server("async", &cert, &key);
    let trust = TlsConnector::from_ca_file(&cert).unwrap().config().clone();
    tls_echo(server.addr(), trust.clone(), "echo.test");
    let why = tokio_thread({
        let addr = server.addr();
        async move || {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(trust);
            match connector.connect(server_name("localhost"), tcp).await {
                Ok(_) => panic!("the new certificate is not for localhost"),
                Err(e) => e.to_string(),
            }
        }
    })
    .join()
    .unwrap();
    assert!(why.contains("not valid for name \"localhost\""), "{why}");
}

#[test]
fn gen_cert_needs_out_and_reports_what_it_cannot_write() {
    let bin = example("gen_cert");
    let done = run_to_end(&bin, &[], Duration::from_secs(30));
    assert_bad_command_line(&done, &[], "--out <DIR>");
    // A file where the directory should be.
    let dir = TempDir::new("gen-cert-bad");
    let file = dir.join("file");
    std::fs::write(&file, b"not a directory").unwrap();
    let done = run_to_end(
        &bin,
        &["--out", file.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.starts_with("gen_cert: cannot ") && done.stderr.contains("file"),
        "{}",
        done.stderr
    );
}

// ---------------------------------------------------------------------------
// http_client
// ---------------------------------------------------------------------------

/// Serves one HTTPS request with tokio-rustls on a thread: reads the
/// request head, answers `HTTP/1.0 200 OK` and `hello`, ends with
/// close_notify. Returns the address and what the server got: the head,
/// or why its handshake or read failed.
fn https_once(config: Arc<rustls::ServerConfig>) -> (u16, JoinHandle<Result<String, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let server = tokio_thread(async move || {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match tls.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                Ok(_) => return Err("no complete request head".to_owned()),
                Err(e) => return Err(e.to_string()),
            }
        }
        tls.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello")
            .await
            .map_err(|e| e.to_string())?;
        // close_notify: the end of the response.
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&head).into_owned())
    });
    (port, server)
}

#[test]
fn http_client_fetches_https_trusting_its_cafile() {
    let id = identity(&["localhost", "127.0.0.1"]);
    for host in ["localhost", "127.0.0.1"] {
        let (port, server) = https_once(id.server_config());
        let url = format!("https://{host}:{port}/hi?x=1");
        let args = ["--cafile", id.cert.to_str().unwrap(), &url];
        let done = run_to_end(&example("http_client"), &args, Duration::from_secs(30));
        let head = server.join().unwrap();
        assert!(done.status.success(), "{args:?}: {}", done.stderr);
        assert_eq!(
            String::from_utf8_lossy(&done.stdout),
            "HTTP/1.0 200 OK\r\n\r\nhello"
        );
        assert!(done.stderr.is_empty(), "{args:?}: {}", done.stderr);
        let head = head.expect("the server got a request");
        assert!(head.starts_with("GET /hi?x=1 HTTP/1.0\r\n"), "{head}");
        assert!(
            head.contains(&format!("\r\nHost: {host}:{port}\r\n")),
            "{head}"
        );
    }
}

#[test]
fn http_client_refuses_a_server_it_cannot_verify() {
    let id = identity(&["localhost"]);
    let cafile = id.cert.to_str().unwrap().to_owned();
    let other = identity(&["localhost"]);
    let other_cafile = other.cert.to_str().unwrap().to_owned();
    // Each case: the host, the extra arguments, what stderr must name.
    let cases: &[(&str, &[&str], &str)] = &[
        // Mozilla's roots do not know a self-signed certificate.
        ("localhost", &[], "UnknownIssuer"),
        // Another certificate in the CA file.
        ("localhost", &["--cafile", &other_cafile], "certificate"),
        // The right CA, the wrong name: the certificate is for localhost.
        ("127.0.0.1", &["--cafile", &cafile], "not valid for name"),
    ];
    for (host, extra, why) in cases {
        let (port, server) = https_once(id.server_config());
        let url = format!("https://{host}:{port}/");
        let mut args = extra.to_vec();
        args.push(&url);
        let done = run_to_end(&example("http_client"), &args, Duration::from_secs(30));
        let seen = server.join().unwrap();
        assert_eq!(done.status.code(), Some(1), "{args:?}: {}", done.stderr);
        assert!(done.stdout.is_empty(), "{args:?}");
        assert!(
            done.stderr.starts_with(&format!(
                "http_client: TLS handshake with {host}:{port} failed: invalid peer certificate: "
            )) && done.stderr.contains(why),
            "{args:?}: {}",
            done.stderr
        );
        assert!(seen.is_err(), "{args:?}: the server got a request");
    }
}

#[test]
fn http_client_reports_a_cafile_it_cannot_use() {
    let dir = TempDir::new("tls-cafile");
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, b"no certificates here\n").unwrap();
    for cafile in [not_pem, dir.join("missing.pem")] {
        let args = ["--cafile", cafile.to_str().unwrap(), "https://127.0.0.1:1/"];
        let done = run_to_end(&example("http_client"), &args, Duration::from_secs(30));
        assert_eq!(done.status.code(), Some(1), "{args:?}: {}", done.stderr);
        assert!(
            done.stderr
                .starts_with("http_client: cannot use --cafile: "),
            "{args:?}: {}",
            done.stderr
        );
    }
}
