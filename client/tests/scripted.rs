//! The `tagarela` binary in scripted mode against an in-process server:
//! it sends stdin lines, prints each event as its wire line, leaves cleanly
//! on `sair` and on stdin EOF, and reports a server's shutdown, a lost
//! connection or a server that stops answering with status 1; a refused
//! `--name` ends the session with status 4 before any stdin line is sent.

#![allow(clippy::unwrap_used)] // test harness: a failed unwrap is a failed test

use std::process::Stdio;
use std::time::Duration;

use tagarela_parser::limits::LINE_MAX;
use tagarela_reader::LineReader;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

mod common;
use common::{Relay, raw_peer, server};

const WAIT: Duration = Duration::from_secs(10);

fn client(port: u16, name: &str) -> Child {
    client_with(port, &["--name", name])
}

/// Liveness bounds short enough for a test: probe after 300 ms of silence
/// or 100 ms after a line, not responding after 300 ms, lost after 800 ms.
const FAST: &str = "300,100,300,800";

fn client_with(port: u16, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tagarela"))
        .args(["--port", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

struct Lines(LineReader<tokio::process::ChildStdout>);

impl Lines {
    fn of(child: &mut Child) -> Lines {
        Lines(LineReader::with_limit(
            child.stdout.take().unwrap(),
            1 << 16,
        ))
    }
    async fn next(&mut self) -> Option<String> {
        tokio::time::timeout(WAIT, self.0.next_text())
            .await
            .expect("a line in time")
            .unwrap()
    }
    async fn expect(&mut self, prefix: &str) -> String {
        let line = self
            .next()
            .await
            .unwrap_or_else(|| panic!("EOF waiting for {prefix}"));
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }
}

async fn status(child: &mut Child) -> i32 {
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits in time")
        .unwrap()
        .code()
        .unwrap()
}

#[tokio::test]
async fn scripted_clients_chat_and_leave_cleanly() {
    let srv = server().await;
    let port = srv.port();
    let mut alice = client(port, "alice");
    let mut a = Lines::of(&mut alice);
    a.expect("HELLO 1 :").await;
    a.expect("WELCOME alice online=1 ").await;

    let mut bob = client(port, "bob");
    let mut b = Lines::of(&mut bob);
    b.expect("HELLO 1 :").await;
    b.expect("WELCOME bob online=2 ").await;
    a.expect("JOIN ").await;

    let mut bob_in = bob.stdin.take().unwrap();
    bob_in
        .write_all("olá a todos\n@ALICE psst\n@nobody x\nsair\n".as_bytes())
        .await
        .unwrap();
    let msg = a.expect("MSG ").await;
    assert!(msg.ends_with(" bob :olá a todos"), "{msg}");
    let private = a.expect("PRIV ").await;
    assert!(private.ends_with(" bob alice :psst"), "{private}");
    assert_eq!(b.expect("PRIV ").await, private);
    b.expect("ERR no-such-user nobody :").await;
    b.expect("BYE quit :").await;
    assert_eq!(b.next().await, None);
    assert_eq!(status(&mut bob).await, 0, "sair leaves with status 0");
    let leave = a.expect("LEAVE ").await;
    assert!(leave.ends_with(" bob quit"), "{leave}");

    // End of stdin is a clean quit too.
    drop(alice.stdin.take());
    a.expect("BYE quit :").await;
    assert_eq!(status(&mut alice).await, 0);
    assert!(srv.shutdown().await, "the server stops");
}

#[tokio::test]
async fn a_server_shutdown_is_reported_with_status_1() {
    let srv = server().await;
    let port = srv.port();
    let mut carol = client(port, "carol");
    let mut c = Lines::of(&mut carol);
    c.expect("HELLO").await;
    c.expect("WELCOME carol ").await;
    assert!(srv.shutdown().await, "the server stops");
    c.expect("BYE shutdown :").await;
    assert_eq!(status(&mut carol).await, 1);
}

#[tokio::test]
async fn a_connection_lost_without_bye_is_reported_as_lost_with_status_1() {
    // A stand-in server that welcomes and then drops the connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut carol = client(port, "carol");
    let mut c = Lines::of(&mut carol);
    let (mut stream, _) = listener.accept().await.unwrap();
    stream
        .write_all(b"HELLO 1 :hi\nWELCOME carol online=1 line-max=1024 name-max=32 :hi\n")
        .await
        .unwrap();
    c.expect("HELLO").await;
    c.expect("WELCOME carol ").await;
    drop(stream);
    c.expect("LOST :").await;
    assert_eq!(status(&mut carol).await, 1);
}

#[tokio::test]
async fn unreachable_server_exits_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut child = client(port, "x");
    assert_eq!(status(&mut child).await, 3);
}

#[tokio::test]
async fn a_refused_name_exits_4_and_sends_no_stdin_line() {
    let srv = server().await;
    let port = srv.port();
    let mut alice = client(port, "alice");
    let mut a = Lines::of(&mut alice);
    a.expect("HELLO").await;
    a.expect("WELCOME alice ").await;
    for input in ["hello\n", "hello world\n@bob secret\nsecond msg\n"] {
        let mut again = client(port, "ALICE");
        let mut g = Lines::of(&mut again);
        let mut stdin = again.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        g.expect("HELLO").await;
        g.expect("ERR name-taken alice :").await;
        assert_eq!(g.next().await, None, "nothing after the refusal");
        assert_eq!(status(&mut again).await, 4);
    }
    // Nobody registered as "hello", and alice got nothing.
    let mut alice_in = alice.stdin.take().unwrap();
    alice_in.write_all(b"/who\n").await.unwrap();
    assert_eq!(a.expect("WHO").await, "WHO alice");
    assert_eq!(a.expect("WHOEND").await, "WHOEND 1");
    assert!(srv.shutdown().await, "the server stops");
}

/// A stand-in server on a loopback port that the test plays by hand.
async fn stand_in() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn a_server_that_goes_silent_after_welcome_is_declared_lost() {
    let (listener, port) = stand_in().await;
    let mut carol = client_with(port, &["--name", "carol", "--liveness-ms", FAST]);
    let mut c = Lines::of(&mut carol);
    let (mut stream, _) = listener.accept().await.unwrap();
    stream
        .write_all(b"HELLO 1 :hi\nWELCOME carol online=1 line-max=1024 name-max=32 :hi\n")
        .await
        .unwrap();
    c.expect("HELLO").await;
    c.expect("WELCOME carol ").await;
    // The stand-in keeps the socket open and never speaks again.
    let lost = c.expect("LOST :").await;
    assert!(lost.contains("no answer from the server"), "{lost}");
    assert_eq!(status(&mut carol).await, 1);
    // It was probed first.
    let mut sent = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        let mut r = LineReader::with_limit(&mut stream, LINE_MAX);
        while let Ok(Some(line)) = r.next_text().await {
            sent.push_str(&line);
            sent.push('\n');
        }
    })
    .await;
    assert!(sent.contains("/ping tgl-"), "{sent:?}");
}

#[tokio::test]
async fn a_server_that_accepts_and_never_speaks_is_declared_lost() {
    let (listener, port) = stand_in().await;
    let mut carol = client_with(port, &["--name", "carol", "--liveness-ms", FAST]);
    let mut c = Lines::of(&mut carol);
    let (_stream, _) = listener.accept().await.unwrap();
    c.expect("LOST :no answer from the server").await;
    assert_eq!(status(&mut carol).await, 1);
}

#[tokio::test]
async fn answered_probes_are_not_printed() {
    let (listener, port) = stand_in().await;
    let mut carol = client_with(port, &["--name", "carol", "--liveness-ms", FAST]);
    let mut c = Lines::of(&mut carol);
    let (stream, _) = listener.accept().await.unwrap();
    let (r, mut w) = stream.into_split();
    w.write_all(b"HELLO 1 :hi\nWELCOME carol online=1 line-max=1024 name-max=32 :hi\n")
        .await
        .unwrap();
    c.expect("HELLO").await;
    c.expect("WELCOME carol ").await;
    // Answer three probes, then hang up.
    let mut lines = LineReader::with_limit(r, LINE_MAX);
    let mut answered = 0;
    while answered < 3 {
        let line = lines.next_text().await.unwrap().unwrap();
        if let Some(token) = line.strip_prefix("/ping ") {
            w.write_all(format!("PONG {token}\n").as_bytes())
                .await
                .unwrap();
            answered += 1;
        }
    }
    drop(w);
    drop(lines);
    c.expect("LOST :").await;
    assert_eq!(status(&mut carol).await, 1);
}

/// Issue 13: the room's password is sent first, from the environment (or
/// a file), and never on stdout.
#[tokio::test]
async fn the_room_password_is_sent_before_the_name() {
    use std::sync::Arc;
    use tagarela_server::Access;
    use tagarela_server::Settings;
    use tagarela_server::testing::TestServer;
    let settings = Settings {
        access: Some(Arc::new(Access::new("open sesame", false))),
        ..Settings::default()
    };
    let srv = TestServer::start(settings).await.unwrap();
    for (password, welcomed) in [("open sesame", true), ("guess-42", false)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tagarela"))
            .args(["--port", &srv.port().to_string(), "--name", "ana"])
            .env("TAGARELA_PASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        drop(child.stdin.take());
        let out = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.contains("WELCOME ana "), welcomed, "{stdout}");
        assert!(!stdout.contains(password), "{stdout}");
        if !welcomed {
            assert!(stdout.contains("ERR password-wrong"), "{stdout}");
            assert_eq!(out.status.code(), Some(4));
        }
    }
    assert!(srv.shutdown().await);
}

/// Issue 14: with `--reconnect`, a lost connection prints `LOST`, then the
/// client comes back by itself: the new connection's lines, its name taken
/// back (spec §16.6) and what it missed, numbered.
#[tokio::test]
async fn with_reconnect_a_lost_connection_comes_back_with_what_was_missed() {
    let srv = server().await;
    let relay = Relay::to(srv.addr).await;
    let mut ana = client_with(relay.port, &["--name", "ana", "--reconnect"]);
    let mut out = Lines::of(&mut ana);
    out.expect("HELLO 1 ").await;
    let welcome = out.expect("WELCOME ana online=1 ").await;
    assert!(welcome.contains(" resume="), "{welcome}");
    let (mut bia, _, mut bia_w) = raw_peer(srv.addr, "bia").await;
    out.expect("SEQ 2 JOIN ").await;
    relay.cut_all();
    out.expect("LOST :").await;
    assert!(
        bia.next_text()
            .await
            .unwrap()
            .unwrap()
            .contains(" ana lost")
    );
    bia_w.write_all(b"while away\n").await.unwrap();
    out.expect("HELLO 1 ").await;
    out.expect("WELCOME ana online=2 ").await;
    // Missed (said before the client came back: the usual case, then
    // `RESUMED 1` follows it) or live (after `RESUMED 0`).
    let mut seen = (false, false);
    while seen != (true, true) {
        let line = out.next().await.unwrap();
        if line.starts_with("SEQ 4 MSG ") && line.ends_with(" bia :while away") {
            seen.0 = true;
        } else if line.starts_with("RESUMED ") {
            seen.1 = true;
        } else {
            panic!("unexpected {line:?}");
        }
    }
    ana.stdin
        .as_mut()
        .unwrap()
        .write_all(b"back\n")
        .await
        .unwrap();
    let join = bia.next_text().await.unwrap().unwrap();
    assert!(
        join.starts_with("JOIN ") && join.ends_with(" ana"),
        "{join}"
    );
    assert!(
        bia.next_text()
            .await
            .unwrap()
            .unwrap()
            .ends_with(" ana :back")
    );
    drop(ana.stdin.take());
    out.expect("BYE quit ").await;
    assert_eq!(status(&mut ana).await, 0);
    assert!(srv.shutdown().await);
}
