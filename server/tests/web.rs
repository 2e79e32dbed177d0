//! The web door (spec §21), in process: the page over HTTP, and a
//! WebSocket client chatting with a TCP client in the same room, with
//! one Tagarela line per text message; a page of another origin and a
//! binary message are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tagarela_reader::LineReader;
use tagarela_server::Settings;
use tagarela_server::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async};

type Ws = WebSocketStream<TcpStream>;

/// A WebSocket to `/ws` of the web door at `at`, with `origin` if any.
async fn socket(at: std::net::SocketAddr, origin: Option<&str>) -> Result<Ws, String> {
    open(at, "/ws", &[("Origin", origin)])
        .await
        .map(|(ws, _)| ws)
}

/// A WebSocket to `path` of the web door at `at`, with the header fields
/// given a value; the socket and the subprotocol agreed on, if any.
async fn open(
    at: std::net::SocketAddr,
    path: &str,
    fields: &[(&'static str, Option<&str>)],
) -> Result<(Ws, Option<String>), String> {
    let mut request = format!("ws://{at}{path}").into_client_request().unwrap();
    for (name, value) in fields {
        if let Some(value) = value {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
    }
    let stream = TcpStream::connect(at).await.unwrap();
    let (ws, response) = client_async(request, stream)
        .await
        .map_err(|e| e.to_string())?;
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((ws, agreed))
}

/// The next text message.
async fn next(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(t) = m {
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn the_page_is_served_and_nothing_else() {
    let server = TestServer::start_web(Settings::default()).await.unwrap();
    let at = server.web.unwrap();
    for (path, status) in [
        ("/", "200 OK"),
        ("/app.js", "200 OK"),
        ("/etc/passwd", "404 Not Found"),
        ("/ws", "426 Upgrade Required"),
    ] {
        let mut s = TcpStream::connect(at).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {at}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).await.unwrap();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{response}"
        );
        if path == "/" {
            assert!(response.contains("<title>Tagarela</title>"));
        }
        if status == "200 OK" {
            assert!(response.contains("Content-Security-Policy: default-src 'self'"));
        }
    }
}

#[tokio::test]
async fn a_websocket_client_chats_with_a_tcp_client() {
    let server = TestServer::start_web(Settings::default()).await.unwrap();
    let at = server.web.unwrap();
    // Same origin, as the page's own script would be.
    let mut ana = socket(at, Some(&format!("http://{at}"))).await.unwrap();
    assert!(next(&mut ana).await.starts_with("HELLO 1 :"));
    ana.send(Message::text("ana")).await.unwrap();
    assert!(next(&mut ana).await.starts_with("WELCOME ana "));

    let (r, mut bia_w) = TcpStream::connect(server.addr).await.unwrap().into_split();
    let mut bia = LineReader::server_lines(r);
    bia_w.write_all(b"bia\n").await.unwrap();
    loop {
        let line = bia.next_text().await.unwrap().unwrap();
        if line.starts_with("WELCOME") {
            break;
        }
    }
    let joined = next(&mut ana).await;
    assert!(
        joined.starts_with("JOIN ") && joined.ends_with(" bia"),
        "{joined}"
    );

    bia_w.write_all("olá, ana\n".as_bytes()).await.unwrap();
    let said = next(&mut ana).await;
    assert!(
        said.starts_with("MSG ") && said.ends_with(" bia :olá, ana"),
        "{said}"
    );

    // One text message is one line, whatever its frames.
    ana.send(Message::text("oi, bia")).await.unwrap();
    loop {
        let line = bia.next_text().await.unwrap().unwrap();
        if line.starts_with("MSG") {
            assert!(line.ends_with(" ana :oi, bia"), "{line}");
            break;
        }
    }
    ana.send(Message::text("/quit")).await.unwrap();
    assert!(next(&mut ana).await.starts_with("BYE quit"));
}

#[tokio::test]
async fn another_origin_and_binary_messages_are_refused() {
    let server = TestServer::start_web(Settings::default()).await.unwrap();
    let at = server.web.unwrap();
    let refused = socket(at, Some("http://evil.example")).await.unwrap_err();
    assert!(refused.contains("403"), "{refused}");

    // A DNS name that matches Host is not enough (it could be rebound to
    // this server); a listed origin is.
    let settings = Settings {
        web_origins: vec!["https://chat.example.org".to_owned()],
        ..Settings::default()
    };
    let listed = TestServer::start_web(settings).await.unwrap();
    let web = listed.web.unwrap();
    for (origin, host, ok) in [
        ("http://evil.example", "evil.example", false),
        ("https://chat.example.org", "chat.example.org", true),
    ] {
        let mut request = format!("ws://{web}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request.headers_mut().insert("Host", host.parse().unwrap());
        let stream = TcpStream::connect(web).await.unwrap();
        assert_eq!(client_async(request, stream).await.is_ok(), ok, "{origin}");
    }

    let mut ws = socket(at, None).await.unwrap();
    assert!(next(&mut ws).await.starts_with("HELLO"));
    ws.send(Message::binary(b"ana".to_vec())).await.unwrap();
    // The connection ends with close code 1003 (§21.1): no WELCOME comes.
    assert_eq!(close_code(&mut ws).await, Some(1003));
}

/// Reads until the server's close; its code (None if the socket ended
/// without one).
async fn close_code(ws: &mut Ws) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(Message::Text(t))) => assert!(!t.starts_with("WELCOME"), "{t}"),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the connection ended within 5 s")
}

#[tokio::test]
async fn pings_are_answered_and_the_server_closes_with_1000() {
    let server = TestServer::start_web(Settings::default()).await.unwrap();
    let mut ws = socket(server.web.unwrap(), None).await.unwrap();
    assert!(next(&mut ws).await.starts_with("HELLO"));
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Ok(Message::Pong(p))) = ws.next().await {
                return p;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&pong[..], b"are you there");
    ws.send(Message::text("/quit")).await.unwrap();
    assert!(next(&mut ws).await.starts_with("BYE quit"));
    assert_eq!(close_code(&mut ws).await, Some(1000));
}

#[tokio::test]
async fn a_message_past_the_flood_cap_is_a_flood() {
    let server = TestServer::start_web(Settings::default()).await.unwrap();
    let mut ws = socket(server.web.unwrap(), None).await.unwrap();
    assert!(next(&mut ws).await.starts_with("HELLO"));
    ws.send(Message::text("ana")).await.unwrap();
    assert!(next(&mut ws).await.starts_with("WELCOME"));
    let flood = "x".repeat(tagarela_parser::limits::FLOOD_CAP + 10);
    ws.send(Message::text(flood)).await.unwrap();
    let bye = next(&mut ws).await;
    assert!(bye.starts_with("BYE flood"), "{bye}");
}

/// A WebSocket to `/` of the web door at `at`, offering the
/// subprotocols `offered` if any; the one agreed on.
async fn irc_socket(at: std::net::SocketAddr, offered: Option<&str>) -> (Ws, Option<String>) {
    open(at, "/", &[("Sec-WebSocket-Protocol", offered)])
        .await
        .unwrap()
}

#[tokio::test]
async fn irc_clients_speak_over_websocket_in_text_or_binary() {
    let server = TestServer::start_web_and_irc(Settings::default())
        .await
        .unwrap();
    let web = server.web.unwrap();
    // Text: one IRC line per text message, no CR LF.
    let (mut text, agreed) = irc_socket(web, Some("text.ircv3.net, binary.ircv3.net")).await;
    assert_eq!(agreed.as_deref(), Some("text.ircv3.net"));
    text.send(Message::text("NICK ana")).await.unwrap();
    text.send(Message::text("USER ana 0 * :Ana")).await.unwrap();
    loop {
        let line = next(&mut text).await;
        assert!(!line.ends_with('\n'), "{line:?}");
        if line.contains(" 376 ") {
            break;
        }
    }
    // Binary: the client's first choice; lines come as binary messages.
    let (mut binary, agreed) = irc_socket(web, Some("binary.ircv3.net")).await;
    assert_eq!(agreed.as_deref(), Some("binary.ircv3.net"));
    binary
        .send(Message::binary(&b"NICK bia\r\n"[..8]))
        .await
        .unwrap();
    binary
        .send(Message::binary(&b"USER bia 0 * :Bia"[..]))
        .await
        .unwrap();
    let mut sent = false;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), binary.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Binary(line) = m else {
            panic!("not binary: {m:?}");
        };
        // Registered: ana may write to bia now.
        if !sent && line.windows(5).any(|w| w == b" 376 ") {
            text.send(Message::text("PRIVMSG bia :oi")).await.unwrap();
            sent = true;
        }
        if line.as_ref() == b":ana!~ana@tagarela PRIVMSG bia :oi" {
            break;
        }
    }
    // A line that is not UTF-8 is refused by the IRC front, not by the
    // socket.
    text.send(Message::binary(&b"PRIVMSG bia :caf\xe9"[..]))
        .await
        .unwrap();
    assert!(next(&mut text).await.contains("FAIL PRIVMSG INVALID_UTF8"));
    // Without an IRC subprotocol the socket (at `/` too) speaks Tagarela.
    let (mut tagarela, agreed) = irc_socket(web, None).await;
    assert_eq!(agreed, None);
    assert!(next(&mut tagarela).await.starts_with("HELLO"));
}
