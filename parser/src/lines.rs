//! Framing and content checks for a whole buffer at once: the fast path the
//! server and client take over each read. The buffer's complete lines are
//! validated together (one UTF-8 pass and one control-character pass over
//! the run, §2.1 and §2.5) instead of one short line at a time; a line in a
//! run that fails is checked on its own, so the results are exactly those of
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
        let (used, frame) = self.framer.next(&self.data[start..]);
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
