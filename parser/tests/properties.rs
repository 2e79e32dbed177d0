//! Property tests for the codec (issue: parser properties). Each property
//! names the spec section it guards.

use proptest::collection::vec;
use proptest::prelude::*;
use tagarela_parser::content::check_line;
use tagarela_parser::limits::{FLOOD_CAP, LINE_MAX};
use tagarela_parser::{
    ByeReason, ClientLine, ContentError, ErrorCode, Frame, Framed, HandshakeLine, LeaveReason,
    LineFramer, Name, ServerLine, Text, Timestamp, Token,
};

// ---- strategies: every generated value is valid by construction ----------

fn name() -> impl Strategy<Value = Name<'static>> {
    "[\\p{L}\\p{N}_][\\p{L}\\p{N}\\p{M}_.-]{0,31}"
        .prop_filter_map("std and regex Unicode tables may differ", |s| {
            Name::new(s).ok()
        })
}

fn text() -> impl Strategy<Value = Text<'static>> {
    "[\\PC \u{202e}\u{200d}:@/]{0,80}".prop_map(|s| Text::new(s).expect("no controls"))
}

fn message() -> impl Strategy<Value = Text<'static>> {
    text().prop_filter("message text is not blank", |t| !t.is_blank())
}

fn token() -> impl Strategy<Value = Token<'static>> {
    "[!-9;-~]{1,32}".prop_map(|s| Token::new(s).expect("token chars"))
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0..=Timestamp::MAX.unix_ms()).prop_map(|ms| Timestamp::from_unix_ms(ms).expect("in range"))
}

fn client_line() -> impl Strategy<Value = ClientLine<'static>> {
    prop_oneof![
        Just(ClientLine::Empty),
        message().prop_map(ClientLine::Public),
        (name(), message()).prop_map(|(to, text)| ClientLine::Private { to, text }),
        proptest::option::of(message()).prop_map(ClientLine::Quit),
        Just(ClientLine::Who),
        Just(ClientLine::Help),
        proptest::option::of(token()).prop_map(ClientLine::Ping),
        proptest::option::of(token()).prop_map(ClientLine::Pong),
    ]
}

fn server_line() -> impl Strategy<Value = ServerLine<'static>> {
    prop_oneof![
        (any::<u32>(), text()).prop_map(|(version, text)| ServerLine::Hello { version, text }),
        (
            name(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(any::<u64>()),
            text()
        )
            .prop_map(|(name, online, line_max, name_max, seq, text)| {
                ServerLine::Welcome {
                    name,
                    online,
                    line_max,
                    name_max,
                    seq,
                    resume: None,
                    text,
                }
            }),
        (any::<u64>(), timestamp(), name()).prop_map(|(seq, at, name)| ServerLine::Seq {
            seq,
            event: Box::new(ServerLine::Join { at, name })
        }),
        (timestamp(), name()).prop_map(|(at, name)| ServerLine::Join { at, name }),
        (
            timestamp(),
            name(),
            proptest::sample::select(LeaveReason::ALL),
            proptest::option::of(text())
        )
            .prop_map(|(at, name, reason, text)| ServerLine::Leave {
                at,
                name,
                reason,
                text
            }),
        (timestamp(), name(), message()).prop_map(|(at, from, text)| ServerLine::Msg {
            at,
            from,
            text
        }),
        (timestamp(), name(), name(), message())
            .prop_map(|(at, from, to, text)| ServerLine::Priv { at, from, to, text }),
        vec(name(), 0..10).prop_map(|names| ServerLine::Who { names }),
        any::<u32>().prop_map(|count| ServerLine::WhoEnd { count }),
        proptest::option::of(token()).prop_map(|token| ServerLine::Pong { token }),
        token().prop_map(|token| ServerLine::Ping { token }),
        text().prop_map(|text| ServerLine::Help { text }),
        (
            proptest::sample::select(ErrorCode::ALL),
            proptest::option::of(name()),
            text()
        )
            .prop_map(|(code, name, text)| ServerLine::Err { code, name, text }),
        (proptest::sample::select(ByeReason::ALL), text())
            .prop_map(|(reason, text)| ServerLine::Bye { reason, text }),
    ]
}

/// Bytes that are mostly protocol-shaped: terminals, controls, UTF-8 pieces.
fn wire_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => proptest::sample::select(b"aZ0 _-.:@/\r\n".to_vec()),
        1 => proptest::sample::select(vec![0u8, 0x1b, 0x7f, 0xc2, 0x85, 0xc3, 0xa3, 0xe2, 0x80, 0xae, 0xff]),
        1 => any::<u8>(),
    ];
    vec(byte, 0..max)
}

/// `input` cut into reads of the given sizes, cycling through them.
fn reads<'a>(input: &'a [u8], chunks: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
    let mut sizes = chunks.iter().cycle();
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        Some(piece)
    })
}

/// Every frame the framer produces from `input`, delivered in the given
/// chunk sizes, as owned values. Stops at the first `Flood`.
fn frames_in_chunks(input: &[u8], chunks: &[usize]) -> Vec<Result<Vec<u8>, &'static str>> {
    let mut framer = LineFramer::new(16, 64);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in reads(input, chunks) {
        buf.extend_from_slice(piece);
        loop {
            let (used, frame) = framer.next(&buf);
            let item = match frame {
                Frame::Line(l) => Ok(l.to_vec()),
                Frame::TooLong => Err("too-long"),
                Frame::Flood => Err("flood"),
                Frame::NeedMore => Err("more"),
            };
            buf.drain(..used);
            match item {
                Err("more") => {
                    // Between reads the caller holds at most max + 1 octets.
                    assert!(buf.len() <= 17, "buffer held {}", buf.len());
                    break;
                }
                Err("flood") => {
                    out.push(item);
                    return out;
                }
                other => out.push(other),
            }
        }
    }
    out
}

/// One frame with its content check, as owned values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Checked {
    Line(Result<String, ContentError>),
    TooLong,
    Flood,
}

/// What a reader sees over `input` split into reads of the given sizes,
/// either through `LineFramer::lines` (whole buffer checked at once) or
/// line by line (`next`, then `check_line`). Stops at the first flood.
fn checked_in_chunks(input: &[u8], chunks: &[usize], whole_buffer: bool) -> Vec<Checked> {
    let mut framer = LineFramer::new(16, 64);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in reads(input, chunks) {
        buf.extend_from_slice(piece);
        if whole_buffer {
            let mut lines = framer.lines(&buf);
            for framed in lines.by_ref() {
                out.push(match framed {
                    Framed::Line(l) => Checked::Line(l.map(|l| l.as_str().to_owned())),
                    Framed::TooLong => Checked::TooLong,
                    Framed::Flood => Checked::Flood,
                });
            }
            let used = lines.consumed();
            buf.drain(..used);
        } else {
            loop {
                let (used, frame) = framer.next(&buf);
                let item = match frame {
                    Frame::Line(l) => Checked::Line(check_line(l).map(|l| l.as_str().to_owned())),
                    Frame::TooLong => Checked::TooLong,
                    Frame::Flood => Checked::Flood,
                    Frame::NeedMore => {
                        buf.drain(..used);
                        break;
                    }
                };
                buf.drain(..used);
                let flood = item == Checked::Flood;
                out.push(item);
                if flood {
                    break;
                }
            }
        }
        if out.last() == Some(&Checked::Flood) {
            break;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// §2.1, §2.5: checking a whole buffer of lines at once gives exactly
    /// what checking each line on its own gives, for any bytes and reads.
    #[test]
    fn buffer_checks_equal_line_checks(input in wire_bytes(400), chunks in vec(1usize..200, 1..8)) {
        prop_assert_eq!(
            checked_in_chunks(&input, &chunks, true),
            checked_in_chunks(&input, &chunks, false)
        );
    }

    /// §5: encode then decode gives back every client line.
    #[test]
    fn client_lines_round_trip(line in client_line()) {
        let mut out = Vec::new();
        match line.encode(&mut out) {
            Ok(()) => {
                prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
                prop_assert_eq!(out.last(), Some(&b'\n'));
                let back = ClientLine::parse(&out[..out.len() - 1]).map_err(|e| TestCaseError::fail(format!("{e}")))?;
                prop_assert_eq!(back, line);
            }
            // Only a `/say` escape can push a line past the limit.
            Err(e) => prop_assert!(matches!(e, tagarela_parser::EncodeError::TooLong(_)), "{e}"),
        }
    }

    /// §7, §12: encode then decode gives back every server line, as one line.
    #[test]
    fn server_lines_round_trip(line in server_line()) {
        let mut out = Vec::new();
        line.encode(&mut out).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let back = ServerLine::parse(&out[..out.len() - 1]).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(back, line);
    }

    /// Decode-encode-decode is stable for whatever client line parses.
    #[test]
    fn client_decode_encode_decode_is_stable(bytes in wire_bytes(80)) {
        if let Ok(first) = ClientLine::parse(&bytes) {
            let mut out = Vec::new();
            first.encode(&mut out).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let second = ClientLine::parse(&out[..out.len() - 1]).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(second, first);
        }
    }

    /// Decode-encode-decode is stable for whatever server line parses;
    /// encode-of-decode is byte-identical except for WELCOME's ignored
    /// extra parameters.
    #[test]
    fn server_decode_encode_decode_is_stable(line in server_line(), noise in wire_bytes(40), at in any::<prop::sample::Index>()) {
        let mut out = Vec::new();
        line.encode(&mut out).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        out.pop();
        let cut = at.index(out.len() + 1);
        let mut mutated = out[..cut].to_vec();
        mutated.extend_from_slice(&noise);
        if let Ok(first) = ServerLine::parse(&mutated) {
            let mut again = Vec::new();
            first.encode(&mut again).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let second = ServerLine::parse(&again[..again.len() - 1]).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(&second, &first);
            if !matches!(first, ServerLine::Welcome { .. }) {
                prop_assert_eq!(&again[..again.len() - 1], &mutated[..]);
            }
        }
    }

    /// §2.2, §2.4: any split of a stream into chunks, down to single bytes,
    /// gives the same frames, and the buffer stays bounded.
    #[test]
    fn chunking_does_not_change_frames(input in wire_bytes(400), chunks in vec(1usize..40, 1..20)) {
        let whole = frames_in_chunks(&input, &[input.len().max(1)]);
        prop_assert_eq!(frames_in_chunks(&input, &chunks), whole.clone());
        prop_assert_eq!(frames_in_chunks(&input, &[1]), whole);
    }

    /// Arbitrary bytes never panic any decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = ClientLine::parse(&bytes);
        let _ = HandshakeLine::parse(&bytes);
        let _ = ServerLine::parse(&bytes);
        let mut f = LineFramer::default();
        let _ = f.next(&bytes);
    }

    /// §2.4: a line of exactly `line-max` octets is accepted and one octet
    /// more is refused whole, also when a multi-byte character straddles the
    /// boundary; the following line is unaffected.
    #[test]
    fn limit_is_exact_with_multibyte_boundary(ch in "[aé小😀]", crlf in any::<bool>()) {
        let term: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let w = ch.len();
        let fill = |n: usize| "a".repeat(n);
        let exact = format!("{}{}", fill(LINE_MAX - w), ch);
        let over = format!("{}{}", fill(LINE_MAX - w + 1), ch);
        let mut stream = Vec::new();
        for l in [&exact, &over] {
            stream.extend_from_slice(l.as_bytes());
            stream.extend_from_slice(term);
        }
        stream.extend_from_slice(b"next\n");
        let mut f = LineFramer::default();
        let mut got = Vec::new();
        let mut buf = &stream[..];
        loop {
            let (used, frame) = f.next(buf);
            match frame {
                Frame::NeedMore => break,
                Frame::Line(l) => got.push(Some(l.to_vec())),
                Frame::TooLong => got.push(None),
                Frame::Flood => prop_assert!(false, "flood"),
            }
            buf = &buf[used..];
        }
        prop_assert_eq!(got, vec![Some(exact.clone().into_bytes()), None, Some(b"next".to_vec())]);
        prop_assert!(ClientLine::parse(exact.as_bytes()).is_ok());
    }
}

#[test]
fn flood_cap_closes_even_with_a_late_terminator() {
    let mut input = vec![b'x'; FLOOD_CAP + 1];
    input.push(b'\n');
    let mut f = LineFramer::default();
    assert_eq!(f.next(&input).1, Frame::Flood);
}
