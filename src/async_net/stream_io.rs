//! `AsyncRead`/`AsyncWrite` for the async stream types, on the type and on
//! a shared reference (so a stream can be split into a reader and a writer
//! within one task).

/// Implements `futures_io::AsyncRead`/`AsyncWrite` for `$t` and `&$t`,
/// whose `source` field is a [`Source`](super::source::Source).
macro_rules! impl_stream_io {
    ($t:ty) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                futures_io::AsyncRead::poll_read(std::pin::Pin::new(&mut &*self), cx, buf)
            }
        }

        impl futures_io::AsyncRead for &$t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let wanted = buf.len();
                self.source.poll_read(cx, wanted, |io| io.read(buf), |n| *n)
            }
        }

        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(std::pin::Pin::new(&mut &*self), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                futures_io::AsyncWrite::poll_write_vectored(
                    std::pin::Pin::new(&mut &*self),
                    cx,
                    bufs,
                )
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                futures_io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut &*self), cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                futures_io::AsyncWrite::poll_close(std::pin::Pin::new(&mut &*self), cx)
            }
        }

        impl futures_io::AsyncWrite for &$t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.source
                    .poll_io(cx, $crate::async_net::source::Direction::Write, |io| {
                        io.write(buf)
                    })
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.source
                    .poll_io(cx, $crate::async_net::source::Direction::Write, |io| {
                        io.write_vectored(bufs)
                    })
            }

            /// Sends what the stream buffered itself: TLS records (a plain
            /// stream buffers nothing).
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.source.poll_flush(cx)
            }

            /// Shuts down the write side (the peer reads end of file), after
            /// `close_notify` over TLS; the socket closes when the stream is
            /// dropped.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.source.poll_close(cx)
            }
        }
    };
}

/// Adds `readable`, `writable`, `try_read` and `try_write` to `$t`.
macro_rules! impl_stream_readiness {
    ($t:ty) => {
        impl $t {
            /// Waits until the stream is readable (or at end of file, or in
            /// error), without holding a buffer: an idle connection's task
            /// then costs only its state. Readiness can be spurious, so
            /// follow it with [`try_read`](Self::try_read) and wait again on
            /// would-block.
            ///
            /// # Errors
            ///
            /// The stream's channel is gone (its map was dropped).
            pub async fn readable(&self) -> std::io::Result<()> {
                std::future::poll_fn(|cx| {
                    self.source
                        .poll_ready(cx, $crate::async_net::source::Direction::Read)
                })
                .await
            }

            /// Waits until the stream is writable; see
            /// [`readable`](Self::readable).
            ///
            /// # Errors
            ///
            /// The stream's channel is gone.
            pub async fn writable(&self) -> std::io::Result<()> {
                std::future::poll_fn(|cx| {
                    self.source
                        .poll_ready(cx, $crate::async_net::source::Direction::Write)
                })
                .await
            }

            /// Reads what is there without waiting: `Ok(0)` is end of file,
            /// [`WouldBlock`](std::io::ErrorKind::WouldBlock) means nothing
            /// is there yet.
            ///
            /// # Errors
            ///
            /// Would-block and socket errors.
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let wanted = buf.len();
                self.source.try_read(wanted, |io| io.read(buf), |n| *n)
            }

            /// Reads what is there without waiting, into uninitialised
            /// memory, and returns the part filled: as `try_read`, without
            /// zeroing a buffer first. An empty result (with a non-empty
            /// `buf`) is end of file.
            ///
            /// # Errors
            ///
            /// Would-block and socket errors.
            pub fn try_read_uninit<'b>(
                &self,
                buf: &'b mut [std::mem::MaybeUninit<u8>],
            ) -> std::io::Result<&'b mut [u8]> {
                let wanted = buf.len();
                self.source.try_read(
                    wanted,
                    |io| $crate::sys::read_uninit(io, buf),
                    |data| data.len(),
                )
            }

            /// Writes what the socket takes without waiting.
            ///
            /// # Errors
            ///
            /// Would-block and socket errors.
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.source
                    .try_io($crate::async_net::source::Direction::Write, |io| {
                        io.write(buf)
                    })
            }
        }
    };
}

pub(crate) use impl_stream_io;
pub(crate) use impl_stream_readiness;
