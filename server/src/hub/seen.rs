//! A [`Recipient`] for the hubs' unit tests: it remembers every event it
//! was given (as its number and a short text) and everything it was told,
//! in order. Test-only; never a real client.

use std::sync::{Mutex, PoisonError};

use tagarela_parser::Name;

use crate::event::{Event, EventKind};
use crate::hub::{Recipient, RoomRefusal};

/// What a recipient was given: `(seq, "join ana")`, `(seq, "ana: hi")`,
/// `(seq, "ana->bia: psst")`, `(seq, "leave ana quit")`; what it was told
/// has number 0: `"replaced"`, `"cut off"`, `"undeliverable NAME"`, or
/// whatever a test notes with [`Seen::note`].
#[derive(Debug, Default)]
pub struct Seen {
    /// Everything, in order.
    said: Mutex<Vec<(u64, String)>>,
    /// The times of the crowd notices, in order.
    crowd_times: Mutex<Vec<tagarela_parser::Timestamp>>,
}

impl Seen {
    /// Adds `what` with number 0 (a welcome, say).
    pub fn note(&self, what: String) {
        self.push(0, what);
    }

    fn push(&self, seq: u64, what: String) {
        self.said
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((seq, what));
    }

    /// Everything so far, forgotten here.
    pub fn taken(&self) -> Vec<(u64, String)> {
        std::mem::take(&mut *self.said.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The times of the crowd notices so far.
    pub fn crowd_times(&self) -> Vec<tagarela_parser::Timestamp> {
        self.crowd_times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Recipient for Seen {
    fn deliver(&self, event: &Event) {
        let what = match &event.kind {
            EventKind::Join { name } => format!("join {name}"),
            EventKind::Leave { name, reason, .. } => format!("leave {name} {reason}"),
            EventKind::Public { from, text } => format!("{from}: {text}"),
            EventKind::Private { from, to, text } => format!("{from}->{to}: {text}"),
            EventKind::Topic { by, text } => format!("topic by {by}: {text}"),
            EventKind::TagsOnly { from, to: Some(to) } => format!("{from}->{to} tags"),
            EventKind::TagsOnly { from, to: None } => format!("{from} tags"),
        };
        // Events of the reference default room read as they did before
        // rooms; those of any other room name it first.
        let what = match &event.room {
            Some(room) if room.as_str() != crate::hub::room::DEFAULT_ROOM => {
                format!("{room} {what}")
            }
            _ => what,
        };
        self.push(event.seq.0, what);
    }

    fn entered(&self, entered: &crate::hub::Entered) {
        let backlog = entered.backlog.as_ref().map_or(0, Vec::len);
        self.note(format!("entered {} backlog {backlog}", entered.room));
    }

    fn replaced(&self) {
        self.note("replaced".into());
    }

    fn cut_off(&self) {
        self.note("cut off".into());
    }

    fn killed(&self) {
        self.note("killed".into());
    }

    fn undeliverable(&self, to: &Name<'static>) {
        self.note(format!("undeliverable {to}"));
    }

    fn room_refused(&self, room: &tagarela_parser::RoomName<'static>, refusal: &RoomRefusal) {
        self.note(format!("refused {room} {refusal:?}"));
    }

    fn room_list(&self, list: &crate::hub::RoomList<'_>) {
        self.note(format!("list {list:?}"));
    }

    fn crowd(&self, notice: &crate::hub::crowd::Notice) {
        self.crowd_times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notice.at);
        let names: Vec<String> = (notice.joiners.iter().map(|n| format!("+{n}")))
            .chain(notice.leavers.iter().map(|n| format!("-{n}")))
            .collect();
        self.note(format!(
            "crowd {} +{} -{} {}",
            notice.online,
            notice.joined,
            notice.left,
            names.join(" ")
        ));
    }
}
