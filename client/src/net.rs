//! The client's connection: a task that frames and decodes server lines
//! (spec §2, §7) from the socket and hands them over a bounded channel, and
//! the write half for sending lines. Knows nothing about rendering. Holds
//! at most one partial line (`server-line-max`) plus one read: an over-long
//! line is skipped as it streams in, never held whole.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;
use tagarela_parser::{ServerLine, ServerLineError};
use tagarela_reader::{LineReader, Received};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls::Policy;
use tokio::sync::mpsc;

/// Lines decoded ahead of the user interface at most.
const CHANNEL_BOUND: usize = 1024;

/// Octets of one line without an end after which the server is taken to be
/// broken. Skipping costs no memory, so this is generous: a line that does
/// end before it is reported with its length and skipped.
const ENDLESS: usize = 16 * 1024 * 1024;

/// How long to try to connect before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that came from the server.
#[derive(Debug)]
pub enum Incoming {
    /// A decoded line.
    Line(ServerLine<'static>),
    /// A line that does not follow the spec (a bad server, or a newer one).
    Malformed(String),
    /// A line longer than `server-line-max` (spec §2.4), skipped; its
    /// length in octets, terminator excluded.
    TooLong(usize),
    /// The connection ended; the text says how, if it was an error.
    Closed(Option<String>),
}

/// An open connection.
pub struct Connection {
    pub incoming: mpsc::Receiver<Incoming>,
    /// Plain TCP's write half, or TLS's.
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub peer: SocketAddr,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish()
    }
}

impl Connection {
    /// Connects to `host:port` over TLS under `policy` (spec §15), or in
    /// plain text without one, and starts the reader task. A refused
    /// certificate is an `InvalidData` error; the policy says why.
    pub async fn open_with(
        host: &str,
        port: u16,
        policy: Option<&Arc<Policy>>,
    ) -> std::io::Result<Connection> {
        let Some(policy) = policy else {
            return Connection::open(host, port).await;
        };
        let stream = connect(host, port).await?;
        let peer = stream.peer_addr()?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let connector = TlsConnector::from(Arc::new(policy.config()));
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "the TLS handshake timed out")
            })??;
        let (reader, writer) = tokio::io::split(tls);
        Ok(Connection::start(reader, Box::new(writer), peer))
    }

    /// Connects to `host:port` in plain text and starts the reader task.
    pub async fn open(host: &str, port: u16) -> std::io::Result<Connection> {
        let stream = connect(host, port).await?;
        let peer = stream.peer_addr()?;
        let (reader, writer) = stream.into_split();
        Ok(Connection::start(reader, Box::new(writer), peer))
    }

    fn start<R: AsyncRead + Send + Unpin + 'static>(
        reader: R,
        writer: Box<dyn AsyncWrite + Send + Unpin>,
        peer: SocketAddr,
    ) -> Connection {
        let (tx, incoming) = mpsc::channel(CHANNEL_BOUND);
        tokio::spawn(async move {
            let end = read_loop(reader, &tx).await;
            let _ = tx.send(Incoming::Closed(end)).await;
        });
        Connection {
            incoming,
            writer,
            peer,
        }
    }

    /// Sends one line; `line` must not hold LF (a terminator is added).
    pub async fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(line.len() + 1);
        out.extend_from_slice(line);
        out.push(b'\n');
        self.writer.write_all(&out).await?;
        // TLS buffers what it encrypts until flushed.
        self.writer.flush().await
    }
}

/// Opens the TCP connection, giving up after `CONNECT_TIMEOUT`.
async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )
        })??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Reads and decodes until the stream ends; returns why it ended if that
/// was an error.
async fn read_loop<R: AsyncRead + Unpin>(reader: R, tx: &mpsc::Sender<Incoming>) -> Option<String> {
    let mut lines = LineReader::server_lines(reader).with_flood_cap(ENDLESS);
    loop {
        let item = match lines.next().await {
            Ok(None) => return None,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Some(format!(
                    "the server sent more than {} MiB without a line end",
                    ENDLESS / (1024 * 1024)
                ));
            }
            Err(e) => return Some(e.to_string()),
            Ok(Some(Received::TooLong { octets })) => Some(Incoming::TooLong(octets)),
            Ok(Some(Received::Line(line))) => match ServerLine::parse(line) {
                Ok(parsed) => Some(Incoming::Line(parsed.into_owned())),
                // Forward compatibility (§7.1): ignore unknown keywords.
                Err(ServerLineError::UnknownKeyword(_)) => None,
                Err(e) => Some(Incoming::Malformed(format!(
                    "{e}: {}",
                    String::from_utf8_lossy(line)
                ))),
            },
        };
        if let Some(item) = item
            && tx.send(item).await.is_err()
        {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(data: &[u8]) -> (Vec<Incoming>, Option<String>) {
        let (tx, mut rx) = mpsc::channel(16);
        let end = read_loop(data, &tx).await;
        drop(tx);
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await {
            got.push(item);
        }
        (got, end)
    }

    #[tokio::test]
    async fn an_over_long_line_that_ends_is_skipped_with_its_length() {
        let mut data = b"PONG a\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100_000));
        data.extend_from_slice(b"\nPONG b\n");
        let (got, end) = read_all(&data).await;
        assert_eq!(end, None);
        assert!(
            matches!(
                &got[..],
                [
                    Incoming::Line(ServerLine::Pong { .. }),
                    Incoming::TooLong(100_000),
                    Incoming::Line(ServerLine::Pong { .. }),
                ]
            ),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_line_just_over_the_limit_is_measured_too() {
        use tagarela_parser::limits::SERVER_LINE_MAX;
        let mut data = vec![b'y'; SERVER_LINE_MAX + 1];
        data.push(b'\n');
        let (got, _) = read_all(&data).await;
        assert!(matches!(&got[..], [Incoming::TooLong(2049)]), "{got:?}");
    }

    #[tokio::test]
    async fn an_endless_line_ends_the_connection() {
        let data = vec![b'z'; ENDLESS + 20_000];
        let (got, end) = read_all(&data).await;
        assert!(got.is_empty(), "{got:?}");
        assert!(end.is_some_and(|e| e.contains("without a line end")));
    }
}
