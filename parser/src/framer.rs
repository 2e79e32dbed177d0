//! The incremental line framer (§2.2, §2.4): bytes in as they arrive from a
//! socket, complete lines out. It owns no buffer and does no I/O: the caller
//! keeps the bytes and drops what the framer says it consumed, so memory per
//! connection is bounded by `line-max + 1` plus one read. It never interprets
//! line content; that is the decoders' job.

use crate::limits::{FLOOD_CAP, LINE_MAX};

/// One outcome of [`LineFramer::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'b> {
    /// A complete line, terminator (LF or CR LF) removed. May be empty.
    Line(&'b [u8]),
    /// A line longer than the limit ended; it was discarded whole (§2.4).
    /// Reply `ERR line-too-long` and go on.
    TooLong,
    /// More than `flood-cap` octets of one line with no LF (§2.4). Fatal:
    /// reply `BYE flood` and close. The framer must not be used again.
    Flood,
    /// No complete line in the buffer: read more bytes.
    NeedMore,
}

/// Splits a byte stream into lines, enforcing `line-max` and `flood-cap`.
///
/// ```abnf
/// client-frame = line-content ( LF / CR LF )
/// ```
#[derive(Debug, Clone)]
pub struct LineFramer {
    max: usize,
    flood_cap: usize,
    /// Octets at the front of the buffer already known to hold no LF.
    scanned: usize,
    /// `Some` while discarding an over-long line: what was thrown away.
    discarded: Option<Discarded>,
}

/// The part of an over-long line discarded so far, with no LF seen.
#[derive(Debug, Clone, Copy, Default)]
struct Discarded {
    /// Octets thrown away.
    octets: usize,
    /// Whether the last of them was a CR, which is terminator rather than
    /// content if an LF comes next (§2.4).
    ends_with_cr: bool,
}

impl Discarded {
    /// Adds `buf` (which holds no LF) to what was discarded.
    fn and(self, buf: &[u8]) -> Discarded {
        Discarded {
            octets: self.octets + buf.len(),
            ends_with_cr: buf.last().map_or(self.ends_with_cr, |&b| b == b'\r'),
        }
    }
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(LINE_MAX, FLOOD_CAP)
    }
}

impl LineFramer {
    /// A framer for lines of at most `max` content octets that gives up after
    /// `flood_cap` octets of one unterminated line. Clients use
    /// `SERVER_LINE_MAX` for server lines; servers use the default.
    pub fn new(max: usize, flood_cap: usize) -> Self {
        LineFramer {
            max,
            flood_cap: flood_cap.max(max + 1),
            scanned: 0,
            discarded: None,
        }
    }

    /// The longest content this framer accepts.
    pub fn max_line(&self) -> usize {
        self.max
    }

    /// Looks for the next frame at the start of `buf`. Returns how many
    /// octets of `buf` the caller must now drop, and the frame (which borrows
    /// from `buf`, so drop the octets after using it). Call again until it
    /// returns [`Frame::NeedMore`].
    pub fn next<'b>(&mut self, buf: &'b [u8]) -> (usize, Frame<'b>) {
        if let Some(done) = self.discarded {
            return match find_lf(buf) {
                Some(lf) => {
                    self.discarded = None;
                    // The CR of a CR LF is terminator, not content (§2.4);
                    // it may have come at the end of an earlier read.
                    let cr = if lf > 0 {
                        buf[lf - 1] == b'\r'
                    } else {
                        done.ends_with_cr
                    };
                    let content = done.octets + lf - usize::from(cr);
                    let frame = if content > self.flood_cap {
                        Frame::Flood
                    } else {
                        Frame::TooLong
                    };
                    (lf + 1, frame)
                }
                None => {
                    let done = done.and(buf);
                    self.discarded = Some(done);
                    (buf.len(), self.flood_or_more(done))
                }
            };
        }
        let from = self.scanned.min(buf.len());
        match find_lf(&buf[from..]) {
            Some(pos) => self.line_ending_at(buf, from + pos),
            // Content plus a CR that may yet be followed by LF still fits.
            None if buf.len() <= self.max + 1 => {
                self.scanned = buf.len();
                (0, Frame::NeedMore)
            }
            None => {
                self.scanned = 0;
                let done = Discarded::default().and(buf);
                self.discarded = Some(done);
                (buf.len(), self.flood_or_more(done))
            }
        }
    }

    /// `Flood` once more than `flood-cap` octets of content have been
    /// discarded with no LF; a CR at the very end is not counted yet, as
    /// the LF that would make it a terminator may be next.
    fn flood_or_more(&self, done: Discarded) -> Frame<'static> {
        if done.octets - usize::from(done.ends_with_cr) > self.flood_cap {
            Frame::Flood
        } else {
            Frame::NeedMore
        }
    }

    /// The frame for a line that ends at `buf[lf]`, the first LF in `buf`,
    /// when no over-long line is being discarded. For callers that found
    /// the LF themselves.
    pub(crate) fn line_ending_at<'b>(&mut self, buf: &'b [u8], lf: usize) -> (usize, Frame<'b>) {
        debug_assert!(self.discarded.is_none() && buf.get(lf) == Some(&b'\n'));
        self.scanned = 0;
        let mut line = &buf[..lf];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let frame = if line.len() <= self.max {
            Frame::Line(line)
        } else if line.len() > self.flood_cap {
            Frame::Flood
        } else {
            Frame::TooLong
        };
        (lf + 1, frame)
    }

    /// True while an over-long line is being discarded.
    pub fn is_discarding(&self) -> bool {
        self.discarded.is_some()
    }
}

fn find_lf(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a framer over `input` delivered whole, collecting owned frames.
    fn frames(max: usize, cap: usize, input: &[u8]) -> Vec<Result<Vec<u8>, Frame<'static>>> {
        let mut f = LineFramer::new(max, cap);
        let mut buf = input.to_vec();
        let mut out = Vec::new();
        loop {
            let (used, frame) = f.next(&buf);
            let item = match frame {
                Frame::Line(l) => Ok(l.to_vec()),
                Frame::TooLong => Err(Frame::TooLong),
                Frame::Flood => Err(Frame::Flood),
                Frame::NeedMore => Err(Frame::NeedMore),
            };
            buf.drain(..used);
            match item {
                Err(Frame::NeedMore) => return out,
                Err(Frame::Flood) => {
                    out.push(item);
                    return out;
                }
                other => out.push(other),
            }
        }
    }

    #[test]
    fn terminators() {
        let got = frames(8, 64, b"a\nb\r\n\r\n\nc\r\rd\n");
        let want: Vec<Result<Vec<u8>, Frame>> = vec![
            Ok(b"a".to_vec()),
            Ok(b"b".to_vec()),
            Ok(b"".to_vec()),
            Ok(b"".to_vec()),
            Ok(b"c\r\rd".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn limit_is_exact_and_cr_does_not_count() {
        assert_eq!(frames(4, 64, b"abcd\r\n"), vec![Ok(b"abcd".to_vec())]);
        assert_eq!(
            frames(4, 64, b"abcde\nok\n"),
            vec![Err(Frame::TooLong), Ok(b"ok".to_vec())]
        );
    }

    #[test]
    fn over_long_line_is_discarded_whole_across_reads() {
        let mut f = LineFramer::new(4, 64);
        assert_eq!(f.next(b"abcdef"), (6, Frame::NeedMore));
        assert!(f.is_discarding());
        assert_eq!(f.next(b"gh"), (2, Frame::NeedMore));
        assert_eq!(f.next(b"i\nok\n"), (2, Frame::TooLong));
        assert_eq!(f.next(b"ok\n"), (3, Frame::Line(b"ok")));
    }

    #[test]
    fn flood_past_cap() {
        let mut f = LineFramer::new(4, 10);
        assert_eq!(f.next(b"abcdefgh"), (8, Frame::NeedMore));
        assert_eq!(f.next(b"ijk"), (3, Frame::Flood));
        // Delivered whole, a line longer than the cap is a flood too.
        assert_eq!(frames(4, 10, b"abcdefghijk\n"), vec![Err(Frame::Flood)]);
        assert_eq!(frames(4, 10, b"abcdefghij\n"), vec![Err(Frame::TooLong)]);
    }

    /// Issue 11 item 5: `flood-cap` counts content; the CR of CR LF is
    /// terminator, whether the line comes whole or in pieces.
    #[test]
    fn flood_cap_does_not_count_the_terminator() {
        assert_eq!(frames(4, 10, b"abcdefghij\r\n"), vec![Err(Frame::TooLong)]);
        assert_eq!(frames(4, 10, b"abcdefghijk\r\n"), vec![Err(Frame::Flood)]);
        let mut f = LineFramer::new(4, 10);
        assert_eq!(f.next(b"abcdefghij\r"), (11, Frame::NeedMore));
        assert_eq!(f.next(b"\nok\n"), (1, Frame::TooLong));
        let mut f = LineFramer::new(4, 10);
        assert_eq!(f.next(b"abcdefgh"), (8, Frame::NeedMore));
        assert_eq!(f.next(b"ij\r"), (3, Frame::NeedMore));
        assert_eq!(f.next(b"\n"), (1, Frame::TooLong));
        // A CR that is followed by more content was content after all.
        let mut f = LineFramer::new(4, 10);
        assert_eq!(f.next(b"abcdefghij\r"), (11, Frame::NeedMore));
        assert_eq!(f.next(b"x"), (1, Frame::Flood));
        // Eleven octets of content with no LF yet is a flood at once.
        let mut f = LineFramer::new(4, 10);
        assert_eq!(f.next(b"abcdefghijk"), (11, Frame::Flood));
    }

    #[test]
    fn never_asks_to_hold_more_than_limit_plus_cr() {
        let mut f = LineFramer::new(4, 64);
        assert_eq!(f.next(b"abcd\r"), (0, Frame::NeedMore));
        assert_eq!(f.next(b"abcd\r\n"), (6, Frame::Line(b"abcd")));
    }
}
