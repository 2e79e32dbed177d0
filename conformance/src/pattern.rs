//! Line patterns for expectations. A pattern is the expected line written
//! literally (with the escapes of spec §14), plus placeholders for what the
//! spec says programs must not match exactly:
//! `{ts}` a timestamp (§1.3, checked to be valid), `{word}` one field,
//! `{num}` a decimal number, `{any}` the rest of the line (human text; only
//! last), and `{=NAME}` one field, remembered as NAME for a later step to
//! send as `{$NAME}` (a secret the server made up, such as a resume token).
//! Everything else must match octet for octet.

use tagarela_parser::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Ts,
    Word,
    Num,
    Any,
    Capture(String),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    parts: Vec<Part>,
}

impl Pattern {
    /// Compiles `source`.
    pub fn new(source: &str) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            let capture = rest.find("{=").and_then(|at| {
                let end = rest[at..].find('}')? + at + 1;
                Some((at, &rest[at..end]))
            });
            let next = ["{ts}", "{word}", "{num}", "{any}"]
                .iter()
                .filter_map(|p| rest.find(p).map(|at| (at, *p)))
                .chain(capture)
                .min_by_key(|(at, _)| *at);
            let (at, ph) = match next {
                Some(found) => found,
                None => (rest.len(), ""),
            };
            if at > 0 {
                let lit =
                    tagarela_parser::notation::unescape(&rest[..at]).map_err(|e| e.to_string())?;
                parts.push(Part::Lit(
                    String::from_utf8(lit)
                        .map_err(|_| format!("pattern is not UTF-8: {source}"))?,
                ));
            }
            match ph {
                "{ts}" => parts.push(Part::Ts),
                "{word}" => parts.push(Part::Word),
                "{num}" => parts.push(Part::Num),
                "{any}" => parts.push(Part::Any),
                "" => {}
                capture => {
                    let name = &capture[2..capture.len() - 1];
                    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase()) {
                        return Err(format!("bad capture {capture} in {source}"));
                    }
                    parts.push(Part::Capture(name.to_owned()));
                }
            }
            rest = &rest[(at + ph.len()).min(rest.len())..];
        }
        if parts.iter().rev().skip(1).any(|p| *p == Part::Any) {
            return Err(format!("{{any}} must be last: {source}"));
        }
        Ok(Pattern {
            source: source.to_owned(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when `line` (terminator removed) matches.
    pub fn matches(&self, line: &str) -> bool {
        self.captures(line).is_some()
    }

    /// The fields `{=NAME}` captured, if `line` matches.
    pub fn captures(&self, line: &str) -> Option<Vec<(String, String)>> {
        let mut captured = Vec::new();
        let mut rest = line;
        for part in &self.parts {
            match part {
                Part::Lit(lit) => rest = rest.strip_prefix(lit.as_str())?,
                Part::Ts => {
                    let ts = rest.get(..tagarela_parser::TIMESTAMP_LEN)?;
                    Timestamp::parse(ts).ok()?;
                    rest = &rest[ts.len()..];
                }
                Part::Word | Part::Num | Part::Capture(_) => {
                    let end = rest.find(' ').unwrap_or(rest.len());
                    let word = &rest[..end];
                    if word.is_empty()
                        || (*part == Part::Num && !word.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return None;
                    }
                    if let Part::Capture(name) = part {
                        captured.push((name.clone(), word.to_owned()));
                    }
                    rest = &rest[end..];
                }
                Part::Any => rest = "",
            }
        }
        rest.is_empty().then_some(captured)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(p: &str, line: &str) -> bool {
        Pattern::new(p).unwrap().matches(line)
    }

    #[test]
    fn placeholders() {
        assert!(m(
            "MSG {ts} bob :hi",
            "MSG 2026-11-21T12:00:00.000Z bob :hi"
        ));
        assert!(!m(
            "MSG {ts} bob :hi",
            "MSG 2026-11-21T12:00:00.000Z bob :hi!"
        ));
        assert!(!m(
            "MSG {ts} bob :hi",
            "MSG 2026-13-21T12:00:00.000Z bob :hi"
        ));
        assert!(m("ERR no-text :{any}", "ERR no-text :There is no text."));
        assert!(m("ERR no-text :{any}", "ERR no-text :"));
        assert!(!m("ERR no-text :{any}", "ERR no-texts :x"));
        assert!(m("WHOEND {num}", "WHOEND 12"));
        assert!(!m("WHOEND {num}", "WHOEND x"));
        assert!(m("PING {word}", "PING 7"));
        let p = Pattern::new("WELCOME a resume={=tok} :{any}").unwrap();
        assert_eq!(
            p.captures("WELCOME a resume=abc :hi"),
            Some(vec![("tok".to_owned(), "abc".to_owned())])
        );
        assert_eq!(p.captures("WELCOME a resume= :hi"), None);
        assert!(Pattern::new("X {=Bad}").is_err());
        assert!(m(
            "MSG {ts} bob :\\s\\shi",
            "MSG 2026-11-21T12:00:00.000Z bob :  hi"
        ));
        assert!(Pattern::new("{any} x").is_err());
    }
}
