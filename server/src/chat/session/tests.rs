//! Known-answer tests of the session: client lines in (decoded as the
//! connection decodes them), the replies they get out.

use super::*;
use crate::hub::local::LocalHub;
use crate::wire::outbox::Outbox;
use tagarela_parser::ServerLine;

fn session(peer: &str, over_tls: bool) -> (Session, Arc<Outbox>) {
    let outbox = Arc::new(Outbox::new(1 << 20, 1 << 20));
    let access = Some(Arc::new(Access::new("pw", false)));
    let peer: SocketAddr = peer.parse().unwrap_or_else(|_| unreachable!());
    let hub: Arc<dyn Hub> = Arc::new(LocalHub::new());
    let options = SessionOptions {
        peer,
        recording: false,
        access,
        over_tls,
        lobby: true,
    };
    let s = Session::new(hub, outbox.clone(), options);
    (s, outbox)
}

fn sent(outbox: &Outbox) -> String {
    let mut out = Vec::new();
    outbox.take(&mut out);
    outbox.release(out.len());
    String::from_utf8_lossy(&out).into_owned()
}

fn text(s: &str) -> Text<'_> {
    Text::new(s).unwrap_or_else(|_| unreachable!())
}

fn name(s: &str) -> Name<'static> {
    Name::normalize(s).unwrap_or_else(|_| unreachable!())
}

/// Known answers (issue 21): each line as a client sends it, decoded
/// as the connection decodes it, and the first line the session
/// queues in reply (`""`: none), or the bye it closes with. One room,
/// no password; `bob` is online.
#[test]
fn known_answers_from_line_to_reply() {
    let hub: Arc<dyn Hub> = Arc::new(LocalHub::new());
    let open = |port: u16| {
        let outbox = Arc::new(Outbox::new(1 << 20, 1 << 20));
        let options = SessionOptions {
            peer: SocketAddr::from(([127, 0, 0, 1], port)),
            recording: false,
            access: None,
            over_tls: false,
            lobby: true,
        };
        (
            Session::new(Arc::clone(&hub), outbox.clone(), options),
            outbox,
        )
    };
    let (mut bob_session, bob) = open(1);
    bob_session.handle(Intent::Register(name("bob")));
    let (mut s, ana) = open(2);
    let table: &[(&[u8], &str)] = &[
        // Before registration (§4.3).
        (b"/who", "ERR not-registered "),
        (b"/history before x", "ERR not-registered "),
        (b"/bob", "ERR unknown-command "),
        (b"bob smith", "ERR name-invalid "),
        (b"BOB", "ERR name-taken bob "),
        (b"/ping a b", "ERR bad-argument "),
        (b"/ping t", "PONG t"),
        (b"/features seq x", "FEATURES seq"),
        (b"/password x", ""),
        (b"", ""),
        (
            b"ana",
            "WELCOME ana online=2 line-max=1024 name-max=32 seq=",
        ),
        // Registered (§5, §6).
        (b"@", "ERR no-recipient "),
        (b"@bob", "ERR no-text "),
        (b"@b!b hi", "ERR no-such-user :"),
        (b"@zed hi", "ERR no-such-user zed "),
        (b"   ", "ERR no-text "),
        (b"/foo bar", "ERR unknown-command "),
        (b"/who x", "ERR bad-argument "),
        (b"/msg", "ERR no-recipient "),
        (b"/msg bob", "ERR no-text "),
        (b"/features seq", "ERR unknown-command "),
        (b"/history 201", "ERR bad-argument "),
        (b"a\x1bb", "ERR control-char "),
        (b"\xff", "ERR invalid-utf8 "),
        (b"@BOB  hi", "SEQ "),
        (b"hello", ""),
        (b"/history", "HISTEND 0"),
    ];
    for (line, want) in table {
        let decoded = crate::wire::tagarela::decode(
            tagarela_parser::content::check_line(line),
            s.is_registered(),
            s.speaks_rooms(),
        );
        assert_eq!(s.handle(decoded), Next::Continue, "{line:?}");
        let got = sent(&ana);
        let first = got.lines().next().unwrap_or("");
        assert!(
            first.starts_with(want) && (!want.is_empty() || got.is_empty()),
            "{:?}: expected `{want}...`, got `{got}`",
            String::from_utf8_lossy(line)
        );
    }
    assert!(sent(&bob).contains("MSG "), "bob got ana's public message");
    let quit = crate::wire::tagarela::decode(
        tagarela_parser::content::check_line(b"/quit bye"),
        true,
        false,
    );
    assert_eq!(s.handle(quit), Next::Close(ByeReason::Quit));
    assert!(sent(&bob).ends_with(" ana quit :bye\n"));
}

/// Spec §4.7: over plain text from another machine a password is
/// refused (review finding: every conformance peer is on loopback, so
/// only this test covers it).
#[test]
fn a_password_from_another_machine_needs_tls() {
    let (mut s, out) = session("192.0.2.1:4000", false);
    assert_eq!(s.handle(Intent::Password(text("pw"))), Next::Continue);
    crate::assert_line!(
        sent(&out),
        ServerLine::Err {
            code: ErrorCode::TlsRequired,
            ..
        }
    );
    s.handle(Intent::Register(name("ana")));
    crate::assert_line!(
        sent(&out),
        ServerLine::Err {
            code: ErrorCode::TlsRequired,
            ..
        }
    );
    assert!(!s.is_registered());

    let (mut s, out) = session("192.0.2.1:4000", true);
    s.handle(Intent::Password(text("pw")));
    assert_eq!(sent(&out), "");
    s.handle(Intent::Register(name("ana")));
    crate::assert_line!(sent(&out), ServerLine::Welcome { ref name, .. } if name.as_str() == "ana");

    let (mut s, out) = session("127.0.0.1:4000", false);
    s.handle(Intent::Register(name("ana")));
    crate::assert_line!(
        sent(&out),
        ServerLine::Err {
            code: ErrorCode::PasswordRequired,
            ..
        }
    );
    s.handle(Intent::Password(text("pw")));
    s.handle(Intent::Register(name("ana")));
    crate::assert_line!(sent(&out), ServerLine::Welcome { ref name, .. } if name.as_str() == "ana");
}
