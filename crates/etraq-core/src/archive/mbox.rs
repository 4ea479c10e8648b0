//! The mbox format for `archive export` (mboxrd, the variant every mail program reads back
//! unchanged): each message starts with a `From SENDER DATE` line; a body line that starts with
//! `From ` after any number of `>` gets one more `>`; lines end in LF; a blank line separates
//! messages.

use jiff::Timestamp;

/// The separator line of one message: its envelope sender (`MAILER-DAEMON` for the null
/// sender) and when it was received, in the asctime form mbox readers expect, UTC.
pub fn from_line(sender: Option<&str>, at: Timestamp) -> String {
    let who: String = sender
        .filter(|s| !s.is_empty())
        .unwrap_or("MAILER-DAEMON")
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    format!(
        "From {who} {}\n",
        at.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .strftime("%a %b %e %H:%M:%S %Y")
    )
}

/// A raw message as an mboxrd entry's body: CRLF made LF, `From ` lines quoted, and ended with
/// a newline and the blank line before the next entry.
pub fn entry_body(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let quotes = line.iter().take_while(|b| **b == b'>').count();
        let unquoted = &line[quotes..];
        if unquoted.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    // `split` yields an empty last piece after a final newline: one newline too many then.
    if raw.ends_with(b"\n") {
        out.pop();
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separator_line_is_asctime_utc() {
        let at: Timestamp = "2026-12-04T09:05:07Z".parse().unwrap();
        assert_eq!(
            from_line(Some("carol@cust.example"), at),
            "From carol@cust.example Fri Dec  4 09:05:07 2026\n"
        );
        assert_eq!(
            from_line(None, at),
            "From MAILER-DAEMON Fri Dec  4 09:05:07 2026\n"
        );
    }

    #[test]
    fn from_lines_in_the_body_are_quoted_and_lines_end_in_lf() {
        let raw = b"Subject: x\r\n\r\nFrom here on\r\n>From there\r\nFromage\r\nlast";
        assert_eq!(
            String::from_utf8(entry_body(raw)).unwrap(),
            "Subject: x\n\n>From here on\n>>From there\nFromage\nlast\n\n"
        );
        assert_eq!(entry_body(b"a\r\n"), b"a\n\n");
    }
}
