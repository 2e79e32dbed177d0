//! The web door (spec §21): HTTP on `--web-port`. `GET /` is the web
//! client's page; `GET /ws` with a WebSocket upgrade is a Tagarela
//! connection whose lines are text messages ([`WsLines`]), served by
//! [`connection::serve`] like any other. A page from another site cannot
//! open one: a request whose `Origin` is not an allowed one is refused
//! (403). Reads at most one request head, bounded in size and time;
//! never serves files from disk.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tagarela_parser::limits::{FLOOD_CAP, SERVER_LINE_MAX};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use crate::transport::admission::Permit;
use crate::transport::connection::{self, Protocol, TransportKind};
use crate::transport::rewind::Rewind;
use crate::transport::shared::Shared;
use crate::transport::ws_lines::WsLines;

/// The longest request head read.
const HEAD_MAX: usize = 8192;

/// How long a request head may take to arrive, and a handshake to end.
const HEAD_WAIT: Duration = Duration::from_secs(10);

/// The web client: its page, script and style, built into the binary.
const PAGE: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/style.css");

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `GET /`: the page.
    Page,
    /// `GET /app.js`.
    Script,
    /// `GET /style.css`.
    Style,
    /// `GET /ws` asking for a WebSocket.
    Socket,
    /// `GET /ws` without asking for one: 426.
    NotUpgraded,
    /// Anything else: 404.
    Elsewhere,
}

/// Where the request head `head` goes.
fn route(head: &[u8]) -> Route {
    let Some(line) = head.split(|b| *b == b'\n').next() else {
        return Route::Elsewhere;
    };
    let mut words = line.split(|b| *b == b' ');
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return Route::Elsewhere;
    };
    if method != b"GET" {
        return Route::Elsewhere;
    }
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    match path {
        b"/" | b"/index.html" => Route::Page,
        b"/app.js" => Route::Script,
        b"/style.css" => Route::Style,
        b"/ws" if asks_upgrade(head) => Route::Socket,
        b"/ws" => Route::NotUpgraded,
        _ => Route::Elsewhere,
    }
}

/// Whether the head has `Upgrade: websocket` (any case).
fn asks_upgrade(head: &[u8]) -> bool {
    String::from_utf8_lossy(head).lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("upgrade")
                && value.trim().eq_ignore_ascii_case("websocket")
        })
    })
}

/// The answer to a connection the limits refused (§11.3): the web door
/// speaks HTTP, so a 503 rather than a `BYE`.
pub const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\nConnection: close\r\n\r\n";

/// Serves one connection of the web door to its end.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Shared>,
    stop: CancellationToken,
    permit: Permit,
) {
    // A shutdown does not wait for a head or a handshake in progress.
    let head = tokio::select! {
        head = tokio::time::timeout(HEAD_WAIT, read_head(&mut stream)) => head,
        () = stop.cancelled() => return,
    };
    let Ok(Some(head)) = head else {
        return;
    };
    match route(&head) {
        Route::Page => respond(&mut stream, "200 OK", "text/html; charset=utf-8", PAGE).await,
        Route::Script => {
            let kind = "text/javascript; charset=utf-8";
            respond(&mut stream, "200 OK", kind, SCRIPT).await;
        }
        Route::Style => respond(&mut stream, "200 OK", "text/css; charset=utf-8", STYLE).await,
        Route::NotUpgraded => {
            let body = "This is the web client's WebSocket: open / in a browser.\n";
            respond(
                &mut stream,
                "426 Upgrade Required",
                "text/plain; charset=utf-8",
                body,
            )
            .await;
        }
        Route::Elsewhere => {
            let body = "Only the web client (/) and its socket (/ws) are here.\n";
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain; charset=utf-8",
                body,
            )
            .await;
        }
        Route::Socket => {
            let config = WebSocketConfig::default()
                // Small buffers: an idle web client holds little (§21).
                .read_buffer_size(256)
                // Lines are framed by WsLines itself; tungstenite writes
                // only control frames, at once.
                .write_buffer_size(0)
                .max_write_buffer_size(ctx.settings.outbox_bytes.max(SERVER_LINE_MAX) * 2)
                // Past the flood cap (§2.4) the framer answers `BYE flood`
                // as on TCP; a message past twice it is not even read.
                .max_message_size(Some(2 * FLOOD_CAP))
                .max_frame_size(Some(2 * FLOOD_CAP));
            let allowed = Arc::clone(&ctx.web_origins);
            let check = move |request: &Request, response: Response| {
                allowed_origin(request, response, &allowed)
            };
            let handshake = tokio_tungstenite::accept_hdr_async_with_config(
                Rewind::new(head, stream),
                check,
                Some(config),
            );
            let ws = tokio::select! {
                ws = tokio::time::timeout(HEAD_WAIT, handshake) => ws,
                () = stop.cancelled() => return,
            };
            let ws = match ws {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "WebSocket handshake refused");
                    return;
                }
                Err(_) => return,
            };
            // Counted once it is a connection (page loads are not).
            ctx.metrics
                .connections
                .get_or_create(&[("transport", "websocket"), ("protocol", "tagarela")])
                .inc();
            let lines = WsLines::server(ws, SERVER_LINE_MAX);
            connection::serve(
                lines,
                peer,
                ctx,
                stop,
                permit,
                TransportKind::WebSocket,
                Protocol::Tagarela,
            )
            .await;
        }
    }
}

/// Reads a request head (up to its blank line); `None` if it is longer
/// than [`HEAD_MAX`] or the stream ends first.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let room = (HEAD_MAX - head.len()).min(chunk.len());
        if room == 0 {
            return None;
        }
        let n = match stream.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        // Only the new octets (and the three before them) can complete
        // the blank line: each octet is looked at a bounded number of times.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(head);
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self'; connect-src 'self'\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The handshake's check: a browser's page may open a socket only from
/// an allowed origin, so that another site's page cannot chat as its
/// visitor. A request without `Origin` (a program, not a browser) is let
/// in. An origin given with `--web-origin` is allowed; otherwise the
/// origin must name the `Host` asked and that host must be an IP address
/// or `localhost`: a DNS name could be rebound by another site to this
/// server's address, and `Host` would then match it (§21.1).
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn allowed_origin(
    request: &Request,
    response: Response,
    allowed: &[String],
) -> Result<Response, ErrorResponse> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header("origin") else {
        return Ok(response);
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(response);
    }
    let host = header("host").unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) && not_rebindable(host) {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some("Origin not allowed\n".to_owned()));
    *refusal.status_mut() = StatusCode::FORBIDDEN;
    Err(refusal)
}

/// Whether `host` (`name[:port]`, `[v6][:port]`) is an IP address or
/// `localhost`: names no other site can point at this server.
fn not_rebindable(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed_by_method_and_path() {
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Page);
        assert_eq!(route(b"GET /?x=1 HTTP/1.1\r\n\r\n"), Route::Page);
        assert_eq!(route(b"GET /ws HTTP/1.1\r\n\r\n"), Route::NotUpgraded);
        assert_eq!(
            route(b"GET /ws HTTP/1.1\r\nUpgrade:  WebSocket \r\n\r\n"),
            Route::Socket
        );
        assert_eq!(route(b"POST /ws HTTP/1.1\r\n\r\n"), Route::Elsewhere);
        assert_eq!(
            route(b"GET /../etc/passwd HTTP/1.1\r\n\r\n"),
            Route::Elsewhere
        );
        assert_eq!(route(b""), Route::Elsewhere);
    }

    #[test]
    fn only_names_no_one_can_rebind_pass_without_a_listed_origin() {
        assert!(not_rebindable("127.0.0.1:8080"));
        assert!(not_rebindable("[::1]:8080"));
        assert!(not_rebindable("localhost:8080"));
        assert!(not_rebindable("192.168.1.10"));
        assert!(!not_rebindable("evil.example:8080"));
        assert!(!not_rebindable("chat.example.org"));
    }
}
