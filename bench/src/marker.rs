//! The payload of a benchmark message: `B <sender> <seq> <t_ns> ` padded with
//! `x` to the requested size, so every delivery can be attributed, ordered
//! and timed, and any corruption shows. `t_ns` is nanoseconds on this
//! process's monotonic clock (senders and receivers share it).

/// Builds the text of message `seq` from `sender`, `size` octets long
/// (at least as long as the header).
pub fn payload(sender: u32, seq: u64, t_ns: u64, size: usize) -> String {
    let mut s = format!("B {sender} {seq} {t_ns} ");
    while s.len() < size {
        s.push('x');
    }
    s
}

/// A parsed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub sender: u32,
    pub seq: u64,
    pub t_ns: u64,
}

/// Parses a payload; `None` if it is not one or its padding is damaged.
pub fn parse(text: &str) -> Option<Marker> {
    let rest = text.strip_prefix("B ")?;
    let mut fields = rest.splitn(4, ' ');
    let sender = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    let t_ns = fields.next()?.parse().ok()?;
    let pad = fields.next().unwrap_or("");
    pad.bytes()
        .all(|b| b == b'x')
        .then_some(Marker { sender, seq, t_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let p = payload(3, 17, 123456, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(
            parse(&p),
            Some(Marker {
                sender: 3,
                seq: 17,
                t_ns: 123456
            })
        );
        assert_eq!(parse(&p.replacen('x', "y", 1)), None);
        assert_eq!(parse("hello"), None);
        assert_eq!(payload(1, 2, 3, 0), "B 1 2 3 ");
    }
}
