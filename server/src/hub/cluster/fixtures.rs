//! What the cluster hub's unit tests (and its link's) start from: a hub
//! that has entered as node `n1`, clients claimed and joined through the
//! channel as Redis would publish them, and what each was told. Test-only.

use std::net::SocketAddr;
use std::sync::Arc;

use tagarela_parser::Name;
use tokio::sync::{mpsc, oneshot};

use super::message::ClusterMessage;
use super::{ClusterHub, Command, Holding, RoomCopy, Snapshot};
use crate::event::Seq;
use crate::flow::pressure::Pressure;
use crate::hub::{Answer, Claimed, Entrant, Hub, Refusal, RegId};

use crate::hub::Welcome;
use crate::hub::seen::Seen;

pub(crate) fn name(s: &str) -> Name<'static> {
    Name::normalize(s).unwrap_or_else(|_| unreachable!())
}

pub(crate) fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1))
}

/// Someone asking for `who`, who is told nothing and ignores its welcome.
pub(crate) fn quiet(who: &str) -> Entrant {
    Entrant {
        name: name(who),
        peer: peer(),
        recipient: Arc::new(Seen::default()),
        welcome: Box::new(|_| {}),
        rooms: false,
        lobby: true,
    }
}

pub(crate) fn message(text: &str) -> ClusterMessage {
    ClusterMessage::parse(text.replace('|', "\n").as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

/// A hub in the cluster as node `n1` at number 10, and its commands.
pub(crate) fn entered() -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
    entered_crowded_from(0)
}

/// The same, counting joins and leaves from `crowd_size` members (§18).
pub(crate) fn entered_crowded_from(
    crowd_size: usize,
) -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
    let (hub, commands) = ClusterHub::new(
        Arc::default(),
        Arc::new(Pressure::new()),
        None,
        0,
        false,
        crowd_size,
        100,
        crate::hub::room::RoomSettings::default(),
    );
    let snapshot = Snapshot {
        seq: Seq(10),
        names: vec![Holding {
            name: name("zoe"),
            since: Seq(3),
        }],
        rooms: vec![RoomCopy {
            name: crate::hub::room::RoomSettings::default().default,
            topic: None,
            members: vec![name("zoe")],
            operators: Vec::new(),
            bans: Vec::new(),
            history: Vec::new(),
            born: Seq(0),
        }],
        settings: None,
    };
    hub.enter("n1".into(), snapshot);
    (hub, commands)
}

/// Claims `who` on `hub`; returns the registration and the answer.
pub(crate) fn claim(
    hub: &ClusterHub,
    commands: &mut mpsc::Receiver<Command>,
    who: &str,
    seen: Arc<Seen>,
) -> (RegId, oneshot::Receiver<Result<Claimed, Refusal>>) {
    let welcomed = Arc::clone(&seen);
    let answer = hub.claim(
        Entrant {
            name: name(who),
            peer: peer(),
            recipient: seen,
            welcome: Box::new(move |w: Welcome| {
                welcomed.note(format!("welcome {} {}", w.name, w.online))
            }),
            rooms: false,
            lobby: true,
        },
        false,
    );
    let Answer::Pending(pending) = answer else {
        panic!("a cluster answers later: {answer:?}");
    };
    match commands.try_recv() {
        Ok(Command::Claim { reg, .. }) => (reg, pending),
        other => panic!("{other:?}"),
    }
}

/// Claims `who` and applies its join (number `seq`); returns what it
/// sees from then on and its registration.
pub(crate) fn joined(
    hub: &ClusterHub,
    commands: &mut mpsc::Receiver<Command>,
    who: &str,
    seq: u64,
) -> (Arc<Seen>, RegId) {
    let seen = Arc::new(Seen::default());
    let (reg, _answer) = claim(hub, commands, who, Arc::clone(&seen));
    hub.apply(message(&format!("J|{seq}|1000|n1|{reg}|{who}|{seq}")))
        .unwrap_or_else(|g| panic!("{g:?}"));
    seen.taken();
    (seen, reg)
}

pub(crate) fn said(seen: &Seen) -> Vec<String> {
    seen.taken()
        .into_iter()
        .map(|(seq, what)| match seq {
            0 => what,
            n => format!("{n} {what}"),
        })
        .collect()
}
