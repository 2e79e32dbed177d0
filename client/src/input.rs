//! What a typed or piped line means to the client before it goes on the
//! wire. The wire protocol is designed to be typed (spec §5), so a line is
//! sent as it is, with one local alias: a line that is just `sair` leaves,
//! as it did in the seed programs (spec §5.4). Pure functions.

use std::time::Duration;

use tagarela_parser::ClientLine;

/// How long the client waits for `BYE` after asking to quit.
pub const QUIT_WAIT: Duration = Duration::from_secs(5);

/// The line to send for what the user typed.
pub fn to_wire(typed: &str) -> &str {
    if typed.trim().eq_ignore_ascii_case("sair") {
        "/quit"
    } else {
        typed
    }
}

/// True when sending `wire` asks the server to end the session.
pub fn is_quit(wire: &str) -> bool {
    matches!(ClientLine::parse(wire.as_bytes()), Ok(ClientLine::Quit(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sair_and_quit_aliases_leave() {
        assert_eq!(to_wire("sair"), "/quit");
        assert_eq!(to_wire("  SAIR "), "/quit");
        assert_eq!(to_wire("sair daqui"), "sair daqui");
        for q in ["/quit", "/QUIT bye", "/sair", "/exit", "/close"] {
            assert!(is_quit(to_wire(q)), "{q}");
        }
        assert!(!is_quit("quit"));
        assert!(!is_quit("/say /quit"));
    }
}
