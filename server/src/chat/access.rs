//! Access control (spec §4.7): the room's password, compared in constant
//! time, and the throttling of wrong attempts per address (3 a minute, as
//! ergo does). The password is kept only as its SHA-256 digest and is
//! never logged. Decides; never replies or closes anything itself.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// Wrong attempts from one address allowed within [`THROTTLE_WINDOW`].
pub const THROTTLE_ATTEMPTS: usize = 3;
/// The window in which wrong attempts are counted.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past that the oldest are forgotten, so
/// the table's memory is bounded whatever the number of attackers.
const ADDRESSES_MAX: usize = 65_536;

/// What a password attempt comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The room's password.
    Right,
    /// Not it; the client may try again.
    Wrong,
    /// Not it, and this address has tried too often: close.
    Throttled,
}

/// The room's password and who has been getting it wrong.
#[derive(Debug)]
pub struct Access {
    /// SHA-256 of the password: compared in constant time, never shown.
    digest: [u8; 32],
    /// Whether a password may cross plain text from another machine.
    pub allow_plaintext: bool,
    /// Recent wrong attempts by address.
    throttle: Throttle,
}

/// Who has been getting a password wrong, by address: past
/// [`THROTTLE_ATTEMPTS`] in [`THROTTLE_WINDOW`], every attempt is
/// refused, right or not.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Recent wrong attempts by address.
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    /// When each address last got it wrong, oldest first.
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
    /// Addresses in the order they first failed, to forget the oldest.
    order: VecDeque<IpAddr>,
}

/// SHA-256 of `s`: what a password is kept as.
pub fn digest(s: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Access {
    /// Access by `password`.
    pub fn new(password: &str, allow_plaintext: bool) -> Access {
        Access {
            digest: digest(password.as_bytes()),
            allow_plaintext,
            throttle: Throttle::default(),
        }
    }

    /// Whether the address is throttled now.
    pub fn is_throttled(&self, from: IpAddr, now: Instant) -> bool {
        self.throttle.is_throttled(from, now)
    }

    /// Checks `attempt` from `from` at `now`.
    pub fn check(&self, attempt: &str, from: IpAddr, now: Instant) -> Verdict {
        let right = bool::from(digest(attempt.as_bytes()).ct_eq(&self.digest));
        self.throttle.judge(right, from, now)
    }
}

impl Throttle {
    /// Whether the address is throttled now.
    pub fn is_throttled(&self, from: IpAddr, now: Instant) -> bool {
        let from = throttle_key(from);
        let mut f = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match f.by_address.get_mut(&from) {
            Some(times) => {
                while times.front().is_some_and(|t| now - *t >= THROTTLE_WINDOW) {
                    times.pop_front();
                }
                times.len() >= THROTTLE_ATTEMPTS
            }
            None => false,
        }
    }

    /// An attempt from `from` at `now` that was `right` or not, as it
    /// counts. The throttle is checked and the failure recorded under one
    /// lock, so parallel connections from one address cannot all slip
    /// past it.
    pub fn judge(&self, right: bool, from: IpAddr, now: Instant) -> Verdict {
        let from = throttle_key(from);
        let mut f = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(times) = f.by_address.get_mut(&from) {
            while times.front().is_some_and(|t| now - *t >= THROTTLE_WINDOW) {
                times.pop_front();
            }
            if times.len() >= THROTTLE_ATTEMPTS {
                return Verdict::Throttled;
            }
        }
        if right {
            return Verdict::Right;
        }
        if !f.by_address.contains_key(&from) {
            if f.order.len() >= ADDRESSES_MAX
                && let Some(oldest) = f.order.pop_front()
            {
                f.by_address.remove(&oldest);
            }
            f.order.push_back(from);
        }
        let times = f.by_address.entry(from).or_default();
        times.push_back(now);
        if times.len() > THROTTLE_ATTEMPTS {
            times.pop_front();
        }
        if times.len() >= THROTTLE_ATTEMPTS {
            Verdict::Throttled
        } else {
            Verdict::Wrong
        }
    }
}

/// What wrong attempts are counted by: the address, or for IPv6 its /64
/// (one subscriber's usual allocation), so that an attacker with a /64
/// cannot try from each of its addresses in turn.
fn throttle_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// Whether a password may be received over this connection (§4.7): over
/// TLS, from this machine, or anywhere if the operator allows plain text.
pub fn may_receive_password(over_tls: bool, peer: IpAddr, allow_plaintext: bool) -> bool {
    over_tls || peer.is_loopback() || allow_plaintext
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

    #[tokio::test(start_paused = true)]
    async fn three_wrong_attempts_a_minute_then_throttled_then_free_again() {
        let a = Access::new("correct horse", false);
        let now = Instant::now();
        assert_eq!(a.check("correct horse", HOME, now), Verdict::Right);
        assert_eq!(a.check("wrong", HOME, now), Verdict::Wrong);
        assert_eq!(a.check("wrong", HOME, now), Verdict::Wrong);
        assert_eq!(a.check("wrong", HOME, now), Verdict::Throttled);
        // Even the right password is refused while throttled.
        assert_eq!(a.check("correct horse", HOME, now), Verdict::Throttled);
        // Another address is not affected.
        assert_eq!(a.check("correct horse", AWAY, now), Verdict::Right);
        tokio::time::advance(THROTTLE_WINDOW).await;
        assert_eq!(
            a.check("correct horse", HOME, Instant::now()),
            Verdict::Right
        );
    }

    #[test]
    fn a_password_crosses_plain_text_only_on_this_machine_unless_allowed() {
        let other: IpAddr = "192.0.2.7".parse().unwrap_or(HOME);
        let v6: IpAddr = "::1".parse().unwrap_or(HOME);
        assert!(may_receive_password(false, HOME, false));
        assert!(may_receive_password(false, v6, false));
        assert!(!may_receive_password(false, other, false));
        assert!(may_receive_password(true, other, false));
        assert!(may_receive_password(false, other, true));
    }

    #[test]
    fn an_ipv6_slash_64_is_throttled_as_one() {
        let a = Access::new("pw", false);
        let now = Instant::now();
        for host in 1..=3u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, host));
            let verdict = a.check("no", ip, now);
            assert_eq!(verdict == Verdict::Throttled, host == 3, "{host}");
        }
        let elsewhere = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert_eq!(a.check("pw", elsewhere, now), Verdict::Right);
    }

    #[test]
    fn lengths_and_prefixes_do_not_matter() {
        let a = Access::new("abc", false);
        let now = Instant::now();
        for wrong in ["", "ab", "abcd", "ABC"] {
            assert_ne!(a.check(wrong, AWAY, now), Verdict::Right, "{wrong}");
        }
    }
}
