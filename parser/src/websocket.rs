//! WebSocket frames (RFC 6455 §5) carrying Tagarela lines (spec §21.1),
//! I/O-free. An [`Unframer`] turns the octets a WebSocket delivers into
//! the octets of lines: each text message's payload, then LF. [`frame`]
//! makes one frame. The web door reads and writes with these, and so do
//! the programs that speak to it (the load generator), so both sides
//! frame alike.
//!
//! Nothing here allocates: what a frame header or a control frame leaves
//! unfinished between two reads is kept in small fixed arrays, so an idle
//! WebSocket costs its connection a few hundred octets. Never does I/O;
//! never looks at what a line says (that is the line framer's and the
//! parser's business, as on TCP).

use thiserror::Error;

/// What a frame is (RFC 6455 §5.2), among those Tagarela uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A text message, or its first fragment: a line.
    Text,
    /// A binary message: a line of IRC over WebSocket's
    /// `binary.ircv3.net`, its octets as they are.
    Binary,
    /// The closing handshake.
    Close,
    /// A ping, to be answered with a pong carrying its payload.
    Ping,
    /// The answer to a ping.
    Pong,
}

impl Opcode {
    fn bits(self) -> u8 {
        match self {
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }
}

/// The longest payload of a control frame (RFC 6455 §5.5).
pub const CONTROL_MAX: usize = 125;

/// Close codes (RFC 6455 §7.4.1) the door sends.
pub mod close_code {
    /// The purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// A frame broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A kind of message this side does not take (binary).
    pub const UNSUPPORTED: u16 = 1003;
    /// A text message that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
}

/// Why the octets read are not a WebSocket this side can go on reading.
/// Each is the end of the connection, with [`WsError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WsError {
    /// A reserved bit is set, and no extension was agreed that sets it.
    #[error("a frame with a reserved bit set")]
    Reserved,
    /// An opcode RFC 6455 does not define.
    #[error("a frame with an unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// A binary message: Tagarela lines are text messages (§21.1).
    #[error("a binary message: Tagarela lines are text messages")]
    Binary,
    /// A frame from a client that is not masked, or from a server that is.
    #[error("a frame masked wrongly for its side")]
    Masking,
    /// A control frame that is fragmented or longer than 125 octets.
    #[error("a control frame fragmented or longer than 125 octets")]
    Control,
    /// A continuation with no message begun, or a new message before the
    /// last one ended.
    #[error("a fragment out of order")]
    Fragment,
    /// A payload length with its top bit set.
    #[error("a payload length past 2^63")]
    Length,
    /// A text message that is not UTF-8, or a close reason that is not.
    #[error("a text message that is not UTF-8")]
    NotUtf8,
    /// A close frame of one octet, or with a code no one may send.
    #[error("a close frame with a bad code")]
    BadClose,
}

impl WsError {
    /// The close code to send before ending the connection.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::Binary => close_code::UNSUPPORTED,
            WsError::NotUtf8 => close_code::INVALID_PAYLOAD,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Which side reads: a server reads a client's frames, which must be
/// masked; a client reads a server's, which must not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The server's side.
    Server,
    /// A client's side.
    Client,
}

/// What one call of [`Unframer::unframe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unframed {
    /// Octets of the input used; all of them when the output had room
    /// for one more octet than the input (or the socket closed).
    pub consumed: usize,
    /// Octets of lines written to the output.
    pub written: usize,
}

/// Where in the stream of frames the next octet falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In a frame's header: this many of its octets are in `header`.
    Header(u8),
    /// In a frame's payload: this many octets are still to come.
    Payload(u64),
    /// A close frame came: nothing more is read.
    Closed,
}

/// Turns a WebSocket's octets into the octets of lines (a text message's
/// payload then LF), in as many pieces as they arrive. Answers nothing
/// itself: a ping's payload waits in [`Unframer::take_ping`], a close in
/// [`Unframer::closed`], for the caller to answer.
#[derive(Debug, Clone)]
pub struct Unframer {
    /// Whose frames are read: decides the masking required.
    reader: Reader,
    /// Where the next octet falls.
    phase: Phase,
    /// The header being read, when it came in pieces (at most 14 octets).
    header: [u8; 14],
    /// The frame's masking key (zero when unmasked).
    mask: [u8; 4],
    /// The frame's payload octets unmasked so far: where in `mask` the
    /// next octet's key is.
    mask_at: u8,
    /// The frame being read is a control frame: its payload goes into
    /// `control`, not to the output.
    control_opcode: Option<u8>,
    /// The frame being read ends its message (FIN).
    fin: bool,
    /// A text message is begun and not ended: a continuation may come.
    in_message: bool,
    /// Binary messages are lines too (IRC's `binary.ircv3.net`), their
    /// octets as they are; else a binary message is refused (1003).
    binary_ok: bool,
    /// The message being read is binary: its octets are not checked as
    /// UTF-8.
    binary: bool,
    /// A control frame's payload, as it arrives.
    control: [u8; CONTROL_MAX],
    /// Octets in `control`.
    control_len: u8,
    /// The latest ping's payload not yet taken (only the latest is
    /// answered, as RFC 6455 §5.5.3 allows, so a flood of pings costs
    /// one pong).
    ping: [u8; CONTROL_MAX],
    /// Octets in `ping`, when a ping waits.
    ping_len: Option<u8>,
    /// The first octets of a character whose rest is yet to come.
    utf8: [u8; 4],
    /// Octets in `utf8`.
    utf8_len: u8,
    /// A message ended when the output was full: its LF comes first next.
    lf_owed: bool,
    /// The close frame's code (None for one with no code), once it came.
    closed: Option<Option<u16>>,
}

impl Unframer {
    /// An unframer for `reader`'s side.
    pub fn new(reader: Reader) -> Unframer {
        Unframer {
            reader,
            phase: Phase::Header(0),
            header: [0; 14],
            mask: [0; 4],
            mask_at: 0,
            control_opcode: None,
            fin: false,
            in_message: false,
            binary_ok: false,
            binary: false,
            control: [0; CONTROL_MAX],
            control_len: 0,
            ping: [0; CONTROL_MAX],
            ping_len: None,
            utf8: [0; 4],
            utf8_len: 0,
            lf_owed: false,
            closed: None,
        }
    }

    /// From now on a binary message is a line as a text message is, its
    /// octets unchecked (IRC over WebSocket, `binary.ircv3.net`).
    pub fn accept_binary(&mut self) {
        self.binary_ok = true;
    }

    /// The latest ping's payload, once: the caller answers it with a pong.
    pub fn take_ping(&mut self) -> Option<&[u8]> {
        let len = self.ping_len.take()?;
        Some(&self.ping[..usize::from(len)])
    }

    /// Whether a ping waits for its pong.
    pub fn ping_waits(&self) -> bool {
        self.ping_len.is_some()
    }

    /// The peer's close, once it came: its code, if it gave one.
    pub fn closed(&self) -> Option<Option<u16>> {
        self.closed
    }

    /// Whether an LF is owed to the output (a message ended when it was
    /// full): call [`Unframer::unframe`] with no input to have it.
    pub fn lf_owed(&self) -> bool {
        self.lf_owed
    }

    /// Reads `input`, writing the lines' octets to `out`. Stops early only
    /// when `out` is full; an `out` one octet longer than `input` always
    /// takes everything. After a close frame the rest of the input is
    /// used and ignored.
    pub fn unframe(&mut self, input: &[u8], out: &mut [u8]) -> Result<Unframed, WsError> {
        let mut r = 0;
        let mut w = 0;
        loop {
            if self.lf_owed {
                if w == out.len() {
                    // The output is full: nothing more is read until the
                    // LF is given (a message ending next must owe its own).
                    break;
                }
                out[w] = b'\n';
                w += 1;
                self.lf_owed = false;
            }
            if r == input.len() {
                break;
            }
            match self.phase {
                Phase::Closed => r = input.len(),
                Phase::Header(have) => {
                    let have = usize::from(have);
                    let need = header_len(&self.header[..have], input.get(r..).unwrap_or_default());
                    let take = (need - have).min(input.len() - r);
                    self.header[have..have + take].copy_from_slice(&input[r..r + take]);
                    r += take;
                    if have + take < need {
                        self.phase = Phase::Header((have + take) as u8);
                    } else {
                        self.start_frame(need)?;
                    }
                }
                Phase::Payload(left) => {
                    let available = input.len() - r;
                    let mut take = usize::try_from(left).unwrap_or(usize::MAX).min(available);
                    if self.control_opcode.is_some() {
                        let at = usize::from(self.control_len);
                        let piece = &mut self.control[at..at + take];
                        piece.copy_from_slice(&input[r..r + take]);
                        unmask(piece, self.mask, &mut self.mask_at);
                        self.control_len += take as u8;
                    } else {
                        // A line's octets wait behind an owed LF: the
                        // output is full.
                        take = if self.lf_owed {
                            0
                        } else {
                            take.min(out.len() - w)
                        };
                        if take == 0 {
                            break;
                        }
                        let piece = &mut out[w..w + take];
                        piece.copy_from_slice(&input[r..r + take]);
                        unmask(piece, self.mask, &mut self.mask_at);
                        if !self.binary {
                            self.check_utf8(w, out, take)?;
                        }
                        w += take;
                    }
                    r += take;
                    let left = left - take as u64;
                    self.phase = Phase::Payload(left);
                    if left == 0 {
                        self.end_frame()?;
                    }
                }
            }
        }
        Ok(Unframed {
            consumed: r,
            written: w,
        })
    }

    /// The header in `self.header[..len]` is whole: checks it and starts
    /// the frame's payload.
    fn start_frame(&mut self, len: usize) -> Result<(), WsError> {
        let h = &self.header[..len];
        let fin = h[0] & 0x80 != 0;
        if h[0] & 0x70 != 0 {
            return Err(WsError::Reserved);
        }
        let opcode = h[0] & 0x0F;
        let masked = h[1] & 0x80 != 0;
        if masked != (self.reader == Reader::Server) {
            return Err(WsError::Masking);
        }
        let payload = match h[1] & 0x7F {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            short => u64::from(short),
        };
        if payload >> 63 != 0 {
            return Err(WsError::Length);
        }
        self.mask = [0; 4];
        if masked {
            self.mask.copy_from_slice(&h[len - 4..len]);
        }
        self.mask_at = 0;
        self.fin = fin;
        self.control_opcode = None;
        match opcode {
            0x0 if !self.in_message => return Err(WsError::Fragment),
            0x0 => {}
            0x1 | 0x2 if self.in_message => return Err(WsError::Fragment),
            0x1 => {
                self.in_message = true;
                self.binary = false;
            }
            0x2 if self.binary_ok => {
                self.in_message = true;
                self.binary = true;
            }
            0x2 => return Err(WsError::Binary),
            0x8..=0xA => {
                if !fin || payload > CONTROL_MAX as u64 {
                    return Err(WsError::Control);
                }
                self.control_opcode = Some(opcode);
                self.control_len = 0;
            }
            other => return Err(WsError::UnknownOpcode(other)),
        }
        self.phase = Phase::Payload(payload);
        if payload == 0 {
            self.end_frame()?;
        }
        Ok(())
    }

    /// A frame's payload is all read.
    fn end_frame(&mut self) -> Result<(), WsError> {
        self.phase = Phase::Header(0);
        match self.control_opcode.take() {
            Some(0x9) => {
                let len = usize::from(self.control_len);
                self.ping[..len].copy_from_slice(&self.control[..len]);
                self.ping_len = Some(self.control_len);
            }
            Some(0x8) => {
                self.closed = Some(close_payload(
                    &self.control[..usize::from(self.control_len)],
                )?);
                self.phase = Phase::Closed;
            }
            // A pong answers nothing here.
            Some(_) => {}
            None if self.fin => {
                if self.utf8_len != 0 {
                    return Err(WsError::NotUtf8);
                }
                self.in_message = false;
                self.lf_owed = true;
            }
            None => {}
        }
        Ok(())
    }

    /// Checks that `out[at..at + len]`, after what came before in the
    /// message, is UTF-8 so far (a character may be cut at its end).
    fn check_utf8(&mut self, at: usize, out: &[u8], len: usize) -> Result<(), WsError> {
        let mut new = &out[at..at + len];
        if self.utf8_len > 0 {
            // Finish the character begun before, octet by octet.
            let held = usize::from(self.utf8_len);
            let want = char_len(self.utf8[0]).ok_or(WsError::NotUtf8)?;
            let take = (want - held).min(new.len());
            self.utf8[held..held + take].copy_from_slice(&new[..take]);
            let have = held + take;
            new = &new[take..];
            match simdutf8::compat::from_utf8(&self.utf8[..have]) {
                Ok(_) => self.utf8_len = 0,
                Err(e) if e.error_len().is_none() => {
                    self.utf8_len = have as u8;
                    return Ok(());
                }
                Err(_) => return Err(WsError::NotUtf8),
            }
        }
        match simdutf8::compat::from_utf8(new) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &new[e.valid_up_to()..];
                self.utf8[..tail.len()].copy_from_slice(tail);
                self.utf8_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(WsError::NotUtf8),
        }
    }
}

/// How long a header is whose first octets are `have` then `more`
/// (2 until its second octet is known).
fn header_len(have: &[u8], more: &[u8]) -> usize {
    let Some(&second) = have.get(1).or_else(|| more.get(1 - have.len().min(1))) else {
        return 2;
    };
    let length = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + length + mask
}

/// How many octets the UTF-8 character led by `lead` has.
fn char_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// XORs `piece` with `mask`, starting at the key's octet `at` (kept
/// between pieces).
fn unmask(piece: &mut [u8], mask: [u8; 4], at: &mut u8) {
    if mask == [0; 4] {
        return;
    }
    let mut i = usize::from(*at);
    for b in piece.iter_mut() {
        *b ^= mask[i & 3];
        i += 1;
    }
    *at = (i & 3) as u8;
}

/// A close frame's code, if it has one (RFC 6455 §5.5.1, §7.4).
fn close_payload(payload: &[u8]) -> Result<Option<u16>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::BadClose),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let sendable = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !sendable {
                return Err(WsError::BadClose);
            }
            if simdutf8::basic::from_utf8(reason).is_err() {
                return Err(WsError::NotUtf8);
            }
            Ok(Some(code))
        }
    }
}

/// Appends one whole frame of `opcode` carrying `payload` to `out`,
/// masked with `mask` when given (a client's frames must be, a server's
/// must not be). A text frame's payload must be UTF-8 and a control
/// frame's at most [`CONTROL_MAX`] octets: the caller's to see to.
pub fn frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    let len = payload.len();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(0x80 | opcode.bits());
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        out.extend_from_slice(&key);
        // The key goes before the payload: rotate it into place.
        out[start..].rotate_right(4);
        let mut at = 0;
        unmask(&mut out[start + 4..], key, &mut at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unframe_all(u: &mut Unframer, input: &[u8]) -> Result<Vec<u8>, WsError> {
        let mut out = vec![0; input.len() + 1];
        let done = u.unframe(input, &mut out)?;
        assert_eq!(done.consumed, input.len());
        out.truncate(done.written);
        Ok(out)
    }

    #[test]
    fn rfc_6455_examples_read_as_lines() {
        // §5.7: a single-frame unmasked text message, and a masked one.
        let mut client = Unframer::new(Reader::Client);
        assert_eq!(
            unframe_all(&mut client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
            Ok(b"Hello\n".to_vec())
        );
        let mut server = Unframer::new(Reader::Server);
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(unframe_all(&mut server, &masked), Ok(b"Hello\n".to_vec()));
        // A fragmented unmasked text message.
        let mut client = Unframer::new(Reader::Client);
        let parts = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        assert_eq!(unframe_all(&mut client, &parts), Ok(b"Hello\n".to_vec()));
        // An unmasked ping: its payload waits for a pong.
        let mut client = Unframer::new(Reader::Client);
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(unframe_all(&mut client, &ping), Ok(Vec::new()));
        assert_eq!(client.take_ping(), Some(&b"Hello"[..]));
        assert_eq!(client.take_ping(), None);
    }

    #[test]
    fn frames_carry_their_length_as_rfc_6455_says() {
        let mut out = Vec::new();
        frame(&mut out, Opcode::Text, b"hi", None);
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        out.clear();
        frame(&mut out, Opcode::Text, &[b'a'; 300], None);
        assert_eq!(&out[..4], &[0x81, 126, 1, 44]);
        assert_eq!(out.len(), 4 + 300);
        out.clear();
        frame(
            &mut out,
            Opcode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn binary_messages_are_lines_once_accepted_unchecked() {
        let mut wire = Vec::new();
        frame(&mut wire, Opcode::Binary, b"PRIVMSG x :caf\xe9", None);
        frame(&mut wire, Opcode::Text, b"PING y", None);
        let mut u = Unframer::new(Reader::Client);
        assert_eq!(unframe_all(&mut u.clone(), &wire), Err(WsError::Binary));
        u.accept_binary();
        assert_eq!(
            unframe_all(&mut u, &wire),
            Ok(b"PRIVMSG x :caf\xe9\nPING y\n".to_vec())
        );
        // A text message is still checked.
        let mut bad = Vec::new();
        frame(&mut bad, Opcode::Text, b"caf\xe9", None);
        assert_eq!(unframe_all(&mut u, &bad), Err(WsError::NotUtf8));
    }

    #[test]
    fn what_breaks_the_protocol_is_refused_with_its_close_code() {
        let refused = |reader, bytes: &[u8]| {
            let mut u = Unframer::new(reader);
            unframe_all(&mut u, bytes).err()
        };
        // Unmasked from a client, masked from a server.
        assert_eq!(
            refused(Reader::Server, &[0x81, 0x01, b'a']),
            Some(WsError::Masking)
        );
        assert_eq!(
            refused(Reader::Client, &[0x81, 0x81, 0, 0, 0, 0, b'a']),
            Some(WsError::Masking)
        );
        assert_eq!(
            refused(Reader::Client, &[0x82, 0x00]),
            Some(WsError::Binary)
        );
        assert_eq!(WsError::Binary.close_code(), 1003);
        assert_eq!(
            refused(Reader::Client, &[0xC1, 0x00]),
            Some(WsError::Reserved)
        );
        assert_eq!(
            refused(Reader::Client, &[0x83, 0x00]),
            Some(WsError::UnknownOpcode(3))
        );
        assert_eq!(
            refused(Reader::Client, &[0x80, 0x00]),
            Some(WsError::Fragment)
        );
        assert_eq!(
            refused(Reader::Client, &[0x01, 0x00, 0x81, 0x00]),
            Some(WsError::Fragment)
        );
        assert_eq!(
            refused(Reader::Client, &[0x09, 0x00]),
            Some(WsError::Control)
        );
        assert_eq!(
            refused(Reader::Client, &[0x89, 126, 0, 126]),
            Some(WsError::Control)
        );
        let mut huge = vec![0x81, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(refused(Reader::Client, &huge), Some(WsError::Length));
        assert_eq!(
            refused(Reader::Client, &[0x81, 0x01, 0xFF]),
            Some(WsError::NotUtf8)
        );
        assert_eq!(WsError::NotUtf8.close_code(), 1007);
        // A character cut by the message's end.
        assert_eq!(
            refused(Reader::Client, &[0x81, 0x01, 0xC3]),
            Some(WsError::NotUtf8)
        );
        assert_eq!(
            refused(Reader::Client, &[0x88, 0x01, 0x03]),
            Some(WsError::BadClose)
        );
        assert_eq!(
            refused(Reader::Client, &[0x88, 0x02, 0x03, 0xED]),
            Some(WsError::BadClose)
        );
    }

    #[test]
    fn a_close_ends_the_reading() {
        let mut u = Unframer::new(Reader::Client);
        let input = [0x88, 0x02, 0x03, 0xE8, 0x81, 0x01, b'a'];
        assert_eq!(unframe_all(&mut u, &input), Ok(Vec::new()));
        assert_eq!(u.closed(), Some(Some(1000)));
    }

    #[test]
    fn an_empty_message_behind_a_full_output_keeps_its_own_lf() {
        let mut u = Unframer::new(Reader::Client);
        let input = [0x81, 2, b'h', b'i', 0x81, 0x00];
        let mut got = Vec::new();
        let mut at = 0;
        while at < input.len() || u.lf_owed() {
            let mut out = [0u8; 2];
            let Ok(done) = u.unframe(&input[at..], &mut out) else {
                panic!("a valid stream");
            };
            got.extend_from_slice(&out[..done.written]);
            at += done.consumed;
        }
        assert_eq!(got, b"hi\n\n");
    }

    #[test]
    fn a_full_output_owes_its_lf() {
        let mut u = Unframer::new(Reader::Client);
        let mut out = [0u8; 2];
        let done = u
            .unframe(&[0x81, 0x02, b'h', b'i'], &mut out)
            .unwrap_or(Unframed {
                consumed: 0,
                written: 0,
            });
        assert_eq!((done.consumed, done.written), (4, 2));
        assert!(u.lf_owed());
        let done = u.unframe(&[], &mut out).unwrap_or(Unframed {
            consumed: 0,
            written: 0,
        });
        assert_eq!((done.written, out[0]), (1, b'\n'));
    }

    /// A message as it goes on the wire: fragments, pings between them.
    #[derive(Debug, Clone)]
    struct Sent {
        line: String,
        cuts: Vec<usize>,
        ping_after: Vec<bool>,
    }

    fn sent() -> impl Strategy<Value = Sent> {
        (
            "[^\n]{0,300}",
            proptest::collection::vec(0usize..400, 0..4),
            proptest::collection::vec(any::<bool>(), 4),
        )
            .prop_map(|(line, cuts, ping_after)| Sent {
                line,
                cuts,
                ping_after,
            })
    }

    /// Frames `messages` as a peer would (fragments cut anywhere, even
    /// inside a character), masked when `mask` is given.
    fn wire(messages: &[Sent], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            let bytes = m.line.as_bytes();
            let mut cuts: Vec<usize> = m.cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts.into_iter().filter(|c| *c > 0 && *c < bytes.len()));
            bounds.push(bytes.len());
            let pieces: Vec<&[u8]> = bounds.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            for (i, piece) in pieces.iter().enumerate() {
                let mut f = Vec::new();
                frame(&mut f, Opcode::Text, piece, mask);
                if i > 0 {
                    f[0] &= 0xF0; // a continuation
                }
                if i + 1 < pieces.len() {
                    f[0] &= 0x7F; // not the last
                }
                out.extend_from_slice(&f);
                if m.ping_after[i % 4] {
                    frame(&mut out, Opcode::Ping, b"are you there", mask);
                }
            }
        }
        out
    }

    proptest! {
        /// Whatever the fragments, the masking and the reads' sizes, the
        /// lines come out whole and in order, each ended by LF.
        #[test]
        fn frames_round_trip_to_lines(
            messages in proptest::collection::vec(sent(), 0..8),
            key in any::<[u8; 4]>(),
            masked in any::<bool>(),
            reads in proptest::collection::vec(1usize..64, 1..16),
        ) {
            let mask = masked.then_some(key);
            let bytes = wire(&messages, mask);
            let reader = if masked { Reader::Server } else { Reader::Client };
            let mut u = Unframer::new(reader);
            let mut lines = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < bytes.len() {
                let n = reads[i % reads.len()].min(bytes.len() - at);
                i += 1;
                let mut out = vec![0; n + 1];
                let done = u.unframe(&bytes[at..at + n], &mut out);
                prop_assert!(done.is_ok(), "{done:?}");
                let done = done.unwrap_or(Unframed { consumed: 0, written: 0 });
                prop_assert_eq!(done.consumed, n);
                lines.extend_from_slice(&out[..done.written]);
                at += n;
            }
            let mut out = [0u8; 1];
            let done = u.unframe(&[], &mut out).unwrap_or(Unframed { consumed: 0, written: 0 });
            lines.extend_from_slice(&out[..done.written]);
            let mut expected = Vec::new();
            for m in &messages {
                expected.extend_from_slice(m.line.as_bytes());
                expected.push(b'\n');
            }
            prop_assert_eq!(lines, expected);
        }

        /// With outputs of any size, however short, what is not taken
        /// is given again and the lines come out the same as read whole.
        #[test]
        fn short_outputs_lose_nothing(
            messages in proptest::collection::vec(sent(), 0..6),
            outs in proptest::collection::vec(1usize..8, 1..8),
        ) {
            let bytes = wire(&messages, None);
            let mut u = Unframer::new(Reader::Client);
            let mut lines = Vec::new();
            let mut at = 0;
            let mut i = 0;
            // Each round reads what is left with an output of a few
            // octets, until all is read and no LF is owed.
            while at < bytes.len() || u.lf_owed() {
                let mut out = vec![0; outs[i % outs.len()]];
                i += 1;
                let done = u.unframe(&bytes[at..], &mut out);
                prop_assert!(done.is_ok(), "{done:?}");
                let done = done.unwrap_or(Unframed { consumed: 0, written: 0 });
                prop_assert!(done.consumed > 0 || done.written > 0 || at == bytes.len());
                lines.extend_from_slice(&out[..done.written]);
                at += done.consumed;
            }
            let mut expected = Vec::new();
            for m in &messages {
                expected.extend_from_slice(m.line.as_bytes());
                expected.push(b'\n');
            }
            prop_assert_eq!(lines, expected);
        }

        /// No input makes the unframer panic, and an output one octet
        /// longer than the input takes it all.
        #[test]
        fn any_octets_are_read_or_refused(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            server in any::<bool>(),
        ) {
            let mut u = Unframer::new(if server { Reader::Server } else { Reader::Client });
            let mut out = vec![0; bytes.len() + 1];
            if let Ok(done) = u.unframe(&bytes, &mut out) {
                prop_assert_eq!(done.consumed, bytes.len());
            }
        }
    }
}
