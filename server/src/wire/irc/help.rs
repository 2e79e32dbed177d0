//! `HELP` (and `HELPOP`, its older name) for IRC clients (spec §20.6):
//! one short entry per command this front door understands, answered as
//! RPL_HELPSTART (704), RPL_HELPTXT (705) and RPL_ENDOFHELP (706), or
//! ERR_HELPNOTFOUND (524). Text only: never touches a queue.

/// The subject of `HELP` without one.
pub const INDEX: &str = "index";

/// Each subject and its lines: the first is the summary (704's text).
const ENTRIES: &[(&str, &[&str])] = &[
    (
        INDEX,
        &[
            "Tagarela speaks IRC: channels are rooms, nicks are names.",
            "Commands: AWAY CAP HELP ISON JOIN KICK LINKS LIST LUSERS MODE MONITOR",
            "MOTD NAMES NICK NOTICE PART PASS PING PRIVMSG QUIT TIME TOPIC USER",
            "USERHOST VERSION WHO WHOIS WHOWAS. HELP <command> says more about one.",
        ],
    ),
    (
        "AWAY",
        &["AWAY [:message]: marks you away (or back, without a message)."],
    ),
    (
        "CAP",
        &["CAP LS|REQ|LIST|END: IRCv3 capability negotiation (version 302)."],
    ),
    ("HELP", &["HELP [command]: this help."]),
    (
        "ISON",
        &["ISON nick [nick...]: which of these nicks are online."],
    ),
    (
        "JOIN",
        &[
            "JOIN #room[,#room...]: enters rooms (made if new, you their operator).",
            "JOIN 0 leaves every room.",
        ],
    ),
    (
        "KICK",
        &["KICK #room nick [:reason]: removes someone (room operators)."],
    ),
    (
        "LIST",
        &["LIST [#room,...]: rooms with someone in them, and their topics."],
    ),
    ("LUSERS", &["LUSERS: how many are online."]),
    (
        "MODE",
        &[
            "MODE #room: its modes. MODE #room +b [mask]: its bans, or ban a mask",
            "(nick!*@* or *!*@address). MODE #room +o nick: a new operator.",
        ],
    ),
    (
        "MONITOR",
        &["MONITOR + nick,...|- nick,...|C|L|S: be told when nicks come and go."],
    ),
    ("MOTD", &["MOTD: the message of the day."]),
    ("NAMES", &["NAMES #room[,#room...]: who is in a room."]),
    (
        "NICK",
        &["NICK name: the name you register with. Names are held, not changed."],
    ),
    (
        "NOTICE",
        &["NOTICE target :text: as PRIVMSG, with no error replies."],
    ),
    ("PART", &["PART #room[,#room...] [:reason]: leaves rooms."]),
    (
        "PASS",
        &["PASS password: the room password, before NICK and USER."],
    ),
    ("PING", &["PING token: the server answers PONG token."]),
    (
        "PRIVMSG",
        &[
            "PRIVMSG #room :text speaks in a room; PRIVMSG nick :text whispers.",
            "Up to 4 targets, separated by commas. CTCP ACTION (/me) is carried.",
        ],
    ),
    ("QUIT", &["QUIT [:message]: leaves the chat."]),
    ("TIME", &["TIME: the server's clock (UTC)."]),
    (
        "TOPIC",
        &["TOPIC #room [:text]: shows or sets a room's topic."],
    ),
    (
        "USER",
        &["USER user 0 * :real name: who you say you are, at registration."],
    ),
    (
        "USERHOST",
        &["USERHOST nick [nick...]: their user and host."],
    ),
    ("VERSION", &["VERSION: this server's version and ISUPPORT."]),
    (
        "WHO",
        &["WHO #room|nick|mask: who is there, away or not, operator or not."],
    ),
    (
        "WHOIS",
        &["WHOIS nick: their user, real name, rooms and away message."],
    ),
];

/// The lines about `subject` (any case), or `None` if there is no entry.
pub fn entry(subject: &str) -> Option<(&'static str, &'static [&'static str])> {
    ENTRIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(subject))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_a_summary_and_fits_a_line() {
        for (name, lines) in ENTRIES {
            assert!(!lines.is_empty(), "{name}");
            for line in *lines {
                // ":server 705 nick SUBJECT :" leaves well over 300 octets.
                assert!(line.len() < 300, "{name}: {line}");
            }
        }
    }

    #[test]
    fn subjects_are_found_in_any_case() {
        assert_eq!(entry("privmsg").map(|(n, _)| n), Some("PRIVMSG"));
        assert_eq!(entry("INDEX").map(|(n, _)| n), Some(INDEX));
        assert!(entry("THISISNOTACOMMAND").is_none());
    }
}
