//! IRC's message grammar (issue 23's front door): any line either fails
//! to decode or decodes to a message whose encoding decodes to it again
//! (decode-encode-decode), and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagarela_parser::irc::IrcMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(first) = IrcMessage::decode(data) {
        let again = IrcMessage::decode(first.encode().as_bytes());
        assert_eq!(again, Ok(first));
    }
});
