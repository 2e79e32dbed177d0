//! What this server says about itself to IRC clients (spec §20.1): its
//! name, the welcome numerics' facts, an honest `ISUPPORT` made from the
//! server's real bounds, and the message of the day. Built once at start
//! and shared by every IRC connection.

use tagarela_parser::limits::NAME_MAX;

use crate::hub::room::{BANS_MAX, RoomSettings};

/// This server as IRC clients see it.
#[derive(Debug, Clone)]
pub struct IrcIdentity {
    /// The server's name: the source of its numerics.
    pub name: String,
    /// `tagarela-<version>`.
    pub version: String,
    /// When the server started, for `RPL_CREATED`.
    pub created: String,
    /// The `ISUPPORT` tokens, at most 13 to a line.
    pub isupport: Vec<String>,
    /// The message of the day, one line each (none: `ERR_NOMOTD`).
    pub motd: Vec<String>,
    /// Who may become a server operator (`OPER`, §20.6); none: nobody.
    pub operators: Option<std::sync::Arc<crate::chat::operators::Operators>>,
}

/// Targets one `PRIVMSG` or `NOTICE` may name.
pub const MESSAGE_TARGETS: usize = 4;

/// Rooms one `JOIN`, `PART` or `NAMES` may name (§19.5: ten per `/join`).
pub const ROOM_TARGETS: usize = 10;

impl IrcIdentity {
    /// The identity of a server called `name` with these rooms.
    pub fn new(
        name: &str,
        rooms: &RoomSettings,
        motd: Option<Vec<String>>,
        operators: Option<std::sync::Arc<crate::chat::operators::Operators>>,
    ) -> IrcIdentity {
        let default_room = rooms.default.as_str().to_owned();
        let isupport = vec![
            format!("AWAYLEN={}", crate::wire::irc::text::AWAY_MAX),
            // IRCv3's bot mode: user mode +B.
            "BOT=B".to_owned(),
            // Names and rooms compare by Unicode case folding after NFC
            // (§3.3), which is what the PRECIS profile name says.
            "CASEMAPPING=rfc8265".to_owned(),
            format!("CHANLIMIT=#:{}", rooms.per_client),
            "CHANMODES=b,k,l,imnst".to_owned(),
            // In octets: the name part is at most NAME_MAX scalar values
            // of at most four octets each, after the '#'.
            format!("CHANNELLEN={}", 1 + NAME_MAX * 4),
            "CHANTYPES=#".to_owned(),
            // CHATHISTORY pages (§20.3), as /history's (§16.3).
            format!("CHATHISTORY={}", tagarela_parser::limits::HISTORY_PAGE_MAX),
            // LIST's filters: masks, !masks, topic ages, member counts.
            "ELIST=MNTU".to_owned(),
            "KICKLEN=300".to_owned(),
            "LINELEN=512".to_owned(),
            format!("MAXLIST=b:{BANS_MAX}"),
            "MODES=1".to_owned(),
            "MSGREFTYPES=msgid,timestamp".to_owned(),
            format!("MONITOR={}", crate::wire::irc::front::MONITOR_MAX),
            "NETWORK=Tagarela".to_owned(),
            format!("NICKLEN={}", NAME_MAX * 4),
            "PREFIX=(ov)@+".to_owned(),
            format!(
                "TARGMAX=JOIN:{ROOM_TARGETS},KICK:{},NAMES:{ROOM_TARGETS},NOTICE:{MESSAGE_TARGETS},PART:{ROOM_TARGETS},PRIVMSG:{MESSAGE_TARGETS},WHOIS:1",
                crate::wire::irc::front::KICK_TARGETS
            ),
            "TOPICLEN=300".to_owned(),
            format!("USERLEN={}", crate::wire::irc::text::USER_MAX),
            "UTF8ONLY".to_owned(),
            "WHOX".to_owned(),
        ];
        let motd = motd.unwrap_or_else(|| {
            vec![
                "Welcome to Tagarela, the chat this IRC port opens onto.".to_owned(),
                format!("Most people are in {default_room}: /join {default_room}"),
                "Names are Unicode (letters, digits, _ - .) and cannot change while you are here."
                    .to_owned(),
            ]
        });
        IrcIdentity {
            name: name.to_owned(),
            version: format!("tagarela-{}", env!("CARGO_PKG_VERSION")),
            created: {
                let mut at = Vec::with_capacity(24);
                crate::event::wall_clock().write(&mut at);
                String::from_utf8_lossy(&at).into_owned()
            },
            isupport,
            motd,
            operators,
        }
    }
}
