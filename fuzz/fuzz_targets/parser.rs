//! `cargo fuzz run parser`: arbitrary bytes through the framer and every
//! decoder. Nothing may panic, whatever decodes must re-encode to one line
//! that decodes to the same value (decode-encode-decode stability), and the
//! whole-buffer path (`LineFramer::lines`) must see exactly what the
//! line-by-line path sees.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagarela_parser::content::check_line as check_content;
use tagarela_parser::{
    ClientLine, ContentError, Frame, Framed, HandshakeLine, LineFramer, ServerLine,
};

/// One frame and its content check, as owned values.
#[derive(Debug, PartialEq)]
enum Seen {
    Line(Result<String, ContentError>),
    TooLong,
    Flood,
}

fuzz_target!(|data: &[u8]| {
    // First byte picks the chunk size, so split reads are exercised too.
    let (chunk, stream) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c).max(1), rest),
        None => return,
    };
    let mut framer = LineFramer::default();
    let mut fast = LineFramer::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut fast_buf: Vec<u8> = Vec::new();
    let mut seen = Vec::new();
    let mut fast_seen = Vec::new();
    let mut flooded = false;
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        while !flooded {
            let (used, frame) = framer.next(&buf);
            match frame {
                Frame::Line(line) => {
                    check_line(line);
                    seen.push(Seen::Line(
                        check_content(line).map(|l| l.as_str().to_owned()),
                    ));
                }
                Frame::TooLong => seen.push(Seen::TooLong),
                Frame::Flood => {
                    seen.push(Seen::Flood);
                    flooded = true;
                }
                Frame::NeedMore => {
                    buf.drain(..used);
                    assert!(buf.len() <= framer.max_line() + 1);
                    break;
                }
            }
            buf.drain(..used);
        }
        fast_buf.extend_from_slice(piece);
        let mut lines = fast.lines(&fast_buf);
        for framed in lines.by_ref() {
            match framed {
                Framed::Line(line) => {
                    fast_seen.push(Seen::Line(line.map(|l| l.as_str().to_owned())));
                }
                Framed::TooLong => fast_seen.push(Seen::TooLong),
                Framed::Flood => fast_seen.push(Seen::Flood),
            }
        }
        let used = lines.consumed();
        fast_buf.drain(..used);
        assert_eq!(
            seen, fast_seen,
            "whole-buffer checks differ from line checks"
        );
        if flooded {
            return;
        }
    }
    // Server lines have a larger limit: decode the raw input as one too.
    check_server(stream);
});

fn check_line(line: &[u8]) {
    if let Ok(first) = ClientLine::parse(line) {
        let mut out = Vec::new();
        first
            .encode(&mut out)
            .expect("a decoded client line re-encodes");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let second =
            ClientLine::parse(&out[..out.len() - 1]).expect("re-encoded client line decodes");
        assert_eq!(first, second);
    }
    let _ = HandshakeLine::parse(line);
    check_server(line);
}

fn check_server(line: &[u8]) {
    if let Ok(first) = ServerLine::parse(line) {
        let mut out = Vec::new();
        first
            .encode(&mut out)
            .expect("a decoded server line re-encodes");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let second =
            ServerLine::parse(&out[..out.len() - 1]).expect("re-encoded server line decodes");
        assert_eq!(first, second);
    }
}
