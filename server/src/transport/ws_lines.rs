//! A WebSocket as the byte stream of lines every connection reads and
//! writes (spec §21): each text message that arrives is one line (an LF
//! is added), each line written goes out as one text message (its LF
//! taken off). So a web client's connection is served by the same
//! framer, parser, bounds and flow control as a TCP one. A binary message
//! is refused: the stream ends with an error.
//!
//! Reading, and the control frames (pongs, the close), are tungstenite's.
//! The lines this side writes are framed here, straight from the bytes
//! written: a text frame is a header of two or four octets before the
//! line (RFC 6455 §5.2), unmasked from a server, masked from a client
//! (which keeps tungstenite's writer: see [`WsLines::client`]). What was
//! framed and not yet taken by the socket is all that is held, and it
//! is freed once written.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::transport::rewind::give_back;

/// A WebSocket read and written as lines.
#[derive(Debug)]
pub struct WsLines<S> {
    /// The socket.
    ws: WebSocketStream<S>,
    /// The last message read, with its LF, still to be given out.
    incoming: Vec<u8>,
    /// How much of `incoming` was given out.
    at: usize,
    /// A line written in pieces, until its LF comes (at most `max`).
    outgoing: Vec<u8>,
    /// The longest line this side writes.
    max: usize,
    /// The server's side: lines are framed here ([`WsLines::server`]).
    framing: bool,
    /// Frames made of lines written, not yet all taken by the socket.
    framed: Vec<u8>,
    /// How much of `framed` the socket took.
    framed_at: usize,
}

/// The most octets of frames made in one write.
const FRAMED_MAX: usize = 16 * 1024;

impl<S> WsLines<S> {
    /// The server's side of `ws`: lines of at most `max` octets written,
    /// framed here.
    pub fn server(ws: WebSocketStream<S>, max: usize) -> WsLines<S> {
        WsLines {
            framing: true,
            ..WsLines::client(ws, max)
        }
    }

    /// A client's side of `ws` (its frames must be masked: tungstenite
    /// writes them), lines of at most `max` octets written.
    pub fn client(ws: WebSocketStream<S>, max: usize) -> WsLines<S> {
        WsLines {
            ws,
            incoming: Vec::new(),
            at: 0,
            outgoing: Vec::new(),
            max,
            framing: false,
            framed: Vec::new(),
            framed_at: 0,
        }
    }
}

/// Appends `line` as one unmasked text frame (RFC 6455 §5.2): FIN and
/// opcode 1, then the length in 7 bits, or 126 and 16 bits, or 127 and
/// 64 bits. A line that is not UTF-8 (the server writes UTF-8 only) is
/// sent with its bad octets replaced: a text frame must be UTF-8.
fn frame_into(out: &mut Vec<u8>, line: &[u8]) {
    let text: std::borrow::Cow<'_, [u8]> = match std::str::from_utf8(line) {
        Ok(_) => line.into(),
        Err(_) => String::from_utf8_lossy(line)
            .into_owned()
            .into_bytes()
            .into(),
    };
    let len = text.len();
    out.push(0x81);
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&text);
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsLines<S> {
    /// Writes what was framed until the socket took it all (then frees
    /// it), or cannot take more now.
    fn drain_framed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.framed_at < self.framed.len() {
            let at = self.framed_at;
            let n = ready!(Pin::new(self.ws.get_mut()).poll_write(cx, &self.framed[at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.framed_at += n;
        }
        self.framed = Vec::new();
        self.framed_at = 0;
        Poll::Ready(Ok(()))
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

    /// The server's write: frames the whole lines of `buf` (up to
    /// [`FRAMED_MAX`] octets of frames), keeps a piece without its LF.
    fn poll_write_framing(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // Whatever tungstenite holds (a pong) goes out first, whole, and
        // so do frames made before: frames never interleave.
        ready!(self.ws.poll_flush_unpin(cx)).map_err(broken)?;
        ready!(self.drain_framed(cx))?;
        let mut taken = 0;
        while self.framed.len() < FRAMED_MAX {
            let Some(lf) = memchr::memchr(b'\n', &buf[taken..]) else {
                break;
            };
            let mut line = &buf[taken..taken + lf];
            taken += lf + 1;
            let joined;
            if !self.outgoing.is_empty() {
                let mut whole = std::mem::take(&mut self.outgoing);
                whole.extend_from_slice(line);
                joined = whole;
                line = &joined;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            frame_into(&mut self.framed, line);
        }
        if taken == 0 {
            return Poll::Ready(self.keep_piece(buf));
        }
        // Taken: written now if the socket can, else at the next flush.
        if let Poll::Ready(Err(e)) = self.drain_framed(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }
}

fn broken(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsLines<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let this = &mut *self;
            if give_back(&mut this.incoming, &mut this.at, buf) {
                return Poll::Ready(Ok(()));
            }
            match ready!(self.ws.poll_next_unpin(cx)) {
                // The end, or a close: the stream ends.
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(broken(e))),
                Some(Ok(Message::Text(text))) => {
                    let mut line = Vec::with_capacity(text.len() + 1);
                    line.extend_from_slice(text.as_bytes());
                    line.push(b'\n');
                    self.incoming = line;
                }
                Some(Ok(Message::Binary(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a binary message: Tagarela lines are text messages",
                    )));
                }
                // Pings are answered by the socket itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsLines<S> {
    /// Takes at most one line: up to and including its LF, which sends
    /// it as one message (the caller writes the rest again).
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.framing {
            return self.poll_write_framing(cx, buf);
        }
        ready!(self.ws.poll_ready_unpin(cx)).map_err(broken)?;
        let Some(lf) = memchr::memchr(b'\n', buf) else {
            return Poll::Ready(self.keep_piece(buf));
        };
        let mut line = std::mem::take(&mut self.outgoing);
        line.extend_from_slice(&buf[..lf]);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        // The server writes UTF-8 only; a stray octet would be replaced,
        // never sent as an invalid text message.
        let text = match String::from_utf8(line) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        self.ws
            .start_send_unpin(Message::text(text))
            .map_err(broken)?;
        Poll::Ready(Ok(lf + 1))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.ws.poll_flush_unpin(cx)).map_err(broken)?;
        if self.framing {
            ready!(self.drain_framed(cx))?;
            return Pin::new(self.ws.get_mut()).poll_flush(cx);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.framing {
            ready!(self.drain_framed(cx))?;
        }
        self.ws.poll_close_unpin(cx).map_err(broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length_as_rfc_6455_says() {
        let mut out = Vec::new();
        frame_into(&mut out, b"hi");
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        let long = vec![b'a'; 300];
        out.clear();
        frame_into(&mut out, &long);
        assert_eq!(&out[..4], &[0x81, 126, 1, 44]);
        assert_eq!(out.len(), 4 + 300);
        out.clear();
        frame_into(&mut out, b"a\xffb");
        assert_eq!(out, [0x81, 5, b'a', 0xef, 0xbf, 0xbd, b'b']);
    }
}
