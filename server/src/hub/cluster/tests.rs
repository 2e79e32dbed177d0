//! Unit tests of `cluster`, beside the code so that it reads in one piece.

use super::queue::QUEUE_MAX;
use super::*;
use crate::hub::{Registration, Said};
use tagarela_parser::{LeaveReason, Text};

use super::fixtures::*;
use crate::hub::seen::Seen;
use tagarela_parser::Timestamp;

/// A crowd notice is stamped with the latest event's time (Redis's
/// clock), never this node's: a node whose clock runs ahead must not
/// push the times of the events it shows next into its future.
#[test]
fn a_crowd_notice_takes_its_time_from_the_events_not_the_node() {
    let (hub, mut commands) = entered_crowded_from(2);
    let (ana, _) = joined(&hub, &mut commands, "ana", 11);
    hub.tick();
    assert_eq!(said(&ana), ["crowd 2 +1 -0 +ana"]);
    let at = |ms| Timestamp::from_unix_ms(ms);
    assert_eq!(
        ana.crowd_times(),
        [at(1000)].into_iter().flatten().collect::<Vec<_>>()
    );
    assert_eq!(
        hub.lock().hall.last_at(),
        at(1000),
        "the join's time, not now"
    );
    hub.apply(message("P|12|1500|n2|1|zoe|hi"))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(hub.lock().hall.last_at(), at(1500));
}

/// Issue 20, finding 3: the queue to Redis is bounded. Claims have a
/// bound of their own (the connection limit): past it a name is
/// answered `unavailable` and the node stays; only a release that
/// finds the queue full makes the node leave the cluster, rather than
/// wait or keep a name it meant to give up.
#[test]
fn the_queue_of_commands_is_bounded_and_only_a_lost_release_makes_the_node_leave() {
    let (hub, _commands) = ClusterHub::new(
        Arc::default(),
        Arc::new(Pressure::new()),
        None,
        0,
        false,
        0,
        1,
        crate::hub::room::RoomSettings::default(),
    );
    hub.enter("n1".into(), Snapshot::default());
    let ask = |who: &str| hub.claim(quiet(who), false);
    assert!(matches!(ask("ana"), Answer::Pending(_)));
    assert!(matches!(
        ask("bia"),
        Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)))
    ));
    assert!(
        !hub.take_overflow(),
        "a refused claim is no reason to leave"
    );
    let release = |i: usize| Command::Release {
        node: "n1".into(),
        reg: RegId(i as u64),
        key: name(&format!("r{i}")).key(),
        reason: LeaveReason::Lost,
        text: None,
    };
    let room = 2 * QUEUE_MAX + 4 + 64 - 1;
    for i in 0..room {
        assert!(hub.queue.send(release(i)), "room for {i}");
    }
    assert!(!hub.take_overflow());
    assert!(!hub.queue.send(release(room)));
    assert!(hub.take_overflow(), "the follow loop is told to leave");
}

#[test]
fn a_claim_is_answered_when_its_join_comes_back_and_others_see_it() {
    let (hub, mut commands) = entered();
    let ana = Arc::new(Seen::default());
    let (reg, mut answer) = claim(&hub, &mut commands, "ana", Arc::clone(&ana));
    assert!(answer.try_recv().is_err(), "nothing before the join");
    hub.apply(message(&format!("J|11|1000|n1|{reg}|ana|11")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    let claimed = answer.try_recv().unwrap_or_else(|e| panic!("{e}"));
    let claimed = claimed.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(claimed.registration.id, reg);
    assert_eq!(said(&ana), vec!["welcome ana 2"]);
    joined(&hub, &mut commands, "bia", 12);
    hub.apply(message("P|13|1000|n2|1|zoe|hi"))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(said(&ana), vec!["12 join bia", "13 zoe: hi"]);
    let mut who: Vec<String> = hub.who().iter().map(|n| n.to_string()).collect();
    who.sort();
    assert_eq!(who, vec!["ana", "bia", "zoe"]);
}

#[test]
fn a_skipped_number_is_a_gap_and_older_ones_are_ignored() {
    let (hub, _commands) = entered();
    assert!(hub.apply(message("P|9|1000|n2|1|zoe|old")).is_ok());
    assert_eq!(
        hub.apply(message("P|12|1000|n2|1|zoe|skipped")).err(),
        Some(Gap {
            expected: Seq(11),
            got: Seq(12)
        })
    );
}

#[test]
fn a_refused_claim_is_answered_with_its_clash() {
    let (hub, mut commands) = entered();
    let (reg, mut answer) = claim(&hub, &mut commands, "ana", Arc::default());
    let command = Command::Claim {
        node: "n1".into(),
        reg,
        name: name("ana"),
        token: String::new(),
    };
    hub.answered(&command, Verdict::Taken("ANA".into()));
    assert_eq!(
        answer.try_recv().ok().and_then(Result::err),
        Some(Refusal::Clash(Clash::Taken(name("ANA"))))
    );
    // The replica already shows zoe: refused without asking Redis.
    let answer = hub.claim(quiet("Zoe"), false);
    assert!(matches!(
        answer,
        Answer::Ready(Err(Refusal::Clash(Clash::Taken(_))))
    ));
}

#[test]
fn a_join_nobody_here_waits_for_is_given_up() {
    let (hub, mut commands) = entered();
    let (reg, answer) = claim(&hub, &mut commands, "ana", Arc::default());
    drop(answer);
    hub.apply(message(&format!("J|11|1000|n1|{reg}|ana|11")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert!(matches!(
        commands.try_recv(),
        Ok(Command::Release { reg: r, reason: LeaveReason::Lost, .. }) if r == reg
    ));
}

#[test]
fn a_name_moved_away_replaces_the_old_connection() {
    let (hub, mut commands) = entered();
    let (ana, reg) = joined(&hub, &mut commands, "ana", 11);
    hub.apply(message(&format!("M|11|0|n2|7|ana|11|n1|{reg}")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(said(&ana), vec!["replaced"]);
    // Its later lines and release are nobody's.
    assert_eq!(
        hub.publish(
            &Registration {
                key: name("ana").key().clone(),
                id: reg
            },
            Said::Public(Text::new("x".to_owned()).unwrap_or_else(|_| unreachable!()))
        )
        .err(),
        Some(Unpublished::NotHeld)
    );
    assert!(
        hub.release(
            &Registration {
                key: name("ana").key().clone(),
                id: reg
            },
            LeaveReason::Lost.into()
        )
        .is_none()
    );
}

#[test]
fn losing_the_cluster_closes_every_client_and_answers_every_claim() {
    let (hub, mut commands) = entered();
    let (ana, _) = joined(&hub, &mut commands, "ana", 11);
    let (_, mut waiting) = claim(&hub, &mut commands, "bia", Arc::default());
    hub.cut_off_if(&"n1".into(), "test");
    assert_eq!(said(&ana), vec!["cut off"]);
    assert!(matches!(
        waiting.try_recv(),
        Err(oneshot::error::TryRecvError::Closed)
    ));
    let answer = hub.claim(quiet("cai"), false);
    assert!(matches!(
        answer,
        Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)))
    ));
    assert!(hub.incarnation().is_none());
}

#[test]
fn a_name_reaped_while_served_here_is_cut_off() {
    let (hub, mut commands) = entered();
    let (ana, reg) = joined(&hub, &mut commands, "ana", 11);
    hub.apply(message(&format!("L|12|1000|n1|{reg}|ana|lost|")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(said(&ana), vec!["cut off"]);
}

/// Issue 21's review: a name Redis releases while this node serves it is
/// counted out of `registered` before anyone here sees its LEAVE, so a
/// scrape that follows the LEAVE never shows it still registered.
#[test]
fn a_reaped_name_is_counted_out_before_its_leave_is_seen() {
    /// A recipient that reads the gauge when a LEAVE reaches it, as a
    /// scrape right after would.
    #[derive(Debug)]
    struct Scrapes {
        metrics: Arc<Metrics>,
        at_leave: std::sync::Mutex<Vec<i64>>,
    }
    impl Recipient for Scrapes {
        fn deliver(&self, event: &Event) {
            if matches!(event.kind, EventKind::Leave { .. }) {
                let now = self.metrics.registered.get();
                self.at_leave
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(now);
            }
        }
        fn replaced(&self) {}
        fn cut_off(&self) {}
        fn killed(&self) {}
        fn undeliverable(&self, _: &Name<'static>) {}
        fn crowd(&self, _: &crate::hub::crowd::Notice) {}
        fn entered(&self, _: &crate::hub::Entered) {}
        fn room_refused(
            &self,
            _: &tagarela_parser::RoomName<'static>,
            _: &crate::hub::RoomRefusal,
        ) {
        }
        fn room_list(&self, _: &crate::hub::RoomList<'_>) {}
    }
    let (hub, mut commands) = entered();
    let (_ana, ana_reg) = joined(&hub, &mut commands, "ana", 11);
    let scrapes = Arc::new(Scrapes {
        metrics: Arc::clone(&hub.metrics),
        at_leave: std::sync::Mutex::default(),
    });
    let entrant = Entrant {
        name: name("bia"),
        peer: peer(),
        recipient: scrapes.clone(),
        welcome: Box::new(|_| {}),
        rooms: false,
        lobby: true,
    };
    let _answer = hub.claim(entrant, false);
    let Ok(Command::Claim { reg: bia_reg, .. }) = commands.try_recv() else {
        panic!("bia's claim goes to Redis");
    };
    hub.apply(message(&format!("J|12|1000|n1|{bia_reg}|bia|12")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(hub.metrics.registered.get(), 2);
    hub.apply(message(&format!("L|13|1000|n1|{ana_reg}|ana|lost|")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    let seen = scrapes
        .at_leave
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(seen, [1], "ana was counted out before bia saw her leave");
}

/// Issue 22: a room's events come from the channel like the default
/// room's: its maker runs it, its members on this node get its lines and
/// nobody else does, and the list of operators answers the one who
/// asked once Redis has the change.
#[test]
fn a_rooms_events_from_the_channel_reach_its_members_here_only() {
    let (hub, mut commands) = entered();
    let (ana, ana_reg) = joined(&hub, &mut commands, "ana", 11);
    let (bia, _) = joined(&hub, &mut commands, "bia", 12);
    ana.taken();
    hub.apply(message(&format!("E|13|1000|n1|{ana_reg}|ana|#club|1|")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(said(&ana), ["entered #club backlog 0"]);
    hub.apply(message("E|14|1000|n2|1|zoe|#club||"))
        .unwrap_or_else(|g| panic!("{g:?}"));
    hub.apply(message("P|15|1000|n2|1|zoe|in the club|#club"))
        .unwrap_or_else(|g| panic!("{g:?}"));
    hub.apply(message("T|16|1000|n1|1|ana|#club|ours"))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(
        said(&ana),
        [
            "14 #club join zoe",
            "15 #club zoe: in the club",
            "16 #club topic by ana: ours"
        ]
    );
    assert!(said(&bia).is_empty(), "bia is not in #club");
    let r = hub.lock();
    let club = RoomName::normalize("#club")
        .unwrap_or_else(|_| unreachable!())
        .key();
    assert!(r.hall.is_operator(&name("ana").key(), &club), "its maker");
    assert!(!r.hall.is_operator(&name("zoe").key(), &club));
    drop(r);
    // Not an event: it takes no number, and answers ana's /op.
    hub.apply(message(&format!("O|16|0|n1|{ana_reg}|zoe|#club")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    let answer = said(&ana);
    assert_eq!(answer.len(), 1);
    assert!(answer[0].starts_with("list Operators"), "{answer:?}");
    // The room's bans as Redis has them after ana's /ban: in force here,
    // and ana is answered with them.
    hub.apply(message(&format!(
        "B|16|0|n1|{ana_reg}|#club|Bob|10.0.0.0/8"
    )))
    .unwrap_or_else(|g| panic!("{g:?}"));
    let answer = said(&ana);
    assert!(answer[0].starts_with("list Bans"), "{answer:?}");
    let r = hub.lock();
    let refused = |ip: [u8; 4]| {
        r.hall.room(&club).is_some_and(|x| {
            x.refuses(
                &name("ana").key(),
                &crate::hub::shape::Shape::of_name(&name("ana")),
                Some(ip.into()),
            )
        })
    };
    assert!(refused([10, 1, 2, 3]) && !refused([11, 1, 2, 3]));
    drop(r);
    hub.apply(message("X|17|1000|n1|1|zoe|#club|kicked|out"))
        .unwrap_or_else(|g| panic!("{g:?}"));
    assert_eq!(said(&ana), ["17 #club leave zoe kicked"]);
}

/// Issue 22: the room's lines go to Redis unchecked by this node (its
/// copy may lag behind the client's own join), and what Redis refuses is
/// told to the client then.
#[test]
fn a_rooms_line_refused_by_redis_is_told_to_its_client() {
    let (hub, mut commands) = entered();
    let (ana, reg) = joined(&hub, &mut commands, "ana", 11);
    let me = Registration {
        key: name("ana").key(),
        id: reg,
    };
    let club = RoomName::normalize("#club").unwrap_or_else(|_| unreachable!());
    let from = peer().ip();
    assert!(matches!(
        hub.join_room(&me, &club, from, None),
        Ok(Published::Queued)
    ));
    let command = commands.try_recv().unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        command,
        Command::Room {
            line: RoomLine::Join { .. },
            ..
        }
    ));
    hub.answered(&command, Verdict::RoomRefused("room-full".into()));
    let said = ana.taken();
    assert_eq!(said, [(0, "refused #club RoomFull".to_owned())]);
    // A plain line, refused because the client left the default room.
    let text = Text::new("hi").unwrap_or_else(|_| unreachable!());
    assert!(hub.publish(&me, Said::Public(text)).is_ok());
    let command = commands.try_recv().unwrap_or_else(|e| panic!("{e}"));
    hub.answered(&command, Verdict::RoomRefused("not-in-room".into()));
    assert_eq!(ana.taken(), [(0, "refused #general NoRoom".to_owned())]);
    // Done, or failed (the node leaves the cluster): nothing to tell.
    hub.answered(&command, Verdict::Done);
    hub.answered(&command, Verdict::Failed);
    assert!(ana.taken().is_empty());
}

/// An event about someone this replica does not have still takes its
/// number: the next one is no gap.
#[test]
fn an_event_about_nothing_here_still_takes_its_number() {
    let (hub, _commands) = entered();
    assert!(matches!(
        hub.apply(message("X|11|1000|n2|1|nobody|#nowhere|part|")),
        Ok(None)
    ));
    assert!(hub.apply(message("P|12|1000|n2|1|zoe|next")).is_ok());
    assert_eq!(hub.last_seq(), Seq(12));
}

/// Issue 22: rooms' lines have a bound of their own, past the messages'
/// (a crowd of clients each joining its room at once is never refused,
/// as 5,000 joins on one node were, past QUEUE_MAX, in the cluster
/// benchmark); past it a client is told `unavailable`.
#[test]
fn a_crowd_joining_rooms_at_once_fits_the_queue_to_redis() {
    let (hub, _commands) = ClusterHub::new(
        Arc::default(),
        Arc::new(Pressure::new()),
        None,
        0,
        false,
        0,
        5000,
        crate::hub::room::RoomSettings::default(),
    );
    hub.enter("n1".into(), Snapshot::default());
    let join = |i: usize| Command::Room {
        from: RoomSender {
            node: "n1".into(),
            reg: RegId(i as u64),
            key: name(&format!("c{i}")).key(),
            room: RoomName::normalize("#r").unwrap_or_else(|_| unreachable!()),
        },
        line: RoomLine::Join { marks: Vec::new() },
    };
    let bound = QUEUE_MAX + 5000;
    for i in 0..bound {
        assert!(hub.queue.send(join(i)), "room for join {i}");
    }
    assert!(!hub.queue.send(join(bound)), "past the bound");
    assert!(
        !hub.take_overflow(),
        "a refused room's line is no reason to leave"
    );
}

/// Review finding (issue 22): one client's rooms' lines waiting for Redis
/// are bounded on their own, so it cannot fill the node's bound for
/// everyone; an answer makes room again.
#[test]
fn one_clients_rooms_lines_are_bounded_on_their_own() {
    let (hub, mut commands) = entered();
    let (_, ana) = joined(&hub, &mut commands, "ana", 11);
    let (_, bia) = joined(&hub, &mut commands, "bia", 12);
    let me = |id| Registration {
        key: name(if id == ana { "ana" } else { "bia" }).key(),
        id,
    };
    let club = RoomName::normalize("#club").unwrap_or_else(|_| unreachable!());
    let from = peer().ip();
    for _ in 0..ROOM_LINES_PER_CLIENT {
        assert!(hub.join_room(&me(ana), &club, from, None).is_ok());
    }
    assert_eq!(
        hub.join_room(&me(ana), &club, from, None).err(),
        Some(RoomRefusal::Unavailable)
    );
    assert!(
        hub.join_room(&me(bia), &club, from, None).is_ok(),
        "bia is not held"
    );
    let first = commands.try_recv().unwrap_or_else(|e| panic!("{e}"));
    hub.answered(&first, Verdict::Done);
    assert!(
        hub.join_room(&me(ana), &club, from, None).is_ok(),
        "room again"
    );
}
