//! What the client's integration tests share: the one way to start an
//! in-process server (`tagarela_server::testing`), with the defaults.

#![allow(dead_code)] // each test file uses part of this

use std::sync::{Arc, Mutex};

use tagarela_server::Settings;
use tagarela_server::testing::TestServer;

/// Starts a server with default settings.
pub async fn server() -> TestServer {
    TestServer::start(Settings::default()).await.unwrap()
}

/// A TCP relay between the client and the server that can cut the
/// connections it carries, as a network that changes does.
pub struct Relay {
    pub port: u16,
    /// The relaying tasks, to cut.
    clients: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Where new connections go (another server stands for a restart).
    target: Arc<Mutex<std::net::SocketAddr>>,
}

impl Relay {
    pub async fn to(server: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let clients = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::clone(&clients);
        let target = Arc::new(Mutex::new(server));
        let to = Arc::clone(&target);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = *to.lock().unwrap();
                let upstream = tokio::net::TcpStream::connect(server).await.unwrap();
                let (mut ur, mut uw) = upstream.into_split();
                let (mut cr, mut cw) = client.into_split();
                let relay = tokio::spawn(async move {
                    let up = tokio::io::copy(&mut cr, &mut uw);
                    let down = tokio::io::copy(&mut ur, &mut cw);
                    let _ = tokio::join!(up, down);
                });
                held.lock().unwrap().push(relay.abort_handle());
            }
        });
        Relay {
            port,
            clients,
            target,
        }
    }

    /// New connections go to `server` from now on.
    pub fn point_to(&self, server: std::net::SocketAddr) {
        *self.target.lock().unwrap() = server;
    }

    /// Drops every relayed connection, both sides: the client sees its
    /// connection end, and so does the server.
    pub fn cut_all(&self) {
        for relay in self.clients.lock().unwrap().drain(..) {
            relay.abort();
        }
    }
}

/// A raw client of `server` registered as `name`: its lines from after
/// `WELCOME` on, the `WELCOME` line itself, and its write half.
pub async fn raw_peer(
    server: std::net::SocketAddr,
    name: &str,
) -> (
    tagarela_reader::LineReader<tokio::net::tcp::OwnedReadHalf>,
    String,
    tokio::net::tcp::OwnedWriteHalf,
) {
    use tokio::io::AsyncWriteExt;
    let (r, mut w) = tokio::net::TcpStream::connect(server)
        .await
        .unwrap()
        .into_split();
    let mut lines = tagarela_reader::LineReader::server_lines(r);
    w.write_all(format!("{name}\n").as_bytes()).await.unwrap();
    loop {
        let line = lines.next_text().await.unwrap().unwrap();
        if line.starts_with("WELCOME") {
            return (lines, line, w);
        }
    }
}
