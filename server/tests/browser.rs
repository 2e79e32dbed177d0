//! The web client in a real browser (spec §21, issue 24): headless
//! Chromium driven through WebDriver (`chromedriver`, Debian's
//! `chromium-driver`). Two browsers and the terminal client (the real
//! `tagarela` binary, scripted) chat in one room: public messages both
//! ways, a mention, a private message each way, markup that must stay
//! text, bidi controls shown; rooms with unread counts; scrolling back
//! through the room's history; a network that drops (a relay cut) and
//! the page resuming with what it missed; then the server restarts and
//! the page comes back with its draft. Where `chromedriver` is not installed the
//! test says so and passes, unless `TAGARELA_REQUIRE_BROWSER=1`
//! (`.ci/run` installs it and sets that), when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::Peer;
use fantoccini::key::Key;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tagarela_reader::LineReader;
use tagarela_server::testing::TestServer;
use tagarela_server::{History, Settings};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// Set (to anything but `0`) to make a missing browser a failure.
const REQUIRE: &str = "TAGARELA_REQUIRE_BROWSER";

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The terminal client (`tagarela`, the real binary, built as the
/// conformance suite builds it) in its scripted mode: a line written to
/// its stdin goes to the server, and the server's lines come out of its
/// stdout in their wire form.
struct Terminal {
    /// The client (killed when dropped).
    _child: Child,
    /// Its stdin.
    stdin: ChildStdin,
    /// Its stdout, a line at a time.
    out: LineReader<ChildStdout>,
}

impl Terminal {
    /// Starts the client as `name` on the server at `addr`, its state in
    /// `state`; returns once the name is taken.
    async fn join(addr: SocketAddr, name: &str, state: &std::path::Path) -> Terminal {
        let binaries = conformance::binaries::build().unwrap();
        std::fs::create_dir_all(state).unwrap();
        let mut child = Command::new(&binaries.client)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--name", name])
            .env("XDG_STATE_HOME", state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = LineReader::server_lines(child.stdout.take().unwrap());
        let mut terminal = Terminal {
            _child: child,
            stdin,
            out,
        };
        terminal.line_with("WELCOME").await;
        terminal
    }

    /// Types `line`.
    async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next line shown that contains `what`, within 10 s.
    async fn line_with(&mut self, what: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.out.next_text())
                .await
                .unwrap_or_else(|_| panic!("no {what:?} within 10 s"))
                .unwrap()
                .unwrap_or_else(|| panic!("the client ended waiting for {what:?}"));
            if line.contains(what) {
                return line;
            }
        }
    }
}

/// A TCP relay to the web door that the test can cut: every connection
/// through it ends at once (as when a network drops), and new ones pass.
struct Relay {
    /// Where browsers connect.
    addr: SocketAddr,
    /// Bumped to cut every connection open through the relay.
    cuts: watch::Sender<u64>,
}

impl Relay {
    /// A relay to `to` on a free loopback port.
    async fn to(to: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(0);
        let watching = cuts.subscribe();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = watching.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Relay { addr, cuts }
    }

    /// Ends every connection open through the relay.
    fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

/// `chromedriver` on a free loopback port, once it answers.
async fn chromedriver(binary: PathBuf) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (child, format!("http://127.0.0.1:{port}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not answer on port {port}");
}

/// A headless Chromium of its own (its own profile directory).
async fn browser(driver: &str, profile: &std::path::Path) -> Client {
    let mut caps = Capabilities::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            format!("--user-data-dir={}", profile.display()),
        ]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a Chromium session")
}

/// Opens the page at `web` and joins as `name`, with the keyboard only:
/// the name field has the focus, Enter sends it, and the message field
/// has the focus then.
async fn join(b: &Client, web: SocketAddr, name: &str) {
    b.goto(&format!("http://{web}/")).await.unwrap();
    b.wait().for_element(Locator::Css("#name")).await.unwrap();
    until(b, "document.activeElement.id === 'name'").await;
    let field = b.active_element().await.unwrap();
    field
        .send_keys(&format!("{name}{}", char::from(Key::Enter)))
        .await
        .unwrap();
    until(b, "document.getElementById('chat').hidden === false").await;
    until(
        b,
        "getComputedStyle(document.getElementById('join')).display === 'none'",
    )
    .await;
    until(b, "document.activeElement.id === 'line'").await;
}

/// Saves a screenshot as `docs/web-<what>.png` when
/// `TAGARELA_SCREENSHOTS` is set (for the README).
async fn screenshot(b: &Client, what: &str) {
    if std::env::var_os("TAGARELA_SCREENSHOTS").is_none() {
        return;
    }
    let png = b.screenshot().await.unwrap();
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join(format!("web-{what}.png")), png).unwrap();
}

/// Waits (at most 10 s) until `condition` (a JS expression) is true.
async fn until(b: &Client, condition: &str) {
    let script = format!("return !!({condition});");
    for _ in 0..200 {
        if b.execute(&script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = b
        .execute("return document.getElementById('logs').innerText;", vec![])
        .await
        .unwrap();
    panic!("not within 10 s: {condition}\nlog:\n{log}");
}

/// Clicks the element `at` finds.
async fn click(b: &Client, at: Locator<'_>) {
    b.find(at).await.unwrap().click().await.unwrap();
}

/// Types `line` and sends it with Enter.
async fn say(b: &Client, line: &str) {
    let input = b.find(Locator::Css("#line")).await.unwrap();
    input
        .send_keys(&format!("{line}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_and_the_terminal_client_chat() {
    let Some(driver) = find("chromedriver") else {
        let required = std::env::var(REQUIRE).is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "{REQUIRE} is set and chromedriver is not installed"
        );
        eprintln!(
            "NOT RUN: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let (_driver, url) = chromedriver(driver).await;
    // A server that keeps history (in memory), without a rate limit (so
    // that eva's backlog goes in at once).
    let settings = || Settings {
        rate_limit: None,
        ..Settings::default()
    };
    let anywhere = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = TestServer::start_web_at(settings(), anywhere, Some(History::in_memory()))
        .await
        .unwrap();
    let web = server.web.unwrap();
    // Before anyone else: 80 messages, of which a newcomer is sent the
    // latest 50 (§16.2); the rest are for scrolling back.
    let mut eva = Peer::join(&server.addr.to_string(), "eva").await;
    for n in 1..=80 {
        eva.send(&format!("antigo {n:02}.")).await;
    }
    eva.send("/ping done").await;
    eva.line_with("PONG done").await;
    eva.send("/quit").await;
    eva.line_with("BYE").await;
    let profiles = std::env::temp_dir().join(format!("tagarela-browser-{}", std::process::id()));

    let ana = browser(&url, &profiles.join("ana")).await;
    // ana's page goes through a relay the test can cut, as a network
    // that drops.
    let relay = Relay::to(web).await;
    join(&ana, relay.addr, "ana").await;
    let caio = browser(&url, &profiles.join("caio")).await;
    // A phone-sized screen: nothing wider than it.
    caio.set_window_size(390, 844).await.unwrap();
    join(&caio, web, "caio").await;
    // The terminal client, the real binary, in its scripted mode.
    let mut bia = Terminal::join(server.addr, "bia", &profiles.join("bia")).await;
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('bia joined')",
    )
    .await;

    // A browser to everyone, with a mention of the other browser.
    say(&ana, "olá a todos, caio").await;
    let line = bia.line_with("MSG").await;
    assert!(line.ends_with(" ana :olá a todos, caio"), "{line}");
    until(&caio, "[...document.querySelectorAll('#logs li.mention')].some(li => li.innerText.includes('olá a todos'))").await;
    // One's own message is shown as sent.
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('<ana>olá a todos')",
    )
    .await;

    // Markup from anyone stays text: no element is made of it.
    bia.send("<img src=x onerror=\"document.title='pwned'\"><b>bold?</b>")
        .await;
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('<img src=x')",
    )
    .await;
    let made = ana
        .execute(
            "return document.querySelectorAll('#logs img, #logs b').length + (document.title === 'pwned' ? 100 : 0);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(made, json!(0));

    // A private message, set apart; and one from a browser.
    bia.send("@ana so para ti").await;
    until(&ana, "[...document.querySelectorAll('#logs li.private')].some(li => li.innerText.includes('so para ti'))").await;
    say(&caio, "@bia e para ti").await;
    // (bia's own whisper comes back to it first: skipped.)
    let line = bia.line_with(" caio bia ").await;
    assert!(
        line.starts_with("PRIV ") && line.ends_with(" caio bia :e para ti"),
        "{line}"
    );

    // Rooms: a /join puts the new room on screen; what is said where the
    // user is not counts as unread there; text goes to the room on
    // screen, and only there.
    say(&ana, "/join #cozinha").await;
    until(&ana, "[...document.querySelectorAll('button.room')].some(b => b.innerText === '#cozinha' && b.getAttribute('aria-current') === 'true')").await;
    say(&caio, "/join #cozinha").await;
    until(
        &caio,
        "document.querySelector('button.room[aria-current=true]').innerText === '#cozinha'",
    )
    .await;
    bia.send("e no general?").await;
    until(
        &ana,
        "[...document.querySelectorAll('button.room')].some(b => b.innerText === '#general (1)')",
    )
    .await;
    say(&ana, "só na cozinha").await;
    until(
        &caio,
        "document.getElementById('logs').textContent.includes('só na cozinha')",
    )
    .await;
    bia.send("/ping cozinha").await;
    let mut seen = Vec::new();
    loop {
        let line = bia.line_with("").await;
        if line == "PONG cozinha" {
            break;
        }
        seen.push(line);
    }
    assert!(
        !seen.iter().any(|l| l.contains("só na cozinha")),
        "{seen:?}"
    );
    click(&ana, Locator::XPath("//button[starts-with(., '#general')]")).await;
    until(&ana, "[...document.querySelectorAll('button.room')].some(b => b.innerText === '#general' && b.getAttribute('aria-current') === 'true')").await;

    // Bidi controls are shown, not obeyed.
    bia.send("abc\u{202e}fdp.exe").await;
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('abc<U+202E>fdp.exe')",
    )
    .await;

    // The list of rooms is something to click: out of #cozinha, /rooms
    // lists it, and its button takes the page back in and on screen.
    say(&ana, "/part #cozinha").await;
    until(&ana, "![...document.querySelectorAll('button.room')].some(b => b.innerText.startsWith('#cozinha'))").await;
    say(&ana, "/rooms").await;
    let listed = ana
        .wait()
        .for_element(Locator::XPath(
            "//button[@class='join-room' and .='#cozinha']",
        ))
        .await
        .unwrap();
    listed.click().await.unwrap();
    until(
        &ana,
        "document.querySelector('button.room[aria-current=true]').innerText === '#cozinha'",
    )
    .await;
    click(&ana, Locator::XPath("//button[starts-with(., '#general')]")).await;
    until(
        &ana,
        "document.querySelector('button.room[aria-current=true]').innerText.startsWith('#general')",
    )
    .await;

    // Scrolling back: the backlog on entering was the latest 50 of eva's
    // 80; "older messages" asks for what came before, shown above them in
    // order, down to the start of what the room keeps.
    let log = "[...document.querySelectorAll('.log:not([hidden]) li')].map(li => li.innerText)";
    until(&ana, &format!("{log}.some(t => t.includes('antigo 80.'))")).await;
    let early = format!("{log}.some(t => t.includes('antigo 30.'))");
    assert_eq!(
        ana.execute(&format!("return {early};"), vec![])
            .await
            .unwrap(),
        json!(false)
    );
    click(&ana, Locator::Css(".log:not([hidden]) button.older")).await;
    until(
        &ana,
        &format!("{log}.some(t => t.includes('the start of what this room keeps'))"),
    )
    .await;
    let order = ana
        .execute(
            &format!("const l = {log}; return ['antigo 01.', 'antigo 30.', 'antigo 31.', 'antigo 80.'].map(w => l.findIndex(t => t.includes(w)));"),
            vec![],
        )
        .await
        .unwrap();
    let order: Vec<i64> = serde_json::from_value(order).unwrap();
    assert!(
        order[0] >= 0 && order.windows(2).all(|w| w[0] < w[1]),
        "{order:?}"
    );

    let fits = caio
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "the page is wider than a phone");
    screenshot(&ana, "chat").await;
    screenshot(&caio, "phone").await;
    caio.close().await.unwrap();

    // The network drops while the server stays: the page says so, comes
    // back with its resume token, and shows what it missed meanwhile.
    relay.cut();
    until(
        &ana,
        "document.getElementById('state').innerText.includes('away')",
    )
    .await;
    // Said while the page is away (it tries again after a second).
    bia.send("enquanto estavas fora").await;
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('1 message you missed is above')",
    )
    .await;
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('<bia>enquanto estavas fora')",
    )
    .await;
    until(
        &ana,
        "document.getElementById('state').innerText === 'connected as ana'",
    )
    .await;

    // The server goes away and comes back where it was: the page says so,
    // keeps the draft, and comes back under its name (its resume token
    // died with the server, so by name).
    let input = ana.find(Locator::Css("#line")).await.unwrap();
    input.send_keys("meio escrito").await.unwrap();
    assert!(server.shutdown().await);
    until(
        &ana,
        "document.getElementById('state').innerText.includes('away')",
    )
    .await;
    let server = TestServer::start_web_at(settings(), web, Some(History::in_memory()))
        .await
        .unwrap();
    until(
        &ana,
        "document.getElementById('state').innerText === 'connected as ana'",
    )
    .await;
    let draft = ana
        .execute("return document.getElementById('line').value;", vec![])
        .await
        .unwrap();
    assert_eq!(draft, json!("meio escrito"));
    let mut dani = Peer::join(&server.addr.to_string(), "dani").await;
    dani.send("de volta?").await;
    until(
        &ana,
        "document.getElementById('logs').textContent.includes('<dani>de volta?')",
    )
    .await;

    ana.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profiles);
}
