//! The web door's WebSocket unframer (spec §21.1): any octets, read in
//! any pieces by either side, are refused or read; nothing panics, an
//! output one octet longer than the input takes it all, and a stream
//! read in pieces gives the lines it gives read whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagarela_parser::websocket::{Reader, Unframer};

fuzz_target!(|input: (bool, Vec<u8>, Vec<u8>)| {
    let (server, sizes, data) = input;
    let reader = if server { Reader::Server } else { Reader::Client };
    // Read whole.
    let mut whole = Unframer::new(reader);
    let mut out = vec![0; data.len() + 1];
    let Ok(done) = whole.unframe(&data, &mut out) else {
        return;
    };
    assert_eq!(done.consumed, data.len());
    let expected = &out[..done.written];
    // Read in the pieces `sizes` says.
    let mut pieces = Unframer::new(reader);
    let mut got = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = usize::from(sizes.get(i).copied().unwrap_or(255)).max(1).min(data.len() - at);
        i += 1;
        let mut buf = vec![0; n + 1];
        let done = pieces.unframe(&data[at..at + n], &mut buf).expect("read whole, read in pieces");
        assert_eq!(done.consumed, n);
        got.extend_from_slice(&buf[..done.written]);
        at += n;
    }
    let mut last = [0u8; 1];
    if let Ok(done) = pieces.unframe(&[], &mut last) {
        got.extend_from_slice(&last[..done.written]);
    }
    assert_eq!(got, expected);
});
