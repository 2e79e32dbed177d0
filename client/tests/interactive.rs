//! The `tagarela` binary in interactive mode, on a pseudo-terminal, against
//! an in-process server: how a session ends on screen. The last message
//! must reach the terminal, bracketed paste must be turned off again, and
//! leaving with Ctrl-D must not keep re-sending `/quit`. Also what a person
//! sees and types: one name prompt, own messages, Ctrl-C, pasted TABs,
//! over-long lines, the bell, a draft kept when the server goes away, a
//! server that stops answering.

#![allow(clippy::unwrap_used)] // test harness: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::openpty;
use tagarela_parser::limits::LINE_MAX;
use tagarela_reader::LineReader;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

mod common;
use common::{Relay, raw_peer, server};

const WAIT: Duration = Duration::from_secs(10);

/// A `tagarela` process on a pty, and everything it has written so far.
struct OnPty {
    child: std::process::Child,
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl OnPty {
    fn spawn(port: u16, name: &str) -> OnPty {
        OnPty::spawn_with(port, &["--name", name])
    }

    /// Without reconnecting: how a session ends, and lines exactly as a
    /// v1 client sends them (no `/features` first: no resume, no rooms).
    fn spawn_with(port: u16, args: &[&str]) -> OnPty {
        let mut all = vec!["--no-reconnect", "--no-rooms"];
        all.extend_from_slice(args);
        OnPty::spawn_raw(port, &all)
    }

    fn spawn_raw(port: u16, args: &[&str]) -> OnPty {
        let pty = openpty(None, None).unwrap();
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        let child = Command::new(env!("CARGO_BIN_EXE_tagarela"))
            .args(["--port", &port.to_string()])
            .args(args)
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave))
            .spawn()
            .unwrap();
        drop(pty.slave);
        let master = std::fs::File::from(pty.master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child and its pty are gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnPty {
            child,
            master,
            screen,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `text`.
    async fn wait_for(&self, text: &str) {
        let until = Instant::now() + WAIT;
        while !self.screen().contains(text) {
            assert!(
                Instant::now() < until,
                "{text:?} not shown; screen: {:?}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// The exit status, waiting at most WAIT.
    async fn status(&mut self) -> i32 {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap();
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                panic!("did not exit; screen: {:?}", self.screen());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What was written after the process exited and its output drained.
    async fn final_screen(&self) -> String {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.screen()
    }
}

/// The client on a pty, welcomed as alice by a stand-in server that this
/// test plays by hand: the lines the client sends, and the way back.
async fn welcomed_by_a_stand_in() -> (OnPty, LineReader<OwnedReadHalf>, OwnedWriteHalf) {
    welcomed_by_a_stand_in_with(&[]).await
}

/// The same, with more arguments for the client.
async fn welcomed_by_a_stand_in_with(
    args: &[&str],
) -> (OnPty, LineReader<OwnedReadHalf>, OwnedWriteHalf) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut all = vec!["--name", "alice"];
    all.extend_from_slice(args);
    let alice = OnPty::spawn_with(port, &all);
    let (stream, _) = listener.accept().await.unwrap();
    let (r, mut w) = stream.into_split();
    w.write_all(b"HELLO 1 :hi\nWELCOME alice online=1 line-max=1024 name-max=32 :Welcome!\n")
        .await
        .unwrap();
    alice.wait_for("Welcome").await;
    (alice, LineReader::with_limit(r, LINE_MAX), w)
}

/// Bracketed paste off, as rustyline turns it on while editing.
const PASTE_OFF: &str = "\u{1b}[?2004l";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_shutdown_is_shown_and_the_terminal_restored() {
    let srv = server().await;
    let port = srv.port();
    let mut alice = OnPty::spawn(port, "alice");
    alice.wait_for("Welcome").await;
    assert!(srv.shutdown().await, "the server stops");
    assert_eq!(alice.status().await, 1);
    let screen = alice.final_screen().await;
    let bye = screen
        .rfind("Server closed the connection")
        .unwrap_or_else(|| panic!("the BYE was not shown: {screen:?}"));
    assert!(
        screen[bye..].contains(PASTE_OFF),
        "bracketed paste left on: {screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_d_leaves_with_one_quit_and_status_0() {
    let srv = server().await;
    let port = srv.port();
    let mut alice = OnPty::spawn(port, "alice");
    alice.wait_for("Welcome").await;
    alice.type_keys(b"\x04");
    assert_eq!(alice.status().await, 0);
    let screen = alice.final_screen().await;
    assert!(
        screen.contains("You left the chat."),
        "leaving was not shown as such: {screen:?}"
    );
    assert!(
        !screen.contains("Server closed the connection"),
        "our own leaving shown as the server's doing: {screen:?}"
    );
    assert!(srv.shutdown().await, "the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_d_sends_quit_once_and_gives_up_on_a_server_that_does_not_answer() {
    // A stand-in server that welcomes and then never answers.
    let (mut alice, mut lines, _w) = welcomed_by_a_stand_in().await;
    alice.type_keys(b"\x04");
    let mut quits = 0;
    // Read until the client closes (it gives up after its quit wait), or
    // at most WAIT.
    let until = tokio::time::Instant::now() + WAIT;
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(until, lines.next_text()).await {
        if line == "/quit" {
            quits += 1;
        }
    }
    assert_eq!(quits, 1, "one /quit");
    assert_eq!(alice.status().await, 1);
    let screen = alice.final_screen().await;
    assert!(
        screen.contains("did not answer /quit"),
        "the give-up was not shown: {screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_block_goes_out_line_by_line_and_stops_after_a_quit() {
    let (mut alice, mut lines, mut w) = welcomed_by_a_stand_in().await;
    // A bracketed paste of three lines, then Enter.
    alice.type_keys(b"\x1b[200~one\ntwo\n/quit\nafter\x1b[201~\r");
    let mut sent = Vec::new();
    let until = tokio::time::Instant::now() + WAIT;
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(until, lines.next_text()).await {
        let done = line == "/quit";
        if line.starts_with("/ping tgl-") {
            continue; // the client's own liveness probes
        }
        sent.push(line);
        if done {
            break;
        }
    }
    // The name and the /who after WELCOME come first.
    let typed: Vec<&str> = sent
        .iter()
        .map(String::as_str)
        .skip_while(|l| *l != "one")
        .collect();
    assert_eq!(typed, ["one", "two", "/quit"], "{sent:?}");
    // Nothing after the quit.
    let more = tokio::time::timeout(Duration::from_millis(300), lines.next_text()).await;
    assert!(more.is_err(), "sent after /quit: {more:?}");
    w.write_all(b"BYE quit :bye\n").await.unwrap();
    assert_eq!(alice.status().await, 0);
}

/// The next line the client sends that is not one of its own probes, or
/// `None` if none comes within `within`.
async fn next_sent(lines: &mut LineReader<OwnedReadHalf>, within: Duration) -> Option<String> {
    let until = tokio::time::Instant::now() + within;
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(until, lines.next_text()).await {
        if !line.starts_with("/ping tgl-") {
            return Some(line);
        }
    }
    None
}

/// Reads past the name and the `/who` the client sends after WELCOME.
async fn skip_handshake(lines: &mut LineReader<OwnedReadHalf>) {
    assert_eq!(next_sent(lines, WAIT).await.as_deref(), Some("alice"));
    assert_eq!(next_sent(lines, WAIT).await.as_deref(), Some("/who"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_is_kept_when_the_server_goes_away() {
    let (mut alice, lines, w) = welcomed_by_a_stand_in().await;
    alice.type_keys(b"half typed");
    alice.wait_for("half typed").await;
    drop(w);
    drop(lines);
    assert_eq!(alice.status().await, 1);
    let screen = alice.final_screen().await;
    assert!(
        screen.contains("Your unsent draft: half typed"),
        "the draft was lost: {screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_clears_the_line_and_leaves_only_on_an_empty_one() {
    let (mut alice, mut lines, mut w) = welcomed_by_a_stand_in().await;
    skip_handshake(&mut lines).await;
    alice.type_keys(b"abc");
    alice.wait_for("abc").await;
    alice.type_keys(b"\x03");
    tokio::time::sleep(Duration::from_millis(100)).await;
    alice.type_keys(b"def\r");
    assert_eq!(next_sent(&mut lines, WAIT).await.as_deref(), Some("def"));
    // Ctrl-C on the empty line leaves (once the editor is reading again:
    // between two lines the terminal's own Ctrl-C would stop the process).
    alice.wait_for("<alice> def").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.type_keys(b"\x03");
    assert_eq!(next_sent(&mut lines, WAIT).await.as_deref(), Some("/quit"));
    w.write_all(b"BYE quit :Goodbye.\n").await.unwrap();
    assert_eq!(alice.status().await, 0);
    let screen = alice.final_screen().await;
    assert!(screen.contains("You left the chat."), "{screen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_messages_show_with_time_and_name() {
    let (mut alice, mut lines, _w) = welcomed_by_a_stand_in().await;
    skip_handshake(&mut lines).await;
    alice.type_keys(b"great, lunch?\r");
    assert_eq!(
        next_sent(&mut lines, WAIT).await.as_deref(),
        Some("great, lunch?")
    );
    alice.wait_for("<alice> great, lunch?").await;
    let screen = alice.screen();
    let at = screen.rfind("<alice> great, lunch?").unwrap();
    let before = &screen[..at];
    let time = before.get(before.len().saturating_sub(9)..).unwrap_or("");
    assert!(
        time.len() == 9 && time.as_bytes()[2] == b':' && time.ends_with(' '),
        "no time stamp before the name: {screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_tabs_go_out_as_spaces_and_over_long_lines_stay_for_editing() {
    let (mut alice, mut lines, _w) = welcomed_by_a_stand_in().await;
    skip_handshake(&mut lines).await;
    alice.type_keys(b"\x1b[200~a\tb\x1b[201~\r");
    assert_eq!(
        next_sent(&mut lines, WAIT).await.as_deref(),
        Some("a       b")
    );
    let long = "x".repeat(1100);
    alice.type_keys(long.as_bytes());
    alice.type_keys(b"\r");
    alice
        .wait_for("not sent: the line is 1100 octets long")
        .await;
    // Still there: Enter refuses it again.
    alice.type_keys(b"\r");
    let until = Instant::now() + WAIT;
    while alice.screen().matches("not sent: the line is 1100").count() < 2 {
        assert!(Instant::now() < until, "not kept: {:?}", alice.screen());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        next_sent(&mut lines, Duration::from_millis(300)).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_or_a_private_message_rings_the_bell() {
    let (alice, _lines, mut w) = welcomed_by_a_stand_in().await;
    w.write_all(b"MSG 2026-11-21T12:00:00.000Z bob :nothing for you\n")
        .await
        .unwrap();
    alice.wait_for("nothing for you").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alice.screen().contains('\u{7}'), "rang without a mention");
    w.write_all(b"MSG 2026-11-21T12:00:01.000Z bob :lunch, Alice?\n")
        .await
        .unwrap();
    alice.wait_for("lunch, Alice?").await;
    alice.wait_for("\u{7}").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_name_prompt_and_a_suggestion_after_no_such_user() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let alice = OnPty::spawn_with(port, &[]);
    let (stream, _) = listener.accept().await.unwrap();
    let (_r, mut w) = stream.into_split();
    w.write_all(b"HELLO 1 :Tagarela chat. Type your name.\n")
        .await
        .unwrap();
    alice.wait_for("Choose a name").await;
    w.write_all(
        "WELCOME alice online=2 line-max=1024 name-max=32 :Welcome!\nWHO alice Notebook_Mãe\nWHOEND 2\nERR no-such-user notebook_mae :No one called notebook_mae is online.\n"
            .as_bytes(),
    )
    .await
    .unwrap();
    alice.wait_for("Did you mean Notebook_Mãe?").await;
    let screen = alice.screen();
    assert_eq!(screen.matches("Choose a name").count(), 1, "{screen:?}");
    assert!(
        !screen.contains("Type your name"),
        "two prompts: {screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_is_reported_then_given_up() {
    let (mut alice, mut lines, _w) =
        welcomed_by_a_stand_in_with(&["--liveness-ms", "60000,200,500,1500"]).await;
    skip_handshake(&mut lines).await;
    alice.type_keys(b"hello?\r");
    assert_eq!(next_sent(&mut lines, WAIT).await.as_deref(), Some("hello?"));
    alice.wait_for("the server is not responding").await;
    alice.wait_for("Not confirmed yet: “hello?”").await;
    assert_eq!(alice.status().await, 1);
    let screen = alice.final_screen().await;
    assert!(screen.contains("stopped answering"), "{screen:?}");
}

/// Issue 13: the first connection to a server with a self-signed
/// certificate shows its fingerprint and asks, once; the answer is
/// remembered, and the second connection asks nothing.
#[tokio::test]
async fn the_first_tls_connection_shows_the_fingerprint_and_asks_once() {
    use tagarela_server::Settings;
    use tagarela_server::testing::TestServer;
    use tagarela_server::tls::{Tls, self_signed};
    let dir = std::env::temp_dir().join(format!("tagarela-pty-tofu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (files, _) = self_signed(&dir, &[]).unwrap();
    let tls = Arc::new(Tls::load(files).unwrap());
    let srv = TestServer::start_tls(Settings::default(), Arc::clone(&tls))
        .await
        .unwrap();
    let known = dir.join("known_servers");
    let known_arg = known.to_string_lossy().into_owned();
    let args = [
        "--host",
        "localhost",
        "--tls",
        "--name",
        "ana",
        "--known-servers",
        &known_arg,
    ];
    let mut first = OnPty::spawn_with(srv.port(), &args);
    first.wait_for(&tls.fingerprint()).await;
    first.wait_for("[y/N]").await;
    first.type_keys(b"y\r");
    first.wait_for("Welcome").await;
    first.type_keys(b"/quit\r");
    assert_eq!(first.status().await, 0);
    let remembered = std::fs::read_to_string(&known).unwrap();
    assert!(remembered.contains(&tls.fingerprint()), "{remembered}");

    let mut second = OnPty::spawn_with(srv.port(), &args);
    second.wait_for("Welcome").await;
    assert!(!second.screen().contains("[y/N]"), "{}", second.screen());
    second.type_keys(b"/quit\r");
    assert_eq!(second.status().await, 0);
    assert!(srv.shutdown().await);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14: when the connection drops, the client reconnects on its own,
/// takes its name back, shows what it missed and keeps the draft; the
/// room sees one leave and one join (the server noticed the drop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_resumed_with_the_draft_and_what_was_missed() {
    use tagarela_server::Settings;
    use tagarela_server::testing::TestServer;
    let srv = TestServer::start(Settings {
        rate_limit: None,
        ..Settings::default()
    })
    .await
    .unwrap();
    let relay = Relay::to(srv.addr).await;
    let mut ana = OnPty::spawn_raw(relay.port, &["--name", "ana"]);
    ana.wait_for("Welcome, ana").await;
    let (mut bia, _, mut bia_w) = raw_peer(srv.addr, "bia").await;
    ana.wait_for("bia joined").await;
    // Review finding: events inside SEQ lines must still ring the bell.
    bia_w.write_all(b"hi ana\n").await.unwrap();
    ana.wait_for("hi ana").await;
    ana.wait_for("\u{7}").await;
    ana.type_keys(b"half a thought");
    relay.cut_all();
    ana.wait_for("Reconnecting").await;
    let leave = bia.next_text().await.unwrap().unwrap();
    assert!(
        leave.starts_with("LEAVE ") && leave.contains(" ana lost"),
        "{leave}"
    );
    bia_w.write_all(b"while you were away\n").await.unwrap();
    ana.wait_for("Reconnected after").await;
    // Missed (if it was said before the client came back, the usual case)
    // or live: either way it is on the screen. The server's side of what
    // is missed is tested in server/tests/in_process.rs and conformance.
    ana.wait_for("while you were away").await;
    let join = bia.next_text().await.unwrap().unwrap();
    assert!(
        join.starts_with("JOIN ") && join.ends_with(" ana"),
        "{join}"
    );
    // The draft was kept: finishing it sends it.
    ana.type_keys(b"\r");
    let said = bia.next_text().await.unwrap().unwrap();
    assert!(said.ends_with(" ana :half a thought"), "{said}");
    ana.type_keys(b"/quit\r");
    assert_eq!(ana.status().await, 0);
    assert!(srv.shutdown().await);
}

/// Issue 14: a server that restarted no longer knows the session: the
/// client registers the same name again by itself and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_client_joins_again_under_its_name() {
    use tagarela_server::Settings;
    use tagarela_server::testing::TestServer;
    let first = TestServer::start(Settings::default()).await.unwrap();
    let relay = Relay::to(first.addr).await;
    let mut ana = OnPty::spawn_raw(relay.port, &["--name", "ana"]);
    ana.wait_for("Welcome, ana").await;
    let second = TestServer::start(Settings::default()).await.unwrap();
    relay.point_to(second.addr);
    relay.cut_all();
    assert!(first.shutdown().await);
    ana.wait_for("as a new session").await;
    let (_bia, welcome, _w) = raw_peer(second.addr, "bia").await;
    assert!(welcome.contains(" online=2 "), "ana is back: {welcome}");
    ana.type_keys(b"/quit\r");
    assert_eq!(ana.status().await, 0);
    assert!(second.shutdown().await);
}

/// Issue 22: with rooms, what is typed goes to the room in the prompt;
/// another room's lines wait, counted in the prompt, until Alt-← (or
/// `/switch`) shows them, and what is typed then goes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_keep_their_lines_apart_and_alt_arrows_switch() {
    let srv = server().await;
    // cai speaks rooms and sits in #homework.
    let (r, mut cai_w) = tokio::net::TcpStream::connect(srv.addr)
        .await
        .unwrap()
        .into_split();
    let mut cai = LineReader::server_lines(r);
    cai_w
        .write_all(b"/features rooms\ncai\n/join #homework\n")
        .await
        .unwrap();
    let until_line = async |lines: &mut LineReader<OwnedReadHalf>, want: &str| loop {
        let line = tokio::time::timeout(WAIT, lines.next_text())
            .await
            .unwrap_or_else(|_| panic!("no line with {want:?}"))
            .unwrap()
            .unwrap();
        if line.contains(want) {
            return line;
        }
    };
    until_line(&mut cai, "IN #homework SEQ 2 JOIN").await;
    let mut ana = OnPty::spawn_raw(
        srv.port(),
        &["--no-reconnect", "--name", "ana", "--join", "#homework"],
    );
    ana.wait_for("now in #homework").await;
    let (mut bob, _, mut bob_w) = raw_peer(srv.addr, "bob").await;
    bob_w.write_all(b"anyone in general, ana?\n").await.unwrap();
    // The mention rings the bell though it is held for #general; the
    // prompt counts it from the next line on.
    ana.wait_for("\u{7}").await;
    // Typed in #homework: it goes there, not to the default room.
    ana.type_keys(b"homework first\r");
    let said = until_line(&mut cai, "homework first").await;
    assert!(said.starts_with("IN #homework SEQ "), "{said}");
    assert!(
        !ana.screen().contains("anyone in general"),
        "held for #general"
    );
    ana.wait_for("[1:#general(1) @1]> ").await;
    // Alt-←: #general comes on screen with what was kept for it, and the
    // line being typed stays.
    ana.type_keys(b"yes,");
    ana.type_keys(b"\x1b[1;3D");
    ana.wait_for("now in #general").await;
    ana.wait_for("anyone in general, ana?").await;
    ana.wait_for("#general> ").await;
    ana.type_keys(b" here\r");
    let heard = until_line(&mut bob, "yes, here").await;
    assert!(
        heard.starts_with("MSG ") && heard.ends_with(" ana :yes, here"),
        "{heard}"
    );
    // /switch by name goes back; nothing reaches bob from #homework.
    ana.type_keys(b"/switch #HOMEWORK\r");
    // The second time it says so (the first was on joining).
    let until = Instant::now() + WAIT;
    while ana.screen().matches("now in #homework").count() < 2 {
        assert!(Instant::now() < until, "no switch: {:?}", ana.screen());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ana.type_keys(b"back to work\r");
    until_line(&mut cai, "back to work").await;
    ana.type_keys(b"/quit\r");
    assert_eq!(ana.status().await, 0);
    let left = until_line(&mut bob, "LEAVE").await;
    assert!(
        left.contains(" ana quit"),
        "bob saw nothing but the leave: {left}"
    );
    assert!(srv.shutdown().await);
}
