//! The TLS listener (spec §15) as strangers meet it: a plaintext client,
//! an HTTP request and a client that never starts its handshake all get a
//! clean close, never a hang; a TLS client chats.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::sync::Arc;
use std::time::Duration;

use tagarela_reader::LineReader;
use tagarela_server::Settings;
use tagarela_server::testing::TestServer;
use tagarela_server::tls::{Tls, self_signed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::temp_dir;

/// A TLS-only server with a fresh self-signed certificate; also returns
/// the certificate's PEM file.
async fn server(handshake: Duration, what: &str) -> (TestServer, std::path::PathBuf) {
    let dir = temp_dir(what);
    let (files, _) = self_signed(&dir, &[]).unwrap();
    let tls = Arc::new(Tls::load(files.clone()).unwrap());
    let settings = Settings {
        tls_handshake_timeout: handshake,
        ..Settings::default()
    };
    let server = TestServer::start_tls(settings, tls).await.unwrap();
    (server, files.cert)
}

/// A TLS connector that trusts exactly the certificate in the PEM file
/// `cert`, as a client that pinned it does.
fn trusting(cert: &std::path::Path) -> tokio_rustls::TlsConnector {
    let cert = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&cert) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Reads until the server closes; panics if it takes longer than `limit`.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut got))
        .await
        .expect("the server closed the connection")
        .ok();
    got
}

#[tokio::test]
async fn plaintext_and_http_on_the_tls_port_are_closed_cleanly() {
    let (server, _) = server(Duration::from_secs(10), "tls-plain").await;
    for first in [&b"alice\nhello\n"[..], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(first).await.unwrap();
        let got = closed_within(s, Duration::from_secs(5)).await;
        // At most a TLS alert; never a chat line.
        assert!(!got.windows(5).any(|w| w == b"HELLO"), "{got:?}");
    }
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_client_that_never_starts_its_handshake_is_closed_at_the_timeout() {
    let (server, _) = server(Duration::from_millis(300), "tls-silent").await;
    let s = TcpStream::connect(server.addr).await.unwrap();
    let got = closed_within(s, Duration::from_secs(5)).await;
    assert!(got.is_empty(), "{got:?}");
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_tls_client_gets_the_greeting_and_chats() {
    let (server, cert) = server(Duration::from_secs(10), "tls-chat").await;
    let connector = trusting(&cert);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let (r, mut w) = tokio::io::split(stream);
    let mut lines = LineReader::server_lines(r);
    assert!(
        lines
            .next_text()
            .await
            .unwrap()
            .unwrap()
            .starts_with("HELLO 1 ")
    );
    w.write_all(b"ana\n").await.unwrap();
    w.flush().await.unwrap();
    assert!(
        lines
            .next_text()
            .await
            .unwrap()
            .unwrap()
            .starts_with("WELCOME ana ")
    );
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn the_web_door_over_https_serves_the_page_and_a_chat_socket() {
    let dir = temp_dir("tls-web");
    let (files, _) = self_signed(&dir, &[]).unwrap();
    let tls = Arc::new(Tls::load(files.clone()).unwrap());
    let server = TestServer::start_web_tls(Settings::default(), tls)
        .await
        .unwrap();
    let at = server.web.unwrap();
    let connector = trusting(&files.cert);
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

    // The page, over HTTPS.
    let tcp = TcpStream::connect(at).await.unwrap();
    let mut page = connector.connect(name.clone(), tcp).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", at.port());
    page.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = page.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("<title>Tagarela</title>"));

    // A WebSocket over TLS is a Tagarela connection.
    let tcp = TcpStream::connect(at).await.unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let host = format!("localhost:{}", at.port());
    let socket = tagarela_server::ws_connect(stream, &host, 1024)
        .await
        .unwrap();
    let (r, mut w) = tokio::io::split(socket);
    let mut lines = LineReader::server_lines(r);
    let hello = lines.next_text().await.unwrap().unwrap();
    assert!(hello.starts_with("HELLO 1 "), "{hello}");
    w.write_all(b"ana\n").await.unwrap();
    w.flush().await.unwrap();
    let welcome = lines.next_text().await.unwrap().unwrap();
    assert!(welcome.starts_with("WELCOME ana "), "{welcome}");
    assert!(server.shutdown().await);
}
