//! TLS in the async face, over real sockets: `TlsStream` accept and connect
//! against tokio-rustls, `readable()`/`try_read` with input buffered in
//! rustls, failures (an untrusted certificate, a stalled handshake, a
//! truncation) as errors carrying the `TlsError`, `ChatStream` and
//! `add_events` over TLS, and a callback listener handing TLS sockets to
//! tasks.
#![cfg(feature = "tls")]

mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use asyncore::chat::ChatStream;
use asyncore::tls::{TlsAcceptor, TlsError, TlsStream, rustls};
use asyncore::{ChannelEvent, Error, Map, Socket, TcpListener, TcpStream};
use futures::StreamExt;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use util::async_util::within;
use util::payload;
use util::tls::{Identity, identity, server_name, tokio_thread};

/// The `TlsError` an `io::Error` from a TLS stream carries.
fn tls_error(e: io::Error) -> TlsError {
    match Error::from(e) {
        Error::Tls(tls) => tls,
        other => panic!("not a TLS error: {other:?}"),
    }
}

/// A tokio-rustls client that sends `data`, closes with close_notify and
/// returns everything that came back (failing unless the server ended with
/// close_notify too).
fn tokio_echo_client(
    addr: SocketAddr,
    id: &Identity,
    data: Vec<u8>,
) -> (Arc<AtomicBool>, JoinHandle<Vec<u8>>) {
    let config = id.connector().config().clone();
    let done = Arc::new(AtomicBool::new(false));
    let client = tokio_thread(&done, async move || {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name(), tcp)
            .await
            .unwrap();
        let (mut rd, mut wr) = tokio::io::split(tls);
        let writer = tokio::spawn(async move {
            wr.write_all(&data).await.unwrap();
            wr.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        rd.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        back
    });
    (done, client)
}

fn listener(map: &Map) -> (TcpListener, SocketAddr) {
    let listener =
        TcpListener::from_socket(map, Socket::tcp_listen("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[test]
fn an_async_tls_echo_serves_a_tokio_rustls_client() {
    let id = identity();
    let map = Map::new().unwrap();
    let (listener, addr) = listener(&map);
    let acceptor = id.acceptor();
    let served = map.spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let tls = TlsStream::accept(tcp, &acceptor).await?;
        let (mut rd, mut wr) = (&tls, &tls);
        futures::io::copy(&mut rd, &mut wr).await?;
        wr.close().await?;
        Ok::<_, io::Error>(())
    });
    let data = payload(300 * 1024);
    let (_, client) = tokio_echo_client(addr, &id, data.clone());
    within(&map, served).unwrap().unwrap();
    let back = client.join().unwrap();
    assert!(back == data, "echo differs: {} bytes back", back.len());
}

#[test]
fn readable_and_try_read_see_input_that_waits_in_rustls() {
    let id = identity();
    let map = Map::new().unwrap();
    let (listener, addr) = listener(&map);
    let acceptor = id.acceptor();
    let served = map.spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let tls = TlsStream::accept(tcp, &acceptor).await?;
        let mut got = Vec::new();
        loop {
            tls.readable().await?;
            // Five bytes at a time: the rest of each record stays in rustls,
            // with nothing left on the socket to make it readable.
            let mut buf = [0; 5];
            match tls.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        (&tls).write_all(&got).await?;
        (&tls).close().await?;
        Ok::<_, io::Error>(got.len())
    });
    let data = payload(10_000);
    let (_, client) = tokio_echo_client(addr, &id, data.clone());
    assert_eq!(within(&map, served).unwrap().unwrap(), data.len());
    assert!(client.join().unwrap() == data);
}

#[test]
fn an_async_client_reads_a_tokio_rustls_server_to_its_close_notify() {
    let id = identity();
    let config = id.acceptor().config().clone();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let server = tokio_thread(&done, async move || {
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(config)
            .accept(tcp)
            .await
            .unwrap();
        let mut request = [0; 4];
        tls.read_exact(&mut request).await.unwrap();
        tls.write_all(&payload(100_000)).await.unwrap();
        tls.shutdown().await.unwrap();
        request
    });
    let map = Map::new().unwrap();
    let connector = id.connector();
    let body = within(&map, async move {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = TlsStream::connect(tcp, &connector, "localhost").await?;
        tls.write_all(b"GET!").await?;
        tls.flush().await?;
        let mut body = Vec::new();
        tls.read_to_end(&mut body).await?;
        Ok::<_, io::Error>(body)
    })
    .unwrap();
    assert_eq!(&server.join().unwrap(), b"GET!");
    assert!(body == payload(100_000));
}

#[test]
fn an_untrusted_certificate_fails_connect_with_the_tls_error() {
    let server_id = identity();
    let other = identity();
    let map = Map::new().unwrap();
    let (listener, addr) = listener(&map);
    let acceptor = server_id.acceptor();
    let served = map.spawn(async move {
        let (tcp, _) = listener.accept().await?;
        TlsStream::accept(tcp, &acceptor).await.map(drop)
    });
    let connector = other.connector();
    let failed = within(&map, async move {
        let tcp = TcpStream::connect(addr).await?;
        TlsStream::connect(tcp, &connector, "localhost")
            .await
            .map(drop)
    })
    .unwrap_err();
    assert!(
        matches!(
            tls_error(failed),
            TlsError::Protocol(rustls::Error::InvalidCertificate(_))
        ),
        "the client's own verdict"
    );
    let server_saw = within(&map, served).unwrap().unwrap_err();
    assert!(matches!(tls_error(server_saw), TlsError::Protocol(_)));
}

#[test]
fn a_stalled_handshake_fails_accept_at_its_timeout() {
    let id = identity();
    let map = Map::new().unwrap();
    let (listener, addr) = listener(&map);
    let acceptor = id
        .acceptor()
        .with_handshake_timeout(Duration::from_millis(200));
    let _silent = std::net::TcpStream::connect(addr).unwrap();
    let failed = within(&map, async move {
        let (tcp, _) = listener.accept().await?;
        TlsStream::accept(tcp, &acceptor).await.map(drop)
    })
    .unwrap_err();
    assert_eq!(failed.kind(), io::ErrorKind::TimedOut);
    assert!(matches!(
        tls_error(failed),
        TlsError::HandshakeTimedOut(t) if t == Duration::from_millis(200)
    ));
}

#[test]
fn a_read_past_a_truncation_is_an_unexpected_eof_carrying_truncated() {
    let id = identity();
    let map = Map::new().unwrap();
    let (listener, addr) = listener(&map);
    let acceptor = id.acceptor();
    let served = map.spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = TlsStream::accept(tcp, &acceptor).await?;
        let mut got = vec![0; 7];
        tls.read_exact(&mut got).await?;
        tls.write_all(b"ok").await?;
        tls.flush().await?;
        let end = tls.read_to_end(&mut got).await;
        Ok::<_, io::Error>((got, end))
    });
    let config = id.connector().config().clone();
    let done = Arc::new(AtomicBool::new(false));
    let client = tokio_thread(&done, async move || {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name(), tcp)
            .await
            .unwrap();
        tls.write_all(b"partial").await.unwrap();
        tls.flush().await.unwrap();
        // Reading the reply also reads the session tickets before it: a
        // socket closed with unread input would reset, not end.
        let mut ok = [0; 2];
        tls.read_exact(&mut ok).await.unwrap();
        let (tcp, _session) = tls.into_inner();
        drop(tcp);
    });
    let (got, end) = within(&map, served).unwrap().unwrap();
    client.join().unwrap();
    assert_eq!(got, b"partial");
    let e = end.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(matches!(tls_error(e), TlsError::Truncated));
}

#[test]
fn a_chat_stream_frames_lines_over_tls() {
    let id = identity();
    let map = Map::new().unwrap();
    let (ours, theirs) = util::std_tcp_pair();
    ours.set_nonblocking(true).unwrap();
    let socket = Socket::from_tcp_stream(ours)
        .unwrap()
        .tls_server(&id.acceptor())
        .unwrap();
    let mut chat = ChatStream::new(&map, socket).unwrap();
    chat.set_terminator("\r\n");
    let config = id.connector().config().clone();
    let done = Arc::new(AtomicBool::new(false));
    let client = tokio_thread(&done, async move || {
        theirs.set_nonblocking(true).unwrap();
        let tcp = tokio::net::TcpStream::from_std(theirs).unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name(), tcp)
            .await
            .unwrap();
        tls.write_all(b"one\r\ntwo\r\n").await.unwrap();
        let mut reply = vec![0; 4];
        tls.read_exact(&mut reply).await.unwrap();
        tls.shutdown().await.unwrap();
        reply
    });
    let records = within(&map, async move {
        let mut records = Vec::new();
        while let Some(record) = chat.next_record().await? {
            records.push(record);
            if records.len() == 2 {
                chat.push(b"ok\r\n").await?;
            }
        }
        Ok::<_, Error>(records)
    })
    .unwrap();
    assert_eq!(records, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(client.join().unwrap(), b"ok\r\n");
}

#[test]
fn channel_events_of_a_tls_channel_carry_plaintext() {
    let id = identity();
    let map = Map::new().unwrap();
    let (ours, theirs) = util::std_tcp_pair();
    ours.set_nonblocking(true).unwrap();
    let socket = Socket::from_tcp_stream(ours)
        .unwrap()
        .tls_server(&id.acceptor())
        .unwrap();
    let mut events = map.add_events(socket).unwrap();
    let config = id.connector().config().clone();
    let done = Arc::new(AtomicBool::new(false));
    let client = tokio_thread(&done, async move || {
        theirs.set_nonblocking(true).unwrap();
        let tcp = tokio::net::TcpStream::from_std(theirs).unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name(), tcp)
            .await
            .unwrap();
        tls.write_all(b"event!").await.unwrap();
        let mut back = Vec::new();
        tls.read_to_end(&mut back).await.unwrap();
        back
    });
    let got = within(&map, async move {
        let mut got = Vec::new();
        while let Some(event) = events.next().await {
            match event {
                ChannelEvent::Readable => {
                    let mut buf = [0; 64];
                    match events.recv(&mut buf) {
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e.into()),
                    }
                    if got == b"event!" {
                        events.push(b"EVENT!")?;
                        events.close_when_done()?;
                    }
                }
                ChannelEvent::Closed => break,
                ChannelEvent::Error(e) => return Err(e),
                _ => {}
            }
        }
        Ok::<_, Error>(got)
    })
    .unwrap();
    assert_eq!(got, b"event!");
    assert_eq!(client.join().unwrap(), b"EVENT!");
}

#[test]
fn a_callback_listener_hands_tls_sockets_to_tasks() {
    struct Handoff(TlsAcceptor);
    impl asyncore::Dispatcher for Handoff {
        fn handle_accepted(
            &mut self,
            cx: &mut asyncore::Ctx<'_>,
            socket: Socket,
            _peer: asyncore::Address,
        ) -> asyncore::Result<()> {
            let map = cx.map().clone();
            let tls = TlsStream::from_socket(&map, socket.tls_server(&self.0)?)?;
            map.spawn(async move {
                let (mut rd, mut wr) = (&tls, &tls);
                futures::io::copy(&mut rd, &mut wr).await?;
                wr.close().await
            });
            Ok(())
        }
    }
    let id = identity();
    let map = Map::new().unwrap();
    let listener = Socket::tcp_listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().as_inet().unwrap();
    map.add(listener, Handoff(id.acceptor())).unwrap();
    let data = payload(50_000);
    let (done, client) = tokio_echo_client(addr, &id, data.clone());
    util::run_until(&map, "the client to finish", || done.load(Ordering::SeqCst));
    assert!(client.join().unwrap() == data);
}
