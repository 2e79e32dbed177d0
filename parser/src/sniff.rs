//! Telling another protocol from Tagarela by the first octets of a
//! connection (§4.6): a TLS handshake, or an HTTP request such as the one a
//! web page can make a browser send to any port. Pure functions of the
//! octets seen so far; never reads, waits or decides what to reply.

use crate::limits::LINE_MAX;

/// What the first octets of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Not another protocol that §4.6 names: treat it as Tagarela.
    Tagarela,
    /// An HTTP request line (§4.6).
    Http,
    /// A TLS handshake record: octets 0x16 0x03 (§4.6).
    Tls,
    /// Too few octets to tell: wait for more before handling any line.
    NeedMore,
}

impl Sniffed {
    /// The protocol's name, for logs and the `BYE` text.
    pub fn protocol(self) -> Option<&'static str> {
        match self {
            Sniffed::Http => Some("HTTP"),
            Sniffed::Tls => Some("TLS"),
            Sniffed::Tagarela | Sniffed::NeedMore => None,
        }
    }
}

/// Looks at `first`, every octet the connection has received so far (at
/// least one). Decides as soon as it can:
/// - `0x16 0x03` first: TLS;
/// - a first line (up to LF, CR removed) that is an HTTP request line,
///   `method SP request-target SP HTTP-version`: HTTP;
/// - no LF yet but more than `line-max` octets, starting with `method SP`
///   and the start of a request target (`/`, `*` or `scheme://`): HTTP, so
///   an over-long request line is caught too;
/// - anything that can no longer become one of those: Tagarela.
pub fn sniff(first: &[u8]) -> Sniffed {
    match first {
        [] => return Sniffed::NeedMore,
        [0x16] => return Sniffed::NeedMore,
        [0x16, 0x03, ..] => return Sniffed::Tls,
        _ => {}
    }
    if let Some(lf) = memchr::memchr(b'\n', first) {
        let line = first[..lf].strip_suffix(b"\r").unwrap_or(&first[..lf]);
        if line.len() > LINE_MAX {
            // Judged by its start, whether or not its end has come yet, so
            // the verdict does not depend on how the octets were split.
            return if starts_request_target(line) {
                Sniffed::Http
            } else {
                Sniffed::Tagarela
            };
        }
        return if is_request_line(line) {
            Sniffed::Http
        } else {
            Sniffed::Tagarela
        };
    }
    if !could_start_request_line(first) {
        Sniffed::Tagarela
    } else if first.len() > LINE_MAX {
        if starts_request_target(first) {
            Sniffed::Http
        } else {
            Sniffed::Tagarela
        }
    } else {
        Sniffed::NeedMore
    }
}

/// `tchar` of RFC 9110 §5.6.2: the characters of an HTTP method.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9112 §3: `method SP request-target SP HTTP-version`, where the
/// version is `HTTP/` DIGIT `.` DIGIT (also `HTTP/2` style, for the
/// HTTP/2 preface `PRI * HTTP/2.0`).
fn is_request_line(line: &[u8]) -> bool {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(|&b| is_tchar(b))
        && !target.is_empty()
        && is_http_version(version)
}

fn is_http_version(v: &[u8]) -> bool {
    match v.strip_prefix(b"HTTP/") {
        Some([major]) => major.is_ascii_digit(),
        Some([major, b'.', minor]) => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

/// True while `prefix` (no LF in it) could still be the start of a
/// request line: a method of tchars, then possibly SP and a target.
fn could_start_request_line(prefix: &[u8]) -> bool {
    let method_len = prefix.iter().take_while(|&&b| is_tchar(b)).count();
    match prefix.get(method_len) {
        None => method_len > 0,
        Some(b' ') => method_len > 0,
        Some(_) => false,
    }
}

/// `method SP` followed by the start of a request target: origin form
/// (`/`), asterisk form (`*`) or absolute form (`scheme://`).
fn starts_request_target(prefix: &[u8]) -> bool {
    let method_len = prefix.iter().take_while(|&&b| is_tchar(b)).count();
    let Some(target) = prefix
        .get(method_len..)
        .and_then(|rest| rest.strip_prefix(b" "))
    else {
        return false;
    };
    if method_len == 0 {
        return false;
    }
    if target.starts_with(b"/") || target.starts_with(b"*") {
        return true;
    }
    let scheme_len = target
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        .count();
    scheme_len > 0 && target[scheme_len..].starts_with(b"://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_client_hello() {
        assert_eq!(sniff(&[0x16]), Sniffed::NeedMore);
        assert_eq!(sniff(&[0x16, 0x03, 0x01, 0x02, 0x00]), Sniffed::Tls);
        assert_eq!(sniff(&[0x16, 0x03]), Sniffed::Tls);
        // 0x16 then something else is a (bad) Tagarela line.
        assert_eq!(sniff(&[0x16, b'a', b'\n']), Sniffed::Tagarela);
    }

    #[test]
    fn http_request_lines() {
        let browser = b"POST / HTTP/1.1\r\nHost: x\r\n\r\nmallory\nhello from a web page\n";
        assert_eq!(sniff(browser), Sniffed::Http);
        for line in [
            &b"GET /index.html HTTP/1.0\n"[..],
            b"OPTIONS * HTTP/1.1\r\n",
            b"CONNECT example.org:443 HTTP/1.1\r\n",
            b"PRI * HTTP/2.0\r\n",
            b"BREW /pot HTTP/1.1\n",
        ] {
            assert_eq!(
                sniff(line),
                Sniffed::Http,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        // Byte by byte, the verdict waits for the line's end.
        let line = b"GET / HTTP/1.1\r\n";
        for end in 1..line.len() - 2 {
            assert_eq!(sniff(&line[..end]), Sniffed::NeedMore, "{end}");
        }
        assert_eq!(sniff(&line[..]), Sniffed::Http);
    }

    #[test]
    fn an_over_long_request_line_is_caught_by_its_start() {
        let mut long = b"POST /".to_vec();
        long.extend(std::iter::repeat_n(b'a', LINE_MAX));
        assert_eq!(sniff(&long), Sniffed::Http);
        let mut absolute = b"GET http://example.org/".to_vec();
        absolute.extend(std::iter::repeat_n(b'a', LINE_MAX));
        assert_eq!(sniff(&absolute), Sniffed::Http);
        // The same with its end in the same read (review finding: the
        // verdict depended on where the reads split).
        let mut ended = b"GET /".to_vec();
        ended.extend(std::iter::repeat_n(b'a', LINE_MAX));
        ended.extend_from_slice(b" x y\n");
        assert_eq!(sniff(&ended), Sniffed::Http);
        assert_eq!(sniff(&ended[..LINE_MAX + 2]), Sniffed::Http);
        let mut name_like = b"GET ".to_vec();
        name_like.extend(std::iter::repeat_n(b'a', LINE_MAX));
        assert_eq!(sniff(&name_like), Sniffed::Tagarela);
    }

    #[test]
    fn tagarela_first_lines_are_not_mistaken() {
        for first in [
            &b"alice\n"[..],
            b"Notebook_M\xc3\xa3e\n",
            b"/quit\n",
            b"/ping x\n",
            b"\n",
            b"\r\n",
            b"bob smith\n",
            b"GET / HTTP/1.1 extra\n",
            b"GET / HTTP/x.1\n",
            b"GET  HTTP/1.1\n",
            b"get me a coffee\n",
            b"HTTP/1.1\n",
            b"\xff\n",
        ] {
            assert_eq!(
                sniff(first),
                Sniffed::Tagarela,
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
        // A name still being typed may be a method: wait.
        assert_eq!(sniff(b"alice"), Sniffed::NeedMore);
    }
}
