//! The cluster channel's codec (spec §17.2): any payload either fails to
//! decode or decodes to a message whose encoding decodes to it again
//! (decode-encode-decode), and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagarela_parser::channel::ChannelMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(first) = ChannelMessage::decode(data) {
        let again = ChannelMessage::decode(&first.encode());
        assert_eq!(again, Ok(first));
    }
});
