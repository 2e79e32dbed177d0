//! The client's connection: a task that frames and decodes server lines
//! (spec §2, §7) from the socket and hands them over a bounded channel, and
//! the write half for sending lines. Knows nothing about rendering.

use std::net::SocketAddr;
use std::time::Duration;

use tagarela_parser::limits::SERVER_LINE_MAX;
use tagarela_parser::{Frame, LineFramer, ServerLine, ServerLineError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// Lines decoded ahead of the user interface at most.
const CHANNEL_BOUND: usize = 1024;

/// How long to try to connect before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that came from the server.
#[derive(Debug)]
pub enum Incoming {
    /// A decoded line.
    Line(ServerLine<'static>),
    /// A line that does not follow the spec (a bad server, or a newer one).
    Malformed(String),
    /// The connection ended; the text says how, if it was an error.
    Closed(Option<String>),
}

/// An open connection.
#[derive(Debug)]
pub struct Connection {
    pub incoming: mpsc::Receiver<Incoming>,
    writer: OwnedWriteHalf,
    pub peer: SocketAddr,
}

impl Connection {
    /// Connects to `host:port` and starts the reader task.
    pub async fn open(host: &str, port: u16) -> std::io::Result<Connection> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            })??;
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr()?;
        let (mut reader, writer) = stream.into_split();
        let (tx, incoming) = mpsc::channel(CHANNEL_BOUND);
        tokio::spawn(async move {
            let end = read_loop(&mut reader, &tx).await;
            let _ = tx.send(Incoming::Closed(end)).await;
        });
        Ok(Connection {
            incoming,
            writer,
            peer,
        })
    }

    /// Sends one line; `line` must not hold LF (a terminator is added).
    pub async fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(line.len() + 1);
        out.extend_from_slice(line);
        out.push(b'\n');
        self.writer.write_all(&out).await
    }
}

async fn read_loop(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    tx: &mpsc::Sender<Incoming>,
) -> Option<String> {
    let mut framer = LineFramer::new(SERVER_LINE_MAX, 4 * SERVER_LINE_MAX);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => return Some(e.to_string()),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        loop {
            let (used, frame) = framer.next(&buf[pos..]);
            let item = match frame {
                Frame::Line(line) => match ServerLine::parse(line) {
                    Ok(parsed) => Some(Incoming::Line(parsed.into_owned())),
                    // Forward compatibility (§7.1): ignore unknown keywords.
                    Err(ServerLineError::UnknownKeyword(_)) => None,
                    Err(e) => Some(Incoming::Malformed(format!(
                        "{e}: {}",
                        String::from_utf8_lossy(line)
                    ))),
                },
                Frame::TooLong => Some(Incoming::Malformed(
                    "server line longer than 2048 bytes".into(),
                )),
                Frame::Flood => return Some("the server sent an endless line".into()),
                Frame::NeedMore => {
                    pos += used;
                    break;
                }
            };
            pos += used;
            if let Some(item) = item {
                if tx.send(item).await.is_err() {
                    return None;
                }
            }
        }
        buf.drain(..pos);
    }
}
