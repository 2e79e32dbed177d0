//! The README's first command (issue 11 item 20): `--background` starts a
//! server that outlives the command, a second run with the same build
//! reuses it, a run with another build refuses to join it silently, and
//! `--stop` stops exactly that server. Drives the real binary with its
//! own state directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{SERVER, temp_dir};
use tagarela_reader::LineReader;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn run(exe: &Path, state: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(exe);
    command
        .args(args)
        .args([
            "--listen",
            "127.0.0.1",
            "--port",
            "0",
            "--shutdown-grace",
            "0.5",
        ])
        .env("XDG_STATE_HOME", state)
        .env_remove("RUST_BACKTRACE");
    // A binary this test process has just copied may still be open for
    // writing in a child that another test thread forked at that moment
    // (ETXTBSY): try again shortly.
    for _ in 0..50 {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    command.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The address a `--background` run printed.
fn address(out: &Output) -> String {
    let text = stdout(out);
    let at = text.find("listening on ").expect(&text) + "listening on ".len();
    text[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(';')
        .to_owned()
}

#[tokio::test]
async fn background_start_is_safe_to_repeat_and_stop_stops_that_server() {
    let state = temp_dir("bg-repeat");
    let first = run(Path::new(SERVER), &state, &["--background"]);
    assert!(first.status.success(), "{first:?}");
    let addr = address(&first);

    // The command has returned; the server goes on serving.
    let (r, mut w) = TcpStream::connect(&addr).await.unwrap().into_split();
    let mut reader = LineReader::server_lines(r);
    let line = reader.next_text().await.unwrap().unwrap();
    assert!(line.starts_with("HELLO 1 :"), "{line}");

    let second = run(Path::new(SERVER), &state, &["--background"]);
    assert!(second.status.success(), "{second:?}");
    assert!(
        stdout(&second).contains("already listening"),
        "{}",
        stdout(&second)
    );
    assert_eq!(address(&second), addr);

    let stop = run(Path::new(SERVER), &state, &["--stop"]);
    assert!(stop.status.success(), "{stop:?}");
    // The client was told, as at any shutdown.
    w.write_all(b"\n").await.ok();
    let bye = reader.next_text().await.unwrap().unwrap();
    assert!(bye.starts_with("BYE shutdown"), "{bye}");

    let again = run(Path::new(SERVER), &state, &["--stop"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to stop"));
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn another_build_already_serving_is_reported_not_joined() {
    let state = temp_dir("bg-other");
    // "Another build": the same program at another path.
    let other = state.join("tagarela-server-old");
    std::fs::copy(SERVER, &other).unwrap();
    let old = run(&other, &state, &["--background"]);
    assert!(old.status.success(), "{old:?}");

    let new = run(Path::new(SERVER), &state, &["--background"]);
    assert!(!new.status.success(), "{new:?}");
    let err = String::from_utf8_lossy(&new.stderr);
    assert!(
        err.contains("another build") && err.contains("--stop"),
        "{err}"
    );

    let stop = run(Path::new(SERVER), &state, &["--stop"]);
    assert!(stop.status.success(), "{stop:?}");
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_server_that_cannot_start_says_why() {
    let state = temp_dir("bg-fail");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(SERVER)
        .args(["--background", "--listen", "127.0.0.1", "--port", &port])
        .env("XDG_STATE_HOME", &state)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not start") && err.contains("in use"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&state);
}
