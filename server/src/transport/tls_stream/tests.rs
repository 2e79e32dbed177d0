//! Unit tests of `tls_stream`, beside the code so that it reads in one piece.

use super::*;
use std::future::Future;
use std::task::Waker;

use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio_rustls::client::TlsStream as ClientStream;

fn configs(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

async fn connected(
    versions: &[&'static rustls::SupportedProtocolVersion],
    pipe: usize,
) -> (TlsStream<DuplexStream>, ClientStream<DuplexStream>) {
    let (server_config, client_config) = configs(versions);
    let (near, far) = duplex(pipe);
    let connector = tokio_rustls::TlsConnector::from(client_config);
    let name = ServerName::try_from("localhost").unwrap();
    let (server, client) = tokio::join!(
        TlsStream::accept(server_config, near),
        connector.connect(name, far)
    );
    (server.unwrap(), client.unwrap())
}

const BOTH: [&[&rustls::SupportedProtocolVersion]; 2] =
    [&[&rustls::version::TLS13], &[&rustls::version::TLS12]];

#[tokio::test]
async fn lines_cross_both_ways_and_an_idle_stream_holds_no_buffer() {
    for versions in BOTH {
        let (mut server, mut client) = connected(versions, 64 * 1024).await;
        assert_eq!(server.buffered(), 0, "after the handshake");
        client.write_all(b"NAME ana\n").await.unwrap();
        client.flush().await.unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"NAME ana\n");
        server.write_all(b"WELCOME ana\n").await.unwrap();
        server.flush().await.unwrap();
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"WELCOME ana\n");
        // The next read finds nothing and waits, holding nothing.
        let waiting = std::pin::pin!(server.read(&mut buf));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.poll(&mut cx).is_pending());
        assert_eq!(server.buffered(), 0, "while idle");
    }
}

#[tokio::test]
async fn large_transfers_cross_a_narrow_pipe_in_both_directions() {
    for versions in BOTH {
        let (mut server, mut client) = connected(versions, 100).await;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let to_server = async {
            client.write_all(&data).await.unwrap();
            client.flush().await.unwrap();
            let mut back = vec![0u8; data.len()];
            client.read_exact(&mut back).await.unwrap();
            back
        };
        let echo = async {
            let mut got = vec![0u8; expected.len()];
            // Small reads: plaintext is held across reads.
            let mut at = 0;
            while at < got.len() {
                let end = (at + 700).min(got.len());
                let n = server.read(&mut got[at..end]).await.unwrap();
                assert!(n > 0);
                at += n;
            }
            server.write_all(&got).await.unwrap();
            server.flush().await.unwrap();
            got
        };
        let (back, got) = tokio::join!(to_server, echo);
        assert!(got == expected, "the server read what the client sent");
        assert!(back == expected, "the client read what the server sent");
        assert_eq!(server.buffered(), 0);
    }
}

#[tokio::test]
async fn close_notify_ends_the_stream_each_way() {
    for versions in BOTH {
        let (mut server, mut client) = connected(versions, 4096).await;
        client.shutdown().await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            server.read(&mut buf).await.unwrap(),
            0,
            "client's close_notify"
        );
        server.shutdown().await.unwrap();
        assert_eq!(
            client.read(&mut buf).await.unwrap(),
            0,
            "server's close_notify"
        );
        assert!(server.write(b"late\n").await.is_err());
    }
}

#[tokio::test]
async fn a_plaintext_client_is_refused_with_an_alert() {
    let (server_config, _) = configs(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let (near, mut far) = duplex(4096);
    far.write_all(b"NAME ana\r\n").await.unwrap();
    let accepted = TlsStream::accept(server_config, near).await;
    assert_eq!(accepted.err().unwrap().kind(), io::ErrorKind::InvalidData);
    let mut got = Vec::new();
    far.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.first(), Some(&0x15), "a TLS alert record: {got:?}");
}

#[tokio::test]
async fn a_peer_that_hangs_up_mid_handshake_is_an_error() {
    let (server_config, _) = configs(&[&rustls::version::TLS13]);
    let (near, mut far) = duplex(4096);
    // The start of a ClientHello record, then nothing.
    far.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    drop(far);
    let accepted = TlsStream::accept(server_config, near).await;
    assert_eq!(accepted.err().unwrap().kind(), io::ErrorKind::UnexpectedEof);
}

/// Review finding: a ClientHello followed by the start of another
/// handshake message in the same record made the alert path hand
/// rustls an empty buffer while it still held a partial message: a
/// panic any peer could cause.
#[tokio::test]
async fn a_client_hello_with_trailing_handshake_bytes_is_refused_without_panic() {
    let (server_config, client_config) = configs(&[&rustls::version::TLS13]);
    let name = ServerName::try_from("localhost").unwrap();
    let mut hello = Vec::new();
    rustls::ClientConnection::new(client_config, name)
        .unwrap()
        .write_tls(&mut hello)
        .unwrap();
    assert_eq!(hello[0], 0x16);
    hello.extend_from_slice(&[0x01, 0x00, 0x00, 0x00]);
    let len = u16::from_be_bytes([hello[3], hello[4]]) + 4;
    hello[3..5].copy_from_slice(&len.to_be_bytes());
    let (near, mut far) = duplex(64 * 1024);
    far.write_all(&hello).await.unwrap();
    let accepted = TlsStream::accept(server_config, near).await;
    assert_eq!(accepted.err().unwrap().kind(), io::ErrorKind::InvalidData);
}

/// Review finding: after a bad record, shutting down processed it a
/// second time (a debug assertion in rustls) and the alert was never
/// sent. Now the client is told why.
#[tokio::test]
async fn a_forged_record_fails_the_read_and_the_peer_gets_the_alert() {
    for versions in BOTH {
        let (mut server, mut client) = connected(versions, 64 * 1024).await;
        let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x40];
        forged.extend_from_slice(&[0x5a; 0x40]);
        client.get_mut().0.write_all(&forged).await.unwrap();
        let mut buf = [0u8; 64];
        let read = server.read(&mut buf).await;
        assert_eq!(read.err().unwrap().kind(), io::ErrorKind::InvalidData);
        assert!(server.read(&mut buf).await.is_err(), "stays failed");
        assert!(server.write(b"x").await.is_err());
        server.shutdown().await.unwrap();
        let told = client.read(&mut buf).await.err().unwrap();
        assert!(
            told.to_string().contains("BadRecordMac"),
            "{versions:?}: {told}"
        );
    }
}

#[tokio::test]
async fn new_traffic_keys_from_the_client_are_followed() {
    let (mut server, mut client) = connected(&[&rustls::version::TLS13], 64 * 1024).await;
    for round in 0..3 {
        client.get_mut().1.refresh_traffic_keys().unwrap();
        let line = format!("line {round}\n");
        client.write_all(line.as_bytes()).await.unwrap();
        client.flush().await.unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], line.as_bytes());
        server.write_all(b"ok\n").await.unwrap();
        server.flush().await.unwrap();
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ok\n");
    }
}

/// Review finding: a reader that keeps up only just never let the
/// send buffer empty, and what it had taken was never dropped.
#[tokio::test]
async fn a_steady_slow_reader_keeps_the_send_buffer_bounded() {
    let (mut server, mut client) = connected(&[&rustls::version::TLS13], 1024).await;
    let total = 2_000_000usize;
    let write = async {
        let chunk = [b'y'; 1000];
        let mut most = 0;
        for _ in 0..total / chunk.len() {
            server.write_all(&chunk).await.unwrap();
            server.flush().await.unwrap();
            most = most.max(server.buffered());
        }
        most
    };
    let read = async {
        let mut got = 0;
        let mut buf = [0u8; 500];
        while got < total {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got += n;
        }
        got
    };
    let (most, got) = tokio::join!(write, read);
    assert_eq!(got, total);
    assert!(
        most <= 2 * (OUTGOING_LIMIT + MAX_WRITE),
        "{most} octets held at most"
    );
}

#[tokio::test]
async fn an_oversized_handshake_message_is_refused() {
    let (server_config, _) = configs(&[&rustls::version::TLS13]);
    let (near, mut far) = duplex(8 * 1024);
    let flood = async move {
        // A ClientHello that says it is 16 MiB long, in full records.
        let mut first = true;
        for _ in 0..(INCOMING_LIMIT / 0x4000 + 2) {
            let mut record = vec![0x16, 0x03, 0x01, 0x40, 0x00];
            let mut payload = vec![0u8; 0x4000];
            if first {
                payload[..4].copy_from_slice(&[0x01, 0xff, 0xff, 0xff]);
                first = false;
            }
            record.extend_from_slice(&payload);
            if far.write_all(&record).await.is_err() {
                break;
            }
        }
    };
    let (accepted, ()) = tokio::join!(TlsStream::accept(server_config, near), flood);
    assert_eq!(accepted.err().unwrap().kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn writes_wait_once_the_peer_stops_reading() {
    let (mut server, _client) = connected(&[&rustls::version::TLS13], 1024).await;
    let mut cx = Context::from_waker(Waker::noop());
    let line = [b'x'; 1000];
    let mut accepted = 0usize;
    loop {
        match Pin::new(&mut server).poll_write(&mut cx, &line) {
            Poll::Ready(Ok(n)) => accepted += n,
            Poll::Ready(Err(e)) => panic!("{e}"),
            Poll::Pending => break,
        }
        assert!(accepted < 1_000_000, "writes never waited");
    }
    assert!(
        server.buffered() <= OUTGOING_LIMIT + MAX_WRITE + 1024,
        "{} octets held",
        server.buffered()
    );
}
