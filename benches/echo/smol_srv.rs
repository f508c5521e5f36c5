//! async-io + async-executor (`LocalExecutor`), written the usual way.

use std::net::TcpStream as StdStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::servers::Shared;
use async_executor::LocalExecutor;
use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

pub(super) fn run(l: std::net::TcpListener, shared: Arc<Shared>) {
    let ex = LocalExecutor::new();
    let listener = Async::new(l).unwrap();
    async_io::block_on(ex.run(async {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let _ = stream.get_ref().set_nodelay(true);
                ex.spawn(echo(stream)).detach();
                shared.accepted.fetch_add(1, Ordering::Release);
            }
        }
    }));
}

/// The usual smol echo: a per-connection buffer, `read`, `write_all`.
async fn echo(mut stream: Async<StdStream>) {
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
