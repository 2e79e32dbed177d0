//! The metrics endpoint (issue 13): a scrape is valid text exposition and
//! its counters move with what happens in the room.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::net::SocketAddr;

use tagarela_reader::LineReader;
use tagarela_server::Settings;
use tagarela_server::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

async fn get(at: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(at).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The value of the sample named exactly `sample` (labels included).
fn value(scrape: &str, sample: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == sample).then(|| v.parse().ok()).flatten()
    })
}

async fn join(addr: SocketAddr, name: &str) -> (LineReader<OwnedReadHalf>, OwnedWriteHalf) {
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut lines = LineReader::server_lines(r);
    w.write_all(format!("{name}\n").as_bytes()).await.unwrap();
    loop {
        let line = lines.next_text().await.unwrap().unwrap();
        if line.starts_with("WELCOME ") {
            return (lines, w);
        }
    }
}

#[tokio::test]
async fn counters_move_with_the_room_and_the_scrape_is_valid() {
    let (server, at) = TestServer::start_with_metrics(Settings::default())
        .await
        .unwrap();
    let before = get(at, "/metrics").await;
    assert!(before.starts_with("HTTP/1.1 200 OK\r\n"), "{before}");
    assert!(before.contains("application/openmetrics-text"), "{before}");
    assert!(before.trim_end().ends_with("# EOF"), "{before}");
    assert_eq!(value(&before, "tagarela_registered_clients"), Some(0.0));
    assert!(value(&before, "tagarela_process_resident_memory_bytes").unwrap() > 0.0);

    let (mut a, mut aw) = join(server.addr, "ana").await;
    let (mut b, _bw) = join(server.addr, "bia").await;
    assert!(a.next_text().await.unwrap().unwrap().starts_with("JOIN "));
    aw.write_all(b"hello\n/ping sync\n").await.unwrap();
    assert!(
        b.next_text()
            .await
            .unwrap()
            .unwrap()
            .ends_with(" ana :hello")
    );
    assert_eq!(a.next_text().await.unwrap().unwrap(), "PONG sync");

    let after = get(at, "/metrics").await;
    assert_eq!(value(&after, "tagarela_registered_clients"), Some(2.0));
    assert_eq!(
        value(
            &after,
            r#"tagarela_connections_total{transport="tcp",protocol="tagarela"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &after,
            r#"tagarela_connections_open{transport="tcp",protocol="tagarela"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&after, r#"tagarela_events_total{kind="public"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&after, r#"tagarela_events_total{kind="join"}"#),
        Some(2.0)
    );
    // bia's join reached ana; ana's message reached bia.
    assert_eq!(value(&after, "tagarela_deliveries_total"), Some(2.0));
    assert!(value(&after, "tagarela_lines_received_total").unwrap() >= 4.0);
    assert!(value(&after, "tagarela_received_bytes_total").unwrap() >= 20.0);
    assert!(value(&after, "tagarela_sent_bytes_total").unwrap() > 0.0);

    drop(aw);
    let _ = a.next_text().await;
    assert!(b.next_text().await.unwrap().unwrap().ends_with(" ana lost"));
    let last = get(at, "/metrics").await;
    assert_eq!(
        value(&last, r#"tagarela_removals_total{reason="lost"}"#),
        Some(1.0)
    );
    assert_eq!(value(&last, "tagarela_registered_clients"), Some(1.0));

    let ready = get(at, "/ready").await;
    assert!(
        ready.starts_with("HTTP/1.1 200 ") && ready.ends_with("\r\n\r\nready\n"),
        "{ready}"
    );
    let other = get(at, "/").await;
    assert!(other.starts_with("HTTP/1.1 404 "), "{other}");
    assert!(server.shutdown().await);
}

/// `GET /ready` follows the readiness it is given: 503 while the node
/// is out of its cluster (spec §17.4; the cluster scenarios check that
/// such a node greets with `BYE unavailable`, by the same readiness).
#[tokio::test]
async fn ready_answers_503_while_the_server_cannot_take_clients() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&up);
    let ready: tagarela_server::metrics::Readiness =
        std::sync::Arc::new(move || flag.load(std::sync::atomic::Ordering::Relaxed));
    let endpoint = tokio::spawn(tagarela_server::metrics::serve(
        listener,
        std::sync::Arc::default(),
        ready,
    ));
    let out = get(at, "/ready").await;
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    up.store(true, std::sync::atomic::Ordering::Relaxed);
    let back = get(at, "/ready?verbose").await;
    assert!(back.starts_with("HTTP/1.1 200 "), "{back}");
    assert!(get(at, "/readyz").await.starts_with("HTTP/1.1 404 "));
    endpoint.abort();
}
