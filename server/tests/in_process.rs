//! In-process integration tests: the server's `run` on a loopback listener
//! with short timeouts, driven by raw TCP clients that speak the wire
//! protocol. Wire-level scenarios against the real binary live in
//! `conformance/`; the timers are tested with a paused clock beside the
//! connection loop (`src/transport/connection.rs`).

#![allow(clippy::unwrap_used)] // test harness: a failed unwrap is a failed test

use std::time::Duration;

use tagarela_parser::{ByeReason, LeaveReason, ServerLine};
use tagarela_reader::LineReader;
use tagarela_server::Settings;
use tagarela_server::assert_line;
use tagarela_server::testing::{TestServer, parse_line};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const WAIT: Duration = Duration::from_secs(5);

struct Server(TestServer);

impl Server {
    async fn start(settings: Settings) -> Server {
        Server(TestServer::start(settings).await.unwrap())
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.0.addr
    }

    async fn connect(&self) -> Peer {
        let stream = TcpStream::connect(self.addr()).await.unwrap();
        let (r, w) = stream.into_split();
        let mut peer = Peer {
            reader: LineReader::server_lines(r),
            writer: w,
            pings: 0,
        };
        peer.expect("HELLO 1 :").await;
        peer
    }

    async fn join(&self, name: &str) -> Peer {
        let mut p = self.connect().await;
        p.send(name).await;
        p.expect(&format!("WELCOME {name} ")).await;
        p
    }

    async fn shutdown(self) {
        assert!(self.0.shutdown().await, "run returns after shutdown");
    }
}

struct Peer {
    reader: LineReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pings: u32,
}

impl Peer {
    async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// The next line, or None at EOF (a partial line cut off by the close
    /// is not a line: spec §9.2). Panics after WAIT.
    async fn line(&mut self) -> Option<String> {
        tokio::time::timeout(WAIT, self.reader.next_text())
            .await
            .expect("a line within the wait")
            .unwrap_or(None)
    }

    /// The next line must start with `prefix`.
    async fn expect(&mut self, prefix: &str) -> String {
        let line = self
            .line()
            .await
            .unwrap_or_else(|| panic!("EOF while waiting for {prefix:?}"));
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    /// Ping round trip: every line that arrives before the PONG is returned,
    /// so "nothing else arrived" can be asserted without sleeping.
    async fn barrier(&mut self) -> Vec<String> {
        self.pings += 1;
        let token = format!("b{}", self.pings);
        self.send(&format!("/ping {token}")).await;
        let mut before = Vec::new();
        loop {
            let line = self.line().await.expect("PONG before EOF");
            if line == format!("PONG {token}") {
                return before;
            }
            before.push(line);
        }
    }

    async fn expect_eof(&mut self) {
        assert_eq!(self.line().await, None);
    }
}

/// Short timeouts, and no rate limit: these tests drive the flow of
/// octets, not the pace of people (the rate limit has its own tests).
fn fast() -> Settings {
    Settings {
        registration_timeout: Duration::from_secs(5),
        ping_interval: Duration::from_secs(5),
        ping_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(2),
        rate_limit: None,
        ..Settings::default()
    }
}

#[tokio::test]
async fn broadcast_reaches_everyone_but_the_sender_in_order() {
    let server = Server::start(fast()).await;
    let mut a = server.join("alice").await;
    let mut b = server.join("bob").await;
    let mut c = server.join("carol").await;
    a.expect("JOIN ").await;
    a.expect("JOIN ").await;
    b.expect("JOIN ").await;
    for i in 0..50 {
        a.send(&format!("message {i}")).await;
    }
    for peer in [&mut b, &mut c] {
        for i in 0..50 {
            let line = peer.expect("MSG ").await;
            assert!(line.ends_with(&format!(" alice :message {i}")), "{line}");
        }
        assert!(peer.barrier().await.is_empty());
    }
    assert!(a.barrier().await.is_empty(), "the sender gets no echo");
    server.shutdown().await;
}

#[tokio::test]
async fn private_messages_reach_only_the_target_and_echo_to_the_sender() {
    let server = Server::start(fast()).await;
    let mut a = server.join("alice").await;
    let mut b = server.join("bob").await;
    let mut c = server.join("carol").await;
    a.barrier().await;
    b.barrier().await;
    a.send("@BOB  psst").await;
    let to_b = b.expect("PRIV ").await;
    // One SP separates recipient and text; the second belongs to the text
    // (spec §5.2).
    assert!(to_b.ends_with(" alice bob : psst"), "{to_b}");
    assert_eq!(
        a.expect("PRIV ").await,
        to_b,
        "the sender gets the same line"
    );
    assert!(c.barrier().await.is_empty(), "nobody else sees it");
    a.send("@zed hi").await;
    a.expect("ERR no-such-user zed :").await;
    a.send("@alice note to self").await;
    a.expect("PRIV ").await;
    assert!(
        a.barrier().await.is_empty(),
        "a message to oneself arrives once"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn names_are_unique_by_key_and_retry_works() {
    let server = Server::start(fast()).await;
    let _a = server.join("Straße").await;
    let mut b = server.connect().await;
    b.send("STRASSE").await;
    b.expect("ERR name-taken Straße :").await;
    b.send("bad name").await;
    b.expect("ERR name-invalid :").await;
    b.send("/who").await;
    b.expect("ERR not-registered :").await;
    b.send("Ma\u{303}e").await;
    b.expect("WELCOME Mãe ").await;
    server.shutdown().await;
}

#[tokio::test]
async fn abrupt_disconnect_mid_line_frees_the_name_and_delivers_nothing() {
    let server = Server::start(fast()).await;
    let mut a = server.join("alice").await;
    let mut b = server.join("bob").await;
    a.expect("JOIN ").await;
    b.send_raw(b"half a line").await;
    drop(b);
    let leave = a.expect("LEAVE ").await;
    assert!(leave.ends_with(" bob lost"), "{leave}");
    assert!(
        a.barrier().await.is_empty(),
        "the partial line was not delivered"
    );
    let _b2 = server.join("bob").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_get_everything() {
    let server = Server::start(fast()).await;
    let mut a = server.join("alice").await;
    let mut b = server.join("bob").await;
    let mut slow = server.join("slow").await;
    a.barrier().await;
    b.barrier().await;
    // Bob keeps up; "slow" never reads. 40 MB is far more than its outbox
    // (256 KiB) plus what the kernel buffers on loopback.
    let body = "x".repeat(1000);
    let mut got = 0usize;
    let mut saw_slow_leave = false;
    for round in 0..400 {
        for i in 0..100 {
            a.send(&format!("{} {body}", round * 100 + i)).await;
        }
        while got < (round + 1) * 100 {
            let line = b.line().await.expect("bob keeps receiving");
            match parse_line(&line) {
                Ok(ServerLine::Msg { text, .. }) => {
                    let n: usize = text.as_str().split(' ').next().unwrap().parse().unwrap();
                    assert_eq!(n, got, "in order, none lost");
                    got += 1;
                }
                Ok(ServerLine::Leave {
                    reason: LeaveReason::Slow,
                    ..
                }) => saw_slow_leave = true,
                _ => panic!("unexpected {line}"),
            }
        }
        if saw_slow_leave {
            break;
        }
    }
    assert!(saw_slow_leave, "the slow client was removed as slow");
    let left = a.barrier().await;
    for l in &left {
        assert_line!(l, ServerLine::Leave { .. });
    }
    // The slow client's stream ends: whatever it had, then BYE slow if it fit.
    while let Some(l) = slow.line().await {
        assert_line!(
            l,
            ServerLine::Bye {
                reason: ByeReason::Slow,
                ..
            } | ServerLine::Msg { .. }
                | ServerLine::Pong { .. }
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn connection_limits_refuse_with_bye() {
    let settings = Settings {
        max_per_address: 2,
        ..fast()
    };
    let server = Server::start(settings).await;
    let _a = server.connect().await;
    let _b = server.connect().await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut c = Peer {
        reader: LineReader::server_lines(stream.into_split().0),
        writer: TcpStream::connect(server.addr())
            .await
            .unwrap()
            .into_split()
            .1,
        pings: 0,
    };
    c.expect("BYE address-limit :").await;
    c.expect_eof().await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_bye_to_everyone() {
    let server = Server::start(fast()).await;
    let mut a = server.join("alice").await;
    let mut unregistered = server.connect().await;
    a.barrier().await;
    server.shutdown().await;
    a.expect("BYE shutdown :").await;
    a.expect_eof().await;
    unregistered.expect("BYE shutdown :").await;
    unregistered.expect_eof().await;
}

#[tokio::test]
async fn over_long_line_is_refused_and_the_next_line_works() {
    let server = Server::start(fast()).await;
    let mut a = server.join("alice").await;
    let mut b = server.join("bob").await;
    a.expect("JOIN ").await;
    let mut long = vec![b'y'; 5000];
    long.extend_from_slice(b"\nok\n");
    b.send_raw(&long).await;
    b.expect("ERR line-too-long :").await;
    let msg = a.expect("MSG ").await;
    assert!(msg.ends_with(" bob :ok"), "{msg}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_pipelining_client_gets_its_replies_within_a_small_bound() {
    // 3000 pings in one write are ~36 KB of input and ~30 KB of replies,
    // far past this 8 KiB bound unless replies go out as each read is
    // handled (spec §11: only a client that does not read is slow).
    let settings = Settings {
        outbox_bytes: 8 * 1024,
        outbox_soft_bytes: 8 * 1024,
        ..fast()
    };
    let server = Server::start(settings).await;
    let mut a = server.join("alice").await;
    let burst: String = (0..3000).map(|i| format!("/ping p{i}\n")).collect();
    a.send_raw(burst.as_bytes()).await;
    for i in 0..3000 {
        let line = a.line().await.expect("no close");
        assert_eq!(line, format!("PONG p{i}"));
    }
    assert!(a.barrier().await.is_empty());
    server.shutdown().await;
}

/// Writes `line` over and over without ever reading, until the server
/// closes the connection (a write fails) or `limit` passes; says which.
async fn flood_until_closed(stream: TcpStream, line: &[u8], limit: Duration) -> bool {
    let chunk: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
    let (_unread, mut w) = stream.into_split();
    let give_up = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < give_up {
        match tokio::time::timeout_at(give_up, w.write_all(&chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test]
async fn a_flooding_peer_that_never_reads_still_meets_the_registration_timeout() {
    // Every "!" is an invalid name with an ERR reply the peer never reads;
    // the socket stays readable the whole time (spec §4.5, §11).
    let settings = Settings {
        registration_timeout: Duration::from_millis(300),
        outbox_bytes: 1 << 30,
        outbox_soft_bytes: 1 << 30,
        ..fast()
    };
    let server = Server::start(settings).await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    assert!(
        flood_until_closed(stream, b"!\n", Duration::from_secs(20)).await,
        "closed by the registration timeout while flooding"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_flooding_peer_that_never_reads_is_removed_at_the_hard_bound() {
    let settings = Settings {
        outbox_bytes: 64 * 1024,
        outbox_soft_bytes: 64 * 1024,
        slow_grace: Duration::from_secs(600),
        ..fast()
    };
    let server = Server::start(settings).await;
    let mut watcher = server.join("watcher").await;
    let mut flooder = server.join("flooder").await;
    watcher.expect("JOIN ").await;
    flooder.barrier().await;
    let Peer { reader, writer, .. } = flooder;
    let stream = reader.into_inner().reunite(writer).unwrap();
    let flood = tokio::spawn(flood_until_closed(
        stream,
        b"/ping x\n",
        Duration::from_secs(20),
    ));
    let leave = watcher.expect("LEAVE ").await;
    assert!(leave.ends_with(" flooder slow"), "{leave}");
    assert!(flood.await.unwrap(), "the flooder's connection was closed");
    server.shutdown().await;
}

/// The `resume=` token in a WELCOME line.
fn token_of(welcome: &str) -> String {
    welcome
        .split(' ')
        .find_map(|f| f.strip_prefix("resume="))
        .unwrap_or_else(|| panic!("no token in {welcome:?}"))
        .to_owned()
}

/// Spec §16.6: a client whose connection died (the server has not noticed
/// yet) takes its name back with its token: the room sees nothing, the
/// ghost is told it was replaced, and the client gets exactly what it
/// missed, private messages included.
#[tokio::test]
async fn a_resumed_name_moves_without_a_leave_and_brings_what_was_missed() {
    let server = Server::start(fast()).await;
    let mut ghost = server.connect().await;
    ghost.send("/features resume").await;
    ghost.expect("FEATURES seq resume").await;
    ghost.send("ana").await;
    let welcome = ghost.expect("WELCOME ana online=1 ").await;
    assert!(welcome.contains(" seq=1 "), "{welcome}");
    let token = token_of(&welcome);
    let mut bia = server.join("bia").await;
    ghost.expect("SEQ 2 JOIN ").await;
    bia.send("one").await;
    assert!(ghost.expect("SEQ 3 MSG ").await.ends_with(" bia :one"));
    // The ghost reads no more; meanwhile:
    bia.send("two").await;
    bia.send("@ana psst").await;
    bia.expect("PRIV ").await;

    let mut stranger = server.connect().await;
    stranger
        .send("/resume ana 00000000000000000000000000000000 0")
        .await;
    stranger.expect("ERR resume-refused ").await;

    let mut ana = server.connect().await;
    ana.send(&format!("/resume ana {token} 3")).await;
    let welcome = ana.expect("WELCOME ana online=2 ").await;
    let new_token = token_of(&welcome);
    assert_ne!(new_token, token, "a token is used once");
    assert!(ana.expect("SEQ 4 MSG ").await.ends_with(" bia :two"));
    assert!(ana.expect("SEQ 5 PRIV ").await.ends_with(" bia ana :psst"));
    assert_eq!(ana.expect("RESUMED").await, "RESUMED 2");
    // The ghost is told, and closed; the room saw nothing.
    let mut rest = Vec::new();
    while let Some(line) = ghost.line().await {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l.starts_with("SEQ 4 MSG")), "{rest:?}");
    assert_line!(
        rest.last().map_or("", String::as_str),
        ServerLine::Bye {
            reason: ByeReason::Replaced,
            ..
        }
    );
    assert_eq!(bia.barrier().await, Vec::<String>::new());
    // Live lines go to the new connection.
    bia.send("three").await;
    assert!(ana.expect("SEQ 6 MSG ").await.ends_with(" bia :three"));
    // The old token is spent.
    let mut again = server.connect().await;
    again.send(&format!("/resume ana {token} 0")).await;
    again.expect("ERR resume-refused ").await;
    server.shutdown().await;
}

/// Spec §16.6: once the room was told the client left, its token still
/// takes the free name back (one leave, one join), with what was missed.
#[tokio::test]
async fn a_free_name_is_resumed_with_a_join() {
    let server = Server::start(fast()).await;
    let mut ana = server.connect().await;
    ana.send("/features resume").await;
    ana.expect("FEATURES").await;
    ana.send("ana").await;
    let token = token_of(&ana.expect("WELCOME ana ").await);
    let mut bia = server.join("bia").await;
    ana.expect("SEQ 2 JOIN").await;
    ana.send("/quit").await;
    ana.expect("BYE quit").await;
    bia.expect("LEAVE ").await;
    bia.send("while you were away").await;
    // The server has taken it before the client comes back.
    assert_eq!(bia.barrier().await, Vec::<String>::new());
    let mut back = server.connect().await;
    back.send(&format!("/resume ana {token} 2")).await;
    back.expect("WELCOME ana online=2 ").await;
    // Its own leave is not something it missed; bia's message is.
    assert!(
        back.expect("SEQ 4 MSG ")
            .await
            .ends_with(" bia :while you were away")
    );
    assert_eq!(back.expect("RESUMED").await, "RESUMED 1");
    bia.expect("JOIN ").await;
    server.shutdown().await;
}
