//! Private by default (issue 11 item 4): the real binary, run as an
//! operator would, writes no whispered text to its log or audit log unless
//! told to, and shows peer text in its log with controls and bidi
//! characters neutralised.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;
use common::{SERVER, temp_dir};

struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Peer {
    fn join(addr: &str, name: &str) -> Peer {
        let stream = TcpStream::connect(addr).unwrap();
        let mut peer = Peer {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        peer.expect("HELLO");
        peer.send(name);
        peer.expect("WELCOME");
        peer
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    fn expect(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "eof waiting for {prefix}"
            );
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
fn chat(dir: &Path, extra: &[&str]) -> (String, String) {
    let (mut server, addr) = start(dir, extra);
    let mut alice = Peer::join(&addr, "alice");
    let mut bob = Peer::join(&addr, "bob");
    alice.send("@bob the-secret-plan");
    bob.expect("PRIV");
    alice.send("look \u{202E}gnp.exe");
    bob.expect("MSG");
    alice.send("/quit");
    alice.expect("BYE");
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

#[test]
fn whispers_are_not_recorded_by_default_and_the_audit_log_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("privacy-default");
    let (log, audit) = chat(&dir, &[]);
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

#[test]
fn whispers_are_recorded_when_the_operator_opts_in() {
    let dir = temp_dir("privacy-opt-in");
    let (log, audit) = chat(&dir, &["--log-private-text"]);
    assert!(log.contains("the-secret-plan"), "{log}");
    assert!(audit.contains("the-secret-plan"), "{audit}");
    let _ = std::fs::remove_dir_all(&dir);
}
