//! IRC's message grammar (the Modern IRC client protocol's "Messages",
//! RFC 1459/2812, and IRCv3 message tags), for the IRC front door that
//! issue 23 plans beside Tagarela's own protocol: one line into a typed
//! [`IrcMessage`] and back. I/O-free, like the rest of this crate, and it
//! knows no command's meaning: only the shape every IRC line has.
//!
//! ```text
//! message = [ "@" tags SP ] [ ":" source SP ] command [ params ]
//! tags    = tag *( ";" tag )         tag = key [ "=" escaped-value ]
//! params  = *14( SP middle ) [ SP ":" trailing ]   (or 15 middles)
//! ```
//!
//! An [`IrcMessage`] cannot be built invalid: [`IrcMessage::new`] and the
//! builders check every part, so [`IrcMessage::encode`] always writes a
//! line that [`IrcMessage::decode`] reads back as the same value (tested
//! with proptest and fuzzed). Line length (512 octets without the tags,
//! 8191 for the tags) is the framer's to bound, by [`IRC_LINE_MAX`] and
//! [`IRC_TAGS_MAX`]; this reads whatever line it is given.

/// The most octets of an IRC line, CR LF included, tags excluded
/// (RFC 1459 §2.3).
pub const IRC_LINE_MAX: usize = 512;

/// The most octets of a line's tags, the `@` and the space after them
/// included (IRCv3 message tags): what a client reads.
pub const IRC_TAGS_MAX: usize = 8191;

/// The most octets of the tags a client sends, the `@` and the space
/// after them included (IRCv3 message tags: 4094 of tag data); the rest
/// of [`IRC_TAGS_MAX`] is the server's, for its own tags.
pub const IRC_CLIENT_TAGS_MAX: usize = 4096;

/// The most parameters a message has (RFC 2812 §2.3.1).
pub const IRC_PARAMS_MAX: usize = 15;

/// Why a line is not an IRC message (or a value cannot be one's part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IrcError {
    /// Not UTF-8 (this server speaks UTF-8 only: `UTF8ONLY`).
    #[error("the line is not UTF-8")]
    NotUtf8,
    /// NUL, CR or LF inside the line.
    #[error("the line holds NUL, CR or LF")]
    Control,
    /// No command.
    #[error("no command")]
    NoCommand,
    /// A command that is neither letters nor three digits.
    #[error("a command that is neither letters nor three digits")]
    BadCommand,
    /// An empty source, or one holding a space.
    #[error("a malformed source")]
    BadSource,
    /// A tag whose key is not a valid key.
    #[error("a malformed tag")]
    BadTag,
    /// A parameter that cannot be where it is: an empty one, or one with a
    /// space or a leading `:`, before the last.
    #[error("a malformed parameter")]
    BadParam,
    /// More than [`IRC_PARAMS_MAX`] parameters.
    #[error("more than 15 parameters")]
    TooManyParams,
}

/// One IRC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcMessage {
    /// Its tags, in order, values unescaped (`None`: no value, or empty).
    tags: Vec<(String, Option<String>)>,
    /// Who it is from (`nick!user@host` or a server name), if it says.
    source: Option<String>,
    /// The command, letters in upper case, or a three-digit numeric.
    command: String,
    /// Its parameters; only the last may be empty, hold spaces or start
    /// with `:`.
    params: Vec<String>,
}

impl IrcMessage {
    /// A message with no tags and no source.
    pub fn new(command: &str, params: &[&str]) -> Result<IrcMessage, IrcError> {
        let command = command_of(command)?;
        if params.len() > IRC_PARAMS_MAX {
            return Err(IrcError::TooManyParams);
        }
        for (i, p) in params.iter().enumerate() {
            if has_control(p) {
                return Err(IrcError::Control);
            }
            if i + 1 < params.len() && !is_middle(p) {
                return Err(IrcError::BadParam);
            }
        }
        Ok(IrcMessage {
            tags: Vec::new(),
            source: None,
            command,
            params: params.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    /// The same message from `source`.
    pub fn with_source(mut self, source: &str) -> Result<IrcMessage, IrcError> {
        if !is_source(source) {
            return Err(IrcError::BadSource);
        }
        self.source = Some(source.to_owned());
        Ok(self)
    }

    /// The same message with the tag `key` (and `value`) added last.
    pub fn with_tag(mut self, key: &str, value: Option<&str>) -> Result<IrcMessage, IrcError> {
        if !is_tag_key(key) {
            return Err(IrcError::BadTag);
        }
        if value.is_some_and(has_control) {
            return Err(IrcError::Control);
        }
        let value = value.filter(|v| !v.is_empty()).map(str::to_owned);
        self.tags.push((key.to_owned(), value));
        Ok(self)
    }

    /// Its tags, in order.
    pub fn tags(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// The value of its tag `key` (the last one, if it has several):
    /// `Some(None)` for a tag without a value.
    pub fn tag(&self, key: &str) -> Option<Option<&str>> {
        self.tags
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    /// Its client-only tags (those whose key starts with `+`, IRCv3
    /// message-tags), in order, as they go on a relayed line:
    /// `+key=escaped;+key`; `None` if it has none.
    pub fn client_only_tags(&self) -> Option<String> {
        let mut out = String::new();
        for (key, value) in self.tags.iter().filter(|(k, _)| k.starts_with('+')) {
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(key);
            if let Some(value) = value {
                out.push('=');
                escape_into(value, &mut out);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Who it is from, if it says.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The command (a letter, then letters, digits or `_`, in upper
    /// case; or three digits).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Its parameters.
    pub fn params(&self) -> &[String] {
        &self.params
    }

    /// Reads one line (without its CR LF).
    pub fn decode(line: &[u8]) -> Result<IrcMessage, IrcError> {
        let line = std::str::from_utf8(line).map_err(|_| IrcError::NotUtf8)?;
        if has_control(line) {
            return Err(IrcError::Control);
        }
        let mut rest = line;
        let mut tags = Vec::new();
        if let Some(after) = rest.strip_prefix('@') {
            let (raw, more) = after.split_once(' ').unwrap_or((after, ""));
            for tag in raw.split(';') {
                let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
                if !is_tag_key(key) {
                    return Err(IrcError::BadTag);
                }
                let value = unescape(value);
                tags.push((key.to_owned(), Some(value).filter(|v| !v.is_empty())));
            }
            rest = more;
        }
        rest = rest.trim_start_matches(' ');
        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (s, more) = after.split_once(' ').unwrap_or((after, ""));
            if !is_source(s) {
                return Err(IrcError::BadSource);
            }
            source = Some(s.to_owned());
            rest = more.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(IrcError::NoCommand);
        }
        let command = command_of(command)?;
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            if params.len() == IRC_PARAMS_MAX - 1 {
                // RFC 2812: the fifteenth is the rest, ':' or not.
                params.push(rest.to_owned());
                break;
            }
            let (middle, more) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(middle.to_owned());
            rest = more;
        }
        Ok(IrcMessage {
            tags,
            source,
            command,
            params,
        })
    }

    /// The line, without CR LF.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (key, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(key);
                if let Some(value) = value {
                    out.push('=');
                    escape_into(value, &mut out);
                }
            }
            out.push(' ');
        }
        if let Some(source) = &self.source {
            out.push(':');
            out.push_str(source);
            out.push(' ');
        }
        out.push_str(&self.command);
        for (i, param) in self.params.iter().enumerate() {
            out.push(' ');
            if i + 1 == self.params.len() && !is_middle(param) {
                out.push(':');
            }
            out.push_str(param);
        }
        out
    }
}

/// The command `s` in its canonical form: a letter then letters, digits
/// or `_`, in upper case; or three digits.
fn command_of(s: &str) -> Result<String, IrcError> {
    // Letters, as RFC 1459 says, and (read leniently, so that a client's
    // unknown command can be answered `421` rather than refused as
    // malformed) digits and `_` after the first letter.
    let letters = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let numeric = s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit());
    if letters || numeric {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(IrcError::BadCommand)
    }
}

/// Whether `s` can be a parameter other than the last.
fn is_middle(s: &str) -> bool {
    !s.is_empty() && !s.starts_with(':') && !s.contains(' ')
}

/// Whether `s` can be a message's source.
fn is_source(s: &str) -> bool {
    !s.is_empty() && !s.contains(' ') && !has_control(s)
}

/// Whether `s` holds NUL, CR or LF.
fn has_control(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, 0 | b'\r' | b'\n'))
}

/// Whether `key` is a tag key: an optional `+` (a client-only tag), an
/// optional vendor (a host name) and `/`, and a name of letters, digits
/// and hyphens.
fn is_tag_key(key: &str) -> bool {
    let key = key.strip_prefix('+').unwrap_or(key);
    let (vendor, name) = match key.rsplit_once('/') {
        Some((vendor, name)) => (Some(vendor), name),
        None => (None, key),
    };
    let vendor_ok = vendor.is_none_or(|v| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    });
    vendor_ok && !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A tag value as it is on the wire, unescaped (IRCv3: `\:` is `;`, `\s`
/// a space, `\\` a backslash, `\r` and `\n` CR and LF; any other escaped
/// character is itself, and a lone trailing backslash is dropped).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// `value` escaped onto `out` (the inverse of [`unescape`]).
/// Appends `value` escaped as a tag value (IRCv3 message tags).
pub fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(s: &str) -> IrcMessage {
        IrcMessage::decode(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn only_client_tags_are_relayed_escaped_again() {
        let m = decode(r"@+buzz=fizz\:buzz;cat=dog;+steel=wootz;+e TAGMSG #test");
        assert_eq!(
            m.client_only_tags().as_deref(),
            Some(r"+buzz=fizz\:buzz;+steel=wootz;+e")
        );
        assert_eq!(decode("@cat=dog PRIVMSG #a :x").client_only_tags(), None);
        assert_eq!(decode("PRIVMSG #a :x").client_only_tags(), None);
    }

    /// The examples of the Modern IRC document and IRCv3, read as they
    /// say.
    #[test]
    fn the_specifications_examples_read_as_they_say() {
        let m = decode(":irc.example.com CAP LS * :multi-prefix extended-join sasl");
        assert_eq!(m.source(), Some("irc.example.com"));
        assert_eq!(m.command(), "CAP");
        assert_eq!(m.params(), ["LS", "*", "multi-prefix extended-join sasl"]);
        let m = decode("@id=234AB :dan!d@localhost PRIVMSG #chan :Hey what's up!");
        assert_eq!(m.tag("id"), Some(Some("234AB")));
        assert_eq!(m.source(), Some("dan!d@localhost"));
        assert_eq!(m.params(), ["#chan", "Hey what's up!"]);
        let m = decode("CAP REQ :sasl message-tags foo");
        assert_eq!(m.params(), ["REQ", "sasl message-tags foo"]);
        let m = decode("privmsg #a ::-)");
        assert_eq!((m.command(), m.params()[1].as_str()), ("PRIVMSG", ":-)"));
        let m = decode("@a=b\\sc\\:d\\\\;e;+example.com/f= :s 001 nick :Welcome");
        assert_eq!(m.tag("a"), Some(Some("b c;d\\")));
        assert_eq!(m.tag("e"), Some(None));
        assert_eq!(m.tag("+example.com/f"), Some(None));
        assert_eq!(m.command(), "001");
        let m = decode("PING");
        assert!(m.params().is_empty());
        let m = decode("TOPIC #a :");
        assert_eq!(m.params(), ["#a", ""]);
        // RFC 2812: the fifteenth parameter is the rest of the line.
        let m = decode("X 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 and more");
        assert_eq!(m.params().len(), 15);
        assert_eq!(m.params()[14], "15 and more");
    }

    #[test]
    fn malformed_lines_are_errors() {
        for (bad, why) in [
            (&b""[..], IrcError::NoCommand),
            (b":src", IrcError::NoCommand),
            (b"1234 x", IrcError::BadCommand),
            (b"1PRIV x", IrcError::BadCommand),
            (b"PR-V x", IrcError::BadCommand),
            (b"@=x CMD", IrcError::BadTag),
            (b"@a/ CMD", IrcError::BadTag),
            (b"@a_b CMD", IrcError::BadTag),
            (b": CMD", IrcError::BadSource),
            (b"CMD a\0b", IrcError::Control),
            (b"\xff CMD", IrcError::NotUtf8),
        ] {
            assert_eq!(IrcMessage::decode(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn values_that_cannot_be_encoded_cannot_be_built() {
        assert_eq!(
            IrcMessage::new("PRIVMSG", &["#a b", "x"]).err(),
            Some(IrcError::BadParam)
        );
        assert_eq!(
            IrcMessage::new("PRIVMSG", &[":a", "x"]).err(),
            Some(IrcError::BadParam)
        );
        assert_eq!(
            IrcMessage::new("PRIVMSG", &["", "x"]).err(),
            Some(IrcError::BadParam)
        );
        assert_eq!(
            IrcMessage::new("PRIV-MSG", &[]).err(),
            Some(IrcError::BadCommand)
        );
        assert_eq!(
            IrcMessage::new("X", &["a\r\nQUIT"]).err(),
            Some(IrcError::Control)
        );
        let many = ["a"; 16];
        assert_eq!(
            IrcMessage::new("X", &many).err(),
            Some(IrcError::TooManyParams)
        );
        let ok = IrcMessage::new("PRIVMSG", &["#a", "hi there"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.encode(), "PRIVMSG #a :hi there");
        assert_eq!(
            ok.clone().with_source("a b").err(),
            Some(IrcError::BadSource)
        );
        assert_eq!(ok.with_tag("a b", None).err(), Some(IrcError::BadTag));
    }

    fn a_message() -> impl Strategy<Value = IrcMessage> {
        let middle = "[a-zA-Z0-9#&!@.*-][^ \r\n\0]{0,8}";
        let last = "[^\r\n\0]{0,20}";
        let tag = (
            "\\+?([a-z0-9.-]{1,6}/)?[a-zA-Z0-9-]{1,8}",
            proptest::option::of("[^\r\n\0]{0,10}"),
        );
        (
            proptest::collection::vec(tag, 0..3),
            proptest::option::of("[a-z!@.]{1,10}"),
            "[A-Za-z]{1,8}|[0-9]{3}",
            proptest::collection::vec(middle, 0..4),
            proptest::option::of(last),
        )
            .prop_filter_map("valid", |(tags, source, command, middles, last)| {
                let mut params: Vec<&str> = middles.iter().map(String::as_str).collect();
                if let Some(last) = &last {
                    params.push(last);
                }
                let mut m = IrcMessage::new(&command, &params).ok()?;
                if let Some(source) = &source {
                    m = m.with_source(source).ok()?;
                }
                for (key, value) in &tags {
                    m = m.with_tag(key, value.as_deref()).ok()?;
                }
                Some(m)
            })
    }

    proptest! {
        /// What is built encodes to a line that decodes to it.
        #[test]
        fn encode_then_decode_is_the_identity(m in a_message()) {
            prop_assert_eq!(IrcMessage::decode(m.encode().as_bytes()), Ok(m));
        }

        /// Whatever decodes encodes back to what decodes to it again.
        #[test]
        fn decode_encode_decode_is_stable(line in proptest::collection::vec(any::<u8>(), 0..60)) {
            if let Ok(first) = IrcMessage::decode(&line) {
                prop_assert_eq!(IrcMessage::decode(first.encode().as_bytes()), Ok(first));
            }
        }
    }
}
