//! Behind a load balancer (issue 20, finding 4): every client reaches the
//! server from the balancer's address, so without the PROXY protocol the
//! per-address limit, the password throttle and the plain-text password
//! check see one client. Here the test itself is the balancer, on
//! 127.0.0.1, and sends real PROXY headers (v1 text and v2 binary, built
//! by `ppp`) naming clients elsewhere.

#![allow(clippy::unwrap_used)] // test harness: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tagarela_reader::LineReader;
use tagarela_server::Access;
use tagarela_server::Balancers;
use tagarela_server::Settings;
use tagarela_server::testing::TestServer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const WAIT: Duration = Duration::from_secs(5);

/// Connections from 127.0.0.1 carry a PROXY header.
fn behind_loopback_balancer() -> Settings {
    let loopback = Balancers::parse_entry("127.0.0.1").unwrap();
    Settings {
        balancers: Balancers::new(vec![loopback]),
        rate_limit: None,
        ..Settings::default()
    }
}

fn v1(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().unwrap();
    format!(
        "PROXY TCP4 {} 127.0.0.1 {} 7878\r\n",
        client.ip(),
        client.port()
    )
    .into_bytes()
}

fn v2(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().unwrap();
    let server: SocketAddr = "127.0.0.1:7878".parse().unwrap();
    ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (client, server),
    )
    .build()
    .unwrap()
}

struct Client {
    lines: LineReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects and sends `first` (a header, and maybe more) in one write.
    async fn open(server: &TestServer, first: &[u8]) -> Client {
        let (r, mut writer) = TcpStream::connect(server.addr).await.unwrap().into_split();
        writer.write_all(first).await.unwrap();
        Client {
            lines: LineReader::server_lines(r),
            writer,
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The next line, or `None` at the end of the stream (a close with
    /// unread input arrives as a reset: an end too).
    async fn next(&mut self) -> Option<String> {
        tokio::time::timeout(WAIT, self.lines.next_text())
            .await
            .expect("a line or the end within the wait")
            .unwrap_or(None)
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let line = self.next().await.unwrap_or_default();
        assert!(
            line.starts_with(prefix),
            "expected `{prefix}...`, got `{line}`"
        );
        line
    }
}

#[tokio::test]
async fn the_per_address_limit_counts_the_clients_not_the_balancer() {
    let server = TestServer::start(Settings {
        max_per_address: 1,
        ..behind_loopback_balancer()
    })
    .await
    .unwrap();
    let mut a = Client::open(&server, &v1("203.0.113.1:5000")).await;
    a.expect("HELLO 1 ").await;
    let mut b = Client::open(&server, &v2("203.0.113.2:5000")).await;
    b.expect("HELLO 1 ").await;
    // The header and the name may come in one write: the name is kept.
    let mut first = v1("203.0.113.3:5000");
    first.extend_from_slice(b"carol\n");
    let mut c = Client::open(&server, &first).await;
    c.expect("HELLO 1 ").await;
    c.expect("WELCOME carol ").await;
    let mut again = Client::open(&server, &v2("203.0.113.1:6000")).await;
    again.expect("BYE address-limit ").await;
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn wrong_passwords_throttle_their_own_address_only() {
    let server = TestServer::start(Settings {
        access: Some(Arc::new(Access::new("right", true))),
        ..behind_loopback_balancer()
    })
    .await
    .unwrap();
    let mut mallory = Client::open(&server, &v1("198.51.100.66:4000")).await;
    mallory.expect("HELLO 1 ").await;
    mallory.send("/password wrong").await;
    mallory.expect("ERR password-wrong ").await;
    mallory.send("/password wrong").await;
    mallory.expect("ERR password-wrong ").await;
    mallory.send("/password wrong").await;
    mallory.expect("BYE throttled ").await;
    let mut later = Client::open(&server, &v2("198.51.100.66:4001")).await;
    later.expect("HELLO 1 ").await;
    later.send("/password right").await;
    later.expect("BYE throttled ").await;
    // Someone else behind the same balancer is not locked out.
    let mut ana = Client::open(&server, &v1("203.0.113.20:4000")).await;
    ana.expect("HELLO 1 ").await;
    ana.send("/password right").await;
    ana.send("ana").await;
    ana.expect("WELCOME ana ").await;
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_password_from_another_machine_needs_tls_even_through_a_local_balancer() {
    let server = TestServer::start(Settings {
        access: Some(Arc::new(Access::new("right", false))),
        ..behind_loopback_balancer()
    })
    .await
    .unwrap();
    let mut far = Client::open(&server, &v1("203.0.113.30:4000")).await;
    far.expect("HELLO 1 ").await;
    far.send("/password right").await;
    far.expect("ERR tls-required ").await;
    // A client on the balancer's own machine is on loopback.
    let mut near = Client::open(&server, &v1("127.0.0.9:4000")).await;
    near.expect("HELLO 1 ").await;
    near.send("/password right").await;
    near.send("near").await;
    near.expect("WELCOME near ").await;
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_listed_balancer_without_a_header_is_closed_unheard() {
    let server = TestServer::start(behind_loopback_balancer()).await.unwrap();
    let mut bare = Client::open(&server, b"ana\n").await;
    assert_eq!(bare.next().await, None, "no HELLO, nothing registered");
    let mut http = Client::open(&server, b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(http.next().await, None);
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn nobody_else_is_ever_read_for_a_header() {
    let elsewhere = Balancers::parse_entry("10.9.9.9").unwrap();
    let server = TestServer::start(Settings {
        balancers: Balancers::new(vec![elsewhere]),
        ..Settings::default()
    })
    .await
    .unwrap();
    let mut forger = Client::open(&server, &v1("203.0.113.1:5000")).await;
    forger.expect("HELLO 1 ").await;
    forger.expect("ERR name-invalid ").await;
    forger.send("ana").await;
    forger.expect("WELCOME ana ").await;
    assert!(server.shutdown().await);
}
