//! Unit tests of `local`, beside the code so that it reads in one piece.

use super::*;
use crate::hub::Clash;
use crate::hub::event_log::MISSED_BYTES_MAX;
use crate::hub::{Registration, Said};
use tagarela_parser::{LeaveReason, Text};

use crate::hub::seen::Seen;

fn name(s: &str) -> Name<'static> {
    Name::normalize(s).unwrap_or_else(|_| unreachable!())
}

fn text(s: &str) -> Text<'static> {
    Text::new(s.to_owned()).unwrap_or_else(|_| unreachable!())
}

#[test]
fn events_are_numbered_and_delivered_in_order_with_the_join_first() {
    let hub = LocalHub::new();
    let alice = Arc::new(Seen::default());
    let bob = Arc::new(Seen::default());
    let a = hub
        .claim_now(&name("alice"), alice.clone(), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let b = hub
        .claim_now(&name("bob"), bob.clone(), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    assert_eq!(b.join.as_ref().map(|j| j.seq), Some(Seq(2)));
    assert!(
        hub.publish(&b.registration, Said::Public(text("hi")))
            .is_ok()
    );
    hub.publish(
        &a.registration,
        Said::Private {
            to: &name("BOB"),
            text: text("psst"),
        },
    )
    .unwrap_or_else(|_| unreachable!());
    hub.release(&b.registration, LeaveReason::Quit.into());
    assert_eq!(
        alice.taken(),
        [
            (2, "join bob".to_owned()),
            (3, "bob: hi".to_owned()),
            (4, "alice->bob: psst".to_owned()),
            (5, "leave bob quit".to_owned()),
        ]
    );
    assert_eq!(bob.taken(), [(4, "alice->bob: psst".to_owned())]);
    assert!(
        hub.release(&b.registration, LeaveReason::Quit.into())
            .is_none()
    );
}

/// The welcome is queued under the hub's lock before the newcomer is a
/// member, so no event can reach it first (review finding: it used to
/// be queued after `claim` returned, when another sender's message
/// could already have arrived).
#[test]
fn the_welcome_is_queued_before_the_newcomer_can_receive_anything() {
    let hub = LocalHub::new();
    let alice = Arc::new(Seen::default());
    let a = hub
        .claim_now(&name("alice"), alice.clone(), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let bob = Arc::new(Seen::default());
    let mut welcomed = None;
    let bob_seen = Arc::clone(&bob);
    hub.claim_now(&name("bob"), bob.clone(), true, |w: Welcome| {
        let online = w.online;
        welcomed = Some(online);
        bob_seen.note(format!("welcome {online}"));
    })
    .unwrap_or_else(|_| unreachable!());
    assert_eq!(welcomed, Some(2));
    assert!(
        hub.publish(&a.registration, Said::Public(text("hi")))
            .is_ok()
    );
    assert_eq!(
        bob.taken(),
        [(0, "welcome 2".to_owned()), (3, "alice: hi".to_owned())]
    );
}

/// A resume asking for more than the log holds gets what is there and
/// is told of the gap; a wrong token changes nothing.
#[test]
fn a_resume_older_than_the_log_says_so() {
    let hub = LocalHub::new();
    let mut token = None;
    let ana = Arc::new(Seen::default());
    hub.claim_now(&name("ana"), ana.clone(), true, |w: Welcome| {
        token = w.token
    })
    .unwrap_or_else(|_| unreachable!());
    let token = token.unwrap_or_else(|| unreachable!()).hex();
    let bia = hub
        .claim_now(&name("bia"), Arc::new(Seen::default()), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    for n in 0..LOG_MAX + 10 {
        assert!(
            hub.publish(&bia.registration, Said::Public(text(&format!("m{n}"))))
                .is_ok()
        );
    }
    let wrong = hub.resume_now(&name("ana"), "0", Seq(1), Arc::new(Seen::default()), |_| {});
    assert_eq!(wrong.err(), Some(Refusal::Token));
    let mut missed = None;
    let again = Arc::new(Seen::default());
    let resumed = hub
        .resume_now(&name("ana"), &token, Seq(1), again, |w: Welcome| {
            missed = w.missed;
        })
        .unwrap_or_else(|_| unreachable!());
    assert!(resumed.join.is_none(), "still held: no join");
    let missed = missed.unwrap_or_else(|| unreachable!());
    assert!(missed.gap);
    // Bounded in octets, keeping the newest.
    let bytes: usize = missed.events.iter().map(|e| e.approx_len()).sum();
    assert!(bytes <= MISSED_BYTES_MAX && bytes > MISSED_BYTES_MAX - 200);
    assert_eq!(
        missed.events.last().map(|e| e.seq.0),
        Some(hub.lock().hall.last_seq().0)
    );
    // Review finding: the replaced registration could still speak.
    let a_key = resumed.registration.key.clone();
    assert!(
        hub.publish(
            &Registration {
                key: a_key.clone(),
                id: RegId(1)
            },
            Said::Public(text("ghost"))
        )
        .is_err()
    );
    assert!(
        hub.publish(
            &Registration {
                key: a_key.clone(),
                id: RegId(1)
            },
            Said::Private {
                to: &name("bia"),
                text: text("ghost")
            }
        )
        .is_err()
    );
    assert!(
        hub.publish(
            &Registration {
                key: a_key.clone(),
                id: resumed.registration.id
            },
            Said::Public(text("me"))
        )
        .is_ok()
    );
    // The first registration's release is no longer the name's.
    assert!(
        hub.release(
            &Registration {
                key: resumed.registration.key.clone(),
                id: RegId(1)
            },
            LeaveReason::Lost.into()
        )
        .is_none()
    );
    assert!(
        hub.release(&resumed.registration, LeaveReason::Lost.into())
            .is_some()
    );
}

/// A number above every number given is taken as the last one: the
/// client is told where it really is, not its own number back (it
/// would then wait above reality and skip what comes next, §16.6).
#[test]
fn a_resume_from_beyond_the_last_number_starts_at_the_last_number() {
    let hub = LocalHub::new();
    let mut token = None;
    let a = hub
        .claim_now(
            &name("ana"),
            Arc::new(Seen::default()),
            true,
            |w: Welcome| token = w.token,
        )
        .unwrap_or_else(|_| unreachable!());
    let token = token.unwrap_or_else(|| unreachable!()).hex();
    let mut seen = None;
    hub.resume_now(
        &name("ana"),
        &token,
        Seq(u64::MAX),
        Arc::new(Seen::default()),
        |w: Welcome| seen = Some((w.seq, w.missed.map(|m| (m.events.len(), m.gap)))),
    )
    .unwrap_or_else(|_| unreachable!());
    let last = hub.lock().hall.last_seq();
    assert_eq!(seen, Some((last, Some((0, false)))));
    let _ = a;
}

/// Review finding: a later holder of a name must never get an
/// earlier holder's private messages by resuming with an old number.
#[test]
fn a_resume_never_reaches_back_before_its_own_holding() {
    let hub = LocalHub::new();
    let carol = hub
        .claim_now(&name("ana"), Arc::new(Seen::default()), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let bob = hub
        .claim_now(&name("bob"), Arc::new(Seen::default()), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    hub.publish(
        &bob.registration,
        Said::Private {
            to: &name("ana"),
            text: text("for carol"),
        },
    )
    .unwrap_or_else(|_| unreachable!());
    hub.release(&carol.registration, LeaveReason::Quit.into());
    let mut token = None;
    let mallory = hub
        .claim_now(
            &name("ana"),
            Arc::new(Seen::default()),
            true,
            |w: Welcome| {
                token = w.token;
            },
        )
        .unwrap_or_else(|_| unreachable!());
    let token = token.unwrap_or_else(|| unreachable!()).hex();
    assert!(
        hub.publish(&bob.registration, Said::Public(text("hello mallory")))
            .is_ok()
    );
    hub.release(&mallory.registration, LeaveReason::Lost.into());
    let mut missed = None;
    hub.resume_now(
        &name("ana"),
        &token,
        Seq(0),
        Arc::new(Seen::default()),
        |w: Welcome| {
            missed = w.missed;
        },
    )
    .unwrap_or_else(|_| unreachable!());
    let texts: Vec<String> = missed
        .unwrap_or_else(|| unreachable!())
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Public { text, .. } | EventKind::Private { text, .. } => text.to_string(),
            _ => String::new(),
        })
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(texts, ["hello mallory"]);
}

/// Guarantee 5: while others talk, a newcomer's backlog and what it
/// then receives live hold every message exactly once, in order.
#[test]
fn a_backlog_and_live_delivery_neither_overlap_nor_leave_a_gap() {
    let retention = crate::store::history::Retention {
        messages: 100_000,
        age: None,
    };
    let loaded = Loaded {
        next_seq: 1,
        messages: Vec::new(),
        rooms: Vec::new(),
    };
    let hub = Arc::new(LocalHub::with_history(
        Arc::default(),
        loaded,
        Recent::new(retention),
        usize::MAX,
        crate::hub::room::RoomSettings::default(),
    ));
    let talkers: Vec<_> = (0..2)
        .map(|i| {
            let hub = Arc::clone(&hub);
            std::thread::spawn(move || {
                let me = hub
                    .claim_now(
                        &name(&format!("t{i}")),
                        Arc::new(Seen::default()),
                        true,
                        |_| {},
                    )
                    .unwrap_or_else(|_| unreachable!());
                for n in 0..2000 {
                    assert!(
                        hub.publish(&me.registration, Said::Public(text(&format!("{i}-{n}"))))
                            .is_ok()
                    );
                }
            })
        })
        .collect();
    let newcomer = Arc::new(Seen::default());
    let mut backlog = Vec::new();
    // Joins while the talkers are (very likely) mid-way.
    std::thread::yield_now();
    hub.claim_now(&name("late"), newcomer.clone(), true, |w: Welcome| {
        backlog = w.entered.and_then(|e| e.backlog).unwrap_or_default();
    })
    .unwrap_or_else(|_| unreachable!());
    for t in talkers {
        t.join().unwrap_or_else(|_| unreachable!());
    }
    let mut seen: Vec<u64> = backlog.iter().map(|e| e.seq.0).collect();
    seen.extend(
        newcomer
            .taken()
            .into_iter()
            .filter(|(_, line)| !line.starts_with("join "))
            .map(|(seq, _)| seq),
    );
    let expected: Vec<u64> = {
        let r = hub.lock();
        let recent = r.hall.default_recent().unwrap_or_else(|| unreachable!());
        recent.latest(usize::MAX).iter().map(|e| e.seq.0).collect()
    };
    assert_eq!(expected.len(), 4000);
    assert_eq!(
        seen, expected,
        "backlog then live: every message once, in order"
    );
    let page = hub
        .history(&HistoryQuery::Latest { count: None }, usize::MAX)
        .unwrap_or_default();
    assert_eq!(page.len(), tagarela_parser::limits::HISTORY_PAGE_MAX);
}

/// Spec §18: from crowd-size on, joins and leaves are counted into
/// one notice, sent at the tick or just before the next public
/// message, whichever comes first; below it they are lines again.
#[test]
fn a_crowded_room_sums_up_joins_and_leaves() {
    let hub = LocalHub::new().crowded_from(2);
    let ana = Arc::new(Seen::default());
    let a = hub
        .claim_now(&name("ana"), ana.clone(), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let bia = Arc::new(Seen::default());
    let b = hub
        .claim_now(&name("bia"), bia.clone(), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let c = hub
        .claim_now(&name("caio"), Arc::new(Seen::default()), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    assert_eq!(ana.taken(), [], "counted, not sent");
    hub.tick();
    assert_eq!(ana.taken(), [(0, "crowd 3 +2 -0 +bia +caio".to_owned())]);
    assert_eq!(bia.taken(), [(0, "crowd 3 +2 -0 +bia +caio".to_owned())]);
    hub.tick();
    assert_eq!(ana.taken(), [], "nothing new: no notice");
    hub.release(&c.registration, LeaveReason::Quit.into());
    assert!(
        hub.publish(&b.registration, Said::Public(text("hi")))
            .is_ok()
    );
    assert_eq!(
        ana.taken(),
        [
            (0, "crowd 2 +0 -1 -caio".to_owned()),
            (5, "bia: hi".to_owned())
        ],
        "the notice comes before the next message"
    );
    hub.release(&b.registration, LeaveReason::Lost.into());
    hub.tick();
    assert_eq!(ana.taken(), [(0, "crowd 1 +0 -1 -bia".to_owned())]);
    let d = hub
        .claim_now(&name("dan"), Arc::new(Seen::default()), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    hub.release(&d.registration, LeaveReason::Quit.into());
    assert_eq!(ana.taken(), [], "two members: still a crowd");
    hub.tick();
    assert_eq!(ana.taken(), [(0, "crowd 1 +1 -1 +dan -dan".to_owned())]);
    assert_eq!(hub.who(), [name("ana")]);
    let _ = a;
}

/// Review finding: a notice sent just before a leave that is not
/// counted (the room fell below crowd-size) still counts the leaver
/// among those online, as it was until its leave.
#[test]
fn the_notice_before_a_leave_counts_the_leaver_online() {
    let hub = LocalHub::new().crowded_from(3);
    let ana = Arc::new(Seen::default());
    hub.claim_now(&name("ana"), ana.clone(), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let b = hub
        .claim_now(&name("bia"), Arc::new(Seen::default()), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    let c = hub
        .claim_now(&name("caio"), Arc::new(Seen::default()), false, |_| {})
        .unwrap_or_else(|_| unreachable!());
    hub.release(&c.registration, LeaveReason::Quit.into());
    ana.taken();
    hub.release(&b.registration, LeaveReason::Quit.into());
    assert_eq!(
        ana.taken(),
        [
            (0, "crowd 2 +1 -1 +caio -caio".to_owned()),
            (5, "leave bia quit".to_owned())
        ]
    );
}

#[test]
fn keys_and_look_alikes_are_refused_until_released() {
    let hub = LocalHub::new();
    let alice = hub
        .claim_now(&name("alice"), Arc::new(Seen::default()), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    assert_eq!(
        hub.claim_now(&name("ALICE"), Arc::new(Seen::default()), true, |_| {})
            .err(),
        Some(Refusal::Clash(Clash::Taken(name("alice"))))
    );
    assert_eq!(
        hub.claim_now(&name("aIice"), Arc::new(Seen::default()), true, |_| {})
            .err(),
        Some(Refusal::Clash(Clash::LooksLike(name("alice"))))
    );
    hub.release(&alice.registration, LeaveReason::Lost.into());
    assert!(
        hub.claim_now(&name("aIice"), Arc::new(Seen::default()), true, |_| {})
            .is_ok()
    );
}

#[test]
fn a_private_message_to_oneself_arrives_once_and_to_no_one_online_fails() {
    let hub = LocalHub::new();
    let alice = Arc::new(Seen::default());
    let a = hub
        .claim_now(&name("alice"), alice.clone(), true, |_| {})
        .unwrap_or_else(|_| unreachable!());
    hub.publish(
        &a.registration,
        Said::Private {
            to: &name("alice"),
            text: text("note"),
        },
    )
    .unwrap_or_else(|_| unreachable!());
    assert_eq!(alice.taken().len(), 1);
    assert_eq!(
        hub.publish(
            &a.registration,
            Said::Private {
                to: &name("zed"),
                text: text("x")
            }
        )
        .err(),
        Some(Unpublished::NotOnline)
    );
}

fn said(seen: &Seen) -> Vec<String> {
    seen.taken().into_iter().map(|(_, what)| what).collect()
}

/// §19.4: the rooms the history kept are there again after a restart,
/// with what was said in each, and nobody runs them; the default room's
/// kept under its name join its messages from before rooms.
#[test]
fn the_rooms_history_kept_are_there_again_after_a_restart() {
    let message = |seq: u64, room: Option<&str>, said: &str| {
        let at = tagarela_parser::Timestamp::from_unix_ms(crate::event::wall_clock().unix_ms())
            .unwrap_or(tagarela_parser::Timestamp::MAX);
        let kind = EventKind::Public {
            from: name("ana"),
            text: text(said),
        };
        let room = room.map(|r| RoomName::normalize(r).unwrap_or_else(|_| unreachable!()));
        Arc::new(Event::new_in(Seq(seq), at, room, kind))
    };
    let loaded = Loaded {
        next_seq: 10,
        messages: vec![message(1, None, "before rooms")],
        rooms: vec![
            (
                RoomName::normalize("#general").unwrap_or_else(|_| unreachable!()),
                vec![message(2, Some("#general"), "in general")],
            ),
            (
                RoomName::normalize("#homework").unwrap_or_else(|_| unreachable!()),
                vec![message(3, Some("#homework"), "due friday")],
            ),
        ],
    };
    let retention = crate::store::history::Retention {
        messages: 100,
        age: None,
    };
    let hub = LocalHub::with_history(
        Arc::default(),
        loaded,
        Recent::new(retention),
        50,
        crate::hub::room::RoomSettings::default(),
    );
    let query = HistoryQuery::Latest { count: None };
    let general = hub.history(&query, 50).unwrap_or_default();
    assert_eq!(general.len(), 2, "from before rooms and under its name");
    let homework = RoomName::normalize("#homework").unwrap_or_else(|_| unreachable!());
    let (shown, kept) = hub
        .history_in(&homework, &query, 50)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(shown, homework);
    assert_eq!(kept.map(|k| k.len()), Some(1));
    let listed: Vec<String> = hub.rooms(None).iter().map(|l| l.room.to_string()).collect();
    assert_eq!(listed, ["#general", "#homework"]);
    let ana = Arc::new(Seen::default());
    let me = hub
        .claim_now(&name("ana"), ana.clone(), false, |_| {})
        .unwrap_or_else(|e| panic!("{e:?}"));
    let here = std::net::IpAddr::from([127, 0, 0, 1]);
    hub.join_room(&me.registration, &homework, here, None)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        said(&ana).contains(&"entered #homework backlog 1".to_owned()),
        "the backlog is what was kept"
    );
    let topic = hub.topic(&me.registration, &homework, Some(text("mine")));
    assert_eq!(
        topic.err(),
        Some(RoomRefusal::NotOperator),
        "nobody runs it"
    );
}

/// Review finding (issue 22): a resume gives back the status of the rooms
/// its holding ran, not of a room made again under one's name after it
/// was forgotten: ana, back after a lost connection, does not run bob's
/// new #x.
#[test]
fn a_resume_does_not_make_its_holder_run_a_room_made_again_under_the_same_name() {
    let rooms = crate::hub::room::RoomSettings {
        max: 2,
        ..crate::hub::room::RoomSettings::default()
    };
    let hub = LocalHub::new().with_rooms(rooms);
    let here = std::net::IpAddr::from([127, 0, 0, 1]);
    let room = |r: &str| RoomName::normalize(r).unwrap_or_else(|_| unreachable!());
    let mut token = None;
    let ana = hub
        .claim_now(
            &name("ana"),
            Arc::new(Seen::default()),
            true,
            |w: Welcome| token = w.token,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
    let token = token.unwrap_or_else(|| unreachable!()).hex();
    hub.join_room(&ana.registration, &room("#x"), here, None)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        hub.release(&ana.registration, LeaveReason::Lost.into())
            .is_some()
    );
    let bob = hub
        .claim_now(&name("bob"), Arc::new(Seen::default()), false, |_| {})
        .unwrap_or_else(|e| panic!("{e:?}"));
    // #y takes the place of the empty #x; then #x, made again by bob,
    // takes the place of the empty #y.
    for (r, part) in [("#y", true), ("#x", false)] {
        hub.join_room(&bob.registration, &room(r), here, None)
            .unwrap_or_else(|e| panic!("{e:?}"));
        if part {
            hub.part_room(&bob.registration, &room(r), None)
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
    }
    let asked = Asked {
        token: &token,
        after: Seq(1),
        rooms: true,
    };
    hub.resume_with(&name("ana"), &asked, Arc::new(Seen::default()), |_| {})
        .unwrap_or_else(|e| panic!("{e:?}"));
    let r = hub.lock();
    let x = room("#x").key();
    assert_eq!(
        r.hall.is_in(&name("ana").key(), &x),
        Some(true),
        "back in #x"
    );
    assert!(r.hall.is_operator(&name("bob").key(), &x));
    assert!(
        !r.hall.is_operator(&name("ana").key(), &x),
        "bob's #x is not the #x ana ran"
    );
}
