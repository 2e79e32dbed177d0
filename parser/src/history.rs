//! `/history` requests (spec §16.3): which stored public messages a client
//! asks for. A value of this type is always a request the spec allows
//! (a count from 1 to `history-page-max`); decoding and encoding are here,
//! I/O-free. Never decides what the server keeps.

use crate::error::LineError;
use crate::limits::HISTORY_PAGE_MAX;

/// What `/history` asks for. The answer is always oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// `/history [count]`: the latest stored messages.
    Latest { count: Option<u16> },
    /// `/history before SEQ [count]`: the latest ones numbered below `seq`.
    Before { seq: u64, count: Option<u16> },
    /// `/history after SEQ [count]`: the earliest ones numbered above `seq`.
    After { seq: u64, count: Option<u16> },
}

impl HistoryQuery {
    /// Decodes the arguments of `/history` (none, or non-blank):
    ///
    /// ```abnf
    /// history-args = [count] / ("before" / "after") SP seq [SP count]
    /// count        = 1*3DIGIT        ; 1 to history-page-max, no leading zero
    /// seq          = 1*20DIGIT       ; a sequence number, no leading zero
    /// ```
    /// `before` and `after` are case-insensitive.
    pub fn parse(args: Option<&str>) -> Result<HistoryQuery, LineError> {
        let Some(args) = args else {
            return Ok(HistoryQuery::Latest { count: None });
        };
        let words: Vec<&str> = args.split(' ').collect();
        match words.as_slice() {
            [count] => Ok(HistoryQuery::Latest {
                count: Some(parse_count(count)?),
            }),
            [dir, seq, rest @ ..] if rest.len() <= 1 => {
                let seq = parse_seq(seq)?;
                let count = rest.first().map(|c| parse_count(c)).transpose()?;
                if dir.eq_ignore_ascii_case("before") {
                    Ok(HistoryQuery::Before { seq, count })
                } else if dir.eq_ignore_ascii_case("after") {
                    Ok(HistoryQuery::After { seq, count })
                } else {
                    Err(LineError::BadArgument)
                }
            }
            _ => Err(LineError::BadArgument),
        }
    }

    /// The count asked for, or `default`, within 1 to `history-page-max`.
    pub fn count_or(&self, default: usize) -> usize {
        let count = match self {
            HistoryQuery::Latest { count }
            | HistoryQuery::Before { count, .. }
            | HistoryQuery::After { count, .. } => *count,
        };
        count
            .map_or(default, usize::from)
            .clamp(1, HISTORY_PAGE_MAX)
    }

    /// Appends the command's text after `/history`, with its leading SP.
    pub(crate) fn encode_args(&self, out: &mut Vec<u8>) {
        let (dir, count) = match self {
            HistoryQuery::Latest { count } => (None, count),
            HistoryQuery::Before { seq, count } => (Some(("before", seq)), count),
            HistoryQuery::After { seq, count } => (Some(("after", seq)), count),
        };
        if let Some((word, seq)) = dir {
            out.extend_from_slice(format!(" {word} {seq}").as_bytes());
        }
        if let Some(count) = count {
            // A count out of range is written as the nearest allowed, so
            // what is encoded always decodes.
            let count = usize::from(*count).clamp(1, HISTORY_PAGE_MAX);
            out.extend_from_slice(format!(" {count}").as_bytes());
        }
    }
}

fn digits(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'))
}

fn parse_count(s: &str) -> Result<u16, LineError> {
    if !digits(s, 3) {
        return Err(LineError::BadArgument);
    }
    match s.parse::<u16>() {
        Ok(n) if (1..=HISTORY_PAGE_MAX).contains(&usize::from(n)) => Ok(n),
        _ => Err(LineError::BadArgument),
    }
}

/// A sequence number as written in `/history` and `HIST` (§16.1).
pub fn parse_seq(s: &str) -> Result<u64, LineError> {
    if !digits(s, 20) {
        return Err(LineError::BadArgument);
    }
    s.parse().map_err(|_| LineError::BadArgument)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_decodes_and_encodes_back() {
        for (args, want) in [
            (None, HistoryQuery::Latest { count: None }),
            (Some("20"), HistoryQuery::Latest { count: Some(20) }),
            (
                Some("before 42"),
                HistoryQuery::Before {
                    seq: 42,
                    count: None,
                },
            ),
            (
                Some("BEFORE 42 7"),
                HistoryQuery::Before {
                    seq: 42,
                    count: Some(7),
                },
            ),
            (
                Some("after 0 200"),
                HistoryQuery::After {
                    seq: 0,
                    count: Some(200),
                },
            ),
        ] {
            let got = HistoryQuery::parse(args).unwrap();
            assert_eq!(got, want, "{args:?}");
            let mut out = Vec::new();
            got.encode_args(&mut out);
            let again = std::str::from_utf8(&out).unwrap().strip_prefix(' ');
            assert_eq!(HistoryQuery::parse(again).unwrap(), want);
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        for args in [
            "0",
            "201",
            "020",
            "-1",
            "x",
            "before",
            "before x",
            "before 01",
            "around 5",
            "before 5 0",
            "before 5 6 7",
            "after 99999999999999999999",
            "5 before",
            "before  5",
        ] {
            assert_eq!(
                HistoryQuery::parse(Some(args)),
                Err(LineError::BadArgument),
                "{args:?}"
            );
        }
    }
}
