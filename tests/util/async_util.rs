//! Helpers shared by the tests of the async face: a bounded `block_on`
//! ([`within`]), a yield to the loop, a drop guard, an async echo server and
//! client over a split `&stream`, and a callback echo channel for tests that
//! mix both faces.
//!
//! Like the rest of `util`, every wait is bounded: [`within`] fails the test
//! after [`LIMIT`].

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use asyncore::{Ctx, Dispatcher, Map, Result};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The bound on every `block_on` (and on waits for helper threads) in the
/// async tests.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// Runs `future` on `map`, failing the test if it takes longer than
/// [`LIMIT`] or the loop fails.
#[track_caller]
pub(crate) fn within<F: Future>(map: &Map, future: F) -> F::Output {
    map.block_on(asyncore::timeout(LIMIT, future))
        .expect("block_on failed")
        .expect("timed out")
}

/// The future of [`yield_to_loop`].
#[must_use = "futures do nothing unless awaited"]
pub(crate) struct YieldToLoop(bool);

impl Future for YieldToLoop {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Returns `Pending` once after waking itself: the loop runs a pass (with no
/// wait) before the task goes on.
pub(crate) fn yield_to_loop() -> YieldToLoop {
    YieldToLoop(false)
}

/// Sets its flag when dropped: shows that a task's future was dropped.
pub(crate) struct DropGuard(pub(crate) Rc<Cell<bool>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Echoes a stream until end of file with `futures::io::copy` on a split
/// `&stream`, then half-closes; returns the byte count.
pub(crate) async fn serve_echo<S>(stream: S) -> io::Result<u64>
where
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    let (mut reader, mut writer) = (&stream, &stream);
    let n = futures::io::copy(&mut reader, &mut writer).await?;
    writer.close().await?;
    Ok(n)
}

/// Writes `data`, flushes and half-closes, while reading the echo to end of
/// file.
pub(crate) async fn echo_round_trip<S>(stream: &S, data: &[u8]) -> io::Result<Vec<u8>>
where
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    let (mut reader, mut writer) = (stream, stream);
    let write = async move {
        writer.write_all(data).await?;
        writer.flush().await?;
        writer.close().await
    };
    let read = async move {
        let mut echo = Vec::new();
        reader.read_to_end(&mut echo).await?;
        Ok::<_, io::Error>(echo)
    };
    let (written, echo) = futures::join!(write, read);
    written?;
    echo
}

/// A callback-style echo channel: pushes back what it reads; the default
/// `handle_eof` flushes and closes.
pub(crate) struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        cx.push(&buf[..n])
    }
}
