//! The server's TLS transport: a stream over rustls's unbuffered API that
//! holds no buffer while its peer is quiet (spec §11, §15).
//!
//! rustls's buffered connection keeps a 4 KiB receive buffer for the whole
//! life of a connection, which with tens of thousands of idle clients is
//! most of what a TLS client costs. Here the octets in flight are ours and
//! exist only while they are in flight: the part of a record read but not
//! yet complete, plaintext the reader has not taken, ciphertext the socket
//! has not taken. Each buffer is freed as soon as it is empty.
//!
//! It must never parse chat lines, never wait on anything but its own
//! socket, and never hold more than [`INCOMING_LIMIT`] octets read or
//! [`OUTGOING_LIMIT`] (plus one write's records) to send.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Octets read from the socket at once: a stack buffer, so a read that
/// finds nothing allocates nothing.
const READ_SIZE: usize = 4096;

/// The most octets of unprocessed records held: the largest handshake
/// message rustls accepts (64 KiB) plus one record. More is an attack.
pub const INCOMING_LIMIT: usize = 0x1_0000 + 0x4800;

/// Ciphertext held for the socket before a write waits (spec §11: what
/// the transport holds is outside the outbox's bounds, so it stays small).
pub const OUTGOING_LIMIT: usize = 16 * 1024;

/// Plaintext encrypted by one write: one full record.
const MAX_WRITE: usize = 16 * 1024;

thread_local! {
    /// Where a write's records are made before they go to the socket: one
    /// per worker thread, reused, so writing allocates nothing.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A server-side TLS connection over `IO`, after its handshake.
pub struct TlsStream<IO> {
    /// The socket.
    io: IO,
    /// rustls's state: keys, sequence numbers, the handshake's progress;
    /// no buffers of its own beyond records it has decrypted for us.
    conn: UnbufferedServerConnection,
    /// Octets read but not yet processed: at most one incomplete record
    /// (or handshake flight). Empty, and unallocated, when idle.
    incoming: Vec<u8>,
    /// Decrypted octets the reader has not taken yet, from `plaintext_at`.
    plaintext: Vec<u8>,
    /// How much of `plaintext` the reader has taken.
    plaintext_at: usize,
    /// Ciphertext (and handshake records) not yet written, from
    /// `outgoing_at`; order is the order rustls produced them in.
    outgoing: Vec<u8>,
    /// How much of `outgoing` the socket has taken.
    outgoing_at: usize,
    /// The peer sent close_notify or closed its side: reads return end of
    /// stream.
    read_closed: bool,
    /// Our close_notify is queued: nothing more may be written.
    write_closed: bool,
    /// rustls reported an error: the connection is unusable, and rustls
    /// must not be called again (it would process the bad record twice).
    failed: bool,
}

/// What one call into rustls did.
enum Step {
    /// It changed something (records decrypted, handshake data encoded):
    /// call again.
    Again,
    /// Application data may be sent; nothing is left to process.
    Writable,
    /// The plaintext passed in was encrypted: this many octets.
    Wrote(usize),
    /// More octets from the peer are needed.
    NeedInput,
    /// Both sides sent close_notify.
    Closed,
}

/// What to ask of rustls when it reaches the state where it can encrypt.
enum Send<'a> {
    /// Nothing: just process what was read.
    Nothing,
    /// Encrypt these octets, appending the records to the vector.
    Data(&'a [u8], &'a mut Vec<u8>),
    /// Queue close_notify.
    CloseNotify,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Runs the server side of a handshake over `io` with `config`.
    /// Returns once the handshake is complete. A failure (a plaintext or HTTP client, a bad handshake, a
    /// peer that hangs up) is an error; a fatal alert is sent first when
    /// the socket takes it at once.
    pub async fn accept(config: Arc<ServerConfig>, io: IO) -> io::Result<TlsStream<IO>> {
        let mut stream = TlsStream {
            io,
            conn: UnbufferedServerConnection::new(config).map_err(io::Error::other)?,
            incoming: Vec::new(),
            plaintext: Vec::new(),
            plaintext_at: 0,
            outgoing: Vec::new(),
            outgoing_at: 0,
            read_closed: false,
            write_closed: false,
            failed: false,
        };
        poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    /// Octets held in buffers now: what an idle connection must not hold.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.incoming.capacity() + self.plaintext.capacity() + self.outgoing.capacity()
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let step = match self.step(Send::Nothing) {
                Ok(step) => step,
                Err(e) => {
                    // The alert rustls queued, if the socket takes it now.
                    let _ = self.poll_send(cx);
                    return Poll::Ready(Err(e));
                }
            };
            match step {
                Step::Again | Step::Wrote(_) => {}
                Step::Writable if !self.conn.is_handshaking() => {
                    // The last records (TLS 1.3's session tickets) go now
                    // if the socket takes them, else with the first write:
                    // a client need not read before it speaks.
                    if let Poll::Ready(Err(e)) = self.poll_send(cx) {
                        return Poll::Ready(Err(e));
                    }
                    self.release_idle();
                    return Poll::Ready(Ok(()));
                }
                Step::Writable | Step::NeedInput => {
                    ready!(self.poll_send(cx))?;
                    if ready!(self.poll_fill(cx))? == 0 {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
                Step::Closed => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
            }
        }
    }

    /// One call into rustls over what was read, handling the state it
    /// reaches. `send` is used only if that state allows encrypting.
    fn step(&mut self, send: Send<'_>) -> io::Result<Step> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TLS connection already failed",
            ));
        }
        // What the socket took is dropped before more is added, so the
        // buffer holds only what is still to send.
        if self.outgoing_at > 0 {
            self.outgoing.drain(..self.outgoing_at);
            self.outgoing_at = 0;
        }
        let UnbufferedStatus { mut discard, state } =
            self.conn.process_tls_records(&mut self.incoming);
        let step = match state {
            Err(e) => {
                self.fail(discard);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            Ok(ConnectionState::ReadTraffic(mut records)) => {
                let mut broken = None;
                while let Some(record) = records.next_record() {
                    match record {
                        Ok(record) => {
                            discard += record.discard;
                            self.plaintext.extend_from_slice(record.payload);
                        }
                        Err(e) => {
                            broken = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = broken {
                    self.fail(discard);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                Step::Again
            }
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                append(&mut self.outgoing, 512, |out| match data.encode(out) {
                    Ok(n) => Ok(n),
                    Err(EncodeError::InsufficientSize(e)) => Err(Some(e.required_size)),
                    Err(_) => Err(None),
                })?;
                Step::Again
            }
            // Records are sent in the order they are queued, so they count
            // as transmitted once they are in `outgoing`.
            Ok(ConnectionState::TransmitTlsData(data)) => {
                data.done();
                Step::Again
            }
            Ok(ConnectionState::WriteTraffic(mut traffic)) => match send {
                Send::Nothing => Step::Writable,
                Send::Data(plain, records) => {
                    let guess = plain.len() + 64 * (plain.len() / MAX_WRITE + 1);
                    append(records, guess, |out| match traffic.encrypt(plain, out) {
                        Ok(n) => Ok(n),
                        Err(EncryptError::InsufficientSize(e)) => Err(Some(e.required_size)),
                        Err(_) => Err(None),
                    })?;
                    Step::Wrote(plain.len())
                }
                Send::CloseNotify => {
                    append(&mut self.outgoing, 64, |out| {
                        match traffic.queue_close_notify(out) {
                            Ok(n) => Ok(n),
                            Err(EncryptError::InsufficientSize(e)) => Err(Some(e.required_size)),
                            Err(_) => Err(None),
                        }
                    })?;
                    self.write_closed = true;
                    Step::Again
                }
            },
            Ok(ConnectionState::PeerClosed) => {
                self.read_closed = true;
                Step::Again
            }
            Ok(ConnectionState::Closed) => {
                self.read_closed = true;
                Step::Closed
            }
            Ok(ConnectionState::BlockedHandshake) => Step::NeedInput,
            // Early data is not enabled; any other new state is unexpected.
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unexpected TLS state",
                ));
            }
        };
        self.discard(discard);
        Ok(step)
    }

    /// After a TLS error: marks the connection failed and puts the alert
    /// rustls queued into `outgoing`. Only records rustls already queued
    /// are taken (it is asked while it says it has some, so it never
    /// processes input again).
    fn fail(&mut self, discard: usize) {
        self.discard(discard);
        self.failed = true;
        for _ in 0..4 {
            if !self.conn.wants_write() {
                return;
            }
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut self.incoming);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    let _ = append(&mut self.outgoing, 64, |out| match data.encode(out) {
                        Ok(n) => Ok(n),
                        Err(EncodeError::InsufficientSize(e)) => Err(Some(e.required_size)),
                        Err(_) => Err(None),
                    });
                }
                Ok(ConnectionState::TransmitTlsData(data)) => data.done(),
                _ => return,
            }
        }
    }

    fn discard(&mut self, n: usize) {
        if n > 0 {
            self.incoming.drain(..n);
        }
    }

    /// Reads once from the socket into `incoming`; the number of octets
    /// (0 at end of stream).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.incoming.len() >= INCOMING_LIMIT {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS record or handshake message too large",
            )));
        }
        let mut buf = [0u8; READ_SIZE];
        let room = READ_SIZE.min(INCOMING_LIMIT - self.incoming.len());
        let mut read = ReadBuf::new(&mut buf[..room]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
        self.incoming.reserve_exact(read.filled().len());
        self.incoming.extend_from_slice(read.filled());
        Poll::Ready(Ok(read.filled().len()))
    }

    /// Writes `outgoing` to the socket; ready when all of it is written.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.outgoing_at < self.outgoing.len() {
            let n =
                ready!(Pin::new(&mut self.io).poll_write(cx, &self.outgoing[self.outgoing_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.outgoing_at += n;
        }
        self.outgoing = Vec::new();
        self.outgoing_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes freshly encrypted `records` straight to the socket when
    /// nothing is queued before them (the usual case: no copy, no
    /// allocation), and queues what the socket does not take.
    fn send_or_keep(&mut self, cx: &mut Context<'_>, records: &[u8]) -> io::Result<()> {
        if self.outgoing_at > 0 {
            self.outgoing.drain(..self.outgoing_at);
            self.outgoing_at = 0;
        }
        let mut at = 0;
        if self.outgoing_at == self.outgoing.len() {
            while at < records.len() {
                match Pin::new(&mut self.io).poll_write(cx, &records[at..]) {
                    Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                    Poll::Ready(Ok(n)) => at += n,
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => break,
                }
            }
        }
        self.outgoing.extend_from_slice(&records[at..]);
        Ok(())
    }

    /// Frees the buffers that are empty.
    fn release_idle(&mut self) {
        if self.incoming.is_empty() && self.incoming.capacity() > 0 {
            self.incoming = Vec::new();
        }
        if self.plaintext_at == self.plaintext.len() && self.plaintext.capacity() > 0 {
            self.plaintext = Vec::new();
            self.plaintext_at = 0;
        }
        if self.outgoing_at == self.outgoing.len() && self.outgoing.capacity() > 0 {
            self.outgoing = Vec::new();
            self.outgoing_at = 0;
        }
    }

    fn pending_plaintext(&self) -> &[u8] {
        &self.plaintext[self.plaintext_at..]
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let pending = this.pending_plaintext();
            if !pending.is_empty() {
                let n = pending.len().min(buf.remaining());
                buf.put_slice(&pending[..n]);
                this.plaintext_at += n;
                this.release_idle();
                return Poll::Ready(Ok(()));
            }
            if this.read_closed {
                return Poll::Ready(Ok(()));
            }
            let step = match this.step(Send::Nothing) {
                Ok(step) => step,
                Err(e) => {
                    // The alert, if the socket takes it now.
                    let _ = this.poll_send(cx);
                    return Poll::Ready(Err(e));
                }
            };
            match step {
                Step::Again | Step::Wrote(_) => {}
                Step::Closed => return Poll::Ready(Ok(())),
                Step::Writable | Step::NeedInput => {
                    // Records rustls queued while reading (the rest of the
                    // handshake, an alert) go out when the socket takes
                    // them.
                    if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                        return Poll::Ready(Err(e));
                    }
                    match this.poll_fill(cx) {
                        Poll::Pending => {
                            this.release_idle();
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(0)) if this.incoming.is_empty() => {
                            this.read_closed = true;
                        }
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the peer closed in the middle of a TLS record",
                            )));
                        }
                        Poll::Ready(Ok(_)) => {}
                    }
                }
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if this.outgoing.len() - this.outgoing_at >= OUTGOING_LIMIT {
            ready!(this.poll_send(cx))?;
        }
        let data = &data[..data.len().min(MAX_WRITE)];
        SCRATCH.with_borrow_mut(|records| {
            records.clear();
            loop {
                match this.step(Send::Data(data, records))? {
                    Step::Wrote(n) => {
                        this.send_or_keep(cx, records)?;
                        return Poll::Ready(Ok(n));
                    }
                    Step::Again => {}
                    Step::Closed => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                    // After the handshake rustls can always encrypt.
                    Step::Writable | Step::NeedInput => {
                        return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
                    }
                }
            }
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // After a failure there is no close_notify to send: only the alert
        // already queued.
        while !this.write_closed && !this.failed {
            match this.step(Send::CloseNotify) {
                Ok(Step::Again | Step::Wrote(_)) => {}
                Ok(Step::Closed | Step::Writable | Step::NeedInput) | Err(_) => break,
            }
        }
        this.write_closed = true;
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Lets `write` put octets at the end of `out`, growing it to the size
/// `write` asks for (`Err(Some(n))`) until they fit; `Err(None)` is a
/// failure.
fn append(
    out: &mut Vec<u8>,
    guess: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> io::Result<()> {
    let start = out.len();
    let mut room = guess;
    loop {
        // Exactly what is asked for: these buffers live per connection.
        out.reserve_exact(room);
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(needed)) if needed > room => room = needed,
            Err(_) => {
                out.truncate(start);
                return Err(io::Error::other("TLS could not encode a record"));
            }
        }
    }
}

/// Scripted-I/O tests: a real rustls client (tokio-rustls) over an
/// in-memory pipe, so every byte on the wire is real TLS.
#[cfg(test)]
mod tests;
