//! Peer-supplied text made safe for an operator's log (issue 11, spec
//! §12.3 applied to logs): someone reading `tail -f` of the server's
//! stderr must be as safe as the client's users. Wraps a string for
//! `tracing` fields; it changes only how the text is shown in logs, never
//! what is delivered or audited.

use std::fmt;

/// Shows text with every character that could move the cursor, change the
/// terminal's state or reorder what the reader sees written as `<U+XXXX>`:
/// C0 and C1 controls and DEL (the wire forbids them, §2.5, but logs must
/// not depend on that), bidi marks, embeddings, overrides and isolates,
/// and the line and paragraph separators.
#[derive(Debug, Clone, Copy)]
pub struct LogText<'a>(pub &'a str);

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| is_unsafe(c)) {
            f.write_str(&rest[..i])?;
            write!(f, "<U+{:04X}>", u32::from(c))?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_shown_as_code_points() {
        let shown = LogText("a\u{202E}txt.exe\u{1b}[2J\u{2066}b\u{2029}c\u{85}").to_string();
        assert_eq!(
            shown,
            "a<U+202E>txt.exe<U+001B>[2J<U+2066>b<U+2029>c<U+0085>"
        );
    }

    #[test]
    fn ordinary_writing_is_untouched() {
        for text in [
            "olá, mundo",
            "می\u{200C}خواهم",
            "👨\u{200D}👩\u{200D}👧",
            "小明 :) PRIV x",
        ] {
            assert_eq!(LogText(text).to_string(), text);
        }
    }
}
