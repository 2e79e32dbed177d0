//! IRCv3 `labeled-response` (spec §20.3): what a command sent with a
//! `label` tag made for its sender comes back carrying the label, so a
//! client (a bot, a bouncer) can match answers to questions. One line
//! gets the tag; several go in a `labeled-response` batch whose start
//! carries it; none is a labelled `ACK`. Line surgery only: never sends,
//! never decides what was answered (the front collects that).

use tagarela_parser::irc::escape_into;

/// `line` (one IRC line, CR LF included) with `tag` (`key=value`) put
/// first among its tags.
fn tagged(out: &mut Vec<u8>, line: &[u8], tag: &str) {
    out.push(b'@');
    out.extend_from_slice(tag.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.push(b';');
            out.extend_from_slice(rest);
        }
        None => {
            out.push(b' ');
            out.extend_from_slice(line);
        }
    }
}

/// The answer to a command labelled `label` that made `made` (whole
/// lines, CR LF each) for its sender; `server` names the server and
/// `batch` the batch to open if there are several lines (`None`: the
/// client takes no batches, and the lines go unlabelled).
pub fn labelled(label: &str, made: &[u8], server: &str, batch: Option<&str>) -> Vec<u8> {
    let mut value = String::new();
    escape_into(label, &mut value);
    let label_tag = format!("label={value}");
    let lines: Vec<&[u8]> = made
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::with_capacity(made.len() + 64);
    match (lines.as_slice(), batch) {
        ([], _) => {
            let ack = format!(":{server} ACK\r\n");
            tagged(&mut out, ack.as_bytes(), &label_tag);
        }
        ([line], _) => tagged(&mut out, line, &label_tag),
        (_, None) => out.extend_from_slice(made),
        (lines, Some(id)) => {
            let start = format!(":{server} BATCH +{id} labeled-response\r\n");
            tagged(&mut out, start.as_bytes(), &label_tag);
            let inner = format!("batch={id}");
            for line in lines {
                // A line of a batch inside this one (CHATHISTORY's) keeps
                // its own batch tag; that batch's start and end lines are
                // this batch's.
                if line.starts_with(b"@batch=") {
                    out.extend_from_slice(line);
                } else {
                    tagged(&mut out, line, &inner);
                }
            }
            out.extend_from_slice(format!(":{server} BATCH -{id}\r\n").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap_or_default()
    }

    #[test]
    fn none_one_or_several_lines_come_back_labelled() {
        assert_eq!(
            text(labelled("a;b", b"", "irc.test", Some("l1"))),
            "@label=a\\:b :irc.test ACK\r\n"
        );
        assert_eq!(
            text(labelled(
                "7",
                b":irc.test PONG irc.test :x\r\n",
                "irc.test",
                Some("l1")
            )),
            "@label=7 :irc.test PONG irc.test :x\r\n"
        );
        let two =
            b"@time=2026-01-01T00:00:00.000Z :a!~u@tagarela JOIN #x\r\n:irc.test 366 a #x :End\r\n";
        assert_eq!(
            text(labelled("7", two, "irc.test", Some("l2"))),
            "@label=7 :irc.test BATCH +l2 labeled-response\r\n\
             @batch=l2;time=2026-01-01T00:00:00.000Z :a!~u@tagarela JOIN #x\r\n\
             @batch=l2 :irc.test 366 a #x :End\r\n\
             :irc.test BATCH -l2\r\n"
        );
    }
}
