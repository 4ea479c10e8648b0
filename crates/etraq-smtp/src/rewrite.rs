//! What the gateway changes in a tracked mail before relaying it, and how it is put on the wire.
//!
//! Two changes, both in the header block, none in the body:
//! - `X-Etraq-DR: <id>` is prepended to every tracked mail. It is invisible to readers and, being
//!   a new field, is not covered by the sender's DKIM signature, so it never breaks it.
//! - the subject tag `[SUPP-…]` is inserted into the Subject header (once, never twice). This does
//!   change a signed header: see the README on DKIM.
//!
//! The message is never copied: [`Outgoing`] is a list of slices of the original plus the few new
//! bytes. [`DotStuffer`] then writes it for DATA: lines starting with `.` are stuffed and bare CR
//! or LF become CRLF, so no byte sequence in a message can end the upstream's DATA early (SMTP
//! smuggling through etraq is impossible).

use std::borrow::Cow;

use etraq_core::DrId;
use mail_parser::{HeaderName, MessageParser};

/// A message as relayed: pieces written in order.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The pieces.
    pub pieces: Vec<Cow<'a, [u8]>>,
}

impl<'a> Outgoing<'a> {
    /// The message unchanged.
    pub fn unchanged(raw: &'a [u8]) -> Self {
        Outgoing {
            pieces: vec![Cow::Borrowed(raw)],
        }
    }

    /// Puts `bytes` (a whole header field, such as `Received:`) before everything else.
    pub fn prepend(&mut self, bytes: Vec<u8>) {
        self.pieces.insert(0, Cow::Owned(bytes));
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(|p| p.len()).sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole message as one buffer (for tests and the Maildir).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for p in &self.pieces {
            v.extend_from_slice(p);
        }
        v
    }
}

/// The relayed form of a tracked mail: `X-Etraq-DR` prepended and, when `tag` is set, the subject
/// tag inserted. Untracked mail is relayed unchanged.
pub fn outgoing<'a>(raw: &'a [u8], dr: Option<&DrId>, tag: bool) -> Outgoing<'a> {
    let Some(dr) = dr else {
        return Outgoing::unchanged(raw);
    };
    let mut pieces: Vec<Cow<'a, [u8]>> =
        vec![Cow::Owned(format!("X-Etraq-DR: {dr}\r\n").into_bytes())];
    if !tag {
        pieces.push(Cow::Borrowed(raw));
        return Outgoing { pieces };
    }
    match subject_span(raw) {
        Some((start, end)) => {
            let value = &raw[start..end];
            let decoded = MessageParser::new()
                .parse_headers(&raw[..end])
                .and_then(|m| m.subject().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(value).into_owned());
            if etraq_core::mail::has_tag(&decoded, dr) {
                pieces.push(Cow::Borrowed(raw));
                return Outgoing { pieces };
            }
            // Keep the field's leading whitespace, then the tag, then the value as it was
            // (encoded words included), after any plain-ASCII "Re:"/"Fwd:" prefixes.
            let ws = value
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            let mut insert_at = start + ws + prefix_len(&value[ws..]);
            // Past the spaces after the prefixes, so the tag sits between single spaces.
            while insert_at < end && raw[insert_at] == b' ' {
                insert_at += 1;
            }
            let after = &raw[insert_at..end];
            let mut tag_bytes = dr.tag().into_bytes();
            if !raw[..insert_at].ends_with(b" ") && !raw[..insert_at].ends_with(b"\t") {
                tag_bytes.insert(0, b' ');
            }
            if !after.is_empty() && !after.starts_with(b"\r") && !after.starts_with(b"\n") {
                tag_bytes.push(b' ');
            }
            // The physical line the tag lands in: from the line start (the field name, or a
            // folded continuation) to its line end. If the tag makes it longer than RFC 5322's
            // 78 characters, that line is refolded at its spaces.
            let line_start = raw[..insert_at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
                .min(insert_at);
            let line_end = raw[insert_at..]
                .iter()
                .position(|b| *b == b'\r' || *b == b'\n')
                .map_or(raw.len(), |i| insert_at + i);
            let mut line = Vec::with_capacity(line_end - line_start + tag_bytes.len() + 8);
            line.extend_from_slice(&raw[line_start..insert_at]);
            line.extend_from_slice(&tag_bytes);
            line.extend_from_slice(&raw[insert_at..line_end]);
            pieces.push(Cow::Borrowed(&raw[..line_start]));
            pieces.push(Cow::Owned(fold_line(
                &line,
                line_start == field_start(raw, start),
            )));
            pieces.push(Cow::Borrowed(&raw[line_end..]));
        }
        None => {
            // No Subject: add one with the tag.
            pieces.push(Cow::Owned(
                format!("Subject: {}\r\n", dr.tag()).into_bytes(),
            ));
            pieces.push(Cow::Borrowed(raw));
        }
    }
    Outgoing { pieces }
}

/// RFC 5322's recommended line length (§2.1.1), line end excluded.
const FOLD_AT: usize = 78;

/// Where the header field whose value starts at `value_start` begins: the start of its name.
fn field_start(raw: &[u8], value_start: usize) -> usize {
    raw[..value_start]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1)
}

/// Folds one physical header line (no line end) at its spaces so each piece stays within 78
/// characters where a space allows it (RFC 5322 §2.2.3): a CRLF goes before a space, so
/// unfolding gives back exactly the same text. Encoded words and other runs without spaces are
/// never split. On the field's first line the first break comes after the name and its first word.
fn fold_line(line: &[u8], first_line: bool) -> Vec<u8> {
    if line.len() <= FOLD_AT {
        return line.to_vec();
    }
    let mut out = Vec::with_capacity(line.len() + line.len() / FOLD_AT * 3 + 3);
    // The earliest place a break may go: after the leading whitespace of a continuation line,
    // or after "Subject:" and the word that follows it on the first line.
    let lead = line
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    let mut min_break = lead + 1;
    if first_line && let Some(colon) = line.iter().position(|b| *b == b':') {
        let after = colon + 1;
        let word_start = after
            + line[after..]
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
        min_break = word_start + 1;
    }
    let mut start = 0;
    loop {
        let rest = &line[start..];
        if rest.len() <= FOLD_AT {
            out.extend_from_slice(rest);
            return out;
        }
        let floor = if start == 0 { min_break } else { 1 };
        let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
        // The last space within the limit, else the first one after it.
        let cut = rest[..=FOLD_AT]
            .iter()
            .rposition(is_ws)
            .filter(|i| *i >= floor)
            .or_else(|| {
                rest.iter()
                    .enumerate()
                    .skip(floor.max(FOLD_AT))
                    .find(|(_, b)| is_ws(b))
                    .map(|(i, _)| i)
            });
        match cut {
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(b"\r\n");
                start += i;
            }
            None => {
                out.extend_from_slice(rest);
                return out;
            }
        }
    }
}

/// The byte span of the top-level Subject field's value (after the colon, through its CRLF).
fn subject_span(raw: &[u8]) -> Option<(usize, usize)> {
    let msg = MessageParser::new()
        .header_raw(HeaderName::Subject)
        .parse_headers(raw)?;
    let h = msg
        .root_part()
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::Subject)?;
    let (s, e) = (h.offset_start as usize, h.offset_end as usize);
    (s <= e && e <= raw.len()).then_some((s, e))
}

/// Length of the leading reply/forward prefixes of a raw subject value. Only plain-text prefixes
/// count; an encoded word (`=?…?=`) is left whole.
fn prefix_len(value: &[u8]) -> usize {
    match std::str::from_utf8(value) {
        Ok(text) => etraq_core::mail::leading_prefixes_len(text),
        Err(_) => 0,
    }
}

/// Writes a message for DATA: dot-stuffing at line starts, bare CR/LF normalised to CRLF, and
/// the terminating `<CRLF>.<CRLF>`. Feed it pieces with [`DotStuffer::push`], then
/// [`DotStuffer::finish`]; the encoded bytes accumulate in [`DotStuffer::out`], which the caller
/// drains in chunks.
#[derive(Debug)]
pub struct DotStuffer {
    /// Encoded bytes waiting to be written.
    pub out: Vec<u8>,
    at_line_start: bool,
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            out: Vec::new(),
            at_line_start: true,
            pending_cr: false,
        }
    }
}

impl DotStuffer {
    /// Encodes more message bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.out.reserve(bytes.len() + bytes.len() / 64 + 4);
        let mut i = 0;
        while i < bytes.len() {
            // Most of a message is text between line ends: copied in one go (after a stuffed
            // dot when it starts a line), only CR and LF go through the byte rules below.
            if !self.pending_cr {
                let run = memchr::memchr2(b'\r', b'\n', &bytes[i..]).unwrap_or(bytes.len() - i);
                if run > 0 {
                    if self.at_line_start && bytes[i] == b'.' {
                        self.out.push(b'.');
                    }
                    self.out.extend_from_slice(&bytes[i..i + run]);
                    self.at_line_start = false;
                    i += run;
                    continue;
                }
            }
            let b = bytes[i];
            i += 1;
            if self.pending_cr {
                self.pending_cr = false;
                self.out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    self.out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                }
                _ => {
                    if self.at_line_start && b == b'.' {
                        self.out.push(b'.');
                    }
                    self.out.push(b);
                    self.at_line_start = false;
                }
            }
        }
    }

    /// Ends the message: a final CRLF if missing, then `.CRLF`.
    pub fn finish(&mut self) {
        if self.pending_cr {
            self.pending_cr = false;
            self.out.extend_from_slice(b"\r\n");
            self.at_line_start = true;
        }
        if !self.at_line_start {
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b".\r\n");
    }

    /// Encodes a whole message in one go (the tests' shorthand for push + finish).
    #[cfg(test)]
    pub fn encode(msg: &Outgoing<'_>) -> Vec<u8> {
        let mut d = DotStuffer::default();
        for p in &msg.pieces {
            d.push(p);
        }
        d.finish();
        d.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_in_runs_equals_stuffing_byte_by_byte() {
        for input in crate::data::line_soup(0x9e37_79b9_7f4a_7c15, 2000) {
            let mut one = DotStuffer::default();
            for b in &input {
                one.push(std::slice::from_ref(b));
            }
            one.finish();
            for chunk in 1..=input.len().max(1) {
                let mut d = DotStuffer::default();
                for piece in input.chunks(chunk) {
                    d.push(piece);
                }
                d.finish();
                assert_eq!(
                    d.out,
                    one.out,
                    "{:?} in chunks of {chunk}",
                    String::from_utf8_lossy(&input)
                );
            }
            // Whatever the input, the output never ends the data early: CRLF.CRLF only at the end.
            let body = &one.out[..one.out.len() - 3];
            assert!(
                !body.windows(5).any(|w| w == b"\r\n.\r\n"),
                "{:?}",
                String::from_utf8_lossy(&one.out)
            );
            assert!(
                body.iter().enumerate().all(|(k, &b)| match b {
                    b'\n' => k > 0 && body[k - 1] == b'\r',
                    b'\r' => body.get(k + 1) == Some(&b'\n'),
                    _ => true,
                }),
                "bare CR or LF in {:?}",
                String::from_utf8_lossy(&one.out)
            );
        }
    }

    fn id() -> DrId {
        DrId::parse("SUPP-11272026.7").unwrap()
    }

    fn relayed(raw: &[u8]) -> String {
        String::from_utf8(outgoing(raw, Some(&id()), true).to_vec()).unwrap()
    }

    #[test]
    fn adds_header_and_tag_once() {
        let out = relayed(b"From: a@b\r\nSubject: Help me\r\n\r\nbody\r\n");
        assert_eq!(
            out,
            "X-Etraq-DR: SUPP-11272026.7\r\nFrom: a@b\r\nSubject: [SUPP-11272026.7] Help me\r\n\r\nbody\r\n"
        );
        let again = relayed(out.split_once("\r\n").unwrap().1.as_bytes());
        assert_eq!(again.matches("[SUPP-11272026.7]").count(), 1);
    }

    #[test]
    fn puts_the_tag_after_reply_prefixes_and_keeps_encoded_words() {
        assert!(
            relayed(b"Subject: Re: AW: Help\r\n\r\nx")
                .contains("Subject: Re: AW: [SUPP-11272026.7] Help\r\n")
        );
        assert!(
            relayed(b"Subject: =?utf-8?B?aGk=?=\r\n folded\r\n\r\nx")
                .contains("Subject: [SUPP-11272026.7] =?utf-8?B?aGk=?=\r\n folded\r\n")
        );
        assert!(
            relayed(b"From: a@b\r\n\r\nno subject")
                .contains("Subject: [SUPP-11272026.7]\r\nFrom: a@b")
        );
        assert!(relayed(b"Subject:\r\n\r\nx").contains("Subject: [SUPP-11272026.7]\r\n"));
        let body_subject = relayed(b"From: a@b\r\n\r\nSubject: not a header\r\n");
        assert!(
            body_subject.contains("\r\n\r\nSubject: not a header"),
            "{body_subject}"
        );
    }

    /// Unfolds a header block (RFC 5322 §2.2.3: CRLF before whitespace is removed).
    fn unfold(s: &str) -> String {
        s.replace("\r\n ", " ").replace("\r\n\t", "\t")
    }

    #[test]
    fn a_long_tagged_subject_is_folded_at_spaces_and_unfolds_to_the_same_text() {
        let words: Vec<String> = (0..140).map(|i| format!("word{i}")).collect();
        let subject = words.join(" ");
        assert!(subject.len() > 900, "{}", subject.len());
        let raw = format!("From: a@b\r\nSubject: Re: {subject}\r\nTo: c@d\r\n\r\nbody\r\n");
        let out = relayed(raw.as_bytes());
        let header = out.split("\r\n\r\n").next().unwrap();
        for line in header.split("\r\n") {
            assert!(line.len() <= 78, "{} chars: {line:?}", line.len());
        }
        assert!(
            unfold(header).contains(&format!("Subject: Re: [SUPP-11272026.7] {subject}\r\nTo:")),
            "{header}"
        );
        // No word was split.
        assert!(header.split_whitespace().any(|w| w == "word139"));
        assert!(out.ends_with("\r\n\r\nbody\r\n"));
        // A 989-character word (no space anywhere) cannot be folded: the tag goes on its own
        // line so nothing passes 998.
        let word = "x".repeat(989);
        let out = relayed(format!("Subject: {word}\r\n\r\nb").as_bytes());
        for line in out.split("\r\n") {
            assert!(line.len() <= 998, "{} chars", line.len());
        }
        assert!(unfold(&out).contains(&format!("Subject: [SUPP-11272026.7] {word}\r\n")));
        // Short subjects are not touched.
        assert!(
            relayed(b"Subject: short\r\n\r\nx").contains("Subject: [SUPP-11272026.7] short\r\n")
        );
        // Only the line the tag lands in is refolded: a continuation the sender wrote stays
        // byte for byte.
        let long_continuation = format!("Subject: =?utf-8?B?aGk=?=\r\n {subject}\r\n\r\nx");
        let out = relayed(long_continuation.as_bytes());
        assert!(
            out.contains(&format!(
                "Subject: [SUPP-11272026.7] =?utf-8?B?aGk=?=\r\n {subject}\r\n"
            )),
            "{out}"
        );
    }

    #[test]
    fn untracked_mail_is_unchanged_and_tag_can_be_off() {
        let raw = b"Subject: x\r\n\r\nbody";
        assert_eq!(outgoing(raw, None, true).to_vec(), raw);
        assert_eq!(
            outgoing(raw, Some(&id()), false).to_vec(),
            b"X-Etraq-DR: SUPP-11272026.7\r\nSubject: x\r\n\r\nbody"
        );
    }

    #[test]
    fn dot_stuffs_and_normalises_line_ends() {
        let enc = |s: &[u8]| DotStuffer::encode(&Outgoing::unchanged(s));
        assert_eq!(enc(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(enc(b".start"), b"..start\r\n.\r\n");
        // Smuggling attempts become harmless stuffed lines.
        assert_eq!(enc(b"a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(enc(b"a\r.\rb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(enc(b""), b".\r\n");
        assert_eq!(enc(b"end\r"), b"end\r\n.\r\n");
        // Split across pushes.
        let mut d = DotStuffer::default();
        d.push(b"x\r");
        d.push(b"\n.y");
        d.finish();
        assert_eq!(d.out, b"x\r\n..y\r\n.\r\n");
    }
}
