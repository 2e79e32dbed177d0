//! Parse and encode throughput over a realistic mixed stream:
//! `cargo bench -p tagarela-parser`. divan prints bytes/s per benchmark.
//! The stream mixes what a busy room sends: mostly public chat of varied
//! length and script, some private messages, commands and errors.

#![allow(clippy::unwrap_used)] // benchmark fixtures are constants

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use tagarela_parser::{ClientLine, Frame, Framed, LineFramer, Name, ServerLine, Text, Timestamp};

fn main() {
    divan::main();
}

const PHRASES: &[&str] = &[
    "oi gente, alguém viu o jogo ontem?",
    "hello everyone",
    "lol",
    "Can someone explain how the ownership rules work when a struct holds a reference into a Vec that is later resized?",
    "小明今天不来上课了",
    "ok 👍",
    "Notebook_Mãe está online agora, podem mandar as fotos",
    "brb",
];

/// About 1 MiB of client lines, CR LF and LF terminated.
fn client_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < 1 << 20 {
        let phrase = PHRASES[i % PHRASES.len()];
        match i % 10 {
            0..=5 => out.extend_from_slice(phrase.as_bytes()),
            6 | 7 => out.extend_from_slice(format!("@user_{} {phrase}", i % 97).as_bytes()),
            8 => out.extend_from_slice(b"/ping 12345"),
            _ => out.extend_from_slice(if i % 20 == 9 {
                &b"/who"[..]
            } else {
                &b"@ oops"[..]
            }),
        }
        out.extend_from_slice(if i.is_multiple_of(3) { b"\r\n" } else { b"\n" });
        i += 1;
    }
    out
}

/// About 1 MiB of server lines, as a client receives them.
fn server_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < 1 << 20 {
        let at = Timestamp::from_unix_ms(1_795_262_400_000 + i).unwrap();
        let owned = format!("user_{}", i % 97);
        let from = Name::new(owned.as_str()).unwrap();
        let text = Text::new(PHRASES[i as usize % PHRASES.len()]).unwrap();
        let line = if i.is_multiple_of(5) {
            ServerLine::Priv {
                at,
                from,
                to: Name::new("alice").unwrap(),
                text,
            }
        } else {
            ServerLine::Msg { at, from, text }
        };
        line.encode(&mut out).unwrap();
        i += 1;
    }
    out
}

/// Frames, checks and decodes client lines from `reads`, as the server
/// does: whatever a read leaves unconsumed is carried into the next.
fn decode_client_reads<'a>(reads: impl Iterator<Item = &'a [u8]>) -> usize {
    let mut framer = LineFramer::default();
    let mut carry: Vec<u8> = Vec::new();
    let mut ok = 0usize;
    for read in reads {
        let data: &[u8] = if carry.is_empty() {
            read
        } else {
            carry.extend_from_slice(read);
            &carry
        };
        let mut lines = framer.lines(data);
        for framed in lines.by_ref() {
            if let Framed::Line(Ok(line)) = framed {
                ok += usize::from(ClientLine::parse_checked(line).is_ok());
            }
        }
        let rest = data[lines.consumed()..].to_vec();
        carry = rest;
    }
    ok
}

/// The server's path over the whole stream in one buffer: framing, content
/// checks a buffer at a time, client-line decoding.
#[divan::bench]
fn frame_and_decode_client_lines(bencher: Bencher) {
    let stream = client_stream();
    bencher
        .counter(BytesCount::of_slice(&stream))
        .bench(|| decode_client_reads(std::iter::once(black_box(&stream[..]))));
}

/// The same in 4 KiB reads, the size the server reads a socket with.
#[divan::bench]
fn frame_and_decode_client_lines_4k_reads(bencher: Bencher) {
    let stream = client_stream();
    bencher
        .counter(BytesCount::of_slice(&stream))
        .bench(|| decode_client_reads(black_box(&stream[..]).chunks(4096)));
}

/// Line by line: the framer, then each line's own content check and
/// decoding (the path taken when a buffer's run of lines fails its check).
#[divan::bench]
fn frame_and_decode_client_lines_one_by_one(bencher: Bencher) {
    let stream = client_stream();
    bencher.counter(BytesCount::of_slice(&stream)).bench(|| {
        let mut framer = LineFramer::default();
        let mut buf = black_box(&stream[..]);
        let mut ok = 0usize;
        loop {
            let (used, frame) = framer.next(buf);
            match frame {
                Frame::Line(line) => ok += usize::from(ClientLine::parse(line).is_ok()),
                Frame::TooLong | Frame::Flood => {}
                Frame::NeedMore => break,
            }
            buf = &buf[used..];
        }
        ok
    });
}

/// Framer plus server-line decoder, as the client runs them.
#[divan::bench]
fn frame_and_decode_server_lines(bencher: Bencher) {
    let stream = server_stream();
    bencher.counter(BytesCount::of_slice(&stream)).bench(|| {
        let mut framer = LineFramer::new(tagarela_parser::limits::SERVER_LINE_MAX, 1 << 20);
        let mut buf = black_box(&stream[..]);
        let mut ok = 0usize;
        loop {
            let (used, frame) = framer.next(buf);
            match frame {
                Frame::Line(line) => ok += usize::from(ServerLine::parse(line).is_ok()),
                Frame::TooLong | Frame::Flood => {}
                Frame::NeedMore => break,
            }
            buf = &buf[used..];
        }
        ok
    });
}

/// Encoding `MSG` lines, as the server does once per public message.
#[divan::bench]
fn encode_msg_lines(bencher: Bencher) {
    let from = Name::new("Notebook_Mãe").unwrap();
    let text = Text::new(PHRASES[0]).unwrap();
    let at = Timestamp::from_unix_ms(1_795_262_400_000).unwrap();
    let line = ServerLine::Msg { at, from, text };
    let mut probe = Vec::new();
    line.encode(&mut probe).unwrap();
    bencher
        .counter(BytesCount::new(probe.len() * 1000))
        .bench(|| {
            let mut out = Vec::with_capacity(probe.len() * 1000);
            for _ in 0..1000 {
                black_box(&line).encode(&mut out).unwrap();
            }
            out
        });
}
