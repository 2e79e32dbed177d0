//! Private by default (issue 11 item 4): the real binary, run as an
//! operator would, writes no whispered text to its log or audit log unless
//! told to, and shows peer text in its log with controls and bidi
//! characters neutralised.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;
use common::{SERVER, temp_dir};
use tagarela_reader::LineReader;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

struct Peer {
    reader: LineReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Peer {
    async fn join(addr: &str, name: &str) -> Peer {
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

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn expect(&mut self, prefix: &str) -> String {
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
fn start(dir: &Path, extra: &[&str]) -> (Child, String) {
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

/// A whisper and a public line with a bidi override, then a clean stop.
async fn chat(dir: &Path, extra: &[&str]) -> (String, String) {
    let (mut server, addr) = start(dir, extra);
    let mut alice = Peer::join(&addr, "alice").await;
    let mut bob = Peer::join(&addr, "bob").await;
    alice.send("@bob the-secret-plan").await;
    bob.expect("PRIV").await;
    alice.send("look \u{202E}gnp.exe").await;
    bob.expect("MSG").await;
    alice.send("/quit").await;
    alice.expect("BYE").await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap();
    let audit = std::fs::read_to_string(dir.join("tagarela/audit.jsonl")).unwrap();
    (log, audit)
}

#[tokio::test]
async fn whispers_are_not_recorded_by_default_and_the_audit_log_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("privacy-default");
    let (log, audit) = chat(&dir, &[]).await;
    assert!(!log.contains("the-secret-plan"), "{log}");
    assert!(!audit.contains("the-secret-plan"), "{audit}");
    // Who whispered to whom is still recorded.
    assert!(audit.contains("\"event\":\"priv\""), "{audit}");
    assert!(log.contains("<U+202E>gnp.exe"), "{log}");
    assert!(!log.contains('\u{202E}'), "{log}");
    for (path, mode) in [("tagarela", 0o700), ("tagarela/audit.jsonl", 0o600)] {
        let got = std::fs::metadata(dir.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(got, mode, "{path}");
    }
    // The log says where the audit log is.
    assert!(
        log.contains(&dir.join("tagarela/audit.jsonl").display().to_string()),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn whispers_are_recorded_when_the_operator_opts_in() {
    let dir = temp_dir("privacy-opt-in");
    let (log, audit) = chat(&dir, &["--log-private-text"]).await;
    assert!(log.contains("the-secret-plan"), "{log}");
    assert!(audit.contains("the-secret-plan"), "{audit}");
    let _ = std::fs::remove_dir_all(&dir);
}
