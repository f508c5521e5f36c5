//! [`TlsIo`]: a stream socket with a rustls connection over it. The loop
//! reads and writes plaintext through it exactly as it does through a plain
//! socket; the records, the handshake and the alerts happen here.
//!
//! Output is bounded twice: the channel's output queue holds the plaintext
//! not yet handed over (with its watermarks, as over plaintext), and rustls
//! holds at most one batch of encrypted records, since plaintext is handed
//! over only once the records before it reached the socket.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, IoSlice, Write};
use std::time::Duration;

use rustls::Connection;

use super::TlsError;

/// Plaintext handed to rustls per write at most: a few full records, so the
/// records that wait for the socket stay a bounded batch.
const WRITE_CHUNK: usize = 64 * 1024;

/// A stream socket speaking TLS.
pub(crate) struct TlsIo {
    /// The TCP (or Unix stream) socket.
    socket: socket2::Socket,
    /// The TLS state: the loop's methods take `&self`.
    conn: RefCell<Connection>,
    /// A client whose TCP connect is still in progress.
    connecting: Cell<bool>,
    /// Plaintext queued before a STARTTLS upgrade: it goes out, as it
    /// is, before the first TLS record.
    plain_prefix: RefCell<Vec<u8>>,
    /// A fatal TLS error happened: no more reads, no `close_notify`.
    failed: Cell<bool>,
    /// A clean end (`Ok(0)`) was read.
    eof_seen: Cell<bool>,
    /// The handshake outlasted its deadline (an async stream learns it at
    /// its next use).
    expired: Cell<bool>,
    /// How long the handshake may take.
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIo")
            .field("socket", &self.socket)
            .field("handshaking", &self.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// Where a handshake stands after some progress.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Waiting for the peer (or for room in the socket).
    Pending,
    /// Complete: application data flows from now on.
    Done,
}

/// A TLS error as the `io::Error` the loop's I/O paths carry; it converts
/// back into [`Error::Tls`](crate::Error::Tls).
fn tls_io_error(error: TlsError) -> io::Error {
    let kind = match error {
        TlsError::Truncated => io::ErrorKind::UnexpectedEof,
        TlsError::HandshakeTimedOut(_) => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, error)
}

impl TlsIo {
    pub(crate) fn new(
        socket: socket2::Socket,
        conn: Connection,
        connecting: bool,
        handshake_timeout: Duration,
    ) -> TlsIo {
        TlsIo {
            socket,
            conn: RefCell::new(conn),
            connecting: Cell::new(connecting),
            plain_prefix: RefCell::new(Vec::new()),
            failed: Cell::new(false),
            expired: Cell::new(false),
            eof_seen: Cell::new(false),
            handshake_timeout,
        }
    }

    /// Sets the plaintext to send before the first TLS record (output a
    /// channel queued before it was upgraded).
    pub(crate) fn with_plain_prefix(self, prefix: Vec<u8>) -> TlsIo {
        *self.plain_prefix.borrow_mut() = prefix;
        self
    }

    /// Sends what is left of the plaintext prefix; would-block while some
    /// remains.
    fn flush_prefix(&self) -> io::Result<()> {
        let mut prefix = self.plain_prefix.borrow_mut();
        while !prefix.is_empty() {
            match (&self.socket).write(&prefix) {
                Ok(n) => {
                    prefix.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Puts the socket a connect by host name won in place of the
    /// placeholder the layer was built over; its TCP connect is in
    /// progress.
    pub(crate) fn set_socket(&mut self, socket: socket2::Socket) {
        self.socket = socket;
        self.connecting.set(true);
    }

    pub(crate) fn socket(&self) -> &socket2::Socket {
        &self.socket
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.borrow().is_handshaking()
    }

    pub(crate) fn is_client(&self) -> bool {
        matches!(*self.conn.borrow(), Connection::Client(_))
    }

    /// Marks the connection dead: no `close_notify` when it closes.
    pub(crate) fn fail(&self) {
        self.failed.set(true);
    }

    /// The handshake deadline passed: the handshake fails from now on.
    pub(crate) fn expire(&self) {
        self.expired.set(true);
        self.failed.set(true);
    }

    /// Queues `close_notify` after whatever is queued (idempotent); the
    /// next flush sends it.
    pub(crate) fn close_notify(&self) {
        if !self.failed.get() && !self.is_handshaking() {
            self.conn.borrow_mut().send_close_notify();
        }
    }

    /// The socket interest the handshake needs, once the TCP connect is
    /// done: what rustls wants to read and write.
    pub(crate) fn handshake_interest(&self) -> (bool, bool) {
        if self.connecting.get() || !self.plain_prefix.borrow().is_empty() {
            return (false, true);
        }
        let conn = self.conn.borrow();
        (conn.wants_read(), conn.wants_write())
    }

    /// Encrypted records wait for room in the socket.
    pub(crate) fn wants_write(&self) -> bool {
        !self.plain_prefix.borrow().is_empty() || self.conn.borrow().wants_write()
    }

    /// Whether decrypted input (or a peer's `close_notify`) waits in rustls
    /// with nothing left to show on the socket: the loop must dispatch the
    /// channel again by itself, as no poller event will come for it.
    pub(crate) fn has_buffered_input(&self) -> bool {
        if self.failed.get() || self.is_handshaking() {
            return false;
        }
        // Records are processed as soon as they are read, so what waits is
        // in the reader: bytes, or a clean end not yet delivered.
        match self.conn.borrow_mut().reader().fill_buf() {
            Ok([]) => !self.eof_seen.get(),
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Whether a client's TCP connect is still in progress.
    pub(crate) fn is_connecting(&self) -> bool {
        self.connecting.get()
    }

    /// The client's TCP connect finished; the handshake starts (its first
    /// flight, the ClientHello, is queued in rustls already).
    pub(crate) fn connected(&self) {
        self.connecting.set(false);
    }

    /// Advances the handshake as far as the socket allows: sends what
    /// rustls queued, reads and processes what the peer sent.
    ///
    /// # Errors
    ///
    /// A TLS protocol error (the alert for it is sent first, as far as the
    /// socket takes it), the peer ending the connection mid-handshake, or
    /// an I/O error.
    pub(crate) fn drive_handshake(&self) -> io::Result<Handshake> {
        if self.expired.get() {
            return Err(tls_io_error(TlsError::HandshakeTimedOut(
                self.handshake_timeout,
            )));
        }
        match self.flush_prefix() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Handshake::Pending),
            other => other?,
        }
        let mut conn = self.conn.borrow_mut();
        loop {
            self.send_records(&mut conn)?;
            if !conn.is_handshaking() {
                return Ok(Handshake::Done);
            }
            if !conn.wants_read() {
                return Ok(Handshake::Pending);
            }
            match conn.read_tls(&mut (&self.socket)) {
                Ok(0) => {
                    self.failed.set(true);
                    return Err(tls_io_error(TlsError::Truncated));
                }
                Ok(_) => self.process(&mut conn)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Handshake::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends queued records as far as the socket takes them now; what it
    /// does not take waits for the next flush.
    fn send_records(&self, conn: &mut Connection) -> io::Result<()> {
        while conn.wants_write() {
            match conn.write_tls(&mut (&self.socket)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Processes records read; on a protocol error sends the alert rustls
    /// queued (best effort: the connection is over anyway).
    fn process(&self, conn: &mut Connection) -> io::Result<()> {
        if let Err(e) = conn.process_new_packets() {
            self.failed.set(true);
            let _ = conn.write_tls(&mut (&self.socket));
            return Err(tls_io_error(TlsError::Protocol(e)));
        }
        Ok(())
    }

    /// Reads plaintext: `Ok(0)` at a clean end (the peer's `close_notify`),
    /// [`TlsError::Truncated`] if the peer ended without one, would-block
    /// while no whole record has arrived.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_chunk(|chunk| {
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            n
        })
    }

    /// Reads plaintext as [`read`](TlsIo::read) does, handing `take` the
    /// first chunk rustls holds (never empty) and consuming as many bytes
    /// as it returns: no buffer of the caller's needs initialising first.
    pub(crate) fn read_chunk(&self, take: impl FnOnce(&[u8]) -> usize) -> io::Result<usize> {
        if self.failed.get() {
            return Err(tls_io_error(TlsError::Truncated));
        }
        if self.is_handshaking() && self.drive_handshake()? == Handshake::Pending {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut conn = self.conn.borrow_mut();
        loop {
            let mut reader = conn.reader();
            match reader.fill_buf() {
                Ok([]) => {
                    self.eof_seen.set(true);
                    return Ok(0);
                }
                Ok(chunk) => {
                    let n = take(chunk);
                    reader.consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.failed.set(true);
                    return Err(tls_io_error(TlsError::Truncated));
                }
                Err(e) => return Err(e),
            }
            match conn.read_tls(&mut (&self.socket)) {
                // End of the socket: the reader now says clean or truncated.
                Ok(0) => {}
                Ok(_) => {
                    self.process(&mut conn)?;
                    // A key update or a session ticket may want an answer.
                    if conn.wants_write() {
                        let _ = conn.write_tls(&mut (&self.socket));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the records already encrypted; would-block while some remain.
    pub(crate) fn flush_records(&self) -> io::Result<()> {
        self.flush_prefix()?;
        let mut conn = self.conn.borrow_mut();
        while conn.wants_write() {
            match conn.write_tls(&mut (&self.socket)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Encrypts up to [`WRITE_CHUNK`] bytes of `bufs` once the records
    /// before them are sent, and sends what the socket takes. Returns the
    /// plaintext bytes taken; would-block if none could be (records still
    /// waiting, or the handshake still running).
    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.is_handshaking() && self.drive_handshake()? == Handshake::Pending {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush_records()?;
        let mut conn = self.conn.borrow_mut();
        let mut taken = 0;
        for buf in bufs {
            let room = WRITE_CHUNK - taken;
            if room == 0 {
                break;
            }
            let part = &buf[..buf.len().min(room)];
            let n = conn.writer().write(part)?;
            taken += n;
            if n < part.len() {
                break;
            }
        }
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.send_records(&mut conn)?;
        Ok(taken)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
}

impl Drop for TlsIo {
    /// Ends the session with a `close_notify` (after whatever records are
    /// still queued, as far as the socket takes them without blocking), so
    /// the peer can tell this end from a truncation.
    fn drop(&mut self) {
        if self.failed.get() || self.connecting.get() {
            return;
        }
        let conn = self.conn.get_mut();
        if conn.is_handshaking() {
            return;
        }
        conn.send_close_notify();
        while conn.wants_write() {
            match conn.write_tls(&mut (&self.socket)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}
