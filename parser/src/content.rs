//! Checks on line content (§2.1, §2.5): UTF-8 first, then forbidden
//! characters. Every decoder runs its input through here before any grammar,
//! so no field can ever hold a control character. Pure functions, no state.

use crate::error::ContentError;

/// Validates one line's content: UTF-8 (§2.1), then no C0, DEL or C1
/// control (§2.5).
///
/// ```abnf
/// text      = *safe-char
/// safe-char = <utf8-char that is not U+0000-U+001F, U+007F, U+0080-U+009F>
/// ```
pub fn check(line: &[u8]) -> Result<&str, ContentError> {
    let s = std::str::from_utf8(line).map_err(|_| ContentError::InvalidUtf8)?;
    if has_forbidden(s) {
        return Err(ContentError::ControlChar);
    }
    Ok(s)
}

/// One line's content that passed [`check`]: valid UTF-8 (§2.1) holding no
/// forbidden character (§2.5). Only this module makes one, so a decoder that
/// takes it can skip both checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedLine<'a>(&'a str);

impl<'a> CheckedLine<'a> {
    /// The content.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// A line cut from a run that [`check_run`] passed, terminator removed.
    pub(crate) fn from_passed_run(line: &'a str) -> Self {
        CheckedLine(line)
    }
}

/// [`check`], keeping the proof that it passed.
pub fn check_line(line: &[u8]) -> Result<CheckedLine<'_>, ContentError> {
    check(line).map(CheckedLine)
}

/// Checks a run of whole lines, each ending in LF, at once: returns the run
/// as text when every line in it would pass [`check`] once its LF or CR LF
/// terminator is removed. `None` means "check each line on its own" (some
/// line is bad, or the run needs a closer look than this one pass).
/// One long validation costs far less than one per short line.
pub(crate) fn check_run(run: &[u8]) -> Option<&str> {
    let s = simdutf8::basic::from_utf8(run).ok()?;
    let bytes = s.as_bytes();
    // Each octet with the one after it (the run's last octet is its final
    // LF, which needs no look). A CR is fine only as part of a CR LF
    // terminator; 0xC2 followed by 0x80-0x9F is a C1 control. No early
    // exit, so the compiler can vectorise the pass.
    let bad = bytes
        .iter()
        .zip(bytes.iter().skip(1))
        .fold(false, |bad, (&b, &next)| {
            let control = (b < 0x20) & (b != b'\n') & !((b == b'\r') & (next == b'\n'));
            bad | control | (b == 0x7f) | ((b == 0xc2) & (next & 0xe0 == 0x80))
        });
    if bad || bytes.last() != Some(&b'\n') {
        None
    } else {
        Some(s)
    }
}

/// True when `s` holds a character forbidden by §2.5.
pub fn has_forbidden(s: &str) -> bool {
    let bytes = s.as_bytes();
    // One pass over all octets with no early exit, so the compiler can
    // vectorise it: C0 and DEL are single octets, and every C1 control
    // (U+0080-U+009F) is encoded as 0xC2 followed by 0x80-0x9F.
    let suspect = bytes.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    if !suspect {
        return false;
    }
    // Rare path: a control, or a 0xC2 lead octet (Latin-1 supplement text
    // such as "°" or "£") that needs a closer look. In valid UTF-8 a 0xC2
    // octet is always a lead octet, so the pair test is exact.
    bytes
        .iter()
        .zip(bytes.iter().skip(1).chain(std::iter::once(&0)))
        .any(|(&b, &next)| b < 0x20 || b == 0x7f || (b == 0xc2 && (0x80..=0x9f).contains(&next)))
}

/// True for a forbidden character (§2.5).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_matches_char_is_control() {
        // §2.5's set is exactly Unicode general category Cc.
        for c in ['\0', '\t', '\r', '\n', '\x1b', '\x7f', '\u{80}', '\u{9f}'] {
            assert!(is_forbidden_char(c));
            assert!(has_forbidden(&format!("a{c}b")), "{c:?}");
        }
        for c in ['a', ' ', '\u{a0}', '\u{202e}', 'é', '\u{100}', '\u{1f600}'] {
            assert!(!is_forbidden_char(c));
            assert!(!has_forbidden(&format!("a{c}b")), "{c:?}");
        }
    }

    #[test]
    fn a_run_passes_only_when_every_line_would() {
        assert_eq!(check_run(b"hi\nol\xc3\xa1\r\n\n"), Some("hi\nolá\r\n\n"));
        assert_eq!(check_run("£5\n".as_bytes()), Some("£5\n"));
        for bad in [
            &b"hi\nbad\xff\n"[..],
            b"a\x00b\n",
            b"a\rb\n",
            b"a\r\r\n",
            b"a\x7f\n",
            b"\xc2\x85\n",
            b"tab\there\n",
        ] {
            assert_eq!(check_run(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn utf8_is_checked_before_controls() {
        assert_eq!(check(b"a\xff\x00"), Err(ContentError::InvalidUtf8));
        assert_eq!(check(b"a\x00"), Err(ContentError::ControlChar));
        assert_eq!(check("olá".as_bytes()), Ok("olá"));
    }
}
