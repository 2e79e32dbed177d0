//! The one line reader for every Tagarela program that reads the protocol
//! over an async stream: the client, the load generator, the conformance
//! suite and the tests. It frames with the parser's [`LineFramer`] (so
//! every reader splits lines exactly as the spec says, §2.2) and keeps
//! only what it must: a partial line, never more than the limit plus one
//! read. Decoding a line's grammar is the caller's business
//! ([`tagarela_parser::ServerLine::parse`] and friends); this crate only
//! turns a stream of octets into lines.
#![forbid(unsafe_code)]

use std::io;

use tagarela_parser::limits::SERVER_LINE_MAX;
use tagarela_parser::{Frame, LineFramer};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Octets read from the stream at a time.
const READ_CHUNK: usize = 8192;

/// What the reader found next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// One complete line, terminator (LF or CR LF) removed.
    Line(&'a [u8]),
    /// A line longer than the limit ended; it was discarded whole, as it
    /// streamed in. `octets` is its length, terminator excluded.
    TooLong { octets: usize },
}

/// Splits an async byte stream into lines of at most a given length.
#[derive(Debug)]
pub struct LineReader<R> {
    /// The stream.
    inner: R,
    /// Octets read and not yet given out as lines.
    buf: Vec<u8>,
    /// Where the octets not yet given out start in `buf`.
    start: usize,
    /// Octets after `start` that the last line used; skipped on the next
    /// call (the line borrowed them until then).
    used: usize,
    /// Where lines end (§2.2) and how long they may be.
    framer: LineFramer,
    /// Whether the last line given out ended in CR LF rather than LF.
    crlf: bool,
    /// Octets of the over-long line being discarded so far.
    discarded: usize,
    /// Whether the last of them was a CR (terminator, if LF comes next).
    discarded_cr: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of server lines (§7): at most `server-line-max` octets.
    /// Longer lines are reported as [`Received::TooLong`] however long they
    /// are; none is fatal.
    pub fn server_lines(inner: R) -> Self {
        Self::with_limit(inner, SERVER_LINE_MAX)
    }

    /// A reader of lines of at most `max` octets of content.
    pub fn with_limit(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            start: 0,
            used: 0,
            // No flood cap: a reader discards an over-long line as it
            // streams in, so its length costs nothing but time.
            framer: LineFramer::new(max, usize::MAX / 2),
            discarded: 0,
            discarded_cr: false,
            crlf: false,
        }
    }

    /// The same reader, giving up with an `InvalidData` error once one line
    /// has run past `cap` octets without its end (a peer that never ends a
    /// line, for a program that would rather stop than wait forever).
    pub fn with_flood_cap(mut self, cap: usize) -> Self {
        self.framer = LineFramer::new(self.framer.max_line(), cap);
        self
    }

    /// The next line; `None` at the end of the stream (a partial line at
    /// that point is not a line, §9.2, and is dropped). Cancel-safe: a
    /// call dropped while it waits loses nothing.
    pub async fn next(&mut self) -> io::Result<Option<Received<'_>>> {
        // The last line's octets are dropped only now (it borrowed them);
        // the buffer is compacted only before a read, so a read holding
        // many lines costs one move, not one per line.
        self.start += self.used;
        self.used = 0;
        loop {
            let (used, frame) = self.framer.next(&self.buf[self.start..]);
            match frame {
                Frame::Line(_) => {
                    self.used = used;
                    let raw = &self.buf[self.start..self.start + used];
                    self.crlf = raw.ends_with(b"\r\n");
                    return Ok(Some(Received::Line(strip_terminator(raw))));
                }
                Frame::TooLong => {
                    let tail = &self.buf[self.start..self.start + used];
                    let mut octets = self.discarded + strip_terminator(tail).len();
                    if tail == b"\n" && self.discarded_cr {
                        // The CR of CR LF came at the end of an earlier read.
                        octets -= 1;
                    }
                    self.discarded = 0;
                    self.discarded_cr = false;
                    self.start += used;
                    return Ok(Some(Received::TooLong { octets }));
                }
                Frame::Flood => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a line ran past the flood cap without its end",
                    ));
                }
                Frame::NeedMore => {
                    if self.framer.is_discarding() && used > 0 {
                        self.discarded += used;
                        self.discarded_cr = self.buf[self.start + used - 1] == b'\r';
                    }
                    self.start += used;
                    self.buf.drain(..self.start);
                    self.start = 0;
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The next line as text (invalid UTF-8 replaced), or `None` at the
    /// end of the stream; an over-long line comes as an error. For tools
    /// and tests that only compare text.
    pub async fn next_text(&mut self) -> io::Result<Option<String>> {
        match self.next().await? {
            None => Ok(None),
            Some(Received::Line(line)) => Ok(Some(String::from_utf8_lossy(line).into_owned())),
            Some(Received::TooLong { octets }) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line of {octets} octets, longer than the limit"),
            )),
        }
    }

    /// Reads once more; false at the end of the stream. Cancel-safe:
    /// nothing changes until the read has completed.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.inner.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream, to write to it (for a duplex stream) or configure it.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Whether the last line ended in CR LF (a server sends LF alone,
    /// §2.2; the conformance suite checks that).
    pub fn last_ended_in_crlf(&self) -> bool {
        self.crlf
    }

    /// The stream back (octets read but not yet given out are lost).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Octets read but not yet given out as lines.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start + self.used..]
    }
}

/// A frame's octets without its terminator.
fn strip_terminator(frame: &[u8]) -> &[u8] {
    let line = frame.strip_suffix(b"\n").unwrap_or(frame);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize, chunk: usize) -> Vec<String> {
        let (mut tx, rx) = tokio::io::duplex(chunk.max(1));
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in input.chunks(chunk.max(1)) {
                if tx.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let mut reader = LineReader::with_limit(rx, max);
        let mut out = Vec::new();
        while let Some(got) = reader.next().await.unwrap_or(None) {
            out.push(match got {
                Received::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Received::TooLong { octets } => format!("<too long: {octets}>"),
            });
        }
        let _ = writer.await;
        out
    }

    #[tokio::test]
    async fn lines_whatever_the_chunking() {
        let input = b"a\nbb\r\n\ncc\r\rd\nunfinished";
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(
                all(input, 16, chunk).await,
                ["a", "bb", "", "cc\r\rd"],
                "chunk {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn an_over_long_line_is_reported_with_its_length_and_reading_goes_on() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\r\nnext\n");
        for chunk in [1000, 4096, 100_007] {
            assert_eq!(
                all(&input, 2048, chunk).await,
                ["<too long: 100000>", "next"],
                "chunk {chunk}"
            );
        }
        assert_eq!(all(b"abcde\nok\n", 4, 2).await, ["<too long: 5>", "ok"]);
        // CR at the end of one read, LF at the start of the next (review
        // finding: counted as content).
        assert_eq!(all(b"abcde\r\nok\n", 4, 6).await, ["<too long: 5>", "ok"]);
    }
}
