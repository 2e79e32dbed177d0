//! The parties a scenario drives: raw TCP clients that speak the wire
//! protocol byte for byte, and the client binary in scripted mode (stdin in,
//! stdout lines out). Both read whole lines with a deadline and keep lines
//! set aside by compound steps for later expectations.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tagarela_reader::{LineReader, Received};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio_rustls::client::TlsStream;

/// What reading a line produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Line(String),
    Eof,
    Timeout,
}

/// Longest line read from the client binary's stdout (its own lines, such
/// as `LOST :why`, are not bound by the protocol's limits).
const CLIENT_LINE_MAX: usize = 64 * 1024;

/// A raw TCP client.
#[derive(Debug)]
pub struct TcpPeer {
    reader: Option<LineReader<OwnedReadHalf>>,
    writer: Option<OwnedWriteHalf>,
}

/// The client binary.
#[derive(Debug)]
pub struct ClientPeer {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: LineReader<ChildStdout>,
}

/// Either kind of peer, with lines set aside.
#[derive(Debug)]
pub struct Peer {
    pub kind: PeerKind,
    pub pending: VecDeque<String>,
    pub pings: u32,
    /// Answer the server's `PING` (spec §10) and hide it, as a real client
    /// does. Off for a peer told to stay `silent`.
    pub auto_pong: bool,
}

#[derive(Debug)]
pub enum PeerKind {
    Tcp(TcpPeer),
    Tls(Box<TlsPeer>),
    Client(Box<ClientPeer>),
}

/// A raw client over TLS.
pub struct TlsPeer {
    reader: Option<LineReader<ReadHalf<TlsStream<TcpStream>>>>,
    writer: Option<WriteHalf<TlsStream<TcpStream>>>,
}

impl std::fmt::Debug for TlsPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsPeer")
    }
}

impl Peer {
    /// Connects a raw TCP client.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Peer> {
        let stream = TcpStream::connect(addr).await?;
        let (r, w) = stream.into_split();
        Ok(Peer::new(PeerKind::Tcp(TcpPeer {
            reader: Some(LineReader::server_lines(r)),
            writer: Some(w),
        })))
    }

    /// Connects a raw client over TLS to `addr`, trusting exactly the
    /// certificate in `cert` (PEM), checked for `localhost`.
    pub async fn connect_tls(addr: SocketAddr, cert: &std::path::Path) -> std::io::Result<Peer> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in
            rustls_pki_types::CertificateDer::pem_file_iter(cert).map_err(std::io::Error::other)?
        {
            roots
                .add(c.map_err(std::io::Error::other)?)
                .map_err(std::io::Error::other)?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let name =
            rustls_pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let stream = connector
            .connect(name, TcpStream::connect(addr).await?)
            .await?;
        let (r, w) = tokio::io::split(stream);
        Ok(Peer::new(PeerKind::Tls(Box::new(TlsPeer {
            reader: Some(LineReader::server_lines(r)),
            writer: Some(w),
        }))))
    }

    /// Wraps a spawned client process (stdin and stdout piped).
    pub fn client(mut child: Child) -> std::io::Result<Peer> {
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("client stdout not piped"))?;
        Ok(Peer::new(PeerKind::Client(Box::new(ClientPeer {
            child,
            stdin,
            stdout: LineReader::with_limit(stdout, CLIENT_LINE_MAX),
        }))))
    }

    fn new(kind: PeerKind) -> Peer {
        Peer {
            kind,
            pending: VecDeque::new(),
            pings: 0,
            auto_pong: true,
        }
    }

    /// Writes `bytes` (one write), or one octet per write when `bytewise`.
    pub async fn write(&mut self, bytes: &[u8], bytewise: bool) -> std::io::Result<()> {
        let chunk = if bytewise { 1 } else { bytes.len().max(1) };
        for piece in bytes.chunks(chunk) {
            match &mut self.kind {
                PeerKind::Tcp(t) => {
                    let w = t
                        .writer
                        .as_mut()
                        .ok_or_else(|| std::io::Error::other("closed"))?;
                    w.write_all(piece).await?;
                }
                PeerKind::Tls(t) => {
                    let w = t
                        .writer
                        .as_mut()
                        .ok_or_else(|| std::io::Error::other("closed"))?;
                    w.write_all(piece).await?;
                    w.flush().await?;
                }
                PeerKind::Client(c) => {
                    let w = c
                        .stdin
                        .as_mut()
                        .ok_or_else(|| std::io::Error::other("stdin closed"))?;
                    w.write_all(piece).await?;
                    w.flush().await?;
                }
            }
        }
        Ok(())
    }

    /// The next line: a set-aside one first, else from the wire within `wait`.
    pub async fn read(&mut self, wait: Duration) -> Read {
        if let Some(line) = self.pending.pop_front() {
            return Read::Line(line);
        }
        self.read_wire(wait).await
    }

    /// The next line from the wire, ignoring set-aside lines.
    pub async fn read_wire(&mut self, wait: Duration) -> Read {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.read_raw()).await {
                Ok(Some(line)) => {
                    if self.auto_pong
                        && let Some(token) = line.strip_prefix("PING ")
                    {
                        // Hidden even when the answer cannot be written (a
                        // server closing after its BYE resets the socket):
                        // what comes next tells the scenario what happened.
                        let pong = format!("/pong {token}\n");
                        let _ = self.write(pong.as_bytes(), false).await;
                        continue;
                    }
                    return Read::Line(line);
                }
                Ok(None) => return Read::Eof,
                Err(_) => return Read::Timeout,
            }
        }
    }

    /// A whole line (cancel-safe: partial data stays in the reader). A
    /// line that ended in CR LF keeps its CR, so a pattern shows it (the
    /// server must send LF alone, §2.2); an over-long one is shown as such.
    async fn read_raw(&mut self) -> Option<String> {
        match &mut self.kind {
            PeerKind::Tcp(t) => text(t.reader.as_mut()?).await,
            PeerKind::Tls(t) => text(t.reader.as_mut()?).await,
            PeerKind::Client(c) => text(&mut c.stdout).await,
        }
    }

    /// Closes the socket (both directions), or the client's stdin.
    pub fn close(&mut self) {
        match &mut self.kind {
            PeerKind::Tcp(t) => {
                t.reader = None;
                t.writer = None;
            }
            PeerKind::Tls(t) => {
                t.reader = None;
                t.writer = None;
            }
            PeerKind::Client(c) => c.stdin = None,
        }
    }

    /// Aborts a TCP connection with RST (SO_LINGER 0, then close).
    pub fn reset(&mut self) -> Result<(), String> {
        let PeerKind::Tcp(t) = &mut self.kind else {
            return Err("only TCP peers can reset".into());
        };
        let (Some(r), Some(w)) = (t.reader.take(), t.writer.take()) else {
            return Err("already closed".into());
        };
        let stream = r.into_inner().reunite(w).map_err(|e| e.to_string())?;
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| e.to_string())?;
        drop(stream);
        Ok(())
    }
}

/// The next line of `reader` as text, as [`Peer::read_raw`] shows it.
async fn text<R: tokio::io::AsyncRead + Unpin>(reader: &mut LineReader<R>) -> Option<String> {
    match reader.next().await {
        Ok(Some(Received::Line(line))) => {
            let mut text = String::from_utf8_lossy(line).into_owned();
            if reader.last_ended_in_crlf() {
                text.push('\r');
            }
            Some(text)
        }
        Ok(Some(Received::TooLong { octets })) => Some(format!("<a line of {octets} octets>")),
        Ok(None) | Err(_) => None,
    }
}
