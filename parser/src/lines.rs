//! Framing and content checks for a whole buffer at once: the fast path the
//! server takes over each read. The buffer's complete lines are validated
//! together (one UTF-8 pass and one control-character pass over the run,
//! §2.1 and §2.5) instead of one short line at a time, and their LFs are
//! found a word at a time. When the run fails (one bad line is enough), or
//! the framer is discarding an over-long line, every line of that buffer is
//! framed and checked on its own instead, so the results are exactly those of
//! [`LineFramer::next`] followed by [`content::check_line`] per line (a
//! property test holds it to that). Like the framer it owns no buffer and
//! does no I/O, and it never decodes a line's grammar.

use crate::content::{self, CheckedLine};
use crate::error::ContentError;
use crate::framer::{Frame, LineFramer};

/// One outcome of [`Lines`]. More bytes are needed once the iterator ends
/// (unless it ended on [`Framed::Flood`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A complete line, terminator removed, and the result of its content
    /// check (§2.1, §2.5): decode it, or reply with the error's code.
    Line(Result<CheckedLine<'a>, ContentError>),
    /// A line longer than the limit ended and was discarded (§2.4).
    TooLong,
    /// More than `flood-cap` octets with no LF (§2.4). Fatal; the iterator
    /// ends here and the framer must not be used again.
    Flood,
}

/// Iterator over the frames at the start of one buffer; see
/// [`LineFramer::lines`].
#[derive(Debug)]
pub struct Lines<'f, 'a> {
    framer: &'f mut LineFramer,
    data: &'a [u8],
    pos: usize,
    /// `data[..run.len()]` as text, when all of its lines pass the checks.
    run: Option<&'a str>,
    /// Where the run's lines end.
    ends: Option<LineEnds<'a>>,
    done: bool,
}

impl LineFramer {
    /// Frames and content-checks every complete line at the start of
    /// `data`, which must begin where the last call's consumed octets ended.
    /// After the iterator is done, [`Lines::consumed`] says how many octets
    /// the caller must drop.
    pub fn lines<'f, 'a>(&'f mut self, data: &'a [u8]) -> Lines<'f, 'a> {
        // While an over-long line is being discarded, the buffer starts
        // inside it, where anything goes: check line by line instead.
        let run = if self.is_discarding() {
            None
        } else {
            memchr::memrchr(b'\n', data).and_then(|lf| content::check_run(&data[..=lf]))
        };
        Lines {
            framer: self,
            data,
            pos: 0,
            run,
            ends: run.map(|run| LineEnds::new(run.as_bytes())),
            done: false,
        }
    }
}

impl<'a> Lines<'_, 'a> {
    /// Octets of the buffer used so far: all complete lines, and the part
    /// of an over-long line already discarded, once the iterator is done.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    fn checked(&self, start: usize, line: &'a [u8]) -> Result<CheckedLine<'a>, ContentError> {
        match self.run.and_then(|run| run.get(start..start + line.len())) {
            // Inside a run that passed, every line does.
            Some(text) => Ok(CheckedLine::from_passed_run(text)),
            None => content::check_line(line),
        }
    }
}

impl<'a> Iterator for Lines<'_, 'a> {
    type Item = Framed<'a>;

    fn next(&mut self) -> Option<Framed<'a>> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let rest = &self.data[start..];
        let (used, frame) = match self.ends.as_mut().and_then(Iterator::next) {
            // Inside the run every line has its LF, so none is being discarded.
            Some(lf) => self.framer.line_ending_at(rest, lf - start),
            None => self.framer.next(rest),
        };
        self.pos += used;
        match frame {
            // A line always starts at the front of what the framer was given.
            Frame::Line(line) => Some(Framed::Line(self.checked(start, line))),
            Frame::TooLong => Some(Framed::TooLong),
            Frame::Flood => {
                self.done = true;
                Some(Framed::Flood)
            }
            Frame::NeedMore => {
                self.done = true;
                None
            }
        }
    }
}

/// The positions of LF in a run, in order, found eight octets at a time:
/// each word is tested for LF octets with a few integer operations and the
/// positions are read off the result, with no per-line search call.
#[derive(Debug)]
struct LineEnds<'a> {
    run: &'a [u8],
    /// Offset of the word `found` describes.
    word: usize,
    /// High bit of each octet of that word that is an LF not yet returned.
    found: u64,
}

const WORD: usize = 8;

impl<'a> LineEnds<'a> {
    fn new(run: &'a [u8]) -> Self {
        LineEnds {
            run,
            word: 0,
            found: lf_octets(load(run)),
        }
    }
}

impl Iterator for LineEnds<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.found == 0 {
            self.word += WORD;
            let rest = self.run.get(self.word..).filter(|r| !r.is_empty())?;
            self.found = lf_octets(load(rest));
        }
        let octet = self.found.trailing_zeros() as usize / 8;
        self.found &= self.found - 1;
        Some(self.word + octet)
    }
}

/// The first (up to) eight octets of `bytes`, little-endian, zero-padded.
fn load(bytes: &[u8]) -> u64 {
    if let Some(&word) = bytes.first_chunk::<WORD>() {
        return u64::from_le_bytes(word);
    }
    let mut word = [0u8; WORD];
    let n = bytes.len().min(WORD);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word)
}

/// The high bit of every octet of `word` that is LF, and no other bit.
fn lf_octets(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // Octets equal to LF become zero; an octet is zero exactly when neither
    // its high bit nor (low seven bits + 0x7f) sets bit 7. No carry crosses
    // octets, so there are no false positives.
    let x = word ^ 0x0a0a_0a0a_0a0a_0a0a;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_across_words() {
        let mut run = vec![b'a'; 200];
        let at = [0, 5, 7, 8, 9, 63, 64, 65, 127, 128, 198, 199];
        for &i in &at {
            run[i] = b'\n';
        }
        assert_eq!(LineEnds::new(&run).collect::<Vec<_>>(), at);
        assert_eq!(LineEnds::new(b"").count(), 0);
        assert_eq!(LineEnds::new(&[b'a'; 64]).count(), 0);
        assert_eq!(
            LineEnds::new(b"\n\n\x0b\x8a\n").collect::<Vec<_>>(),
            [0, 1, 4]
        );
        // Every octet value next to an LF: only the LF counts.
        for b in 0..=255u8 {
            let want: Vec<usize> = if b == b'\n' { vec![0, 1] } else { vec![1] };
            assert_eq!(
                LineEnds::new(&[b, b'\n']).collect::<Vec<_>>(),
                want,
                "{b:#x}"
            );
        }
    }
}
