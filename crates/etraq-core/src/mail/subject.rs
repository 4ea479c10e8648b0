//! Subject lines: the DR tag, forward markers and adding the tag exactly once.
//!
//! The tag `[SUPP-11102003.2512]` is etraq's own format, so scanning for it is a small hand-written
//! scanner rather than a regex: it must accept whatever mail clients do to subjects (`Re: AW: Fwd:`
//! chains, the tag in the middle, several tags) and never panic on arbitrary input.

use crate::model::DrId;

/// Every well-formed DR tag in `subject`, in order of appearance. Malformed bracket groups are
/// skipped. Mail clients keep the tag through `Re:`/`Fwd:` prefixes, so the tag can be anywhere.
pub fn find_tags(subject: &str) -> Vec<DrId> {
    let mut tags = Vec::new();
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        // The tag is short; never look further than that for the closing bracket.
        let window = after
            .char_indices()
            .take(64)
            .find(|&(_, c)| c == ']' || c == '[');
        match window {
            Some((close, ']')) => {
                if let Ok(id) = DrId::parse(&after[..close]) {
                    tags.push(id);
                }
                rest = &after[close + 1..];
            }
            Some((next, _)) => rest = &after[next..],
            None => rest = after,
        }
    }
    tags
}

/// True when `subject` already carries the tag of `id`.
pub fn has_tag(subject: &str, id: &DrId) -> bool {
    find_tags(subject).iter().any(|t| t == id)
}

/// The subject with `id`'s tag added, unless it is already present (the gateway tags once, never
/// twice). The tag goes after any leading reply/forward prefixes (`Re: [TAG] text`), where mail
/// clients keep it.
pub fn add_tag(subject: &str, id: &DrId) -> String {
    if has_tag(subject, id) {
        return subject.to_string();
    }
    let prefix_len = leading_prefixes_len(subject);
    let (head, tail) = subject.split_at(prefix_len);
    let (head, tail) = (head.trim(), tail.trim_start());
    let mut out = String::with_capacity(subject.len() + 32);
    if !head.is_empty() {
        out.push_str(head);
        out.push(' ');
    }
    out.push_str(&id.tag());
    if !tail.is_empty() {
        out.push(' ');
        out.push_str(tail);
    }
    out
}

/// Reply prefixes that mail clients put in front of a subject, in several languages. Compared
/// case-insensitively, followed by `:`.
const REPLY_PREFIXES: &[&str] = &["re", "aw", "sv", "antw", "odp", "ref", "rif", "res"];

/// Forward prefixes (`Fw:`, `Fwd:`, German `WG:`, French `TR:`, Spanish `RV:`, Portuguese `Enc:`).
const FORWARD_PREFIXES: &[&str] = &["fw", "fwd", "wg", "tr", "rv", "enc"];

/// The kind of a leading subject prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefix {
    Reply,
    Forward,
}

/// Parses one `Word:` prefix (optionally with a count like `Re[2]:`) at the start of `s`,
/// returning its kind and byte length including the colon.
fn one_prefix(s: &str) -> Option<(Prefix, usize)> {
    let word_end = s
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_alphabetic())
        .map(|(i, _)| i)?;
    if word_end == 0 || word_end > 4 {
        return None;
    }
    let word = s[..word_end].to_ascii_lowercase();
    let mut end = word_end;
    // Outlook-style counters: "Re[2]:" or "Re(2):".
    let rest = &s[end..];
    if let Some(close) = rest
        .strip_prefix('[')
        .or_else(|| rest.strip_prefix('('))
        .and_then(|r| {
            r.find([']', ')'])
                .filter(|&i| i <= 3 && r[..i].bytes().all(|b| b.is_ascii_digit()))
        })
    {
        end += close + 2;
    }
    let rest = &s[end..];
    let colon = if rest.starts_with(':') {
        1
    } else if rest.starts_with('：') {
        '：'.len_utf8()
    } else {
        return None;
    };
    let kind = if FORWARD_PREFIXES.contains(&word.as_str()) {
        Prefix::Forward
    } else if REPLY_PREFIXES.contains(&word.as_str()) {
        Prefix::Reply
    } else {
        return None;
    };
    Some((kind, end + colon))
}

/// Byte length of the leading chain of reply/forward prefixes (`Re: AW: Fwd:`) and whitespace:
/// where a tag goes.
pub fn leading_prefixes_len(subject: &str) -> usize {
    let mut pos = 0;
    loop {
        let rest = &subject[pos..];
        let trimmed = rest.trim_start();
        let ws = rest.len() - trimmed.len();
        match one_prefix(trimmed) {
            Some((_, len)) => pos += ws + len,
            None => return pos,
        }
    }
}

/// True when the subject says the mail is a forward: its first prefix, after any leading DR tags,
/// is a forward marker (`Fw:`, `Fwd:`, `FW:`, `WG:` …). `Re: Fwd: x` is a reply to a forward, not a
/// forward.
pub fn is_forward_subject(subject: &str) -> bool {
    let mut s = subject.trim_start();
    // Skip leading bracket groups such as "[SUPP-…]" or "[ext]".
    while let Some(rest) = s.strip_prefix('[') {
        match rest.find(']') {
            Some(close) => s = rest[close + 1..].trim_start(),
            None => break,
        }
    }
    matches!(one_prefix(s), Some((Prefix::Forward, _)))
}

/// The subject without leading reply/forward prefixes and DR tags, for display and for grouping.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let before = s.len();
        if let Some((_, len)) = one_prefix(s) {
            s = s[len..].trim_start();
        }
        if s.starts_with('[')
            && let Some(close) = s.find(']')
            && DrId::parse(&s[1..close]).is_ok()
        {
            s = s[close + 1..].trim_start();
        }
        if s.len() == before {
            return s.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DrId {
        DrId::parse(s).unwrap()
    }

    #[test]
    fn finds_tags_anywhere() {
        assert_eq!(
            find_tags("Re: Fwd: [SUPP-11102003.25] help [x] [SALE-01022024.3]"),
            vec![id("SUPP-11102003.25"), id("SALE-01022024.3")]
        );
        assert!(find_tags("no tag [SUPP-1110.1] [").is_empty());
        assert_eq!(
            find_tags("[[SUPP-11102003.9]]"),
            vec![id("SUPP-11102003.9")]
        );
    }

    #[test]
    fn adds_the_tag_once_after_prefixes() {
        let t = id("SUPP-11102003.25");
        assert_eq!(add_tag("Help me", &t), "[SUPP-11102003.25] Help me");
        assert_eq!(add_tag("Re: Help me", &t), "Re: [SUPP-11102003.25] Help me");
        let once = add_tag("Help", &t);
        assert_eq!(add_tag(&once, &t), once);
        assert_eq!(add_tag("", &t), "[SUPP-11102003.25]");
        assert_eq!(
            add_tag("RE: AW: Re[2]: x", &t),
            "RE: AW: Re[2]: [SUPP-11102003.25] x"
        );
    }

    #[test]
    fn detects_forwards() {
        for yes in [
            "Fw: x",
            "FWD: x",
            "fwd:x",
            "[SUPP-11102003.1] Fw: x",
            "WG: x",
            "Fw[2]: x",
        ] {
            assert!(is_forward_subject(yes), "{yes}");
        }
        for no in ["Re: Fwd: x", "Forward planning", "x Fw: y", "", "Fwd"] {
            assert!(!is_forward_subject(no), "{no}");
        }
    }

    #[test]
    fn base_subject_strips_prefixes_and_tags() {
        assert_eq!(base_subject("Re: [SUPP-11102003.1] Fw: Invoice"), "Invoice");
        assert_eq!(
            base_subject("Invoice [SUPP-11102003.1]"),
            "Invoice [SUPP-11102003.1]"
        );
    }
}
