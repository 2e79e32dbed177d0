//! Coming back after a lost connection (spec §16.6), as a state machine
//! the interactive mode drives: what the session keeps to take its name
//! back, the outage's pauses, the lines typed meanwhile, and what each
//! server line means while it comes back (resumed, refused and joined
//! again by name, the history it missed). One method per event, each
//! saying what to send and what to tell the person; it sends nothing,
//! prints nothing and reads no clock of its own (times are passed in),
//! like `liveness.rs`.

use tagarela_parser::{ErrorCode, ServerLine};
use tokio::time::Instant;

use crate::reconnect::{Backoff, ResumeState};

/// Lines typed while disconnected, kept to send once back, at most.
const PENDING_MAX: usize = 50;

/// A reconnection in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Back {
    /// When the outage began.
    since: Instant,
    /// The server refused the token, so the name was sent instead.
    by_name: bool,
}

/// Sorting a joining replay into seen and missed, after a restart.
#[derive(Debug)]
struct CatchUp {
    /// The highest number seen before the outage.
    seen: u64,
    /// Replayed messages shown (missed).
    shown: u32,
    /// Replayed messages hidden (seen before).
    hidden: u32,
}

/// What to do about one server line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Lines to send now, in order.
    pub send: Vec<String>,
    /// Something to tell the person (plain text; the caller styles it).
    pub note: Option<String>,
    /// The line is handled: not to be shown or acted on the usual way.
    pub swallow: bool,
    /// This `WELCOME` began a new session after an outage (the server no
    /// longer knew the old one): what the old one was in must be asked
    /// for again (its rooms, §19.4).
    pub anew: bool,
}

impl Step {
    fn swallowed() -> Step {
        Step {
            swallow: true,
            ..Step::default()
        }
    }
}

/// What the session knows to take its name back, and the reconnection in
/// progress.
#[derive(Debug, Default)]
pub struct Comeback {
    /// Name, token, position.
    pub state: ResumeState,
    /// The outage's pauses, until the name is back.
    backoff: Option<Backoff>,
    /// A reconnection in progress.
    back: Option<Back>,
    /// Lines typed during the outage.
    pending: Vec<String>,
    /// Registered again by name after a refused token (the server had
    /// restarted): the highest number seen before, so that the history
    /// replayed on joining shows only what was missed.
    catch_up: Option<CatchUp>,
}

impl Comeback {
    /// Keeps a line typed while disconnected; false if too many wait.
    pub fn keep(&mut self, line: String) -> bool {
        if self.pending.len() >= PENDING_MAX {
            return false;
        }
        self.pending.push(line);
        true
    }

    /// Whether a reconnection is in progress (typed lines wait for it).
    pub fn is_coming_back(&self) -> bool {
        self.back.is_some()
    }

    /// The outage's pauses: one outage until the name is back, so that a
    /// server that accepts and then fails does not restart the clock.
    pub fn backoff(&mut self) -> &mut Backoff {
        self.backoff.get_or_insert_with(Backoff::new)
    }

    /// A new connection is open after the outage that began at `since`:
    /// the `/resume` line to send first.
    pub fn reconnected(&mut self, since: Instant) -> String {
        self.back = Some(Back {
            since,
            by_name: false,
        });
        self.state.resume_line()
    }

    /// What `line`, arriving at `now`, means for coming back: names,
    /// tokens and numbers, the answer to `/features`, and the end of a
    /// reconnection.
    pub fn track(&mut self, line: &ServerLine<'_>, now: Instant) -> Step {
        if self.state.observe(line) {
            // The answer to `/features`: nothing to show.
            return Step::swallowed();
        }
        if let Some(step) = self.catch_up(line) {
            return step;
        }
        match line {
            ServerLine::Welcome { .. } => {
                self.backoff = None;
                match self.back {
                    // Registered by name after all: what was kept goes now.
                    None => Step {
                        send: std::mem::take(&mut self.pending),
                        ..Step::default()
                    },
                    // Joined again by name: no RESUMED will come.
                    Some(Back {
                        since,
                        by_name: true,
                    }) => {
                        self.back = None;
                        Step {
                            send: std::mem::take(&mut self.pending),
                            note: Some(format!(
                                "Reconnected after {} s, as a new session (the server no longer knew the old one).",
                                now.saturating_duration_since(since).as_secs()
                            )),
                            swallow: false,
                            anew: true,
                        }
                    }
                    Some(_) => Step::default(),
                }
            }
            // A server that no longer knows the session, or `/resume` at
            // all (an older version after a rollback): the name instead.
            ServerLine::Err {
                code: ErrorCode::ResumeRefused | ErrorCode::UnknownCommand,
                ..
            } if matches!(self.back, Some(Back { by_name: false, .. })) => {
                if let Some(back) = &mut self.back {
                    back.by_name = true;
                }
                self.catch_up = Some(CatchUp {
                    seen: self.state.seq,
                    shown: 0,
                    hidden: 0,
                });
                self.state.token = None;
                Step {
                    send: self.state.name.iter().cloned().collect(),
                    ..Step::swallowed()
                }
            }
            // The name taken back by a look-alike meanwhile: the person
            // chooses another at the prompt; kept lines wait for it.
            ServerLine::Err {
                code: ErrorCode::NameTaken | ErrorCode::NameInvalid,
                ..
            } if self.back.is_some() => {
                self.back = None;
                Step::default()
            }
            ServerLine::Resumed { count, gap } => {
                self.backoff = None;
                let Some(back) = self.back.take() else {
                    return Step::default();
                };
                let gap = if *gap {
                    " (some older ones were no longer kept; /history shows what the server has)"
                } else {
                    ""
                };
                Step {
                    send: std::mem::take(&mut self.pending),
                    note: Some(format!(
                        "Reconnected after {} s; {count} message{} you missed {} above{gap}.",
                        now.saturating_duration_since(back.since).as_secs(),
                        if *count == 1 { "" } else { "s" },
                        if *count == 1 { "is" } else { "are" },
                    )),
                    swallow: true,
                    anew: false,
                }
            }
            _ => Step::default(),
        }
    }

    /// After joining again by name: the replayed history sorted into seen
    /// (hidden) and missed, and a note at its end; `None` when the line
    /// is not part of that.
    fn catch_up(&mut self, line: &ServerLine<'_>) -> Option<Step> {
        let catch_up = self.catch_up.as_mut()?;
        // A rooms client's replay comes inside its room (§19.3).
        let line = match line {
            ServerLine::In { line, .. } => line.as_ref(),
            other => other,
        };
        match line {
            ServerLine::Hist { seq, .. } if *seq <= catch_up.seen => {
                catch_up.hidden += 1;
                Some(Step::swallowed())
            }
            ServerLine::Hist { .. } => {
                catch_up.shown += 1;
                None
            }
            ServerLine::HistEnd { .. } => {
                let note = match (catch_up.shown, catch_up.hidden) {
                    (0, _) => "Nothing was said while you were away.".to_owned(),
                    (n, 0) => format!(
                        "{n} message{} you missed {} above (there may be more: /history before the first).",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "is" } else { "are" }
                    ),
                    (n, _) => format!(
                        "{n} message{} you missed {} above.",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "is" } else { "are" }
                    ),
                };
                self.catch_up = None;
                Some(Step {
                    note: Some(note),
                    ..Step::swallowed()
                })
            }
            ServerLine::Welcome { .. } => None,
            _ => {
                self.catch_up = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(l: &str) -> ServerLine<'static> {
        ServerLine::parse(l.as_bytes())
            .unwrap_or_else(|e| panic!("{l}: {e}"))
            .into_owned()
    }

    /// A session registered as ana with a token, having seen number 9.
    fn registered() -> Comeback {
        let mut c = Comeback::default();
        c.track(
            &line("WELCOME ana online=1 line-max=1024 name-max=32 seq=9 resume=abc :hi"),
            Instant::now(),
        );
        c
    }

    /// Scripted lines, paused clock: resumed after 5 s, the lines typed
    /// meanwhile go out, and the person is told how many were missed.
    #[tokio::test(start_paused = true)]
    async fn a_resumed_session_sends_what_was_kept_and_says_what_was_missed() {
        let mut c = registered();
        let lost = Instant::now();
        assert!(c.keep("hello again".to_owned()));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(c.reconnected(lost), "/resume ana abc 9");
        assert!(c.is_coming_back());
        let seq = c.track(
            &line("SEQ 10 MSG 2026-11-21T12:00:00.000Z bia :hi"),
            Instant::now(),
        );
        assert_eq!(seq, Step::default(), "a missed line is shown as usual");
        let step = c.track(&line("RESUMED 1"), Instant::now());
        assert_eq!(
            step,
            Step {
                send: vec!["hello again".to_owned()],
                note: Some("Reconnected after 5 s; 1 message you missed is above.".to_owned()),
                swallow: true,
                anew: false,
            }
        );
        assert!(!c.is_coming_back());
    }

    /// A server that restarted refuses the token: the name is sent
    /// instead, the replayed history shows only what came after number
    /// 9, and its end says so.
    #[tokio::test(start_paused = true)]
    async fn a_refused_token_joins_again_by_name_and_hides_what_was_seen() {
        let mut c = registered();
        c.reconnected(Instant::now());
        let refused = c.track(&line("ERR resume-refused :unknown session"), Instant::now());
        assert_eq!(refused.send, ["ana"]);
        assert!(refused.swallow);
        let welcome = c.track(
            &line("WELCOME ana online=1 line-max=1024 name-max=32 seq=1 resume=def :hi"),
            Instant::now(),
        );
        assert!(
            welcome.anew,
            "the rooms of the old session are asked for again"
        );
        assert!(welcome.note.is_some_and(|n| n.contains("as a new session")));
        let old = c.track(
            &line("IN #general HIST 8 2026-11-21T12:00:00.000Z bia :old"),
            Instant::now(),
        );
        assert!(old.swallow, "seen before the outage: hidden");
        let new = c.track(
            &line("HIST 10 2026-11-21T12:00:00.000Z bia :new"),
            Instant::now(),
        );
        assert!(!new.swallow);
        let end = c.track(&line("HISTEND 2"), Instant::now());
        assert_eq!(end.note.as_deref(), Some("1 message you missed is above."));
    }

    /// At most PENDING_MAX lines wait for the connection.
    #[test]
    fn kept_lines_are_bounded() {
        let mut c = Comeback::default();
        for n in 0..PENDING_MAX {
            assert!(c.keep(n.to_string()));
        }
        assert!(!c.keep("one more".to_owned()));
    }
}
