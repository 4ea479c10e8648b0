//! The DATA reader: strict RFC 5321 end-of-data detection and dot transparency.
//!
//! The message ends only at `<CRLF>.<CRLF>`. Every other dot sequence — bare LF (`\n.\n`), bare
//! CR (`\r.\r`), or `<CRLF>.<CR><CR><LF>` — stays inside the body. This matters: a sending
//! server that does not treat such a sequence as the end passes it through, and a receiver that
//! did would read the bytes after it as new SMTP commands ("SMTP smuggling": a forged second mail
//! inside the first). smtp-proto's `DataReceiver` accepts `<CRLF>.<CR><CR><LF>` as an ending (found
//! by our fuzz target), so etraq uses this reader for DATA.
//!
//! Transparency (RFC 5321 §4.5.2): a line that starts with `.` and has more characters loses that
//! first dot.

/// Where the reader is within the current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of the data).
    LineStart,
    /// Somewhere in a line; `cr` when the last byte was a CR.
    InLine { cr: bool },
    /// A line started with `.` (withheld for now).
    Dot,
    /// A line started with `.` then CR.
    DotCr,
}

/// Reads the data of one message. Feed it bytes with [`DataReader::feed`].
#[derive(Clone, Debug)]
pub struct DataReader {
    state: State,
    keep: bool,
}

impl DataReader {
    /// A reader that keeps the message.
    pub fn new() -> Self {
        DataReader {
            state: State::LineStart,
            keep: true,
        }
    }

    /// From now on, bytes are only scanned for the end, not kept (a message over the size
    /// limit is drained this way).
    pub fn discard(&mut self) {
        self.keep = false;
    }

    /// Consumes bytes from `input` into `out`. Returns `(consumed, done)`: `done` when
    /// `<CRLF>.<CRLF>` was found, after which the remaining input is not consumed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        let push = |b: u8, out: &mut Vec<u8>| {
            if self.keep {
                out.push(b);
            }
        };
        let mut i = 0;
        while i < input.len() {
            // Inside a line, everything up to the next CR or LF is message text: kept in one
            // go. Only line ends and what follows them go through the byte rules below.
            if self.state == (State::InLine { cr: false }) {
                let run = memchr::memchr2(b'\r', b'\n', &input[i..]).unwrap_or(input.len() - i);
                if run > 0 {
                    if self.keep {
                        out.extend_from_slice(&input[i..i + run]);
                    }
                    i += run;
                    continue;
                }
            }
            let b = input[i];
            i += 1;
            self.state = match self.state {
                State::LineStart if b == b'.' => State::Dot,
                State::LineStart | State::InLine { .. } => {
                    let after_cr = matches!(self.state, State::InLine { cr: true });
                    push(b, out);
                    if b == b'\n' && after_cr {
                        State::LineStart
                    } else {
                        State::InLine { cr: b == b'\r' }
                    }
                }
                State::Dot if b == b'\r' => State::DotCr,
                // A stuffed dot: drop it and read the byte as part of the line.
                State::Dot => {
                    push(b, out);
                    State::InLine { cr: false }
                }
                State::DotCr if b == b'\n' => return (i, true),
                // ".\r" followed by more: the line has other characters, so the dot goes and
                // the CR stays.
                State::DotCr => {
                    push(b'\r', out);
                    push(b, out);
                    match b {
                        b'\r' => State::InLine { cr: true },
                        _ => State::InLine { cr: false },
                    }
                }
            };
        }
        (input.len(), false)
    }
}

impl Default for DataReader {
    fn default() -> Self {
        DataReader::new()
    }
}

/// `count` pseudo-random inputs of up to 63 bytes over CR, LF, dot and two letters: every
/// arrangement of line ends and dots a reader or encoder must get right, from `seed`.
#[cfg(test)]
pub(crate) fn line_soup(mut seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..count)
        .map(|_| {
            let len = (next() % 64) as usize;
            (0..len)
                .map(|_| [b'\r', b'\n', b'.', b'a', b'b'][(next() % 5) as usize])
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut r = DataReader::new();
        let mut out = Vec::new();
        let (n, done) = r.feed(input, &mut out);
        (out, done.then(|| input[n..].to_vec()))
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf() {
        assert_eq!(
            read(b"a\r\nb\r\n.\r\nQUIT\r\n"),
            (b"a\r\nb\r\n".to_vec(), Some(b"QUIT\r\n".to_vec()))
        );
        assert_eq!(read(b".\r\n"), (Vec::new(), Some(Vec::new())));
        for smuggle in [
            &b"a\n.\nMAIL"[..],
            b"a\r.\rMAIL",
            b"a\r\n.\r\r\nMAIL",
            b"a\r\n.\nMAIL",
            b"a\n.\r\nMAIL",
        ] {
            let (_, done) = read(smuggle);
            assert_eq!(
                done,
                None,
                "{:?} ended the data",
                String::from_utf8_lossy(smuggle)
            );
        }
    }

    #[test]
    fn keeps_smuggling_attempts_in_the_body() {
        let (body, rest) = read(b"x\r\n.\r\r\nMAIL FROM:<e@v>\r\n.\r\n");
        assert_eq!(body, b"x\r\n\r\r\nMAIL FROM:<e@v>\r\n");
        assert_eq!(rest, Some(Vec::new()));
        let (body, _) = read(b"x\n.\ny\r\n.\r\n");
        assert_eq!(body, b"x\n.\ny\r\n");
    }

    #[test]
    fn unstuffs_dots() {
        assert_eq!(read(b"..a\r\n...\r\n.\r\n").0, b".a\r\n..\r\n");
        assert_eq!(read(b".a\r\n.\r\n").0, b"a\r\n");
    }

    /// The reader as it was before its fast path: one byte at a time through the rules.
    fn bytewise(input: &[u8]) -> (Vec<u8>, Option<usize>) {
        let mut r = DataReader::new();
        let mut out = Vec::new();
        for (i, b) in input.iter().enumerate() {
            if r.feed(std::slice::from_ref(b), &mut out).1 {
                return (out, Some(i + 1));
            }
        }
        (out, None)
    }

    #[test]
    fn reading_in_runs_equals_reading_byte_by_byte() {
        // Pseudo-random messages over the bytes that matter (CR, LF, dot) and text, read in
        // chunks of every size: the same body and the same end as byte by byte.
        for input in line_soup(0x2545_f491_4f6c_dd1d, 2000) {
            let want = bytewise(&input);
            for chunk in 1..=input.len().max(1) {
                let mut r = DataReader::new();
                let mut out = Vec::new();
                let mut end = None;
                let mut at = 0;
                for piece in input.chunks(chunk) {
                    let (n, done) = r.feed(piece, &mut out);
                    if done {
                        end = Some(at + n);
                        break;
                    }
                    assert_eq!(n, piece.len());
                    at += n;
                }
                assert_eq!(
                    (out, end),
                    want,
                    "{:?} in chunks of {chunk}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn works_byte_by_byte() {
        let input = b"Subject: x\r\n\r\n..dot\r\n.\r\r\nstill body\r\n.\r\nNEXT";
        let mut r = DataReader::new();
        let mut out = Vec::new();
        let mut end = None;
        for (i, b) in input.iter().enumerate() {
            let (n, done) = r.feed(std::slice::from_ref(b), &mut out);
            assert_eq!(n, 1);
            if done {
                end = Some(i + 1);
                break;
            }
        }
        assert_eq!(&input[end.unwrap()..], b"NEXT");
        assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\n\r\r\nstill body\r\n");
    }
}
