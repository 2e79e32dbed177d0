//! WHOX (spec §20.6): `WHO <mask> %<fields>[,<token>]` asks for chosen
//! fields in RPL_WHOSPCRPL (354) rather than the fixed 352. Parses the
//! request and lays one user's answer out in WHOX's fixed field order.
//! Text only: never touches a queue or the hub.

/// WHOX's fields, in the order they are always sent (whatever the order
/// asked): token, channel, user, IP, host, server, nick, flags, hops,
/// idle, account, op level, real name.
const ORDER: &str = "tcuihsnfdlaor";

/// A WHOX request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whox {
    /// The fields asked for, as letters of [`ORDER`] (unknown ones are
    /// ignored, as WHOX says).
    fields: Vec<char>,
    /// The token `t` echoes: 1 to 3 digits.
    token: String,
}

/// One user as a WHOX answer needs them.
#[derive(Debug, Clone, Copy)]
pub struct WhoxUser<'a> {
    /// The channel the answer is about, or `*`.
    pub channel: &'a str,
    /// `~user`.
    pub user: &'a str,
    /// The host shown.
    pub host: &'a str,
    /// This server's name.
    pub server: &'a str,
    /// The nick.
    pub nick: &'a str,
    /// `H` or `G`, then `@` for a channel operator.
    pub flags: &'a str,
    /// The real name.
    pub realname: &'a str,
}

impl Whox {
    /// The request in `WHO`'s second parameter, if it is one (`%...`).
    pub fn parse(param: &str) -> Option<Whox> {
        let rest = param.strip_prefix('%')?;
        let (fields, token) = rest.split_once(',').unwrap_or((rest, ""));
        let token: String = token
            .chars()
            .take_while(char::is_ascii_digit)
            .take(3)
            .collect();
        let token = if token.is_empty() {
            "0".to_owned()
        } else {
            token
        };
        Some(Whox {
            fields: ORDER.chars().filter(|c| fields.contains(*c)).collect(),
            token,
        })
    }

    /// The middle parameters of a 354 for `who` (all but the last, the
    /// real name, if asked for: it may hold spaces), and that last.
    pub fn answer(&self, who: &WhoxUser<'_>) -> (Vec<String>, Option<String>) {
        let mut middles = Vec::with_capacity(self.fields.len());
        let mut trailing = None;
        for field in &self.fields {
            let value = match field {
                't' => self.token.clone(),
                'c' => who.channel.to_owned(),
                'u' => who.user.to_owned(),
                // Addresses are never shown (§12).
                'i' => "255.255.255.255".to_owned(),
                'h' => who.host.to_owned(),
                's' => who.server.to_owned(),
                'n' => who.nick.to_owned(),
                'f' => who.flags.to_owned(),
                'd' => "0".to_owned(),
                // Idle time is not kept.
                'l' => "0".to_owned(),
                // There are no accounts.
                'a' => "0".to_owned(),
                'o' => "n/a".to_owned(),
                _ => {
                    trailing = Some(who.realname.to_owned());
                    continue;
                }
            };
            middles.push(value);
        }
        (middles, trailing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> WhoxUser<'static> {
        WhoxUser {
            channel: "#chan",
            user: "~ana",
            host: "tagarela",
            server: "irc.example",
            nick: "ana",
            flags: "H@",
            realname: "Ana Maria",
        }
    }

    #[test]
    fn fields_come_in_whox_order_whatever_was_asked() {
        let asked = Whox::parse("%rnt,42").unwrap();
        let (middles, trailing) = asked.answer(&user());
        assert_eq!(middles, ["42", "ana"]);
        assert_eq!(trailing.as_deref(), Some("Ana Maria"));
        let all = Whox::parse("%roaldfnshiuct,123").unwrap();
        let (middles, _) = all.answer(&user());
        assert_eq!(
            middles,
            [
                "123",
                "#chan",
                "~ana",
                "255.255.255.255",
                "tagarela",
                "irc.example",
                "ana",
                "H@",
                "0",
                "0",
                "0",
                "n/a"
            ]
        );
    }

    #[test]
    fn only_percent_requests_are_whox_and_tokens_are_digits() {
        assert!(Whox::parse("o").is_none());
        assert_eq!(Whox::parse("%n,12345").unwrap().token, "123");
        assert_eq!(Whox::parse("%n,x").unwrap().token, "0");
        assert_eq!(Whox::parse("%zzn").unwrap().fields, ['n']);
    }
}
