//! tokio's current-thread runtime, written the usual way; and its
//! multi-thread runtime for the multi-core rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::servers::{Clocks, Shared, own_ids};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(super) fn run(l: std::net::TcpListener, shared: Arc<Shared>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(l).unwrap();
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let _ = stream.set_nodelay(true);
                drop(tokio::spawn(echo(stream)));
                shared.accepted.fetch_add(1, Ordering::Release);
            }
        }
    });
}

/// tokio's multi-thread runtime with `threads` workers, built on the
/// calling thread, so its worker threads are the server's only threads:
/// the accept loop is a task (with `#[tokio::main]` it would run on the
/// main thread instead; it only accepts before the measurement either way).
/// Each worker thread calls `place` with its start order, then adds its CPU
/// clock to `clocks`. Dropping the runtime stops the server.
pub(crate) fn start_multi(
    l: std::net::TcpListener,
    shared: Arc<Shared>,
    threads: usize,
    place: impl Fn(usize) + Send + Sync + 'static,
    clocks: Clocks,
) -> tokio::runtime::Runtime {
    let started = AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .on_thread_start(move || {
            place(started.fetch_add(1, Ordering::Relaxed));
            clocks.lock().unwrap().push(own_ids());
        })
        .build()
        .unwrap();
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(l).unwrap();
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                drop(tokio::spawn(echo(stream)));
                shared.count_accept(0);
            }
        }
    });
    rt
}

/// The usual tokio echo: a per-connection buffer, `read`, `write_all`.
async fn echo(mut stream: tokio::net::TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
