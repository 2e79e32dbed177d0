//! The IRC front door (spec §20), in process: an IRC client and a
//! Tagarela client in the same room see each other's joins, messages,
//! actions and leaves, and whisper both ways.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::net::SocketAddr;
use std::time::Duration;

use tagarela_reader::LineReader;
use tagarela_server::Settings;
use tagarela_server::testing::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// An IRC client: its lines, and its socket to write to.
struct Irc {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    w: OwnedWriteHalf,
}

impl Irc {
    async fn connect(at: SocketAddr, nick: &str) -> Irc {
        Irc::register(at, nick, nick, nick).await
    }

    /// Registers with `USER user 0 * :realname`.
    async fn register(at: SocketAddr, nick: &str, user: &str, realname: &str) -> Irc {
        let (r, w) = TcpStream::connect(at).await.unwrap().into_split();
        let mut irc = Irc {
            lines: BufReader::new(r).lines(),
            w,
        };
        irc.send(&format!("NICK {nick}\r\nUSER {user} 0 * :{realname}"))
            .await;
        irc.until(" 376 ").await;
        irc
    }

    /// Registers as `nick`, asking for the capabilities `caps` first.
    async fn with_caps(at: SocketAddr, nick: &str, caps: &str) -> Irc {
        Irc::welcomed_with_caps(at, nick, caps).await.0
    }

    /// As [`Irc::with_caps`], with the welcome's lines.
    async fn welcomed_with_caps(at: SocketAddr, nick: &str, caps: &str) -> (Irc, Vec<String>) {
        let (r, w) = TcpStream::connect(at).await.unwrap().into_split();
        let mut irc = Irc {
            lines: BufReader::new(r).lines(),
            w,
        };
        irc.send(&format!(
            "CAP REQ :{caps}\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END"
        ))
        .await;
        let welcome = irc.until(" 376 ").await;
        (irc, welcome)
    }

    async fn send(&mut self, line: &str) {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    /// Sends `line`, then reads until a line containing `what`.
    async fn ask(&mut self, line: &str, what: &str) -> Vec<String> {
        self.send(line).await;
        self.until(what).await
    }

    /// Lines up to and including the first that contains `what`.
    async fn until(&mut self, what: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {what:?} after {seen:#?}"))
                .unwrap()
                .unwrap();
            let done = line.contains(what);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

/// A Tagarela client with rooms, registered as `name`.
async fn tagarela(at: SocketAddr, name: &str) -> (LineReader<OwnedReadHalf>, OwnedWriteHalf) {
    let (r, mut w) = TcpStream::connect(at).await.unwrap().into_split();
    let mut lines = LineReader::server_lines(r);
    w.write_all(format!("/features rooms\n{name}\n").as_bytes())
        .await
        .unwrap();
    until(&mut lines, "WELCOME ").await;
    (lines, w)
}

async fn until(lines: &mut LineReader<OwnedReadHalf>, what: &str) -> String {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_text())
            .await
            .unwrap_or_else(|_| panic!("no {what:?}"))
            .unwrap()
            .unwrap();
        if line.contains(what) {
            return line;
        }
    }
}

#[tokio::test]
async fn an_irc_client_and_a_tagarela_client_share_a_room() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let irc_at = server.irc.unwrap();
    let mut ana = Irc::connect(irc_at, "ana").await;
    let (mut bia, mut bia_w) = tagarela(server.addr, "bia").await;

    // An IRC client starts in no channel; it joins the default room's.
    ana.send("JOIN #general").await;
    let joined = ana.until(" 366 ").await;
    assert!(joined[0].ends_with("JOIN #general"), "{joined:?}");
    assert!(
        joined
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("bia"))
    );
    until(&mut bia, "IN #general SEQ").await;

    // Tagarela to IRC.
    bia_w
        .write_all("/msg #general olá, ana\n".as_bytes())
        .await
        .unwrap();
    let said = ana.until("PRIVMSG").await;
    assert_eq!(
        said.last().unwrap(),
        ":bia!~u@tagarela PRIVMSG #general :olá, ana"
    );

    // IRC to Tagarela, formatting dropped; an action is `/me`.
    ana.send("PRIVMSG #general :\u{2}oi\u{2} bia").await;
    let line = until(&mut bia, "MSG").await;
    assert!(line.ends_with("ana :oi bia"), "{line}");
    ana.send("PRIVMSG #general :\u{1}ACTION waves\u{1}").await;
    let line = until(&mut bia, "MSG").await;
    assert!(line.ends_with("ana :/me waves"), "{line}");

    // Private messages, both ways; the IRC sender is not echoed.
    ana.send("PRIVMSG bia :só para ti").await;
    let line = until(&mut bia, "PRIV").await;
    assert!(line.ends_with(":só para ti"), "{line}");
    bia_w.write_all(b"@ana e eu para ti\n").await.unwrap();
    let said = ana.until("PRIVMSG").await;
    assert_eq!(
        said.last().unwrap(),
        ":bia!~u@tagarela PRIVMSG ana :e eu para ti"
    );

    // One namespace of names: a Tagarela name is taken on IRC too.
    let (r, mut w) = TcpStream::connect(irc_at).await.unwrap().into_split();
    let mut other = BufReader::new(r).lines();
    w.write_all(b"NICK BIA\r\nUSER x 0 * :x\r\n").await.unwrap();
    let refused = other.next_line().await.unwrap().unwrap();
    assert!(refused.contains(" 433 "), "{refused}");

    // Leaving: one QUIT for the IRC client.
    bia_w.write_all(b"/join #x\n/quit tchau\n").await.unwrap();
    let left = ana.until("QUIT").await;
    assert_eq!(left.last().unwrap(), ":bia!~u@tagarela QUIT :Quit: tchau");
    ana.send("PING end").await;
    let rest = ana.until("PONG").await;
    assert_eq!(rest.len(), 1, "no second QUIT: {rest:?}");
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn registration_waits_for_cap_end_and_errors_are_numerics() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let (r, mut w) = TcpStream::connect(server.irc.unwrap())
        .await
        .unwrap()
        .into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(b"CAP LS 302\r\nNICK ana\r\nUSER ana 0 * :Ana\r\nCAP REQ :server-time\r\n")
        .await
        .unwrap();
    let ls = lines.next_line().await.unwrap().unwrap();
    assert!(
        ls.contains(" CAP * LS :") && ls.contains("server-time"),
        "{ls}"
    );
    let ack = lines.next_line().await.unwrap().unwrap();
    assert!(ack.ends_with("ACK :server-time"), "{ack}");
    // Nothing else until CAP END.
    w.write_all(b"CAP END\r\nPRIVMSG nobody :hi\r\nJOIN nochannel\r\nFOO\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let done = line.contains(" 421 ");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(seen[0].contains(" 001 ana "), "{seen:?}");
    assert!(
        seen.iter().any(|l| l.contains(" 401 ana nobody ")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains(" 403 ana nochannel ")),
        "{seen:?}"
    );
    assert!(server.shutdown().await);
}

/// What `USER` and `AWAY` say is what others see (§20.6): the user name in
/// the source of every line and in WHO, WHOIS and USERHOST, the real name,
/// and the away message (G in WHO, 301 to whoever whispers).
#[tokio::test]
async fn user_real_name_and_away_are_shown_to_others() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let irc_at = server.irc.unwrap();
    let mut ana = Irc::register(irc_at, "ana", "an@!a", "Ana \u{2}Maria\u{2} Silva").await;
    let mut bia = Irc::connect(irc_at, "bia").await;
    // A new room: ana, its first, is its operator.
    ana.send("JOIN #cozinha").await;
    ana.until(" 366 ").await;
    bia.send("JOIN #cozinha").await;
    bia.until(" 366 ").await;

    ana.send("PRIVMSG #cozinha :oi").await;
    let said = bia.until("PRIVMSG").await;
    assert_eq!(
        said.last().unwrap(),
        ":ana!~ana@tagarela PRIVMSG #cozinha :oi"
    );

    bia.send("WHO #cozinha").await;
    let who = bia.until(" 315 ").await;
    let line = who.iter().find(|l| l.contains(" ana ")).unwrap();
    assert!(
        line.ends_with(" #cozinha ~ana tagarela tagarela ana H@ :0 Ana Maria Silva"),
        "{line}"
    );

    ana.send("AWAY :almoçando").await;
    ana.until(" 306 ").await;
    bia.send("WHO ana").await;
    let who = bia.until(" 315 ").await;
    assert!(who[0].contains(" ana G :0 Ana Maria Silva"), "{who:?}");
    bia.send("USERHOST ana").await;
    let userhost = bia.until(" 302 ").await;
    assert!(userhost[0].ends_with(":ana=-~ana@tagarela"), "{userhost:?}");
    bia.send("WHOIS ana").await;
    let whois = bia.until(" 318 ").await;
    assert!(
        whois[0].ends_with(" 311 bia ana ~ana tagarela * :Ana Maria Silva"),
        "{whois:?}"
    );
    assert!(
        whois.iter().any(|l| l.contains(" 319 bia ana :@#cozinha")),
        "{whois:?}"
    );
    assert!(
        whois.iter().any(|l| l.ends_with(" 301 bia ana :almoçando")),
        "{whois:?}"
    );

    // A whisper to someone away is delivered, and its sender told.
    bia.send("PRIVMSG ana :volta logo").await;
    let told = bia.until(" 301 ").await;
    assert!(told[0].ends_with(" 301 bia ana :almoçando"), "{told:?}");
    ana.until("volta logo").await;

    ana.send("AWAY").await;
    ana.until(" 305 ").await;
    bia.send("WHO ana*").await;
    let who = bia.until(" 315 ").await;
    assert!(who[0].contains(" ana H :0 Ana Maria Silva"), "{who:?}");
}

/// MONITOR (§20.6): a watcher is told when a watched nick comes online
/// and leaves, whichever protocol its holder speaks; masks are not nicks.
#[tokio::test]
async fn monitor_tells_of_arrivals_and_departures() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let irc_at = server.irc.unwrap();
    let mut ana = Irc::connect(irc_at, "ana").await;
    ana.send("MONITOR + bia,*!*@*").await;
    let status = ana.until(" 731 ").await;
    assert!(status[0].ends_with(" 731 ana :bia"), "{status:?}");

    let (_bia, mut bia_w) = tagarela(server.addr, "bia").await;
    let online = ana.until(" 730 ").await;
    assert!(
        online[0].ends_with(" 730 ana :bia!~u@tagarela"),
        "{online:?}"
    );

    ana.send("MONITOR L").await;
    let list = ana.until(" 733 ").await;
    assert!(list[0].ends_with(" 732 ana :bia"), "{list:?}");

    bia_w.write_all(b"/quit\n").await.unwrap();
    let offline = ana.until(" 731 ").await;
    assert!(offline[0].ends_with(" 731 ana :bia"), "{offline:?}");

    // No longer watched: nothing when it comes back.
    ana.send("MONITOR - bia").await;
    let (_bia, _bia_w) = tagarela(server.addr, "bia").await;
    ana.send("PING :after").await;
    let after = ana.until("after").await;
    assert_eq!(after.len(), 1, "{after:?}");
}

/// A room's `+l` (§20.6): its operator sets the most members it lets
/// in; past it a newcomer gets 471; `-l` lifts it. `+B` marks a bot.
#[tokio::test]
async fn a_room_limit_and_bot_mode() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let irc_at = server.irc.unwrap();
    let mut ana = Irc::connect(irc_at, "ana").await;
    let mut bia = Irc::connect(irc_at, "bia").await;
    ana.send("JOIN #sala").await;
    ana.until(" 366 ").await;
    ana.send("MODE #sala +l 1").await;
    let set = ana.until("MODE").await;
    assert!(set[0].ends_with(" MODE #sala +l 1"), "{set:?}");
    ana.send("MODE #sala").await;
    let modes = ana.until(" 324 ").await;
    assert!(modes[0].ends_with(" 324 ana #sala +lnt 1"), "{modes:?}");
    ana.until(" 329 ana #sala ").await;

    bia.send("JOIN #sala").await;
    let full = bia.until(" 471 ").await;
    assert!(full[0].contains(" 471 bia #sala "), "{full:?}");
    bia.send("MODE #sala -l").await;
    let refused = bia.until(" 482 ").await;
    assert!(refused[0].contains(" 482 bia #sala "), "{refused:?}");

    ana.send("MODE #sala +l 0").await;
    let bad = ana.until(" 696 ").await;
    assert!(bad[0].contains(" 696 ana #sala l 0 "), "{bad:?}");
    ana.send("MODE #sala -l").await;
    ana.until(" MODE #sala -l").await;
    bia.send("JOIN #sala").await;
    bia.until(" 366 ").await;

    bia.send("MODE bia +B").await;
    let mode = bia.until("MODE").await;
    assert!(mode[0].ends_with(" MODE bia +B"), "{mode:?}");
    ana.send("WHOIS bia").await;
    let whois = ana.until(" 318 ").await;
    assert!(
        whois.iter().any(|l| l.contains(" 335 ana bia ")),
        "{whois:?}"
    );
    ana.send("WHO #sala").await;
    let who = ana.until(" 315 ").await;
    assert!(who.iter().any(|l| l.contains(" bia HB :0 ")), "{who:?}");
}

#[tokio::test]
async fn tags_ride_on_messages_and_alone_only_to_those_who_asked() {
    let server = TestServer::start_irc_keeping_history(Settings::default())
        .await
        .unwrap();
    let at = server.irc.unwrap();
    // ana asks for message-tags (and her own messages back); bia does not.
    let mut ana = Irc::with_caps(at, "ana", "message-tags echo-message").await;
    let mut bia = Irc::connect(at, "bia").await;
    let (mut caio, _caio_w) = tagarela(server.addr, "caio").await;
    for irc in [&mut ana, &mut bia] {
        irc.send("JOIN #general").await;
        irc.until(" 366 ").await;
    }
    // caio is in the default room from the start.
    until(&mut caio, "JOIN").await;
    until(&mut caio, " bia").await;

    // A message with a client-only tag: ana's echo carries it and a
    // msgid; bia's copy has no tags; caio gets the text.
    ana.send("@+draft/react=ok;nonclient=x PRIVMSG #general :olá")
        .await;
    let echo = ana.until("PRIVMSG #general").await.pop().unwrap();
    assert!(echo.starts_with("@msgid="), "{echo}");
    assert!(echo.contains(";+draft/react=ok "), "{echo}");
    assert!(!echo.contains("nonclient"), "{echo}");
    let plain = bia.until("PRIVMSG #general").await.pop().unwrap();
    assert!(plain.starts_with(":ana!"), "{plain}");
    assert!(until(&mut caio, " MSG ").await.ends_with(" ana :olá"));

    // Tags alone: to ana's echo only; neither bia nor caio hears of it.
    ana.send("@+typing=active TAGMSG #general").await;
    let tagmsg = ana.until("TAGMSG").await.pop().unwrap();
    assert!(
        tagmsg.contains("+typing=active") && tagmsg.ends_with(" TAGMSG #general"),
        "{tagmsg}"
    );
    // A NOTICE stays a NOTICE on IRC, and is a message to Tagarela.
    ana.send("NOTICE #general :aviso").await;
    let notice = bia.until("#general").await.pop().unwrap();
    assert!(notice.ends_with(" NOTICE #general :aviso"), "{notice}");
    let said = until(&mut caio, " MSG ").await;
    assert!(said.ends_with(" ana :aviso"), "{said}");

    // Tags are relayed, never kept: the message comes back from history
    // with its msgid and without them.
    ana.send("CHATHISTORY LATEST #general * 5").await;
    let replayed = ana.until(":olá").await.pop().unwrap();
    assert!(replayed.starts_with("@msgid="), "{replayed}");
    assert!(!replayed.contains("draft/react"), "{replayed}");
}

/// The `PRIVMSG` texts of a `CHATHISTORY` answer (up to `BATCH -`), and
/// each line's tags.
async fn page(irc: &mut Irc, ask: &str) -> Vec<(String, String)> {
    irc.send(ask).await;
    let lines = irc.until("BATCH -").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" BATCH +") && l.contains(" chathistory ")),
        "{lines:#?}"
    );
    lines
        .iter()
        .filter(|l| l.contains(" PRIVMSG "))
        .map(|l| {
            let (tags, rest) = l.split_once(' ').unwrap();
            let text = rest.rsplit_once(" :").unwrap().1.to_owned();
            (text, tags.to_owned())
        })
        .collect()
}

fn texts(page: &[(String, String)]) -> Vec<&str> {
    page.iter().map(|(t, _)| t.as_str()).collect()
}

#[tokio::test]
async fn chathistory_pages_a_rooms_kept_messages() {
    let settings = Settings {
        rate_limit: None,
        ..Settings::default()
    };
    let server = TestServer::start_irc_keeping_history(settings)
        .await
        .unwrap();
    // 30 messages in the room, a few milliseconds apart (distinct times).
    let (mut caio, mut caio_w) = tagarela(server.addr, "caio").await;
    for n in 1..=30 {
        caio_w
            .write_all(format!("/msg #general m{n:02}\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    caio_w.write_all(b"/ping done\n").await.unwrap();
    until(&mut caio, "PONG done").await;

    let caps = "batch message-tags draft/chathistory";
    let (mut ana, welcome) = Irc::welcomed_with_caps(server.irc.unwrap(), "ana", caps).await;
    assert!(
        welcome.iter().any(|l| l.contains(" CHATHISTORY=200 ")),
        "{welcome:#?}"
    );

    let latest = page(&mut ana, "CHATHISTORY LATEST #general * 10").await;
    let want: Vec<String> = (21..=30).map(|n| format!("m{n:02}")).collect();
    assert_eq!(texts(&latest), want);
    assert!(
        latest[0].1.starts_with("@batch=h1;msgid="),
        "{}",
        latest[0].1
    );
    let msgid = |tags: &str| -> u64 {
        let at = tags.find("msgid=").unwrap() + 6;
        tags[at..].split(';').next().unwrap().parse().unwrap()
    };
    let time = |tags: &str| -> String {
        let at = tags.find("time=").unwrap() + 5;
        tags[at..].split([';', ' ']).next().unwrap().to_owned()
    };
    // The 30 are numbered one after another: m(k) is base + k.
    let base = msgid(&latest[0].1) - 21;
    let id = |k: u64| base + k;

    let before = page(
        &mut ana,
        &format!("CHATHISTORY BEFORE #general msgid={} 5", id(21)),
    )
    .await;
    assert_eq!(texts(&before), ["m16", "m17", "m18", "m19", "m20"]);
    let after = page(
        &mut ana,
        &format!("CHATHISTORY AFTER #general msgid={} 3", id(16)),
    )
    .await;
    assert_eq!(texts(&after), ["m17", "m18", "m19"]);
    let around = page(
        &mut ana,
        &format!("CHATHISTORY AROUND #general msgid={} 4", id(16)),
    )
    .await;
    assert_eq!(texts(&around), ["m14", "m15", "m16", "m17"]);
    let between = format!(
        "CHATHISTORY BETWEEN #general msgid={} msgid={} 10",
        id(10),
        id(13)
    );
    assert_eq!(texts(&page(&mut ana, &between).await), ["m11", "m12"]);
    let backwards = format!(
        "CHATHISTORY BETWEEN #general msgid={} msgid={} 2",
        id(13),
        id(5)
    );
    assert_eq!(texts(&page(&mut ana, &backwards).await), ["m11", "m12"]);
    // By time: before m21's time is m20 and earlier; after m16's, m17 on.
    let t21 = time(&latest[0].1);
    let by_time = page(
        &mut ana,
        &format!("CHATHISTORY BEFORE #general timestamp={t21} 2"),
    )
    .await;
    assert_eq!(texts(&by_time), ["m19", "m20"]);
    let t16 = time(&around[2].1);
    let by_time = page(
        &mut ana,
        &format!("CHATHISTORY AFTER #general timestamp={t16} 2"),
    )
    .await;
    assert_eq!(texts(&by_time), ["m17", "m18"]);

    // Private messages are not kept; a malformed line is a FAIL.
    assert!(
        page(&mut ana, "CHATHISTORY LATEST caio * 5")
            .await
            .is_empty()
    );
    ana.send("CHATHISTORY BEFORE #general * 5").await;
    let fail = ana.until("FAIL").await.pop().unwrap();
    assert!(
        fail.contains(" FAIL CHATHISTORY INVALID_PARAMS BEFORE :"),
        "{fail}"
    );
}

#[tokio::test]
async fn a_labelled_command_gets_its_answer_labelled() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let mut ana = Irc::with_caps(server.irc.unwrap(), "ana", "batch labeled-response").await;
    // One line: tagged. None: an ACK. Several: a labelled batch.
    ana.send("@label=p1 PING x").await;
    let pong = ana.until("PONG").await.pop().unwrap();
    assert!(
        pong.starts_with("@label=p1 :") && pong.ends_with(" :x"),
        "{pong}"
    );
    ana.send("@label=p2 PONG x").await;
    let ack = ana.until("ACK").await.pop().unwrap();
    assert!(
        ack.starts_with("@label=p2 :") && ack.ends_with(" ACK"),
        "{ack}"
    );
    ana.send("@label=p3 JOIN #cozinha").await;
    let joined = ana.until("BATCH -").await;
    assert!(
        joined[0].starts_with("@label=p3 :") && joined[0].ends_with(" labeled-response"),
        "{joined:#?}"
    );
    let id = joined[0]
        .split(" BATCH +")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    for line in &joined[1..joined.len() - 1] {
        assert!(line.starts_with(&format!("@batch={id} ")), "{line}");
    }
    assert!(joined.iter().any(|l| l.contains(" JOIN #cozinha")));
    assert!(joined.iter().any(|l| l.contains(" 366 ")));
    // An unknown command, even with `_`, is a labelled 421.
    ana.send("@label=p4 NO_SUCH_THING").await;
    let unknown = ana.until(" 421 ").await.pop().unwrap();
    assert!(unknown.starts_with("@label=p4 :"), "{unknown}");
}

#[tokio::test]
async fn everyone_in_the_room_is_told_of_a_mode_change() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::connect(at, "ana").await;
    let mut bia = Irc::connect(at, "bia").await;
    let mut carl = Irc::connect(at, "carl").await;
    // The first in a new room runs it (§19.6).
    for irc in [&mut ana, &mut bia, &mut carl] {
        irc.send("JOIN #sala").await;
        irc.until(" 366 ").await;
    }
    ana.send("MODE #sala +o bia").await;
    for irc in [&mut ana, &mut bia, &mut carl] {
        let mode = irc.until(" MODE ").await.pop().unwrap();
        assert_eq!(mode, ":ana!~ana@tagarela MODE #sala +o bia");
    }
    bia.send("MODE #sala +b zed!*@*").await;
    for irc in [&mut ana, &mut bia, &mut carl] {
        let mode = irc.until(" MODE ").await.pop().unwrap();
        assert_eq!(mode, ":bia!~bia@tagarela MODE #sala +b zed!*@*");
    }
}

#[tokio::test]
async fn away_is_told_to_those_sharing_a_room_who_asked() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::with_caps(at, "ana", "away-notify").await;
    let mut bia = Irc::connect(at, "bia").await;
    for irc in [&mut ana, &mut bia] {
        irc.send("JOIN #sala").await;
        irc.until(" 366 ").await;
    }
    bia.send("AWAY :almoço").await;
    bia.until(" 306 ").await;
    assert_eq!(
        ana.until(" AWAY").await.pop().unwrap(),
        ":bia!~bia@tagarela AWAY :almoço"
    );
    bia.send("AWAY").await;
    bia.until(" 305 ").await;
    assert_eq!(
        ana.until(" AWAY").await.pop().unwrap(),
        ":bia!~bia@tagarela AWAY"
    );
}

#[tokio::test]
async fn only_utf8_is_relayed_but_a_user_line_may_register_without_it() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let (r, mut w) = TcpStream::connect(server.irc.unwrap())
        .await
        .unwrap()
        .into_split();
    let mut ana = Irc {
        lines: BufReader::new(r).lines(),
        w: {
            w.write_all(b"NICK ana\r\nUSER ana 0 * :Ana \xe9\xe9\r\n")
                .await
                .unwrap();
            w
        },
    };
    ana.until(" 376 ").await;
    ana.w.write_all(b"PRIVMSG ana :ol\xe1\r\n").await.unwrap();
    let fail = ana.until("FAIL").await.pop().unwrap();
    assert!(fail.contains(" FAIL PRIVMSG INVALID_UTF8 :"), "{fail}");
}

#[tokio::test]
async fn setname_and_away_reach_room_mates_and_watchers_who_asked() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    // ana shares a room with bia; carl only watches her name; dani
    // watches without extended-monitor, and hears nothing.
    let mut ana = Irc::with_caps(at, "ana", "setname away-notify").await;
    let mut carl = Irc::with_caps(at, "carl", "extended-monitor setname away-notify").await;
    let mut dani = Irc::with_caps(at, "dani", "setname away-notify").await;
    let mut bia = Irc::with_caps(at, "bia", "setname").await;
    for irc in [&mut ana, &mut bia] {
        irc.send("JOIN #sala").await;
        irc.until(" 366 ").await;
    }
    for irc in [&mut carl, &mut dani] {
        irc.send("MONITOR + bia").await;
        irc.until(" 730 ").await;
    }
    bia.send("SETNAME :Bia Souza").await;
    let confirmed = bia.until(" SETNAME ").await.pop().unwrap();
    assert_eq!(confirmed, ":bia!~bia@tagarela SETNAME :Bia Souza");
    for irc in [&mut ana, &mut carl] {
        assert_eq!(irc.until(" SETNAME ").await.pop().unwrap(), confirmed);
    }
    bia.send("AWAY :fora").await;
    bia.until(" 306 ").await;
    for irc in [&mut ana, &mut carl] {
        let away = irc.until(" AWAY").await.pop().unwrap();
        assert_eq!(away, ":bia!~bia@tagarela AWAY :fora");
    }
    // WHOIS shows the new real name; dani got nothing of either change.
    dani.send("WHOIS bia").await;
    let whois = dani.until(" 318 ").await;
    assert!(
        whois
            .iter()
            .any(|l| l.contains(" 311 ") && l.ends_with(":Bia Souza")),
        "{whois:#?}"
    );
    assert!(
        !whois
            .iter()
            .any(|l| l.contains("SETNAME") || l.contains(" AWAY")),
        "{whois:#?}"
    );
    // An empty real name is refused.
    bia.send("SETNAME :").await;
    assert!(
        bia.until("FAIL SETNAME")
            .await
            .pop()
            .unwrap()
            .contains("INVALID_REALNAME")
    );
}

#[tokio::test]
async fn a_server_operator_kills_and_sends_wallops() {
    let operators = tagarela_server::Operators::parse("root hunter2\n");
    let settings = Settings {
        operators: Some(std::sync::Arc::new(operators.unwrap())),
        ..Settings::default()
    };
    let server = TestServer::start_irc(settings).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::connect(at, "ana").await;
    let mut bia = Irc::connect(at, "bia").await;
    let (mut carl, _carl_w) = tagarela(server.addr, "carl").await;
    // Not an operator: KILL and WALLOPS are refused; a wrong password too.
    bia.send("KILL ana :no").await;
    bia.until(" 481 ").await;
    bia.send("OPER root wrong").await;
    bia.until(" 464 ").await;
    ana.send("OPER root hunter2").await;
    let lines = ana.until(" MODE ana +o").await;
    assert!(lines.iter().any(|l| l.contains(" 381 ")), "{lines:#?}");
    // WHO and WHOIS show it.
    bia.send("WHO ana").await;
    let who = bia.until(" 352 ").await.pop().unwrap();
    assert!(who.contains(" H* "), "{who}");
    bia.send("WHOIS ana").await;
    assert!(bia.until(" 318 ").await.iter().any(|l| l.contains(" 313 ")));
    // WALLOPS reaches those with +w only.
    bia.send("MODE bia +w").await;
    bia.until(" MODE bia +w").await;
    ana.send("WALLOPS :maintenance at noon").await;
    assert_eq!(
        bia.until(" WALLOPS ").await.pop().unwrap(),
        ":ana!~ana@tagarela WALLOPS :maintenance at noon"
    );
    // A kill closes the victim, whatever its protocol, and frees the name.
    for irc in [&mut ana, &mut bia] {
        irc.send("JOIN #sala").await;
        irc.until(" 366 ").await;
    }
    ana.send("KILL carl :spam").await;
    let bye = until(&mut carl, "BYE").await;
    assert!(bye.starts_with("BYE killed"), "{bye}");
    ana.send("KILL bia :also").await;
    let last = bia.until("ERROR").await.pop().unwrap();
    assert!(last.contains("Killed"), "{last}");
    assert_eq!(
        ana.until(" QUIT ").await.pop().unwrap(),
        ":bia!~bia@tagarela QUIT :Killed (ana: also)"
    );
    ana.send("WHOIS bia").await;
    assert!(ana.until(" 318 ").await.iter().any(|l| l.contains(" 401 ")));
    let _again = Irc::connect(at, "bia").await;
}

#[tokio::test]
async fn keepalive_pings_are_irc_lines() {
    let settings = Settings {
        ping_interval: Duration::from_millis(200),
        ..Settings::default()
    };
    let server = TestServer::start_irc(settings).await.unwrap();
    let (r, mut w) = TcpStream::connect(server.irc.unwrap())
        .await
        .unwrap()
        .into_split();
    w.write_all(b"NICK ana\r\nUSER ana 0 * :Ana\r\n")
        .await
        .unwrap();
    let mut r = BufReader::new(r);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("\nPING") {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut r, &mut chunk),
        )
        .await
        .expect("a PING within 5 s")
        .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("\r\nPING :1\r\n"), "{seen:?}");
}

#[tokio::test]
async fn keys_and_invitations_guard_a_room() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::connect(at, "ana").await;
    let mut bia = Irc::connect(at, "bia").await;
    let (mut carl, mut carl_w) = tagarela(server.addr, "carl").await;
    ana.send("JOIN #sala").await;
    ana.until(" 366 ").await;
    // A key with a space is refused; a good one is told and shown.
    ana.send("MODE #sala +k :two words").await;
    assert!(ana.until(" 696 ").await.pop().unwrap().contains(" k * "));
    ana.send("MODE #sala +k cerveja").await;
    ana.until(" MODE #sala +k cerveja").await;
    bia.send("JOIN #sala").await;
    bia.until(" 475 ").await;
    bia.send("JOIN #sala errada").await;
    bia.until(" 475 ").await;
    bia.send("JOIN #sala cerveja").await;
    bia.until(" 366 ").await;
    // A Tagarela client has no key to give: refused as such.
    carl_w.write_all(b"/join #sala\n").await.unwrap();
    until(&mut carl, "ERR bad-key").await;
    // Invite-only: an invitation lets in past the key and +i, once.
    ana.send("MODE #sala +i").await;
    ana.until(" MODE #sala +i").await;
    ana.send("MODE #sala").await;
    let modes = ana.until(" 324 ").await.pop().unwrap();
    assert!(modes.ends_with(" #sala +iknt cerveja"), "{modes}");
    ana.until(" 329 ").await;
    ana.send("INVITE carl #sala").await;
    assert!(
        ana.until(" 341 ")
            .await
            .pop()
            .unwrap()
            .ends_with(" 341 ana carl #sala")
    );
    carl_w.write_all(b"/join #sala\n").await.unwrap();
    until(&mut carl, "JOIN").await;
    carl_w
        .write_all(b"/part #sala\n/join #sala\n")
        .await
        .unwrap();
    until(&mut carl, "ERR invite-only").await;
    // Inviting one already in the room, or into a room one is not in.
    ana.send("INVITE bia #sala").await;
    ana.until(" 443 ").await;
    let mut dani = Irc::connect(at, "dani").await;
    dani.send("INVITE bia #sala").await;
    dani.until(" 442 ").await;
    // Not an operator of an invite-only room: 482. An IRC invitee is told.
    bia.send("INVITE dani #sala").await;
    bia.until(" 482 ").await;
    ana.send("INVITE dani #sala").await;
    assert_eq!(
        dani.until(" INVITE ").await.pop().unwrap(),
        ":ana!~ana@tagarela INVITE dani #sala"
    );
    dani.send("INVITE").await;
    let list = dani.until(" 337 ").await;
    assert!(
        list.iter().any(|l| l.ends_with(" 336 dani #sala")),
        "{list:#?}"
    );
    // An operator may give up being one.
    ana.send("MODE #sala -o ana").await;
    ana.until(" MODE #sala -o ana").await;
    ana.send("MODE #sala -i").await;
    ana.until(" 482 ").await;
}

#[tokio::test]
async fn open_topic_and_outside_messages_and_one_line_per_mode() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::connect(at, "ana").await;
    let mut bia = Irc::connect(at, "bia").await;
    let mut carl = Irc::connect(at, "carl").await;
    for irc in [&mut ana, &mut bia] {
        irc.send("JOIN #sala").await;
        irc.until(" 366 ").await;
    }
    // By default (+nt) only operators set the topic and only members send.
    bia.send("TOPIC #sala :nova").await;
    bia.until(" 482 ").await;
    carl.send("PRIVMSG #sala :de fora").await;
    carl.until(" 404 ").await;
    // One MODE line for several changes, told once to the room.
    ana.send("MODE #sala -nt+l 5").await;
    let told = ":ana!~ana@tagarela MODE #sala -nt+l 5";
    assert_eq!(ana.until(" MODE ").await.pop().unwrap(), told);
    assert_eq!(bia.until(" MODE ").await.pop().unwrap(), told);
    bia.send("TOPIC #sala :nova").await;
    assert!(
        ana.until(" TOPIC ")
            .await
            .pop()
            .unwrap()
            .ends_with("TOPIC #sala :nova")
    );
    carl.send("PRIVMSG #sala :de fora").await;
    assert_eq!(
        bia.until(" PRIVMSG ").await.pop().unwrap(),
        ":carl!~carl@tagarela PRIVMSG #sala :de fora"
    );
    ana.send("MODE #sala").await;
    assert!(
        ana.until(" 324 ")
            .await
            .pop()
            .unwrap()
            .ends_with(" #sala +l 5")
    );
}

#[tokio::test]
async fn a_message_to_oneself_comes_as_received_and_as_the_labelled_echo() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::with_caps(at, "ana", "echo-message batch labeled-response").await;
    ana.send("@label=x1 PRIVMSG ana :eu").await;
    ana.send("PING fim").await;
    let got = ana.until("PONG").await;
    let copies: Vec<&String> = got
        .iter()
        .filter(|l| l.contains("PRIVMSG ana :eu"))
        .collect();
    assert_eq!(copies.len(), 2, "{got:#?}");
    assert_eq!(
        copies
            .iter()
            .filter(|l| l.starts_with("@label=x1 "))
            .count(),
        1,
        "{got:#?}"
    );
    assert!(!got.iter().any(|l| l.contains("BATCH")), "{got:#?}");
    // Without echo-message: once.
    let mut bia = Irc::connect(at, "bia").await;
    bia.send("PRIVMSG bia :eu").await;
    bia.send("PING fim").await;
    let got = bia.until("PONG").await;
    assert_eq!(
        got.iter().filter(|l| l.contains("PRIVMSG bia :eu")).count(),
        1,
        "{got:#?}"
    );
}

#[tokio::test]
async fn secret_rooms_and_invisible_users_are_found_only_by_those_sharing_them() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::connect(at, "ana").await;
    let mut bia = Irc::connect(at, "bia").await;
    let (mut carl, mut carl_w) = tagarela(server.addr, "carl").await;
    ana.send("JOIN #segredo").await;
    ana.until(" 366 ").await;
    ana.send("MODE #segredo +s").await;
    ana.until(" MODE #segredo +s").await;
    ana.send("LIST").await;
    assert!(
        ana.until(" 323 ")
            .await
            .iter()
            .any(|l| l.contains(" 322 ana #segredo "))
    );
    bia.send("LIST").await;
    assert!(
        !bia.until(" 323 ")
            .await
            .iter()
            .any(|l| l.contains("#segredo"))
    );
    bia.send("NAMES #segredo").await;
    assert!(!bia.until(" 366 ").await.iter().any(|l| l.contains(" 353 ")));
    carl_w.write_all(b"/rooms\n").await.unwrap();
    let mut listed = Vec::new();
    loop {
        let line = until(&mut carl, "ROOM").await;
        let end = line.starts_with("ROOMSEND");
        listed.push(line);
        if end {
            break;
        }
    }
    assert!(
        !listed.iter().any(|l| l.contains("#segredo")),
        "{listed:#?}"
    );
    ana.send("NAMES #segredo").await;
    assert!(
        ana.until(" 366 ")
            .await
            .iter()
            .any(|l| l.contains(" 353 ana @ #segredo :@ana"))
    );
    // +i: a WHO mask finds ana only for herself and those sharing a room.
    ana.send("MODE ana +i").await;
    ana.until(" MODE ana +i").await;
    bia.send("WHO an*").await;
    assert!(!bia.until(" 315 ").await.iter().any(|l| l.contains(" 352 ")));
    bia.send("WHO ana").await;
    assert!(bia.until(" 315 ").await.iter().any(|l| l.contains(" 352 ")));
    ana.send("MODE #segredo -s").await;
    ana.until(" MODE #segredo -s").await;
    bia.send("JOIN #segredo").await;
    bia.until(" 366 ").await;
    bia.send("WHO an*").await;
    assert!(bia.until(" 315 ").await.iter().any(|l| l.contains(" 352 ")));
}

#[tokio::test]
async fn a_closed_room_shows_nothing_outside_and_members_cannot_undo_operators() {
    let server = TestServer::start_irc_keeping_history(Settings::default())
        .await
        .unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::with_caps(at, "ana", "draft/chathistory batch").await;
    let mut bia = Irc::with_caps(at, "bia", "draft/chathistory batch").await;
    let mut zed = Irc::connect(at, "zed").await;
    let (mut carl, mut carl_w) = tagarela(server.addr, "carl").await;
    ana.send("JOIN #fechada").await;
    ana.until(" 366 ").await;
    ana.send("TOPIC #fechada :assunto").await;
    ana.until(" TOPIC ").await;
    ana.send("PRIVMSG #fechada :segredo").await;
    ana.send("MODE #fechada +k chave").await;
    ana.until(" MODE #fechada +k chave").await;
    // From outside: no history, topic, members or WHOIS room.
    bia.send("CHATHISTORY LATEST #fechada * 10").await;
    assert!(
        bia.until("FAIL CHATHISTORY")
            .await
            .pop()
            .unwrap()
            .contains("INVALID_TARGET")
    );
    bia.send("TOPIC #fechada").await;
    bia.until(" 442 ").await;
    bia.send("WHO #fechada").await;
    assert!(!bia.until(" 315 ").await.iter().any(|l| l.contains(" 352 ")));
    bia.send("WHOIS ana").await;
    assert!(
        !bia.until(" 318 ")
            .await
            .iter()
            .any(|l| l.contains("#fechada"))
    );
    carl_w.write_all(b"/history #fechada\n").await.unwrap();
    until(&mut carl, "ERR not-in-room").await;
    // A non-operator's MODE line is refused once, whatever it asks.
    ana.send("MODE #fechada -k chave").await;
    ana.until(" MODE #fechada -k").await;
    bia.send("JOIN #fechada").await;
    bia.until(" 366 ").await;
    bia.send("MODE #fechada +nnnnnnnn").await;
    bia.send("PING fim").await;
    let got = bia.until("PONG").await;
    assert_eq!(
        got.iter().filter(|l| l.contains(" 482 ")).count(),
        1,
        "{got:#?}"
    );
    // A member's invitation does not undo the operators' ban, nor may the
    // banned send from outside a -n room.
    ana.send("MODE #fechada +b zed").await;
    ana.until(" MODE #fechada +b zed!*@*").await;
    bia.send("INVITE zed #fechada").await;
    bia.until(" 341 ").await;
    zed.send("JOIN #fechada").await;
    zed.until(" 474 ").await;
    ana.send("MODE #fechada -n").await;
    ana.until(" MODE #fechada -n").await;
    zed.send("PRIVMSG #fechada :spam").await;
    zed.until(" 404 ").await;
}

#[tokio::test]
async fn a_moderated_room_hears_its_operators_and_those_given_a_voice() {
    let server = TestServer::start_irc(Settings::default()).await.unwrap();
    let at = server.irc.unwrap();
    let mut ana = Irc::with_caps(at, "ana", "multi-prefix").await;
    let mut bia = Irc::connect(at, "bia").await;
    let (mut carl, mut carl_w) = tagarela(server.addr, "carl").await;
    ana.ask("JOIN #sala", " 366 ").await;
    bia.ask("JOIN #sala", " 366 ").await;
    carl_w.write_all(b"/join #sala\n").await.unwrap();
    until(&mut carl, "JOIN").await;
    ana.ask("MODE #sala +m", " MODE #sala +m").await;
    bia.until(" MODE #sala +m").await;
    // Neither an operator nor given a voice: refused, on either wire.
    bia.send("PRIVMSG #sala :posso?").await;
    assert!(
        bia.until(" 404 ").await.pop().unwrap().contains("(+m)"),
        "told why"
    );
    carl_w.write_all(b"/msg #sala posso?\n").await.unwrap();
    until(&mut carl, "ERR moderated").await;
    // Given a voice, bia speaks; `PREFIX` says `+`, shown in NAMES and
    // WHO, both prefixes to a client with multi-prefix.
    ana.ask("MODE #sala +vv bia ana", " MODE #sala +vv bia ana")
        .await;
    bia.send("PRIVMSG #sala :agora sim").await;
    assert!(
        ana.until(" PRIVMSG ")
            .await
            .pop()
            .unwrap()
            .ends_with(":agora sim")
    );
    until(&mut carl, "agora sim").await;
    ana.send("NAMES #sala").await;
    let names = ana.until(" 366 ").await;
    assert!(
        names
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("@+ana") && l.contains("+bia")),
        "{names:#?}"
    );
    bia.send("NAMES #sala").await;
    let names = bia.until(" 366 ").await;
    assert!(
        names
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("@ana") && !l.contains("@+ana")),
        "{names:#?}"
    );
    bia.send("WHO #sala").await;
    let who = bia.until(" 315 ").await;
    assert!(who.iter().any(|l| l.contains(" bia H+ :")), "{who:#?}");
    let whois = ana.ask("WHOIS bia", " 318 ").await;
    assert!(
        whois
            .iter()
            .any(|l| l.contains(" 319 ") && l.ends_with(":+#sala")),
        "{whois:#?}"
    );
    ana.send("MODE #sala").await;
    assert!(ana.until(" 324 ").await.pop().unwrap().contains(" +mnt"));
    // A voice is for the stay: gone after a part.
    bia.ask("PART #sala", " PART ").await;
    bia.ask("JOIN #sala", " 366 ").await;
    bia.ask("PRIVMSG #sala :e agora?", " 404 ").await;
    // Only in the room; and `-m` lets everyone speak again.
    ana.ask("MODE #sala +v ninguem", " 401 ").await;
    let mut zed = Irc::connect(at, "zed").await;
    ana.ask("MODE #sala +v zed", " 441 ").await;
    // An outsider is refused as one: it learns nothing of +m.
    let refused = zed.ask("PRIVMSG #sala :de fora", " 404 ").await;
    assert!(!refused.last().unwrap().contains("+m"), "{refused:?}");
    ana.ask("MODE #sala -m", " MODE #sala -m").await;
    carl_w.write_all(b"/msg #sala enfim\n").await.unwrap();
    assert!(
        ana.until(" PRIVMSG ")
            .await
            .pop()
            .unwrap()
            .ends_with(":enfim")
    );
    let (_, isupport) = Irc::welcomed_with_caps(at, "dani", "multi-prefix").await;
    for token in [" PREFIX=(ov)@+ ", " CHANMODES=b,k,l,imnst "] {
        assert!(isupport.iter().any(|l| l.contains(token)), "{isupport:#?}");
    }
}
