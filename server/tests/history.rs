//! History as an operator and a late joiner meet it (spec §16), with the
//! real binary and a real SQLite file: what `kill -9` keeps, that the
//! database opens cleanly after it, and that numbering moves on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::time::Duration;

mod common;
use common::{Peer, start, temp_dir};

/// The spec's promise: a message delivered more than a second before the
/// process is killed is kept.
const DURABLE_AFTER: Duration = Duration::from_millis(1100);

#[tokio::test]
async fn kill_9_keeps_what_was_said_and_a_late_joiner_sees_it() {
    let dir = temp_dir("history-kill");
    let args = ["--no-audit-log"];
    let (mut server, addr) = start(&dir, &args);
    let mut ana = Peer::join(&addr, "ana").await;
    assert_eq!(ana.expect("HISTEND").await, "HISTEND 0", "nothing kept yet");
    let mut bia = Peer::join(&addr, "bia").await;
    bia.expect("HISTEND").await;
    for n in 0..30 {
        ana.send(&format!("message {n}")).await;
    }
    ana.send("@bia a whisper").await;
    for n in 0..30 {
        assert!(bia.expect("MSG").await.ends_with(&format!(":message {n}")));
    }
    bia.expect("PRIV").await;
    // What a late joiner sees before the crash: the last 50 kept, here 30.
    let mut cai = Peer::join(&addr, "cai").await;
    let mut before = Vec::new();
    loop {
        let line = cai.expect("HIST").await;
        if line.starts_with("HISTEND") {
            assert_eq!(line, "HISTEND 30");
            break;
        }
        before.push(line);
    }
    tokio::time::sleep(DURABLE_AFTER).await;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    let db = rusqlite::Connection::open(dir.join("tagarela/history.sqlite")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(db);

    let (mut server, addr) = start(&dir, &args);
    let mut dora = Peer::join(&addr, "dora").await;
    let mut after = Vec::new();
    loop {
        let line = dora.expect("HIST").await;
        if line.starts_with("HISTEND") {
            assert_eq!(line, "HISTEND 30", "the whisper is not history");
            break;
        }
        after.push(line);
    }
    assert_eq!(
        after, before,
        "the same lines: numbers, times, senders, texts"
    );
    // Numbering moves on above everything given before the crash.
    let last_before: u64 = before[29].split(' ').nth(1).unwrap().parse().unwrap();
    dora.send("after the restart").await;
    dora.send("/history 1").await;
    let newest = dora.expect("HIST ").await;
    let seq: u64 = newest.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(newest.ends_with(":after the restart"), "{newest}");
    assert!(
        seq > last_before + (1 << 20) - 1,
        "{seq} after {last_before}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn no_history_means_no_file_and_no_history_lines() {
    let dir = temp_dir("history-off");
    let (mut server, addr) = start(&dir, &["--no-audit-log", "--no-history"]);
    let mut ana = Peer::join(&addr, "ana").await;
    ana.send("/history").await;
    assert_eq!(ana.expect("HISTEND").await, "HISTEND 0");
    ana.send("/ping x").await;
    assert_eq!(ana.expect("PONG").await, "PONG x");
    assert!(!dir.join("tagarela/history.sqlite").exists());
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
