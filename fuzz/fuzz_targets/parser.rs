//! `cargo fuzz run parser`: arbitrary bytes through the framer and every
//! decoder. Nothing may panic, and whatever decodes must re-encode to one
//! line that decodes to the same value (decode-encode-decode stability).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagarela_parser::{ClientLine, Frame, HandshakeLine, LineFramer, ServerLine};

fuzz_target!(|data: &[u8]| {
    // First byte picks the chunk size, so split reads are exercised too.
    let (chunk, stream) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c).max(1), rest),
        None => return,
    };
    let mut framer = LineFramer::default();
    let mut buf: Vec<u8> = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let (used, frame) = framer.next(&buf);
            match frame {
                Frame::Line(line) => check_line(line),
                Frame::TooLong => {}
                Frame::Flood => return,
                Frame::NeedMore => {
                    buf.drain(..used);
                    assert!(buf.len() <= framer.max_line() + 1);
                    break;
                }
            }
            buf.drain(..used);
        }
    }
    // Server lines have a larger limit: decode the raw input as one too.
    check_server(stream);
});

fn check_line(line: &[u8]) {
    if let Ok(first) = ClientLine::parse(line) {
        let mut out = Vec::new();
        first.encode(&mut out).expect("a decoded client line re-encodes");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let second = ClientLine::parse(&out[..out.len() - 1]).expect("re-encoded client line decodes");
        assert_eq!(first, second);
    }
    let _ = HandshakeLine::parse(line);
    check_server(line);
}

fn check_server(line: &[u8]) {
    if let Ok(first) = ServerLine::parse(line) {
        let mut out = Vec::new();
        first.encode(&mut out).expect("a decoded server line re-encodes");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let second = ServerLine::parse(&out[..out.len() - 1]).expect("re-encoded server line decodes");
        assert_eq!(first, second);
    }
}
