//! Private by default (issue 11 item 4): the real binary, run as an
//! operator would, writes no whispered text to its log or audit log unless
//! told to, and shows peer text in its log with controls and bidi
//! characters neutralised.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::path::Path;

mod common;
use common::{Peer, start, temp_dir};

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
    // Nor is it in any other file the server made (the history keeps
    // public messages only).
    let mut files = 0;
    for file in std::fs::read_dir(dir.join("tagarela")).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let found = bytes.windows(15).any(|w| w == b"the-secret-plan");
        assert!(!found, "{}", path.display());
        files += 1;
    }
    assert!(files >= 2, "the audit log and the history at least");
    for (path, mode) in [
        ("tagarela", 0o700),
        ("tagarela/audit.jsonl", 0o600),
        ("tagarela/history.sqlite", 0o600),
    ] {
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
