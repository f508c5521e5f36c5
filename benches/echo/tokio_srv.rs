//! tokio's current-thread runtime, written the usual way.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::servers::Shared;
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
