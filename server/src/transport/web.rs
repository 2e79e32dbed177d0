//! The web door (spec §21): HTTP on `--web-port`, HTTPS on
//! `--web-tls-port` (the stream is the caller's: TCP, or TLS over it). `GET /` is the web
//! client's page; `GET /ws` (or `/`) with a WebSocket upgrade is a
//! Tagarela connection whose lines are text messages ([`WsLines`]), or
//! an IRC one if the client asked for IRC's subprotocol (§21.4), served
//! by [`connection::serve`] like any other. A page from another site cannot
//! open one: a request whose `Origin` is not an allowed one is refused
//! (403). Reads at most one request head, bounded in size and time;
//! never serves files from disk.

use std::net::SocketAddr;
use std::sync::Arc;

use tagarela_parser::limits::SERVER_LINE_MAX;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::transport::admission::Permit;
use crate::transport::connection::{self, Protocol, Transport, TransportKind};
use crate::transport::rewind::Rewind;
use crate::transport::shared::Shared;
use crate::transport::ws_handshake::{self, HEAD_WAIT, IrcSubprotocol, read_head};
use crate::transport::ws_lines::WsLines;

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
        b"/" | b"/index.html" if !asks_upgrade(head) => Route::Page,
        b"/app.js" => Route::Script,
        b"/style.css" => Route::Style,
        // IRC over WebSocket clients open `/` (spec §21.4).
        b"/" | b"/ws" if asks_upgrade(head) => Route::Socket,
        b"/ws" => Route::NotUpgraded,
        _ => Route::Elsewhere,
    }
}

/// Whether the head has `Upgrade: websocket` (any case, in a list).
fn asks_upgrade(head: &[u8]) -> bool {
    String::from_utf8_lossy(head).lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("upgrade") && ws_handshake::lists(value, "websocket")
        })
    })
}

/// The answer to a connection the limits refused (§11.3): the web door
/// speaks HTTP, so a 503 rather than a `BYE`.
pub const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\nConnection: close\r\n\r\n";

/// Serves one connection of the web door to its end.
pub async fn serve<S: Transport>(
    mut stream: S,
    peer: SocketAddr,
    ctx: Arc<Shared>,
    stop: CancellationToken,
    permit: Permit,
    kind: TransportKind,
) {
    // A shutdown does not wait for a head in progress.
    let head = tokio::select! {
        head = tokio::time::timeout(HEAD_WAIT, read_head(&mut stream)) => head,
        () = stop.cancelled() => return,
    };
    let Ok(Some(head)) = head else {
        return;
    };
    let route = route(&head);
    if route != Route::Socket {
        // Bounded too: a client that never reads its page does not hold
        // its connection, nor the shutdown. Boxed: its state is not the
        // socket's.
        Box::pin(bounded(&stop, answer(&mut stream, route))).await;
        return;
    }
    // Not bounded again: the handshake's answer (the 101, ~130 octets)
    // goes into a fresh socket's empty send buffer, so it cannot wait.
    // (Wrapping it in a second timeout measured ~500 B more per idle
    // socket: BENCHMARKS.md.)
    let Some((lines, protocol)) = open_socket(head, stream, &ctx, peer, kind).await else {
        return;
    };
    connection::serve(lines, peer, ctx, stop, permit, kind, protocol).await;
}

/// `work` (an answer being written), given at most [`HEAD_WAIT`] and
/// given up at shutdown. `None` if it was given up.
async fn bounded<T>(stop: &CancellationToken, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        done = tokio::time::timeout(HEAD_WAIT, work) => done.ok(),
        () = stop.cancelled() => None,
    }
}

/// Answers a request for anything but the socket: the page, its script
/// and style, or why not.
async fn answer<S: Transport>(stream: &mut S, route: Route) {
    let (status, kind, body) = match route {
        Route::Page => ("200 OK", "text/html; charset=utf-8", PAGE),
        Route::Script => ("200 OK", "text/javascript; charset=utf-8", SCRIPT),
        Route::Style => ("200 OK", "text/css; charset=utf-8", STYLE),
        Route::NotUpgraded => (
            "426 Upgrade Required",
            "text/plain; charset=utf-8",
            "This is the web client's WebSocket: open / in a browser.\n",
        ),
        Route::Elsewhere | Route::Socket => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "Only the web client (/) and its socket (/ws) are here.\n",
        ),
    };
    respond(stream, status, kind, body).await;
}

/// Answers the WebSocket request `head` read from `stream`: the socket
/// as lines and the protocol they speak (IRC if an IRC subprotocol was
/// agreed on, §21.4), or `None` once refused (the answer says why). Takes
/// the head and frees it: an open socket holds nothing of its request.
async fn open_socket<S: Transport>(
    head: Vec<u8>,
    mut stream: S,
    ctx: &Shared,
    peer: SocketAddr,
    kind: TransportKind,
) -> Option<(WsLines<Rewind<S>>, Protocol)> {
    let accepted = match ws_handshake::answer(&head, &ctx.web_origins, ctx.irc.is_some()) {
        Ok(accepted) => accepted,
        Err(refused) => {
            tracing::debug!(peer = %peer, status = refused.status, "WebSocket handshake refused");
            let _ = stream.write_all(refused.response().as_bytes()).await;
            let _ = stream.shutdown().await;
            return None;
        }
    };
    stream.write_all(accepted.response.as_bytes()).await.ok()?;
    // Counted once it is a connection (page loads are not).
    let protocol = match accepted.irc {
        Some(_) => Protocol::Irc,
        None => Protocol::Tagarela,
    };
    ctx.metrics
        .connections
        .get_or_create(&[("transport", kind.label()), ("protocol", protocol.label())])
        .inc();
    // Frames sent right behind the head are read first.
    let rest = head.get(accepted.head_len..).unwrap_or_default().to_vec();
    let stream = Rewind::new(rest, stream);
    let lines = match accepted.irc {
        Some(irc) => WsLines::server_irc(stream, SERVER_LINE_MAX, irc == IrcSubprotocol::Binary),
        None => WsLines::server(stream, SERVER_LINE_MAX),
    };
    Some((lines, protocol))
}

async fn respond<S: Transport>(stream: &mut S, status: &str, kind: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self'; connect-src 'self'\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
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
        // IRC over WebSocket clients open `/`.
        assert_eq!(
            route(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
            Route::Socket
        );
        assert_eq!(route(b"POST /ws HTTP/1.1\r\n\r\n"), Route::Elsewhere);
        assert_eq!(
            route(b"GET /../etc/passwd HTTP/1.1\r\n\r\n"),
            Route::Elsewhere
        );
        assert_eq!(route(b""), Route::Elsewhere);
    }
}
