//! Protocol constants from spec §2.4 and §11. Values every v1 peer shares;
//! the configurable timeouts and queue bounds live in the server, not here.

/// `line-max`: the longest client line content, in octets, terminator excluded (§2.4).
pub const LINE_MAX: usize = 1024;

/// `server-line-max`: the longest server line content, in octets, terminator excluded (§2.4).
pub const SERVER_LINE_MAX: usize = 2048;

/// `flood-cap`: octets of one unterminated over-long line after which the
/// connection is closed with `BYE flood` (§2.4).
pub const FLOOD_CAP: usize = 65536;

/// `name-max`: the longest name, in Unicode scalar values after NFC (§3.1).
pub const NAME_MAX: usize = 32;

/// The longest `/ping` or `/pong` token, in octets (§1.2 `token`).
pub const TOKEN_MAX: usize = 32;

/// The protocol version sent in `HELLO` (§4.2).
pub const PROTOCOL_VERSION: u32 = 1;

/// `history-page-max`: the most messages one `/history` request returns
/// (§16.3).
pub const HISTORY_PAGE_MAX: usize = 200;
