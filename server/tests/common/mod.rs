//! What the binary-driving tests share: the path of the real server binary
//! and fresh temporary directories. Test code only.

#![allow(clippy::unwrap_used, dead_code)] // test harness

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tagarela_reader::LineReader;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The `tagarela-server` binary cargo built for these tests.
pub const SERVER: &str = env!("CARGO_BIN_EXE_tagarela-server");

/// An empty directory of its own for one test (`what` tells tests apart).
pub fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tagarela-test-{}-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A client of the real server, line by line.
pub struct Peer {
    pub reader: LineReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl Peer {
    pub async fn join(addr: &str, name: &str) -> Peer {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut peer = Peer {
            reader: LineReader::server_lines(r),
            writer: w,
        };
        peer.expect("HELLO").await;
        peer.send(name).await;
        peer.expect("WELCOME").await;
        peer
    }

    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The next line that contains `what`, within 10 s.
    pub async fn line_with(&mut self, what: &str) -> String {
        loop {
            let next =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.reader.next_text());
            let line = next
                .await
                .unwrap_or_else(|_| panic!("no {what:?} within 10 s"));
            let line = line
                .unwrap()
                .unwrap_or_else(|| panic!("eof waiting for {what:?}"));
            if line.contains(what) {
                return line;
            }
        }
    }

    pub async fn expect(&mut self, prefix: &str) -> String {
        loop {
            let line = self.reader.next_text().await.unwrap();
            let line = line.unwrap_or_else(|| panic!("eof waiting for {prefix}"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }
}

/// Starts the server with the state directory in `dir`; returns it and
/// its address.
pub fn start(dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(SERVER)
        .args(["--listen", "127.0.0.1", "--port", "0"])
        .args(extra)
        .env("XDG_STATE_HOME", dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    (child, addr)
}
