//! A WebSocket as the byte stream of lines every connection reads and
//! writes (spec §21.1): each text message that arrives is one line (an
//! LF is added), each line written goes out as one text message (its LF
//! taken off). So a web client's connection is served by the same
//! framer, parser, bounds and flow control as a TCP one.
//!
//! Frames are read and made by the parser's I/O-free
//! [`Unframer`] and [`frame`]: a read unframes into the caller's buffer
//! through one on the stack, so an idle socket holds no buffer. Pings
//! are answered with one pong for the latest, once what was written
//! before it is out; a close is answered with a close and ends the
//! stream. What was framed and not yet taken by the socket is all that
//! is held, at most [`FRAMED_MAX`] octets more than one line, and it is
//! freed once written. Never looks at what a line says.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ring::rand::SecureRandom;
use tagarela_parser::websocket::{Opcode, Reader, Unframer, close_code, frame};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Octets read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// The most octets of frames made in one write.
pub const FRAMED_MAX: usize = 16 * 1024;

/// A WebSocket read and written as lines.
#[derive(Debug)]
pub struct WsLines<S> {
    /// The socket, past its opening handshake.
    stream: S,
    /// Reads the peer's frames as lines; holds a ping to answer.
    unframer: Unframer,
    /// Masks this side's frames: a client's must be masked (RFC 6455
    /// §5.3), a server's must not be (None).
    masks: Option<MaskKeys>,
    /// A line written in pieces, until its LF comes (at most `max`).
    outgoing: Vec<u8>,
    /// The longest line this side writes.
    max: usize,
    /// Frames made, not yet all taken by the socket.
    framed: Vec<u8>,
    /// How much of `framed` the socket took.
    framed_at: usize,
    /// This side's close frame is framed: nothing is framed after it.
    close_framed: bool,
    /// What is framed is only answers to the peer's control frames, which
    /// the reading side may write. Lines written wait for the writing
    /// side's own flush: a reader that wrote them would take the socket's
    /// write wake-up from a writer in another task, which would then
    /// never wake.
    answers_only: bool,
    /// Lines go out as binary messages (IRC's `binary.ircv3.net`), not
    /// text ones.
    binary: bool,
}

/// Masking keys for a client's frames, each fresh from the system's
/// randomness, so that none can be foretold (RFC 6455 §5.3).
#[derive(Debug)]
struct MaskKeys(ring::rand::SystemRandom);

impl MaskKeys {
    fn new() -> MaskKeys {
        MaskKeys(ring::rand::SystemRandom::new())
    }

    /// The next key.
    fn next(&mut self) -> io::Result<[u8; 4]> {
        let mut key = [0u8; 4];
        self.0
            .fill(&mut key)
            .map_err(|_| io::Error::other("no randomness for a masking key"))?;
        Ok(key)
    }
}

impl<S> WsLines<S> {
    /// The server's side of `stream`: lines of at most `max` octets
    /// written.
    pub fn server(stream: S, max: usize) -> WsLines<S> {
        WsLines::new(stream, Reader::Server, None, max)
    }

    /// The server's side of `stream` for IRC over WebSocket (spec
    /// §21.4): text and binary messages are both lines in (what is not
    /// UTF-8 is the IRC front's to refuse); lines go out as binary
    /// messages for `binary.ircv3.net` (`binary`), text ones for
    /// `text.ircv3.net`.
    pub fn server_irc(stream: S, max: usize, binary: bool) -> WsLines<S> {
        let mut lines = WsLines::new(stream, Reader::Server, None, max);
        lines.unframer.accept_binary();
        lines.binary = binary;
        lines
    }

    /// A client's side of `stream` (its frames masked), lines of at most
    /// `max` octets written.
    pub fn client(stream: S, max: usize) -> WsLines<S> {
        WsLines::new(stream, Reader::Client, Some(MaskKeys::new()), max)
    }

    fn new(stream: S, reader: Reader, masks: Option<MaskKeys>, max: usize) -> WsLines<S> {
        WsLines {
            stream,
            unframer: Unframer::new(reader),
            masks,
            outgoing: Vec::new(),
            max,
            framed: Vec::new(),
            framed_at: 0,
            close_framed: false,
            answers_only: false,
            binary: false,
        }
    }

    /// Frames `payload` as one frame of `opcode`, masked if this side must.
    fn frame(&mut self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        let mask = self.masks.as_mut().map(MaskKeys::next).transpose()?;
        frame(&mut self.framed, opcode, payload, mask);
        Ok(())
    }

    /// Frames this side's close, once, with `code`.
    fn frame_close(&mut self, code: Option<u16>) -> io::Result<()> {
        if self.close_framed {
            return Ok(());
        }
        self.close_framed = true;
        let payload = code.map(u16::to_be_bytes);
        self.frame(Opcode::Close, payload.as_ref().map_or(&[][..], |p| &p[..]))
    }

    /// Frames the answers the peer's control frames are owed: an echo of
    /// its close, or a pong for its latest ping once all written before
    /// it is out (so pongs never pile up behind a reader that is slow).
    fn frame_answers(&mut self) -> io::Result<()> {
        let idle = self.framed_at == self.framed.len();
        if idle {
            self.answers_only = true;
        }
        if idle
            && !self.close_framed
            && let Some(ping) = self.unframer.take_ping()
        {
            let mut pong = [0u8; tagarela_parser::websocket::CONTROL_MAX];
            let len = ping.len();
            pong[..len].copy_from_slice(ping);
            self.frame(Opcode::Pong, &pong[..len])?;
        }
        if let Some(code) = self.unframer.closed() {
            self.frame_close(code)?;
        }
        Ok(())
    }
}

/// Appends `line` as one text frame. A line that is not UTF-8 (the
/// server writes UTF-8 only) is sent with its bad octets replaced: a text
/// frame must be UTF-8.
fn frame_line<S>(ws: &mut WsLines<S>, line: &[u8]) -> io::Result<()> {
    ws.answers_only = false;
    if ws.binary {
        return ws.frame(Opcode::Binary, line);
    }
    match std::str::from_utf8(line) {
        Ok(_) => ws.frame(Opcode::Text, line),
        Err(_) => {
            let text = String::from_utf8_lossy(line).into_owned();
            ws.frame(Opcode::Text, text.as_bytes())
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsLines<S> {
    /// Writes what was framed until the socket took it all (then frees
    /// it), or cannot take more now.
    fn drain_framed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.framed_at < self.framed.len() {
            let at = self.framed_at;
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.framed[at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.framed_at += n;
        }
        self.framed = Vec::new();
        self.framed_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Sends what the peer's control frames are owed, as far as the socket
    /// takes it now, when nothing but such answers is framed (lines wait
    /// for the writing side); an error is the socket's.
    fn answer(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        for _ in 0..2 {
            // Answers framed before go first: then a ping that waited for
            // them is answered in the same turn.
            if self.answers_only
                && let Poll::Ready(Err(e)) = self.drain_framed(cx)
            {
                return Err(e);
            }
            self.frame_answers()?;
        }
        if self.answers_only
            && let Poll::Ready(Err(e)) = self.drain_framed(cx)
        {
            return Err(e);
        }
        Ok(())
    }

    /// Keeps `piece`, a line's start without its LF, until the LF comes
    /// (at most `max` octets).
    fn keep_piece(&mut self, piece: &[u8]) -> io::Result<usize> {
        if self.outgoing.len() + piece.len() > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a line longer than the most this side writes",
            ));
        }
        self.outgoing.extend_from_slice(piece);
        Ok(piece.len())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsLines<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.answer(cx)?;
        loop {
            if this.unframer.closed().is_some() || buf.remaining() == 0 {
                // The peer closed: the stream ends.
                return Poll::Ready(Ok(()));
            }
            if this.unframer.lf_owed() {
                let done = this.unframer.unframe(&[], buf.initialize_unfilled());
                buf.advance(done.map_or(0, |d| d.written));
                return Poll::Ready(Ok(()));
            }
            // An output as long as the input takes it all when no LF is
            // owed (see `Unframer::unframe`).
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk[..READ_CHUNK.min(buf.remaining())]);
            ready!(Pin::new(&mut this.stream).poll_read(cx, &mut read))?;
            let input = read.filled();
            if input.is_empty() {
                return Poll::Ready(Ok(()));
            }
            match this.unframer.unframe(input, buf.initialize_unfilled()) {
                Ok(done) => {
                    debug_assert_eq!(done.consumed, input.len());
                    buf.advance(done.written);
                    this.answer(cx)?;
                    if done.written > 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Err(e) => {
                    // Said to the peer if the socket takes it now (and
                    // no line is framed before it: the writer sends those).
                    if this.framed_at == this.framed.len() {
                        this.answers_only = true;
                    }
                    this.frame_close(Some(e.close_code()))?;
                    if this.answers_only {
                        let _ = this.drain_framed(cx);
                    }
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsLines<S> {
    /// Frames the whole lines of `buf` (up to [`FRAMED_MAX`] octets of
    /// frames), each a text message; keeps a piece without its LF.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.close_framed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        // Frames made before go out first, whole: frames never interleave.
        ready!(this.drain_framed(cx))?;
        let mut taken = 0;
        while this.framed.len() < FRAMED_MAX {
            let Some(lf) = memchr::memchr(b'\n', &buf[taken..]) else {
                break;
            };
            let mut line = &buf[taken..taken + lf];
            taken += lf + 1;
            let joined;
            if !this.outgoing.is_empty() {
                let mut whole = std::mem::take(&mut this.outgoing);
                whole.extend_from_slice(line);
                joined = whole;
                line = &joined;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            frame_line(this, line)?;
        }
        if taken == 0 {
            return Poll::Ready(this.keep_piece(buf));
        }
        // Taken: written now if the socket can, else at the next flush.
        if let Poll::Ready(Err(e)) = this.drain_framed(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain_framed(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Sends this side's close (1000, unless one was sent already), then
    /// ends the socket.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.frame_close(Some(close_code::NORMAL))?;
        ready!(self.drain_framed(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn lines_cross_as_text_messages_both_ways() {
        let (a, b) = tokio::io::duplex(64);
        let mut client = WsLines::client(a, 1024);
        let mut server = WsLines::server(b, 1024);
        client.write_all(b"hello\nwor").await.unwrap_or_default();
        client.write_all(b"ld\n").await.unwrap_or_default();
        client.flush().await.unwrap_or_default();
        let mut got = [0u8; 12];
        server.read_exact(&mut got).await.unwrap_or_default();
        assert_eq!(&got, b"hello\nworld\n");
        server
            .write_all("olá\r\n".as_bytes())
            .await
            .unwrap_or_default();
        server.flush().await.unwrap_or_default();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap_or_default();
        assert_eq!(&got, "olá\n".as_bytes());
    }

    #[tokio::test]
    async fn a_ping_flood_is_answered_with_one_pong_and_a_close_ends_the_stream() {
        let (mut peer, ours) = tokio::io::duplex(4096);
        let mut server = WsLines::server(ours, 1024);
        let mut wire = Vec::new();
        for _ in 0..100 {
            frame(&mut wire, Opcode::Ping, b"p", Some([1, 2, 3, 4]));
        }
        frame(&mut wire, Opcode::Text, b"hi", Some([5, 6, 7, 8]));
        frame(
            &mut wire,
            Opcode::Close,
            &1000u16.to_be_bytes(),
            Some([9, 9, 9, 9]),
        );
        peer.write_all(&wire).await.unwrap_or_default();
        // Read as a connection reads: a chunk at a time.
        let mut lines = Vec::new();
        let mut chunk = [0u8; READ_CHUNK];
        while let Ok(n @ 1..) = server.read(&mut chunk).await {
            lines.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(lines, b"hi\n");
        drop(server);
        let mut answers = Vec::new();
        peer.read_to_end(&mut answers).await.unwrap_or_default();
        // One pong (payload "p"), then the close echoed.
        assert_eq!(answers, [0x8A, 1, b'p', 0x88, 2, 0x03, 0xE8]);
    }

    #[tokio::test]
    async fn a_broken_frame_is_an_error_and_a_close_with_its_code() {
        let (mut peer, ours) = tokio::io::duplex(4096);
        let mut server = WsLines::server(ours, 1024);
        // Unmasked, from a client.
        peer.write_all(&[0x81, 0x01, b'a'])
            .await
            .unwrap_or_default();
        let mut lines = Vec::new();
        let read = server.read_to_end(&mut lines).await;
        assert_eq!(read.map_err(|e| e.kind()), Err(io::ErrorKind::InvalidData));
        drop(server);
        let mut answers = Vec::new();
        peer.read_to_end(&mut answers).await.unwrap_or_default();
        assert_eq!(answers, [0x88, 2, 0x03, 0xEA]);
    }
}
