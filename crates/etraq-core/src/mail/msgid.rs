//! Message-IDs read strictly (RFC 5322 §3.6.4, with RFC 6532's UTF-8).
//!
//! Threading trusts Message-IDs: a mail whose `References` names an id joins the DR of the mail
//! that has it. A lenient reader turns garbage into ids that collide: mail-parser reads
//! `<<script>alert(1)</script>@x>` as the ids `script` and `/script`, and another sender's
//! `References` holding the same garbage then joined someone else's DR. So ids are read here,
//! from the raw header text, by the grammar:
//!
//! ```text
//! msg-id   = [CFWS] "<" id-left "@" id-right ">" [CFWS]
//! id-left  = dot-atom-text / quoted-string      (obs-id-left = local-part)
//! id-right = dot-atom-text / no-fold-literal    ("[" *dtext "]")
//! ```
//!
//! Anything else is skipped: a phrase in an old `In-Reply-To` (obs-in-reply-to), a comment, or
//! a malformed token. A mail whose own Message-ID does not parse gets a synthetic id instead
//! (see `message`), which no other mail can name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Message-ID, without its angle brackets. Made only by [`MessageId::parse`] (the strict
/// grammar above), by [`MessageId::derived`] (etraq's synthetic ids) or, for a store reading
/// back what it wrote, [`MessageId::from_trusted`]: so an id in a query or a record is never a
/// fragment a lenient reader cut out of garbage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// Parses one id, with or without its angle brackets (`<a@b>` or `a@b`); `None` when it is
    /// not a msg-id.
    pub fn parse(text: &str) -> Option<MessageId> {
        let t = text.trim();
        if t.starts_with('<') {
            message_id(t).map(MessageId)
        } else {
            message_id(&format!("<{t}>")).map(MessageId)
        }
    }

    /// One of etraq's synthetic ids (`<hex>@etraq.derived`), for a mail without a usable one.
    pub(crate) fn derived(hex: &str) -> MessageId {
        MessageId(format!("{hex}@{}", crate::mail::DERIVED_ID_DOMAIN))
    }

    /// An id a store reads back from its own records (written from a `MessageId`).
    pub fn from_trusted(text: String) -> MessageId {
        MessageId(text)
    }

    /// The id, without brackets.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for an id etraq made up for a mail that had none (or an unreadable one).
    pub fn is_derived(&self) -> bool {
        self.0
            .ends_with(&format!("@{}", crate::mail::DERIVED_ID_DOMAIN))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for MessageId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for MessageId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The longest id kept (the whole line limit of RFC 5322).
pub const MAX_ID_LEN: usize = 995;

/// The ids of an `In-Reply-To` or `References` value, in order, duplicates included (the
/// caller removes them). Phrases, comments and malformed tokens are skipped.
pub(crate) fn ids(value: &str) -> Vec<MessageId> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => i = skip_comment(bytes, i),
            b'<' => match msg_id_at(value, i) {
                Some((id, end)) => {
                    out.push(MessageId(id));
                    i = end;
                }
                // A malformed id: skip the whole token, so nothing inside it (such as a
                // nested `<…>`) is read as an id.
                None => i = skip_token(bytes, i),
            },
            b'"' => i = skip_quoted(bytes, i),
            _ => i += 1,
        }
    }
    out
}

/// The id of a `Message-ID` value: its one msg-id, with nothing else but whitespace and
/// comments around it. `None` when the value is not exactly that.
pub(crate) fn message_id(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut i = skip_cfws(bytes, 0);
    if bytes.get(i) != Some(&b'<') {
        return None;
    }
    let (id, end) = msg_id_at(value, i)?;
    i = skip_cfws(bytes, end);
    (i == bytes.len()).then_some(id)
}

/// RFC 5322 atext, plus any non-ASCII character (RFC 6532).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// A dot-atom-text: atoms of atext separated by single dots.
fn is_dot_atom_text(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A quoted-string without folding: `"` qtext or quoted-pair `"`.
fn is_quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            if c.is_control() && c != '\t' {
                return false;
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => return false,
            c if c.is_control() && c != '\t' => return false,
            _ => {}
        }
    }
    !escaped
}

/// A no-fold-literal: `[` dtext* `]`, dtext being printable ASCII but `[`, `]` and `\`.
fn is_no_fold_literal(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return false;
    };
    inner
        .chars()
        .all(|c| (c.is_ascii_graphic() && !"[]\\".contains(c)) || !c.is_ascii())
}

/// Reads a msg-id starting at the `<` at `start`; returns its text (without brackets) and the
/// index after its `>`.
fn msg_id_at(value: &str, start: usize) -> Option<(String, usize)> {
    let rest = &value[start + 1..];
    // The id ends at the first `>` outside a quoted id-left.
    let mut in_quote = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in rest.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                end = Some(i);
                break;
            }
            '\r' | '\n' => return None,
            _ => {}
        }
    }
    let end = end?;
    let id = &rest[..end];
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return None;
    }
    let at = id.rfind('@')?;
    let (left, right) = (&id[..at], &id[at + 1..]);
    let left_ok = is_dot_atom_text(left) || is_quoted_string(left);
    let right_ok = is_dot_atom_text(right) || is_no_fold_literal(right);
    (left_ok && right_ok).then(|| (id.to_string(), start + 1 + end + 1))
}

/// Skips whitespace and comments from `i`.
fn skip_cfws(bytes: &[u8], mut i: usize) -> usize {
    loop {
        match bytes.get(i) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
            Some(b'(') => i = skip_comment(bytes, i),
            _ => return i,
        }
    }
}

/// Skips a (possibly nested) comment starting at `(`; an unclosed one runs to the end.
fn skip_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Skips a quoted string (a phrase word) starting at `"`.
fn skip_quoted(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => return i + 1,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Skips a malformed token: up to the next whitespace.
fn skip_token(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .map_or(bytes.len(), |p| start + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(ids: Vec<MessageId>) -> Vec<String> {
        ids.into_iter().map(|i| i.0).collect()
    }

    #[test]
    fn reads_well_formed_ids() {
        assert_eq!(
            message_id(" <abc.123@mail.example.com>\r\n").as_deref(),
            Some("abc.123@mail.example.com")
        );
        assert_eq!(
            message_id("<\"odd left\"@x.test> (a comment)").as_deref(),
            Some("\"odd left\"@x.test")
        );
        assert_eq!(
            message_id("<a@[192.0.2.1]>").as_deref(),
            Some("a@[192.0.2.1]")
        );
        assert_eq!(
            message_id("<jürgen@bücher.example>").as_deref(),
            Some("jürgen@bücher.example")
        );
        assert_eq!(
            strs(ids("<a@x.test>\r\n <b@x.test>\t<c@x.test>")),
            vec!["a@x.test", "b@x.test", "c@x.test"]
        );
        // obs-in-reply-to: phrases around the id.
        assert_eq!(
            strs(ids("Your message of \"Mon, 1 Dec\" <orig@x.test> (Bob)")),
            vec!["orig@x.test"]
        );
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "<<script>alert(1)</script>@x>",
            "</script>",
            "<nobrackets-no-at>",
            "no-brackets@x.test",
            "<a@b> <c@d>",
            "<@x.test>",
            "<a@>",
            "<a..b@x.test>",
            "<.a@x.test>",
            "<a b@x.test>",
            "<a@x test>",
            "<a@x.test",
            "",
            "<a@x.test> trailing",
        ] {
            assert_eq!(message_id(bad), None, "{bad:?}");
        }
        // In a list, the malformed token is skipped whole and the good ids are kept.
        assert_eq!(
            strs(ids(
                "<<script>alert(1)</script>@x> <good@x.test> </script> <also@x.test>"
            )),
            vec!["good@x.test", "also@x.test"]
        );
        assert_eq!(MessageId::parse("a@x.test").unwrap(), "a@x.test");
        assert_eq!(MessageId::parse(" <a@x.test> ").unwrap(), "a@x.test");
        assert!(MessageId::parse("/script").is_none());
        assert!(ids("<a\r\n@x.test>").is_empty());
        let long = format!("<{}@x.test>", "a".repeat(1000));
        assert_eq!(message_id(&long), None);
    }
}
