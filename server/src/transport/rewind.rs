//! A stream that gives back octets already read from it before reading
//! on: the web door reads a request's head in chunks, and a client may
//! have sent its first WebSocket frames right behind it (spec §21); those
//! octets are read again, first, by the socket. Never holds more than
//! what it was given, and frees it once given back.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `inner`, with `head` read again first.
#[derive(Debug)]
pub struct Rewind<S> {
    /// What was read already, still to be given back (emptied, and its
    /// memory freed, once given).
    head: Vec<u8>,
    /// How much of `head` was given back.
    at: usize,
    /// The stream itself.
    inner: S,
}

impl<S> Rewind<S> {
    /// `inner`, with `head` given back first.
    pub fn new(head: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind { head, at: 0, inner }
    }
}

/// Gives out what is left of `pending` (from `at` on) into `buf`, as much
/// as fits; frees `pending` once all of it is given. False if nothing
/// was left to give.
fn give_back(pending: &mut Vec<u8>, at: &mut usize, buf: &mut ReadBuf<'_>) -> bool {
    if *at >= pending.len() {
        return false;
    }
    let n = buf.remaining().min(pending.len() - *at);
    buf.put_slice(&pending[*at..*at + n]);
    *at += n;
    if *at == pending.len() {
        // Freed, not kept: an idle connection holds no buffer.
        *pending = Vec::new();
        *at = 0;
    }
    true
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if give_back(&mut this.head, &mut this.at, buf) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_head_comes_back_before_the_rest() {
        let rest: &[u8] = b" world";
        let mut r = Rewind::new(b"hello".to_vec(), rest);
        let mut all = String::new();
        r.read_to_string(&mut all).await.unwrap_or_default();
        assert_eq!(all, "hello world");
        assert!(r.head.is_empty());
    }
}
