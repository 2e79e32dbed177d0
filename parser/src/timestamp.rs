//! Server timestamps (§1.3): milliseconds since the Unix epoch, written as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`. Pure calendar arithmetic; never reads a clock
//! (the server passes the time in).

use crate::error::FieldError;

/// A UTC instant with millisecond precision, 1970-01-01 to 9999-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

const MS_PER_DAY: u64 = 86_400_000;
/// Days from 1970-01-01 to 10000-01-01.
const DAYS_TO_10000: u64 = 2_932_897;

/// The length of every encoded timestamp, in octets.
pub const TIMESTAMP_LEN: usize = 24;

impl Timestamp {
    /// The latest representable instant, 9999-12-31T23:59:59.999Z.
    pub const MAX: Timestamp = Timestamp(DAYS_TO_10000 * MS_PER_DAY - 1);

    /// From milliseconds since 1970-01-01T00:00:00Z; `None` past [`Timestamp::MAX`].
    pub fn from_unix_ms(ms: u64) -> Option<Timestamp> {
        (ms <= Self::MAX.0).then_some(Timestamp(ms))
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn unix_ms(self) -> u64 {
        self.0
    }

    /// Appends the 24-octet wire form.
    pub fn write(self, out: &mut Vec<u8>) {
        let days = self.0 / MS_PER_DAY;
        let ms_of_day = self.0 % MS_PER_DAY;
        let (y, m, d) = civil_from_days(days);
        let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (min, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        let mut buf = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut buf[0..4], y);
        put_digits(&mut buf[5..7], m);
        put_digits(&mut buf[8..10], d);
        put_digits(&mut buf[11..13], h);
        put_digits(&mut buf[14..16], min);
        put_digits(&mut buf[17..19], s);
        put_digits(&mut buf[20..23], ms);
        out.extend_from_slice(&buf);
    }

    /// Parses the wire form.
    ///
    /// ```abnf
    /// timestamp = 4DIGIT "-" 2DIGIT "-" 2DIGIT %s"T" 2DIGIT ":" 2DIGIT ":"
    ///             2DIGIT "." 3DIGIT %s"Z"
    /// ```
    pub fn parse(s: &str) -> Result<Timestamp, FieldError> {
        let b = s.as_bytes();
        if b.len() != TIMESTAMP_LEN
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'.'
            || b[23] != b'Z'
        {
            return Err(FieldError::BadTimestamp);
        }
        let num = |r: std::ops::Range<usize>| digits(&b[r]).ok_or(FieldError::BadTimestamp);
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, min, s, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
        if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(FieldError::BadTimestamp);
        }
        if h > 23 || min > 59 || s > 59 {
            return Err(FieldError::BadTimestamp);
        }
        let days = days_from_civil(y, m, d);
        Ok(Timestamp(
            days * MS_PER_DAY + h * 3_600_000 + min * 60_000 + s * 1000 + ms,
        ))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = Vec::with_capacity(TIMESTAMP_LEN);
        self.write(&mut v);
        f.write_str(std::str::from_utf8(&v).map_err(|_| std::fmt::Error)?)
    }
}

fn put_digits(dst: &mut [u8], mut v: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (y >= 1970).
/// Eras of 400 years (146097 days) starting on March 1st.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(ms: u64) -> String {
        Timestamp::from_unix_ms(ms).unwrap().to_string()
    }

    #[test]
    fn known_instants() {
        assert_eq!(show(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(show(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(show(1_795_262_400_123), "2026-11-21T12:00:00.123Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_unix_ms(Timestamp::MAX.unix_ms() + 1), None);
    }

    #[test]
    fn parse_checks_the_calendar() {
        let ok = Timestamp::parse("2024-02-29T23:59:59.999Z").unwrap();
        assert_eq!(ok.to_string(), "2024-02-29T23:59:59.999Z");
        for bad in [
            "2023-02-29T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-00-01T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:60:00.000Z",
            "2026-01-01T00:00:60.000Z",
            "1969-12-31T23:59:59.999Z",
            "2026-01-01t00:00:00.000Z",
            "2026-01-01T00:00:00.000",
            "2026-01-01T00:00:00.00Z",
            "+026-01-01T00:00:00.000Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
