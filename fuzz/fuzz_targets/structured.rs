//! `cargo fuzz run structured`: structure-aware, through `arbitrary`. Any
//! generated message encodes to exactly one line that decodes back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagarela_parser::{ClientLine, EncodeError, ServerLine};

#[derive(Debug, arbitrary::Arbitrary)]
enum Message {
    Client(ClientLine<'static>),
    Server(ServerLine<'static>),
}

fuzz_target!(|msg: Message| {
    let mut out = Vec::new();
    match msg {
        Message::Client(line) => match line.encode(&mut out) {
            Ok(()) => {
                assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
                let back =
                    ClientLine::parse(&out[..out.len() - 1]).expect("encoded client line decodes");
                assert_eq!(back, line);
            }
            Err(EncodeError::TooLong(_)) => assert!(out.is_empty()),
            Err(e) => panic!("valid client line refused: {e}"),
        },
        Message::Server(line) => match line.encode(&mut out) {
            Ok(()) => {
                assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
                let back =
                    ServerLine::parse(&out[..out.len() - 1]).expect("encoded server line decodes");
                assert_eq!(back, line);
            }
            Err(EncodeError::TooLong(_)) => assert!(out.is_empty()),
            Err(e) => panic!("valid server line refused: {e}"),
        },
    }
});
