//! The web door (spec §21): HTTP on `--web-port`. `GET /` is the web
//! client's page; `GET /ws` with a WebSocket upgrade is a Tagarela
//! connection whose lines are text messages ([`WsLines`]), served by
//! [`connection::serve`] like any other. A page from another site cannot
//! open one: a request whose `Origin` is not this server's own is
//! refused (403). Reads at most one request head, bounded in size and
//! time; never serves files from disk.

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
        b"/ws" => Route::Socket,
        _ => Route::Elsewhere,
    }
}

/// Serves one connection of the web door to its end.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Shared>,
    stop: CancellationToken,
    permit: Permit,
) {
    let Ok(Some(head)) = tokio::time::timeout(HEAD_WAIT, read_head(&mut stream)).await else {
        return;
    };
    match route(&head) {
        Route::Page => respond(&mut stream, "200 OK", "text/html; charset=utf-8", PAGE).await,
        Route::Script => {
            let kind = "text/javascript; charset=utf-8";
            respond(&mut stream, "200 OK", kind, SCRIPT).await;
        }
        Route::Style => respond(&mut stream, "200 OK", "text/css; charset=utf-8", STYLE).await,
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
                .read_buffer_size(1024)
                .write_buffer_size(0)
                .max_write_buffer_size(ctx.settings.outbox_bytes.max(SERVER_LINE_MAX) * 2)
                // The flood cap of a line (§2.4), as on TCP.
                .max_message_size(Some(FLOOD_CAP))
                .max_frame_size(Some(FLOOD_CAP));
            let handshake = tokio_tungstenite::accept_hdr_async_with_config(
                Rewind::new(head, stream),
                same_origin,
                Some(config),
            );
            let ws = match tokio::time::timeout(HEAD_WAIT, handshake).await {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "WebSocket handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let lines = WsLines::new(ws, SERVER_LINE_MAX);
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
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(head);
        }
        if head.len() > HEAD_MAX {
            return None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
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
/// this server's own origin (its `Origin` names the `Host` it asked);
/// a client that is not a browser sends no `Origin` and is let in.
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn same_origin(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header("origin") else {
        return Ok(response);
    };
    let host = header("host").unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some("Origin not allowed\n".to_owned()));
    *refusal.status_mut() = StatusCode::FORBIDDEN;
    Err(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed_by_method_and_path() {
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Page);
        assert_eq!(route(b"GET /?x=1 HTTP/1.1\r\n\r\n"), Route::Page);
        assert_eq!(route(b"GET /ws HTTP/1.1\r\n\r\n"), Route::Socket);
        assert_eq!(route(b"POST /ws HTTP/1.1\r\n\r\n"), Route::Elsewhere);
        assert_eq!(
            route(b"GET /../etc/passwd HTTP/1.1\r\n\r\n"),
            Route::Elsewhere
        );
        assert_eq!(route(b""), Route::Elsewhere);
    }
}
