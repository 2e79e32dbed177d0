//! The server's operators (spec §20.6): the names and passwords of an
//! operators file, each kept only as its SHA-256 digest and compared in
//! constant time, with wrong attempts throttled per address as the room's
//! password is (§4.7). Decides whether an `OPER` succeeds; never replies,
//! and never gives a power itself (the wire layer keeps who is one).

use std::collections::HashMap;
use std::net::IpAddr;

use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::chat::access::{Throttle, Verdict, digest};

/// Why an operators file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OperatorsError {
    /// A line has a name and no password.
    #[error("line {0}: a name with no password (each line is `name password`)")]
    NoPassword(usize),
    /// A name appears twice.
    #[error("line {0}: the name {1:?} appears twice")]
    Twice(usize, String),
    /// There is nobody in it.
    #[error("the operators file names nobody")]
    Empty,
}

/// Who may become a server operator, and with which password.
#[derive(Debug)]
pub struct Operators {
    /// The SHA-256 digest of each operator's password, by the name given
    /// to `OPER` (not a nick: it names the operator, whoever they are
    /// online).
    by_name: HashMap<String, [u8; 32]>,
    /// Wrong attempts by address.
    throttle: Throttle,
}

impl Operators {
    /// Reads an operators file: one `name password` a line (the password
    /// is the rest of the line, trimmed), blank lines and lines starting
    /// with `#` ignored.
    pub fn parse(text: &str) -> Result<Operators, OperatorsError> {
        let mut by_name = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, password) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let password = password.trim();
            if password.is_empty() {
                return Err(OperatorsError::NoPassword(i + 1));
            }
            if by_name
                .insert(name.to_owned(), digest(password.as_bytes()))
                .is_some()
            {
                return Err(OperatorsError::Twice(i + 1, name.to_owned()));
            }
        }
        if by_name.is_empty() {
            return Err(OperatorsError::Empty);
        }
        Ok(Operators {
            by_name,
            throttle: Throttle::default(),
        })
    }

    /// Checks `OPER name password` from `from` at `now`. An unknown name
    /// costs the same digest and comparison as a wrong password, and
    /// counts against the address the same way.
    pub fn check(&self, name: &str, password: &str, from: IpAddr, now: Instant) -> Verdict {
        let given = digest(password.as_bytes());
        let right = match self.by_name.get(name) {
            Some(kept) => bool::from(given.ct_eq(kept)),
            None => {
                let _ = given.ct_eq(&[0u8; 32]);
                false
            }
        };
        self.throttle.judge(right, from, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn reads_names_and_passwords() {
        let ops = Operators::parse("# operators\n\nana  correct horse \nbia s3cret\n").unwrap();
        let now = Instant::now();
        assert_eq!(ops.check("ana", "correct horse", HOME, now), Verdict::Right);
        assert_eq!(ops.check("bia", "s3cret", HOME, now), Verdict::Right);
        assert_eq!(ops.check("bia", "correct horse", HOME, now), Verdict::Wrong);
    }

    #[test]
    fn refuses_a_file_it_cannot_trust() {
        assert_eq!(
            Operators::parse("ana\n").unwrap_err(),
            OperatorsError::NoPassword(1)
        );
        assert_eq!(
            Operators::parse("ana x\nana y\n").unwrap_err(),
            OperatorsError::Twice(2, "ana".to_owned())
        );
        assert_eq!(
            Operators::parse("# nobody\n").unwrap_err(),
            OperatorsError::Empty
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_attempts_are_throttled_even_for_unknown_names() {
        let ops = Operators::parse("ana pw\n").unwrap();
        let now = Instant::now();
        assert_eq!(ops.check("nobody", "pw", HOME, now), Verdict::Wrong);
        assert_eq!(ops.check("ana", "no", HOME, now), Verdict::Wrong);
        assert_eq!(ops.check("ana", "no", HOME, now), Verdict::Throttled);
        // Throttled: even the right password is refused, for a while.
        assert_eq!(ops.check("ana", "pw", HOME, now), Verdict::Throttled);
        tokio::time::advance(crate::chat::access::THROTTLE_WINDOW).await;
        assert_eq!(ops.check("ana", "pw", HOME, Instant::now()), Verdict::Right);
    }
}
