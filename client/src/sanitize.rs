//! Makes untrusted text safe for a terminal (spec §12.3). Names and message
//! text come from other users: control characters, escape sequences, C1
//! controls, bidi marks, embeddings, overrides and isolates, line and
//! paragraph separators and other invisible format characters are shown as
//! visible `<U+XXXX>` marks instead of reaching the terminal. What is
//! ordinary writing is shown as it is: the zero-width joiner and non-joiner
//! (emoji sequences, Persian, Indic scripts), variation selectors, and the
//! tag characters of a well-formed emoji tag sequence (subdivision flags
//! such as England's). Pure function of its input; never decides anything
//! else about the text, and never lets a raw control through.

/// The black flag that starts an emoji tag sequence (UTS #51).
const TAG_BASE: char = '\u{1F3F4}';
/// The tag that ends an emoji tag sequence.
const CANCEL_TAG: char = '\u{E007F}';
/// A tag sequence longer than this is not a flag anyone writes.
const TAG_SEQUENCE_MAX: usize = 32;

/// True for a character that must not reach a terminal raw.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                      // soft hyphen
            | '\u{061C}'                    // Arabic letter mark (ALM)
            | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{180E}'
            | '\u{200B}'                    // zero-width space
            | '\u{200E}' | '\u{200F}'       // LRM, RLM
            | '\u{2028}' | '\u{2029}'       // line and paragraph separators
            | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'       // bidi isolates and deprecated format
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}' | '\u{E0020}'..='\u{E007F}' // tags, unless in a flag
        )
}

/// True for a tag character that may stand inside an emoji tag sequence.
fn is_tag_spec(c: char) -> bool {
    matches!(c, '\u{E0020}'..='\u{E007E}')
}

/// The length in octets of the tag characters after a black flag at the
/// start of `rest`, if they form a well-formed tag sequence ending in
/// CANCEL TAG.
fn flag_tags(rest: &str) -> Option<usize> {
    let mut len = 0;
    for (n, c) in rest.chars().enumerate() {
        if n > TAG_SEQUENCE_MAX {
            return None;
        }
        if c == CANCEL_TAG {
            return (len > 0).then_some(len + c.len_utf8());
        }
        if !is_tag_spec(c) {
            return None;
        }
        len += c.len_utf8();
    }
    None
}

/// `text` with every unsafe character replaced by a visible `<U+XXXX>`.
pub fn for_terminal(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        out.push(c);
        if c == TAG_BASE {
            if let Some(len) = flag_tags(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
            }
        } else if is_unsafe(c) {
            out.pop();
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
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
    fn bidi_marks_isolates_and_separators_are_made_visible() {
        for c in [
            '\u{200E}', '\u{200F}', '\u{061C}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
        ] {
            let shown = for_terminal(&format!("a{c}b"));
            assert_eq!(shown, format!("a<U+{:04X}>b", u32::from(c)));
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in ["olá, mundo", "小明 😀", "Ωμέγα", "שלום", "a < b > c"] {
            assert_eq!(for_terminal(s), s);
        }
    }

    #[test]
    fn joiners_and_variation_selectors_are_ordinary_writing() {
        for s in [
            "👨\u{200D}👩\u{200D}👧", // family: ZWJ sequence
            "می\u{200C}خواهم",        // Persian with ZWNJ
            "❤\u{FE0F} ok",           // emoji presentation selector
            "葛\u{E0100}",            // ideographic variation selector
            "क्\u{200D}ष",             // Devanagari with ZWJ
        ] {
            assert_eq!(for_terminal(s), s);
        }
    }

    #[test]
    fn tags_show_only_inside_a_flag() {
        let england = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert_eq!(for_terminal(england), england);
        assert_eq!(
            for_terminal(&format!("go {england}!")),
            format!("go {england}!")
        );
        // Tags hiding text outside a flag, or a flag that never ends.
        assert_eq!(for_terminal("a\u{E0068}i"), "a<U+E0068>i");
        assert_eq!(for_terminal("\u{1F3F4}\u{E0067}x"), "\u{1F3F4}<U+E0067>x");
        assert_eq!(for_terminal("\u{1F3F4}\u{E007F}"), "\u{1F3F4}<U+E007F>");
    }
}
