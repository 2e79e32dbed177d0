//! Runs every vector in `spec/vectors/` (spec §14) through the decoders and
//! checks the expected value or error code. The vectors cover each row of
//! the edge-case tables in spec §6.

mod common;

use common::vectors::{Vector, load_all};
use tagarela_parser::{ClientLine, HandshakeLine, HistoryQuery, ServerLine};

/// Renders a decoded client line in the vector notation of §14.
fn render_client(line: &ClientLine<'_>) -> Vec<String> {
    let s = |v: &str| v.to_owned();
    match line {
        ClientLine::Empty => vec![s("empty")],
        ClientLine::Public(t) => vec![s("public"), s(t.as_str())],
        ClientLine::Private { to, text } => vec![s("private"), s(to.as_str()), s(text.as_str())],
        ClientLine::Quit(r) => std::iter::once(s("quit"))
            .chain(r.iter().map(|r| s(r.as_str())))
            .collect(),
        ClientLine::Who => vec![s("who")],
        ClientLine::Help => vec![s("help")],
        ClientLine::Ping(t) => std::iter::once(s("ping"))
            .chain(t.iter().map(|t| s(t.as_str())))
            .collect(),
        ClientLine::Pong(t) => std::iter::once(s("pong"))
            .chain(t.iter().map(|t| s(t.as_str())))
            .collect(),
        ClientLine::History(q) => render_query(s("history"), q),
        ClientLine::Join(rooms) => std::iter::once(s("join"))
            .chain(rooms.iter().map(|r| s(r.as_str())))
            .collect(),
        ClientLine::Part { room, text } => [s("part"), s(room.as_str())]
            .into_iter()
            .chain(text.iter().map(|t| s(t.as_str())))
            .collect(),
        ClientLine::Topic { room, text } => [s("topic"), s(room.as_str())]
            .into_iter()
            .chain(text.iter().map(|t| s(t.as_str())))
            .collect(),
        ClientLine::RoomMsg { room, text } => {
            vec![s("room-msg"), s(room.as_str()), s(text.as_str())]
        }
        ClientLine::RoomWho(room) => vec![s("who"), s(room.as_str())],
        ClientLine::Rooms => vec![s("rooms")],
        ClientLine::RoomHistory { room, query } => {
            render_query(format!("history {}", room.as_str()), query)
        }
        ClientLine::Kick { room, name, text } => [s("kick"), s(room.as_str()), s(name.as_str())]
            .into_iter()
            .chain(text.iter().map(|t| s(t.as_str())))
            .collect(),
        ClientLine::Ban { room, target } => vec![s("ban"), s(room.as_str()), target.to_string()],
        ClientLine::Unban { room, target } => {
            vec![s("unban"), s(room.as_str()), target.to_string()]
        }
        ClientLine::Op { room, name } => vec![s("op"), s(room.as_str()), s(name.as_str())],
    }
}

/// A `/history` request after its head (`history`, or `history #room`).
fn render_query(head: String, q: &HistoryQuery) -> Vec<String> {
    let s = |v: &str| v.to_owned();
    let mut out: Vec<String> = head.split(' ').map(s).collect();
    {
        {
            let count = |c: &Option<u16>| c.map(|c| c.to_string());
            let tail: Vec<String> = match q {
                HistoryQuery::Latest { count: c } => count(c).into_iter().collect(),
                HistoryQuery::Before { seq, count: c } => [s("before"), seq.to_string()]
                    .into_iter()
                    .chain(count(c))
                    .collect(),
                HistoryQuery::After { seq, count: c } => [s("after"), seq.to_string()]
                    .into_iter()
                    .chain(count(c))
                    .collect(),
            };
            out.extend(tail);
        }
    }
    out
}

fn check(v: &Vector) -> Result<(), String> {
    let got: Vec<String> = match v.context.as_str() {
        "client" => match ClientLine::parse(&v.input) {
            Ok(line) => render_client(&line),
            Err(e) => vec!["error".into(), e.code().to_string()],
        },
        "handshake" => match HandshakeLine::parse(&v.input) {
            Ok(HandshakeLine::Empty) => vec!["empty".into()],
            Ok(HandshakeLine::Name(n)) => vec!["name".into(), n.as_str().into()],
            Ok(HandshakeLine::Password(p)) => vec!["password".into(), p.as_str().into()],
            Ok(HandshakeLine::Resume { name, token, after }) => vec![
                "resume".into(),
                name.as_str().into(),
                token.as_str().into(),
                after.to_string(),
            ],
            Ok(HandshakeLine::Features(words)) => std::iter::once("features".to_owned())
                .chain(words.iter().map(|w| w.as_str().to_owned()))
                .collect(),
            Ok(HandshakeLine::Command(c)) => std::iter::once("command".to_owned())
                .chain(render_client(&c))
                .collect(),
            Err(e) => vec!["error".into(), e.code().to_string()],
        },
        "server" => match ServerLine::parse(&v.input) {
            Ok(line) => {
                let mut out = Vec::new();
                line.encode(&mut out)
                    .map_err(|e| format!("re-encode failed: {e}"))?;
                if out[..out.len() - 1] == v.input[..] {
                    vec!["ok".into()]
                } else {
                    vec![
                        "re-encoded differently".into(),
                        String::from_utf8_lossy(&out).into_owned(),
                    ]
                }
            }
            Err(_) => vec!["reject".into()],
        },
        other => return Err(format!("unknown context {other}")),
    };
    if got == v.expected {
        Ok(())
    } else {
        Err(format!(
            "line {}: {:?}: expected {:?}, got {:?}",
            v.line_no,
            String::from_utf8_lossy(&v.input),
            v.expected,
            got
        ))
    }
}

#[test]
fn every_vector_passes() {
    let vectors = load_all();
    assert!(vectors.len() > 100, "vectors were not found");
    let failures: Vec<String> = vectors.iter().filter_map(|v| check(v).err()).collect();
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn client_lines_that_decode_also_re_encode_to_the_same_meaning() {
    for v in load_all().iter().filter(|v| v.context == "client") {
        let Ok(line) = ClientLine::parse(&v.input) else {
            continue;
        };
        let mut out = Vec::new();
        line.encode(&mut out)
            .unwrap_or_else(|e| panic!("line {}: {e}", v.line_no));
        assert_eq!(out.last(), Some(&b'\n'));
        let again = ClientLine::parse(&out[..out.len() - 1]).unwrap();
        assert_eq!(again, line, "line {}", v.line_no);
    }
}

#[test]
fn framing_rows_hit_the_framer() {
    use tagarela_parser::limits::{FLOOD_CAP, LINE_MAX};
    use tagarela_parser::{Frame, LineFramer};
    let mut f = LineFramer::default();
    // §6 row 25: CR LF ends a line like LF.
    assert_eq!(f.next(b"hi\r\n"), (4, Frame::Line(&b"hi"[..])));
    // Rows 29-31: exactly the limit passes; one octet more, even inside a
    // multi-byte character, is refused whole.
    let mut at_limit = "a".repeat(LINE_MAX).into_bytes();
    at_limit.extend_from_slice(b"\r\n");
    assert!(
        matches!(f.next(&at_limit), (n, Frame::Line(l)) if n == LINE_MAX + 2 && l.len() == LINE_MAX)
    );
    let mut over_ascii = "a".repeat(LINE_MAX + 1).into_bytes();
    over_ascii.push(b'\n');
    assert_eq!(f.next(&over_ascii), (LINE_MAX + 2, Frame::TooLong));
    let mut over = "a".repeat(LINE_MAX - 1).into_bytes();
    over.extend_from_slice("é\n".as_bytes());
    assert_eq!(f.next(&over), (LINE_MAX + 2, Frame::TooLong));
    // Row 32: more than flood-cap octets with no LF.
    let endless = vec![b'a'; FLOOD_CAP + 1];
    assert_eq!(f.next(&endless).1, Frame::Flood);
}
