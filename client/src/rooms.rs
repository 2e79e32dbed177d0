//! The rooms a person is in (spec §19), as a state machine the
//! interactive mode drives: which room is on screen, the lines that came
//! for the others while they were not (kept, bounded, and shown on
//! switching), their unread and mention counts, and what a typed line
//! means in a room (a plain line is `/msg #room text`; `/part`, `/topic`,
//! `/who` and `/history` without a room are the current room's). One
//! method per event; it sends nothing, prints nothing and renders
//! nothing itself (the caller passes rendered lines in), like
//! `comeback.rs`.

use std::collections::VecDeque;

use tagarela_parser::{ClientLine, NameKey, RoomKey, RoomName, ServerLine};

use crate::alert::mentions;

/// Lines kept for a room that is not on screen, at most: the newest.
pub const HELD_MAX: usize = 500;

/// One room this client is in.
#[derive(Debug)]
struct Joined {
    /// Its display form, as the server's events carry it.
    name: String,
    /// Its key (§19.2): rooms are compared by it.
    key: RoomKey,
    /// Messages that came while another room was on screen.
    unread: u32,
    /// Of those, how many mention this client.
    mentions: u32,
    /// Rendered lines that came while another room was on screen,
    /// oldest first; at most [`HELD_MAX`].
    held: VecDeque<String>,
    /// Lines dropped from `held` past its bound.
    dropped: u32,
}

/// Where to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The next room in the list (wrapping).
    Next,
    /// The previous room (wrapping).
    Previous,
    /// The room at this place in the list, from 1.
    Place(usize),
    /// The room called this (any spelling of its key).
    Named(String),
}

/// What to do about a typed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// Send this line.
    Send(String),
    /// Switch rooms (a client-side command, never on the wire).
    Switch(Target),
}

/// The target of a typed `/switch [#room | N | + | -]`, if `line` is one
/// (a client-side command: it never reaches the wire).
pub fn switch_target(line: &str) -> Option<Target> {
    let rest = strip_command(line.trim_end(), "switch")?;
    Some(match rest.trim() {
        "" | "+" | "next" => Target::Next,
        "-" | "previous" | "prev" => Target::Previous,
        n if n.bytes().all(|b| b.is_ascii_digit()) => Target::Place(n.parse().unwrap_or(0)),
        name => Target::Named(name.to_owned()),
    })
}

/// What a switch shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Switched {
    /// A line saying where the person is now.
    pub note: String,
    /// The lines kept for that room, oldest first.
    pub held: Vec<String>,
}

/// The rooms, and which is on screen.
#[derive(Debug, Default)]
pub struct Rooms {
    /// The server turned the `rooms` feature on (§19.1).
    on: bool,
    /// The rooms this client is in, in the order it entered them.
    joined: Vec<Joined>,
    /// The place in `joined` of the room on screen.
    current: usize,
    /// The room a `/join` typed here asked for last: shown when its join
    /// comes back.
    asked: Option<RoomKey>,
    /// Counts the changes of the room on screen: a line typed before the
    /// last change was typed for another room.
    screen: u64,
}

impl Rooms {
    /// The server said `FEATURES` with `rooms` in it (or without).
    pub fn features(&mut self, words: &[&str]) {
        self.on = words.iter().any(|w| w.eq_ignore_ascii_case("rooms"));
    }

    /// Whether the server serves rooms to this client.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// How many times the room on screen has changed (0: never; no room
    /// was ever on screen).
    pub fn screen(&self) -> u64 {
        self.screen
    }

    /// The room on screen, if any.
    pub fn current(&self) -> Option<&str> {
        self.joined.get(self.current).map(|r| r.name.as_str())
    }

    /// The prompt: the room on screen, and the others with something
    /// unread (`@` counts mentions).
    pub fn prompt(&self) -> String {
        let Some(current) = self.current() else {
            return "> ".to_owned();
        };
        let others: Vec<String> = self
            .joined
            .iter()
            .enumerate()
            .filter(|(i, r)| *i != self.current && r.unread > 0)
            .map(|(i, r)| match r.mentions {
                0 => format!("{}:{}{}", i + 1, r.name, count(r.unread)),
                m => format!("{}:{}{} @{m}", i + 1, r.name, count(r.unread)),
            })
            .collect();
        if others.is_empty() {
            format!("{current}> ")
        } else {
            format!("{current} [{}]> ", others.join(" "))
        }
    }

    /// The names of the rooms, numbered, the current one marked, with
    /// their unread counts (what `/switch` alone shows).
    pub fn list(&self) -> String {
        let rooms: Vec<String> = self
            .joined
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mark = if i == self.current { "*" } else { "" };
                match (r.unread, r.mentions) {
                    (0, _) => format!("{}:{mark}{}", i + 1, r.name),
                    (u, 0) => format!("{}:{mark}{} ({u} unread)", i + 1, r.name),
                    (u, m) => format!(
                        "{}:{mark}{} ({u} unread, {m} mentioning you)",
                        i + 1,
                        r.name
                    ),
                }
            })
            .collect();
        format!("Your rooms: {}", rooms.join(", "))
    }

    /// What the typed `wire` line means here.
    pub fn typed(&mut self, wire: &str) -> Typed {
        if let Some(target) = switch_target(wire) {
            return Typed::Switch(target);
        }
        if !self.on {
            return Typed::Send(wire.to_owned());
        }
        if let Ok(ClientLine::Join(rooms)) = ClientLine::parse(wire.as_bytes()) {
            self.asked = rooms.last().map(RoomName::key);
            return Typed::Send(wire.to_owned());
        }
        let Some(current) = self.current().map(str::to_owned) else {
            return Typed::Send(wire.to_owned());
        };
        match ClientLine::parse(wire.as_bytes()) {
            // The room on screen is where typing goes (§19.3: the wire
            // always names the room).
            Ok(ClientLine::Public(text)) => {
                Typed::Send(format!("/msg {current} {}", text.as_str()))
            }
            Ok(ClientLine::Who) => Typed::Send(format!("/who {current}")),
            Ok(ClientLine::History(_)) => {
                let args = strip_command(wire, "history").unwrap_or("");
                Typed::Send(format!("/history {current}{args}"))
            }
            Err(_)
                if strip_command(wire, "part")
                    .is_some_and(|r| !r.trim_start().starts_with('#')) =>
            {
                let text = strip_command(wire, "part").unwrap_or("");
                Typed::Send(format!("/part {current}{text}"))
            }
            Err(_)
                if strip_command(wire, "topic")
                    .is_some_and(|r| !r.trim_start().starts_with('#')) =>
            {
                let text = strip_command(wire, "topic").unwrap_or("");
                Typed::Send(format!("/topic {current}{text}"))
            }
            _ => Typed::Send(wire.to_owned()),
        }
    }

    /// Switches to `target`: what to show, or why not.
    pub fn switch(&mut self, target: &Target) -> Result<Switched, String> {
        if self.joined.is_empty() {
            return Err("You are in no room: /join #room enters one.".to_owned());
        }
        let n = self.joined.len();
        let to = match target {
            Target::Next => (self.current + 1) % n,
            Target::Previous => (self.current + n - 1) % n,
            Target::Place(i) if (1..=n).contains(i) => i - 1,
            Target::Place(i) => return Err(format!("There is no room {i}. {}", self.list())),
            Target::Named(name) => {
                let key = RoomName::normalize(name)
                    .map_err(|_| format!("{name} is not a room name (# and a name)."))?
                    .key();
                self.place(&key)
                    .ok_or_else(|| format!("You are not in {name}: /join {name} first."))?
            }
        };
        Ok(self.show(to))
    }

    /// The room at `to` comes on screen: its kept lines, and its counts
    /// cleared.
    fn show(&mut self, to: usize) -> Switched {
        self.current = to;
        self.screen += 1;
        let Some(room) = self.joined.get_mut(to) else {
            return Switched::default();
        };
        let mut note = format!("— now in {}", room.name);
        if room.dropped > 0 {
            note.push_str(&format!(" ({} older lines were not kept)", room.dropped));
        }
        note.push_str(" —");
        room.unread = 0;
        room.mentions = 0;
        room.dropped = 0;
        Switched {
            note,
            held: room.held.drain(..).collect(),
        }
    }

    /// A line from the server, and how it was rendered: the lines to show
    /// now (none if it belongs to a room not on screen, which keeps it).
    /// `me` is this client's name key.
    pub fn incoming(
        &mut self,
        line: &ServerLine<'_>,
        rendered: Option<String>,
        me: Option<&NameKey>,
    ) -> Vec<String> {
        let ServerLine::In { room, line: inner } = line else {
            return rendered.into_iter().collect();
        };
        let key = room.key();
        let event = match inner.as_ref() {
            ServerLine::Seq { event, .. } => event.as_ref(),
            other => other,
        };
        let mine = |name: &tagarela_parser::Name<'_>| me.is_some_and(|m| *m == name.key());
        match event {
            ServerLine::Join { name, .. } if mine(name) => {
                if self.place(&key).is_none() {
                    self.joined.push(Joined {
                        name: room.as_str().to_owned(),
                        key: key.clone(),
                        unread: 0,
                        mentions: 0,
                        held: VecDeque::new(),
                        dropped: 0,
                    });
                }
                // The room just joined comes on screen when this client
                // asked for it, or when it is the only one.
                let place = self.place(&key).unwrap_or(0);
                let asked = self.asked.as_ref() == Some(&key);
                if asked || self.joined.len() == 1 {
                    if asked {
                        self.asked = None;
                    }
                    let mut out = vec![self.show(place).note];
                    out.extend(rendered);
                    return out;
                }
                return rendered.into_iter().collect();
            }
            ServerLine::Leave { name, .. } if mine(name) => {
                let mut out: Vec<String> = rendered.into_iter().collect();
                if let Some(place) = self.place(&key) {
                    self.joined.remove(place);
                    if place == self.current {
                        self.screen += 1;
                    }
                    if self.current > place || self.current >= self.joined.len() {
                        self.current = self.current.saturating_sub(1);
                    }
                    if let Some(now) = self.current().map(str::to_owned) {
                        out.push(format!("— now in {now} —"));
                    }
                }
                return out;
            }
            _ => {}
        }
        let on_screen = self.joined.get(self.current).is_some_and(|r| r.key == key);
        let Some(place) = self.place(&key).filter(|_| !on_screen) else {
            // The room on screen, or one this client is not in (a reply
            // to /who #room or /history #room, an error): shown.
            return rendered.into_iter().collect();
        };
        let Some(held) = self.joined.get_mut(place) else {
            return rendered.into_iter().collect();
        };
        if let ServerLine::Msg { text, .. } = event {
            held.unread = held.unread.saturating_add(1);
            if me.is_some_and(|m| !mentions(text.as_str(), m).is_empty()) {
                held.mentions = held.mentions.saturating_add(1);
            }
        }
        if let Some(line) = rendered {
            if held.held.len() >= HELD_MAX {
                held.held.pop_front();
                held.dropped = held.dropped.saturating_add(1);
            }
            held.held.push_back(line);
        }
        Vec::new()
    }

    /// The lines that join again, after registering anew (the server no
    /// longer knew the session), the rooms this client was in (the
    /// default one among them is a no-op: every client starts in it,
    /// §19.1), at most 10 a line (§19.3), the first entered first.
    /// Forgets them: their joins come back.
    pub fn rejoin(&mut self) -> Vec<String> {
        let rooms: Vec<String> = self.joined.drain(..).map(|r| r.name).collect();
        self.current = 0;
        self.screen += 1;
        rooms
            .chunks(tagarela_parser::JOIN_ROOMS_MAX)
            .map(|chunk| format!("/join {}", chunk.join(",")))
            .collect()
    }

    fn place(&self, key: &RoomKey) -> Option<usize> {
        self.joined.iter().position(|r| &r.key == key)
    }
}

/// `n` unread, as the prompt shows it.
fn count(n: u32) -> String {
    if n > 99 {
        "(99+)".to_owned()
    } else {
        format!("({n})")
    }
}

/// The rest of `wire` after `/command` (case-insensitive), SP included,
/// if `wire` is that command.
fn strip_command<'w>(wire: &'w str, command: &str) -> Option<&'w str> {
    let body = wire.strip_prefix('/')?;
    let end = body.find(' ').unwrap_or(body.len());
    body[..end]
        .eq_ignore_ascii_case(command)
        .then(|| &body[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> ServerLine<'static> {
        ServerLine::parse(s.as_bytes()).unwrap().into_owned()
    }

    fn me() -> NameKey {
        NameKey::of("ana")
    }

    /// Feeds `s`, rendered as itself; returns what is shown.
    fn feed(rooms: &mut Rooms, s: &str) -> Vec<String> {
        rooms.incoming(&line(s), Some(s.to_owned()), Some(&me()))
    }

    fn in_two_rooms() -> Rooms {
        let mut rooms = Rooms::default();
        rooms.features(&["seq", "rooms"]);
        feed(
            &mut rooms,
            "IN #general SEQ 1 JOIN 2026-11-21T12:00:00.000Z ana",
        );
        assert_eq!(
            rooms.typed("/join #homework"),
            Typed::Send("/join #homework".into())
        );
        let shown = feed(
            &mut rooms,
            "IN #Homework SEQ 2 JOIN 2026-11-21T12:00:00.000Z ana",
        );
        assert_eq!(shown[0], "— now in #Homework —");
        rooms
    }

    #[test]
    fn typing_goes_to_the_room_on_screen() {
        let mut rooms = in_two_rooms();
        assert_eq!(
            rooms.typed("hi all"),
            Typed::Send("/msg #Homework hi all".into())
        );
        assert_eq!(
            rooms.typed("/say /not a command"),
            Typed::Send("/msg #Homework /not a command".into())
        );
        assert_eq!(rooms.typed("@bob psst"), Typed::Send("@bob psst".into()));
        assert_eq!(
            rooms.typed("/part see you"),
            Typed::Send("/part #Homework see you".into())
        );
        assert_eq!(
            rooms.typed("/part #general"),
            Typed::Send("/part #general".into())
        );
        assert_eq!(
            rooms.typed("/topic"),
            Typed::Send("/topic #Homework".into())
        );
        assert_eq!(rooms.typed("/who"), Typed::Send("/who #Homework".into()));
        assert_eq!(
            rooms.typed("/history before 9"),
            Typed::Send("/history #Homework before 9".into())
        );
        assert_eq!(rooms.prompt(), "#Homework> ");
    }

    #[test]
    fn another_rooms_lines_wait_counted_until_it_is_on_screen() {
        let mut rooms = in_two_rooms();
        assert!(
            feed(
                &mut rooms,
                "IN #general SEQ 3 MSG 2026-11-21T12:00:00.000Z bob :hello"
            )
            .is_empty()
        );
        assert!(
            feed(
                &mut rooms,
                "IN #general SEQ 4 MSG 2026-11-21T12:00:00.000Z bob :ana, look"
            )
            .is_empty()
        );
        assert!(
            feed(
                &mut rooms,
                "IN #general SEQ 5 JOIN 2026-11-21T12:00:00.000Z cai"
            )
            .is_empty()
        );
        assert_eq!(rooms.prompt(), "#Homework [1:#general(2) @1]> ");
        let shown = feed(
            &mut rooms,
            "IN #Homework SEQ 6 MSG 2026-11-21T12:00:00.000Z bob :here",
        );
        assert_eq!(shown.len(), 1, "the room on screen is shown at once");
        let private = feed(
            &mut rooms,
            "SEQ 7 PRIV 2026-11-21T12:00:00.000Z bob ana :psst",
        );
        assert_eq!(private.len(), 1, "a private message is in no room");
        let switched = rooms.switch(&Target::Named("#GENERAL".into())).unwrap();
        assert_eq!(switched.note, "— now in #general —");
        assert_eq!(switched.held.len(), 3);
        assert_eq!(rooms.prompt(), "#general> ");
        assert!(rooms.switch(&Target::Place(3)).is_err());
        assert!(rooms.switch(&Target::Named("#nowhere".into())).is_err());
        assert_eq!(
            rooms.switch(&Target::Next).unwrap().note,
            "— now in #Homework —"
        );
    }

    #[test]
    fn leaving_a_room_shows_the_one_before_and_held_lines_are_bounded() {
        let mut rooms = in_two_rooms();
        for i in 0..(HELD_MAX + 5) {
            feed(
                &mut rooms,
                &format!(
                    "IN #general SEQ {} MSG 2026-11-21T12:00:00.000Z bob :m{i}",
                    i + 10
                ),
            );
        }
        let shown = feed(
            &mut rooms,
            "IN #Homework SEQ 900 LEAVE 2026-11-21T12:00:00.000Z ana part",
        );
        assert_eq!(
            shown.last().map(String::as_str),
            Some("— now in #general —")
        );
        assert_eq!(rooms.current(), Some("#general"));
        let switched = rooms.switch(&Target::Place(1)).unwrap();
        assert_eq!(switched.held.len(), HELD_MAX);
        assert!(switched.note.contains("5 older lines were not kept"));
        assert_eq!(rooms.rejoin(), ["/join #general".to_owned()]);
        assert_eq!(rooms.current(), None);
    }

    #[test]
    fn joining_again_takes_ten_rooms_a_line() {
        let mut rooms = Rooms::default();
        rooms.features(&["rooms"]);
        for i in 0..12 {
            feed(
                &mut rooms,
                &format!("IN #r{i} SEQ {} JOIN 2026-11-21T12:00:00.000Z ana", i + 1),
            );
        }
        let lines = rooms.rejoin();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("/join #r0,#r1,") && lines[0].ends_with(",#r9"));
        assert_eq!(lines[1], "/join #r10,#r11");
    }

    #[test]
    fn without_rooms_lines_go_as_typed() {
        let mut rooms = Rooms::default();
        rooms.features(&["seq"]);
        assert_eq!(rooms.typed("hi"), Typed::Send("hi".into()));
        assert!(matches!(
            rooms.typed("/switch 2"),
            Typed::Switch(Target::Place(2))
        ));
        assert!(rooms.switch(&Target::Next).is_err());
    }
}
