//! Makes untrusted text safe for a terminal (spec §12.3). Names and message
//! text come from other users: control characters, escape sequences, C1
//! controls, bidi overrides and invisible format characters are shown as
//! visible `<U+XXXX>` marks instead of reaching the terminal. Pure function
//! of its input; never decides anything else about the text.

/// True for a character that must not reach a terminal raw.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                      // soft hyphen
            | '\u{061C}'                    // Arabic letter mark
            | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}'       // zero-width, LRM, RLM
            | '\u{2028}' | '\u{2029}'       // line and paragraph separators
            | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'       // bidi isolates and deprecated format
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}' | '\u{E0020}'..='\u{E007F}' // tags
        )
}

/// `text` with every unsafe character replaced by a visible `<U+XXXX>`.
pub fn for_terminal(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_are_made_visible() {
        assert_eq!(for_terminal("hi \u{1b}[31mred"), "hi <U+001B>[31mred");
        assert_eq!(
            for_terminal("\u{1b}]0;title\u{7}"),
            "<U+001B>]0;title<U+0007>"
        );
        assert_eq!(for_terminal("a\u{9b}b"), "a<U+009B>b");
        assert_eq!(for_terminal("txt.\u{202e}exe"), "txt.<U+202E>exe");
        assert_eq!(for_terminal("a\u{200b}b\u{2066}"), "a<U+200B>b<U+2066>");
        assert_eq!(for_terminal("a\rb\nc"), "a<U+000D>b<U+000A>c");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in ["olá, mundo", "小明 😀", "Ωμέγα", "שלום", "a < b > c"] {
            assert_eq!(for_terminal(s), s);
        }
    }
}
