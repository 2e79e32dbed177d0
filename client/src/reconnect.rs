//! What both modes share to come back after a lost connection (spec
//! §16.6): how to open a new connection, when to try again, and what the
//! session keeps to take its name back (the name, its token, the highest
//! sequence number seen). No terminal, no printing.

use std::time::Duration;

use tagarela_parser::{ErrorCode, ServerLine};
use tokio::time::Instant;

use crate::net::Connection;

/// Why a reconnection attempt failed.
#[derive(Debug)]
pub enum Retry {
    /// Try again after a pause (the server is down, the network is out).
    Later(String),
    /// Stop trying (the server's certificate is not the trusted one).
    Never(String),
}

/// Opens a new connection to the same server, as the first one was opened.
pub type Reconnect = Box<
    dyn FnMut() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Connection, Retry>> + Send>,
        > + Send,
>;

/// The first pause before reconnecting; it doubles up to [`PAUSE_MAX`].
const PAUSE_FIRST: Duration = Duration::from_secs(1);

/// The longest pause between two attempts.
const PAUSE_MAX: Duration = Duration::from_secs(30);

/// How long to keep trying before giving up.
pub const GIVE_UP: Duration = Duration::from_secs(300);

/// When to try again: 1 s, 2 s, 4 s ... up to 30 s, each pause varied by
/// ±20%, until [`GIVE_UP`] has passed since the outage began.
#[derive(Debug)]
pub struct Backoff {
    /// When the outage began.
    started: Instant,
    /// The next pause, before jitter.
    pause: Duration,
}

impl Backoff {
    /// An outage beginning now.
    pub fn new() -> Backoff {
        Backoff {
            started: Instant::now(),
            pause: PAUSE_FIRST,
        }
    }

    /// How long to wait before the next attempt; `None` once it is time to
    /// give up.
    pub fn next_pause(&mut self) -> Option<Duration> {
        if self.started.elapsed() >= GIVE_UP {
            return None;
        }
        let pause = jitter(self.pause);
        self.pause = (self.pause * 2).min(PAUSE_MAX);
        Some(pause)
    }

    /// When the outage began.
    pub fn started(&self) -> Instant {
        self.started
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// `pause`, give or take 20%, so that many clients of one server that
/// restarts do not all come back in the same instant. The randomness is
/// the standard library's per-process hash keys: enough to spread
/// clients, not a secret.
fn jitter(pause: Duration) -> Duration {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(0u8);
    let factor = 0.8 + 0.4 * (r % 1001) as f64 / 1000.0;
    pause.mul_f64(factor)
}

/// What the session keeps to take its name back.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// The name the server accepted.
    pub name: Option<String>,
    /// The token its last WELCOME gave.
    pub token: Option<String>,
    /// The highest sequence number seen.
    pub seq: u64,
    /// `/features resume` was sent and not answered yet: a v1 server's
    /// `ERR unknown-command` is that answer, not an error to show.
    pub asked: bool,
}

impl ResumeState {
    /// Follows `line`; true if it was only the answer to `/features` (not
    /// to be shown or acted on).
    pub fn observe(&mut self, line: &ServerLine<'_>) -> bool {
        match line {
            ServerLine::Features { .. } => {
                self.asked = false;
                return true;
            }
            ServerLine::Err {
                code: ErrorCode::UnknownCommand,
                ..
            } if self.asked => {
                self.asked = false;
                return true;
            }
            ServerLine::Welcome {
                name, seq, resume, ..
            } => {
                self.name = Some(name.as_str().to_owned());
                self.token = resume.as_ref().map(|t| t.as_str().to_owned());
                // Not the larger: a server that restarted without history
                // may count from 1 again (spec §16.1); a resume's WELCOME
                // says where its run starts.
                self.seq = seq.unwrap_or(0);
            }
            ServerLine::Seq { seq, .. } | ServerLine::Hist { seq, .. } => {
                self.seq = self.seq.max(*seq);
            }
            // A room's lines carry the same numbers (§19.4).
            ServerLine::In { line, .. } => return self.observe(line),
            _ => {}
        }
        false
    }

    /// Whether a lost connection can be resumed: a name and its token.
    pub fn can_resume(&self) -> bool {
        self.name.is_some() && self.token.is_some()
    }

    /// The `/resume` line (spec §16.6).
    pub fn resume_line(&self) -> String {
        format!(
            "/resume {} {} {}",
            self.name.as_deref().unwrap_or(""),
            self.token.as_deref().unwrap_or(""),
            self.seq
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_double_with_jitter_up_to_a_bound_then_give_up() {
        let mut b = Backoff::new();
        let mut expected = 1.0f64;
        let mut waited = Duration::ZERO;
        while let Some(pause) = b.next_pause() {
            let secs = pause.as_secs_f64();
            assert!(
                secs >= expected * 0.8 - 1e-9 && secs <= expected * 1.2 + 1e-9,
                "{secs} vs {expected}"
            );
            expected = (expected * 2.0).min(30.0);
            tokio::time::advance(pause).await;
            waited += pause;
        }
        assert!(waited >= GIVE_UP && waited < GIVE_UP + Duration::from_secs(40));
    }

    #[test]
    fn the_state_follows_welcome_seq_and_hist_and_hides_the_features_answer() {
        let mut s = ResumeState {
            asked: true,
            ..ResumeState::default()
        };
        let line = |l: &str| ServerLine::parse(l.as_bytes()).unwrap().into_owned();
        assert!(s.observe(&line("ERR unknown-command :no such command")));
        assert!(
            !s.observe(&line("ERR unknown-command :no such command")),
            "only once"
        );
        assert!(!s.can_resume());
        s.observe(&line(
            "WELCOME ana online=1 line-max=1024 name-max=32 seq=7 resume=abc :hi",
        ));
        s.observe(&line("HIST 3 2026-11-21T12:00:00.000Z bob :old"));
        s.observe(&line("SEQ 9 JOIN 2026-11-21T12:00:00.000Z bob"));
        assert!(s.can_resume());
        assert_eq!(s.resume_line(), "/resume ana abc 9");
    }
}
