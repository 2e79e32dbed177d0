//! A WebSocket as the byte stream of lines every connection reads and
//! writes (spec §21): each text message that arrives is one line (an LF
//! is added), each line written goes out as one text message (its LF
//! taken off). So a web client's connection is served by the same
//! framer, parser, bounds and flow control as a TCP one. A binary message
//! is refused: the stream ends with an error. Never buffers more than
//! one message each way.

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
}

impl<S> WsLines<S> {
    /// `ws` as lines of at most `max` octets written.
    pub fn new(ws: WebSocketStream<S>, max: usize) -> WsLines<S> {
        WsLines {
            ws,
            incoming: Vec::new(),
            at: 0,
            outgoing: Vec::new(),
            max,
        }
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
        ready!(self.ws.poll_ready_unpin(cx)).map_err(broken)?;
        let Some(lf) = memchr::memchr(b'\n', buf) else {
            if self.outgoing.len() + buf.len() > self.max {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a line longer than the most this side writes",
                )));
            }
            self.outgoing.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
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
        self.ws.poll_flush_unpin(cx).map_err(broken)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ws.poll_close_unpin(cx).map_err(broken)
    }
}
