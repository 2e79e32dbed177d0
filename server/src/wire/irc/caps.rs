//! The IRCv3 capabilities this server offers (spec §20.3), as a small set a
//! connection negotiates with `CAP` and its queue reads on every line it
//! encodes. Only what is really done is offered.

/// One capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// `@time=` on every event and on replayed history.
    ServerTime,
    /// The client's own messages come back to it, as everyone else
    /// gets them.
    EchoMessage,
    /// NAMES and WHO show every prefix a member has (we have one, `@`).
    MultiPrefix,
    /// `batch`: replayed history is framed as a batch.
    Batch,
    /// `userhost-in-names`: NAMES gives `nick!user@host`.
    UserhostInNames,
    /// `message-tags`: `@msgid=` and `time=` on every event, client-only
    /// tags relayed, and `TAGMSG`.
    MessageTags,
    /// `draft/chathistory`: `CHATHISTORY` pages a room's kept messages.
    ChatHistory,
    /// `away-notify`: those sharing a room are told `AWAY` as it changes.
    AwayNotify,
    /// `extended-monitor`: a watched name's away and real-name changes
    /// are told as to those sharing a room (with `away-notify`,
    /// `setname`).
    ExtendedMonitor,
    /// `setname`: `SETNAME` changes the real name, told to those sharing
    /// a room who asked.
    Setname,
    /// `labeled-response`: what a labelled command makes comes back
    /// with its label (one line), in a labelled batch (several), or as
    /// a labelled `ACK` (none).
    LabeledResponse,
}

impl Cap {
    /// Every capability, in the order `CAP LS` lists them.
    pub const ALL: [Cap; 11] = [
        Cap::AwayNotify,
        Cap::Batch,
        Cap::ChatHistory,
        Cap::EchoMessage,
        Cap::ExtendedMonitor,
        Cap::LabeledResponse,
        Cap::MessageTags,
        Cap::MultiPrefix,
        Cap::ServerTime,
        Cap::Setname,
        Cap::UserhostInNames,
    ];

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Cap::ServerTime => "server-time",
            Cap::EchoMessage => "echo-message",
            Cap::MultiPrefix => "multi-prefix",
            Cap::Batch => "batch",
            Cap::UserhostInNames => "userhost-in-names",
            Cap::MessageTags => "message-tags",
            Cap::ChatHistory => "draft/chathistory",
            Cap::LabeledResponse => "labeled-response",
            Cap::AwayNotify => "away-notify",
            Cap::ExtendedMonitor => "extended-monitor",
            Cap::Setname => "setname",
        }
    }

    /// The capability called `name` (case-sensitive, as IRCv3 says).
    pub fn named(name: &str) -> Option<Cap> {
        Cap::ALL.into_iter().find(|c| c.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps(u16);

impl Caps {
    /// The set as its bits (to keep in an atomic).
    pub fn bits(self) -> u16 {
        self.0
    }

    /// The set from [`Caps::bits`].
    pub fn from_bits(bits: u16) -> Caps {
        Caps(bits)
    }

    /// Whether `cap` is in.
    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap.bit() != 0
    }

    /// The set with `cap` in (`on`) or out.
    pub fn with(self, cap: Cap, on: bool) -> Caps {
        if on {
            Caps(self.0 | cap.bit())
        } else {
            Caps(self.0 & !cap.bit())
        }
    }

    /// The names of the capabilities in the set, space-separated.
    pub fn names(self) -> String {
        Cap::ALL
            .into_iter()
            .filter(|c| self.has(*c))
            .map(Cap::name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Applies a `CAP REQ` list (`-name` turns off): all or nothing, as
    /// IRCv3 says; `None` if one of them is not offered.
    pub fn request(self, list: &str) -> Option<Caps> {
        let mut caps = self;
        for word in list.split(' ').filter(|w| !w.is_empty()) {
            let (name, on) = match word.strip_prefix('-') {
                Some(name) => (name, false),
                None => (word, true),
            };
            caps = caps.with(Cap::named(name)?, on);
        }
        Some(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_all_or_nothing() {
        let caps = Caps::default();
        let some = caps.request("server-time echo-message");
        assert_eq!(
            some.map(Caps::names).as_deref(),
            Some("echo-message server-time")
        );
        assert_eq!(caps.request("server-time sasl"), None);
        let off = some.and_then(|c| c.request("-echo-message"));
        assert_eq!(off.map(Caps::names).as_deref(), Some("server-time"));
        assert_eq!(Caps::from_bits(caps.bits()), caps);
    }
}
