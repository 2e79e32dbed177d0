//! The WebSocket opening handshake (RFC 6455 §4), both sides: the web
//! door answers a request head it has read ([`answer`]), and a program
//! speaking to the door (the load generator) opens one ([`connect`]).
//! The origin rule of spec §21.1 is decided here. Parses heads with
//! `httparse`; never reads more than one bounded head, and never frames
//! a message (that is `ws_lines.rs`).

use std::io;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SecureRandom;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::transport::rewind::Rewind;
use crate::transport::ws_lines::WsLines;

/// The longest request or response head read.
pub const HEAD_MAX: usize = 8192;

/// How long a head may take to arrive.
pub const HEAD_WAIT: Duration = Duration::from_secs(10);

/// The most header fields a head may have.
const FIELDS_MAX: usize = 48;

/// The GUID RFC 6455 §1.3 appends to a key before hashing it.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` that answers `key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + GUID.len());
    input.extend_from_slice(key.trim().as_bytes());
    input.extend_from_slice(GUID.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    STANDARD.encode(digest.as_ref())
}

/// Reads a head (up to its blank line) from `stream`: the head, and any
/// octets read past it, together. `None` if it is longer than
/// [`HEAD_MAX`] or the stream ends first.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
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

/// A request the door takes: what to answer, and where in what was read
/// the WebSocket's own octets start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `101 Switching Protocols` response.
    pub response: String,
    /// The request head's length: octets past it were frames.
    pub head_len: usize,
    /// The IRC subprotocol agreed on, if the client offered one and the
    /// server speaks IRC (spec §21.4); else the socket speaks Tagarela.
    pub irc: Option<IrcSubprotocol>,
}

/// IRCv3's WebSocket subprotocols: each message one IRC line, without
/// its CR LF (spec §21.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrcSubprotocol {
    /// `text.ircv3.net`: text messages, UTF-8.
    Text,
    /// `binary.ircv3.net`: binary messages, octets as they are.
    Binary,
}

impl IrcSubprotocol {
    /// Its name in `Sec-WebSocket-Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            IrcSubprotocol::Text => "text.ircv3.net",
            IrcSubprotocol::Binary => "binary.ircv3.net",
        }
    }

    /// The first of `offered` (a `Sec-WebSocket-Protocol` list, in the
    /// client's order of preference) that is one of these.
    pub fn chosen(offered: &str) -> Option<IrcSubprotocol> {
        offered.split(',').find_map(|p| match p.trim() {
            "text.ircv3.net" => Some(IrcSubprotocol::Text),
            "binary.ircv3.net" => Some(IrcSubprotocol::Binary),
            _ => None,
        })
    }
}

/// A request the door refuses, with the HTTP answer to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The status line's code and phrase.
    pub status: &'static str,
    /// A header field to add (`Name: value`), if any.
    pub field: Option<&'static str>,
    /// Why, for a person reading the body.
    pub why: &'static str,
}

impl Refused {
    /// The whole HTTP response.
    pub fn response(&self) -> String {
        let field = self.field.map(|f| format!("{f}\r\n")).unwrap_or_default();
        format!(
            "HTTP/1.1 {}\r\n{field}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.why.len(),
            self.why
        )
    }
}

const fn refused(status: &'static str, why: &'static str) -> Refused {
    Refused {
        status,
        field: None,
        why,
    }
}

/// The door's answer to a WebSocket request `head` (RFC 6455 §4.2),
/// whose `Origin` must be allowed (spec §21.1, [`origin_allowed`]) with
/// `allowed` the operator's list. With `irc`, an IRC subprotocol the
/// client offers is agreed on.
pub fn answer(head: &[u8], allowed: &[String], irc: bool) -> Result<Accepted, Refused> {
    let mut fields = [httparse::EMPTY_HEADER; FIELDS_MAX];
    let mut request = httparse::Request::new(&mut fields);
    let head_len = match request.parse(head) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => {
            return Err(refused(
                "400 Bad Request",
                "Not an HTTP/1.1 request head.\n",
            ));
        }
    };
    // A field given twice, or not in UTF-8, is a bad request: never taken
    // as if it were absent.
    let field = |name: &str| -> Result<Option<&str>, Refused> {
        let mut given = request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        let Some(first) = given.next() else {
            return Ok(None);
        };
        let bad = refused(
            "400 Bad Request",
            "A header field given twice or not in UTF-8.\n",
        );
        if given.next().is_some() {
            return Err(bad);
        }
        std::str::from_utf8(first.value)
            .map(|v| Some(v.trim()))
            .map_err(|_| bad)
    };
    let has_token = |name: &str, token: &str| -> Result<bool, Refused> {
        Ok(field(name)?.is_some_and(|v| lists(v, token)))
    };
    if request.method != Some("GET") || !has_token("upgrade", "websocket")? {
        return Err(refused("400 Bad Request", "Not a WebSocket request.\n"));
    }
    if !has_token("connection", "upgrade")? {
        return Err(refused(
            "400 Bad Request",
            "Connection: Upgrade is missing.\n",
        ));
    }
    let Some(host) = field("host")? else {
        return Err(refused("400 Bad Request", "Host is missing.\n"));
    };
    if field("sec-websocket-version")? != Some("13") {
        return Err(Refused {
            status: "426 Upgrade Required",
            field: Some("Sec-WebSocket-Version: 13"),
            why: "Only WebSocket version 13 is spoken here.\n",
        });
    }
    let Some(key) =
        field("sec-websocket-key")?.filter(|k| STANDARD.decode(k).is_ok_and(|raw| raw.len() == 16))
    else {
        return Err(refused(
            "400 Bad Request",
            "Sec-WebSocket-Key is missing or malformed.\n",
        ));
    };
    if !origin_allowed(field("origin")?, Some(host), allowed) {
        return Err(refused("403 Forbidden", "Origin not allowed.\n"));
    }
    // The subprotocols may come in several header lines (RFC 6455
    // §11.3.4): they make one list, in order.
    let offered: Vec<&str> = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-protocol"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .collect();
    let chosen = if irc {
        IrcSubprotocol::chosen(&offered.join(","))
    } else {
        None
    };
    let agreed = chosen
        .map(|p| format!("Sec-WebSocket-Protocol: {}\r\n", p.name()))
        .unwrap_or_default();
    Ok(Accepted {
        response: format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{agreed}\r\n",
            accept_key(key)
        ),
        head_len,
        irc: chosen,
    })
}

/// Whether the header value `value`, a comma-separated list, has `token`
/// (any case).
pub fn lists(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether a page of `origin` may open a socket on the door asked as
/// `host`, so that another site's page cannot chat as its visitor. A
/// request without `Origin` (a program, not a browser) may. An origin in
/// `allowed` (`--web-origin`) may; otherwise the origin must name the
/// `Host` asked and that host must be an IP address or `localhost`: a DNS
/// name could be rebound by another site to this server's address, and
/// `Host` would then match it (spec §21.1).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = host.unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host) && not_rebindable(host)
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

/// Opens a WebSocket to the door's `/ws` over `stream`, asking for `host`:
/// a client's side whose lines are at most `max` octets (RFC 6455 §4.1).
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    max: usize,
) -> io::Result<WsLines<Rewind<S>>> {
    let mut nonce = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| io::Error::other("no randomness for a WebSocket key"))?;
    let key = STANDARD.encode(nonce);
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let refused = |why: &str| io::Error::new(io::ErrorKind::ConnectionRefused, why.to_owned());
    let head = tokio::time::timeout(HEAD_WAIT, read_head(&mut stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no WebSocket answer in time"))?
        .ok_or_else(|| refused("no WebSocket answer"))?;
    let mut fields = [httparse::EMPTY_HEADER; FIELDS_MAX];
    let mut response = httparse::Response::new(&mut fields);
    let Ok(httparse::Status::Complete(head_len)) = response.parse(&head) else {
        return Err(refused("not an HTTP response"));
    };
    if response.code != Some(101) {
        return Err(refused(&format!(
            "the door answered {} {}",
            response.code.unwrap_or_default(),
            response.reason.unwrap_or_default()
        )));
    }
    let expected = accept_key(&key);
    let says = |name: &str, wanted: &str| {
        response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case(name)
                && std::str::from_utf8(h.value).is_ok_and(|v| lists(v, wanted))
        })
    };
    if !says("upgrade", "websocket") || !says("connection", "upgrade") {
        return Err(refused("an answer that does not switch to a WebSocket"));
    }
    let accepted = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("sec-websocket-accept") && h.value == expected.as_bytes()
    });
    if !accepted {
        return Err(refused("a wrong Sec-WebSocket-Accept"));
    }
    let rest = head[head_len..].to_vec();
    Ok(WsLines::client(Rewind::new(rest, stream), max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(extra: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_key_is_answered_as_rfc_6455_shows() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn an_irc_subprotocol_is_agreed_only_where_irc_is_spoken() {
        let offered = |list: &str, irc: bool| {
            let head = request(&format!(
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {list}\r\n"
            ));
            let accepted = answer(head.as_bytes(), &[], irc).unwrap();
            let named = accepted.response.contains("Sec-WebSocket-Protocol: ");
            assert_eq!(named, accepted.irc.is_some(), "{}", accepted.response);
            accepted.irc
        };
        let (text, binary) = (Some(IrcSubprotocol::Text), Some(IrcSubprotocol::Binary));
        assert_eq!(
            offered("chat, binary.ircv3.net, text.ircv3.net", true),
            binary
        );
        assert_eq!(offered("text.ircv3.net,binary.ircv3.net", true), text);
        assert_eq!(offered("chat", true), None);
        assert_eq!(offered("text.ircv3.net", false), None);
        // Two header lines make one list.
        let head = request(
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: binary.ircv3.net\r\n",
        );
        assert_eq!(answer(head.as_bytes(), &[], true).unwrap().irc, binary);
    }

    #[test]
    fn a_good_request_is_switched_and_a_bad_one_refused() {
        let good = request("Sec-WebSocket-Version: 13\r\n");
        let mut sent = good.clone().into_bytes();
        sent.extend_from_slice(&[0x81, 0x80]);
        let accepted = answer(&sent, &[], false);
        let Ok(accepted) = accepted else {
            panic!("{accepted:?}")
        };
        assert!(
            accepted
                .response
                .contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")
        );
        assert_eq!(accepted.head_len, good.len());
        let status = |head: String| answer(head.as_bytes(), &[], false).err().map(|r| r.status);
        assert_eq!(
            status(request("Sec-WebSocket-Version: 8\r\n")),
            Some("426 Upgrade Required")
        );
        assert_eq!(
            status(request("Sec-WebSocket-Version: 13\r\n").replace(KEY, "c2hvcnQ=")),
            Some("400 Bad Request")
        );
        assert_eq!(
            status(request(
                "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n"
            )),
            Some("403 Forbidden")
        );
        assert_eq!(
            status(request(
                "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\n"
            )),
            None
        );
        assert_eq!(
            status(request("Sec-WebSocket-Version: 13\r\n").replace("Upgrade\r\n", "close\r\n")),
            Some("400 Bad Request")
        );
        // No Host; an Origin given twice; an Origin not in UTF-8.
        let no_host =
            request("Sec-WebSocket-Version: 13\r\n").replace("Host: 127.0.0.1:8080\r\n", "");
        assert_eq!(status(no_host), Some("400 Bad Request"));
        let twice = "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\nOrigin: http://evil.example\r\n";
        assert_eq!(status(request(twice)), Some("400 Bad Request"));
        let mut raw = request("Sec-WebSocket-Version: 13\r\nOrigin: http://x\r\n").into_bytes();
        let at = raw
            .windows(8)
            .position(|w| w == b"http://x")
            .unwrap_or_default();
        raw[at + 7] = 0xFF;
        assert_eq!(
            answer(&raw, &[], false).err().map(|r| r.status),
            Some("400 Bad Request")
        );
    }

    #[test]
    fn only_names_no_one_can_rebind_pass_without_a_listed_origin() {
        assert!(not_rebindable("127.0.0.1:8080"));
        assert!(not_rebindable("[::1]:8080"));
        assert!(not_rebindable("localhost:8080"));
        assert!(not_rebindable("192.168.1.10"));
        assert!(!not_rebindable("evil.example:8080"));
        assert!(!not_rebindable("chat.example.org"));
        let listed = ["https://chat.example.org".to_owned()];
        let origin = Some("https://chat.example.org");
        assert!(origin_allowed(origin, Some("chat.example.org"), &listed));
        assert!(!origin_allowed(origin, Some("chat.example.org"), &[]));
        assert!(origin_allowed(None, Some("chat.example.org"), &[]));
    }
}
