//! The escape notation of spec §14, shared by the test vectors
//! (`spec/vectors/`) and the conformance scenarios: a readable way to write
//! any octet string, including invalid UTF-8 and very long lines. Not part
//! of the wire protocol; never used to decode network input.

/// Why a notation string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad escape at {at} in {text:?}")]
pub struct NotationError {
    /// The string.
    pub text: String,
    /// Byte offset of the bad escape.
    pub at: usize,
}

/// Decodes `\\ \t \r \n \s \xHH \u{H..} \[N*unit]` into octets; every other
/// character stands for its UTF-8 encoding.
pub fn unescape(s: &str) -> Result<Vec<u8>, NotationError> {
    let mut out = Vec::new();
    let mut i = 0;
    let fail = |at| NotationError {
        text: s.to_owned(),
        at,
    };
    while let Some(c) = s[i..].chars().next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += c.len_utf8();
            continue;
        }
        let esc = &s[i + 1..];
        let used = match esc.as_bytes().first() {
            Some(b'\\') => {
                out.push(b'\\');
                1
            }
            Some(b't') => {
                out.push(b'\t');
                1
            }
            Some(b'r') => {
                out.push(b'\r');
                1
            }
            Some(b'n') => {
                out.push(b'\n');
                1
            }
            Some(b's') => {
                out.push(b' ');
                1
            }
            Some(b'x') => {
                let hex = esc.get(1..3).ok_or_else(|| fail(i))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| fail(i))?);
                3
            }
            Some(b'u') => {
                let end = esc.find('}').ok_or_else(|| fail(i))?;
                let hex = esc.get(2..end).ok_or_else(|| fail(i))?;
                let v = u32::from_str_radix(hex, 16).map_err(|_| fail(i))?;
                let c = char::from_u32(v).ok_or_else(|| fail(i))?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                end + 1
            }
            Some(b'[') => {
                let end = esc.find(']').ok_or_else(|| fail(i))?;
                let (n, unit) = esc[1..end].split_once('*').ok_or_else(|| fail(i))?;
                let n: usize = n.parse().map_err(|_| fail(i))?;
                out.extend_from_slice(&unescape(unit)?.repeat(n));
                end + 1
            }
            _ => return Err(fail(i)),
        };
        i += 1 + used;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn every_escape() {
        assert_eq!(unescape(r"a\\b\t\r\n\s").unwrap(), b"a\\b\t\r\n ");
        assert_eq!(unescape(r"\xff\x00").unwrap(), [0xff, 0]);
        assert_eq!(unescape(r"\u{e3}\u{1F600}").unwrap(), "ã😀".as_bytes());
        assert_eq!(unescape(r"\[3*ab]\[2*\x41]").unwrap(), b"abababAA");
        assert_eq!(unescape("olá").unwrap(), "olá".as_bytes());
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\x4").is_err());
        assert!(unescape(r"\u{d800}").is_err());
    }
}
