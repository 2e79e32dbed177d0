//! A connection's own clocks as one small state machine: the registration
//! deadline (spec §4.5) and the keepalive (§10: a client silent for
//! `ping-interval` is pinged, and removed if it then stays silent for
//! `ping-timeout`). One method per event (lines heard, input held back,
//! the timer fired), each deciding what is due; the connection loop does
//! the I/O. Time comes from tokio's clock, so it is tested paused. The
//! outbox's clocks (slow grace, pressure window) are the outbox's.

use tagarela_parser::ByeReason;
use tokio::time::Instant;

use crate::config::Settings;

/// Where the keepalive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keepalive {
    /// The client was last heard at this instant (or connected then).
    Heard(Instant),
    /// It was pinged at this instant and has not been heard since.
    Pinged(Instant),
}

/// What the timer branch must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Nothing.
    Nothing,
    /// Send a `PING` with this token.
    Ping(u32),
    /// End the connection with this `BYE`.
    End(ByeReason),
}

/// The registration deadline and the keepalive of one connection.
#[derive(Debug)]
pub(super) struct Timers {
    /// When an unregistered client is timed out (§4.5).
    registration_deadline: Instant,
    /// When it was last heard, or pinged.
    keepalive: Keepalive,
    /// The last ping's token, so that a `PONG` can be told from another.
    pings: u32,
}

impl Timers {
    /// The clocks of a connection accepted `now`.
    pub(super) fn new(now: Instant, settings: &Settings) -> Timers {
        Timers {
            registration_deadline: now + settings.registration_timeout,
            keepalive: Keepalive::Heard(now),
            pings: 0,
        }
    }

    /// Complete lines were handled `now` (held back or not, §10 counts
    /// lines, not octets): the client is alive.
    pub(super) fn heard(&mut self, now: Instant) {
        self.keepalive = Keepalive::Heard(now);
    }

    /// The timer fired `now`. A client whose input is `held_back` (§11.1)
    /// is not being read, so its silence does not count: a long hold
    /// (Redis or a store behind) must not time every reader out.
    pub(super) fn fire(
        &mut self,
        now: Instant,
        registered: bool,
        held_back: bool,
        settings: &Settings,
    ) -> Due {
        if !registered && now >= self.registration_deadline {
            return Due::End(ByeReason::Timeout);
        }
        if held_back {
            self.heard(now);
        }
        match self.keepalive {
            Keepalive::Pinged(at) if now >= at + settings.ping_timeout => {
                Due::End(ByeReason::Timeout)
            }
            Keepalive::Heard(at) if now >= at + settings.ping_interval => {
                self.pings = self.pings.wrapping_add(1);
                self.keepalive = Keepalive::Pinged(now);
                Due::Ping(self.pings)
            }
            _ => Due::Nothing,
        }
    }

    /// When [`Timers::fire`] next has something to do.
    pub(super) fn next(&self, registered: bool, settings: &Settings) -> Instant {
        let keepalive = match self.keepalive {
            Keepalive::Pinged(at) => at + settings.ping_timeout,
            Keepalive::Heard(at) => at + settings.ping_interval,
        };
        if registered {
            keepalive
        } else {
            keepalive.min(self.registration_deadline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> Settings {
        Settings {
            registration_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(20),
            ..Settings::default()
        }
    }

    /// Scripted events against a paused clock: what each firing decides.
    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_then_timed_out_and_lines_reset_it() {
        let s = settings();
        let start = Instant::now();
        let mut t = Timers::new(start, &s);
        assert_eq!(t.next(true, &s), start + s.ping_interval);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(t.fire(Instant::now(), true, false, &s), Due::Nothing);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(t.fire(Instant::now(), true, false, &s), Due::Ping(1));
        assert_eq!(t.next(true, &s), Instant::now() + s.ping_timeout);
        tokio::time::advance(Duration::from_secs(10)).await;
        t.heard(Instant::now());
        assert_eq!(t.fire(Instant::now(), true, false, &s), Due::Nothing);
        tokio::time::advance(s.ping_interval).await;
        assert_eq!(t.fire(Instant::now(), true, false, &s), Due::Ping(2));
        tokio::time::advance(s.ping_timeout).await;
        assert_eq!(
            t.fire(Instant::now(), true, false, &s),
            Due::End(ByeReason::Timeout)
        );
    }

    /// The registration deadline holds only until the client registers;
    /// silence while held back is not counted.
    #[tokio::test(start_paused = true)]
    async fn registration_times_out_and_a_hold_is_not_silence() {
        let s = settings();
        let start = Instant::now();
        let mut t = Timers::new(start, &s);
        assert_eq!(t.next(false, &s), start + s.registration_timeout);
        tokio::time::advance(s.registration_timeout).await;
        assert_eq!(
            t.fire(Instant::now(), false, false, &s),
            Due::End(ByeReason::Timeout)
        );
        assert_eq!(t.fire(Instant::now(), true, false, &s), Due::Nothing);
        tokio::time::advance(Duration::from_secs(300)).await;
        assert_eq!(t.fire(Instant::now(), true, true, &s), Due::Nothing);
        assert_eq!(t.next(true, &s), Instant::now() + s.ping_interval);
    }
}
