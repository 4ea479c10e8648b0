//! Envelope paths as the client wrote them, and the sender-specified routing check.
//!
//! smtp-proto hands the session a *decoded* address: quotes and backslash escapes removed,
//! source routes dropped. That form is right for deciding (the domain, the normalised address the
//! tracker records) but wrong for relaying: `"victim@other.com"@example.com` decodes to
//! `victim@other.com@example.com`, and a mail server behind etraq may route that to `other.com`.
//! So the session keeps the path exactly as received ([`raw_path`]) and forwards that upstream,
//! and refuses routing syntax from untrusted clients ([`has_sender_routing`]), as Postfix does with
//! `allow_untrusted_routing = no`.

/// The text between the angle brackets of a `MAIL FROM:` or `RCPT TO:` command line, exactly as
/// the client sent it (quotes, escapes and source route included). `None` when the line has no
/// path the scanner can delimit; smtp-proto has accepted the command by then, so this only
/// happens for the bracket-less form (`RCPT TO:user@example.com`), whose address is then taken up
/// to the first space.
pub fn raw_path(line: &[u8]) -> Option<String> {
    let colon = line.iter().position(|b| *b == b':')?;
    let rest = &line[colon + 1..];
    let start = rest.iter().position(|b| *b != b' ' && *b != b'\t')?;
    let rest = &rest[start..];
    let text = if rest.first() == Some(&b'<') {
        let mut in_quote = false;
        let mut escaped = false;
        let mut end = None;
        for (i, &b) in rest.iter().enumerate().skip(1) {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if in_quote => escaped = true,
                b'"' => in_quote = !in_quote,
                b'>' if !in_quote => {
                    end = Some(i);
                    break;
                }
                b'\r' | b'\n' => return None,
                _ => {}
            }
        }
        &rest[1..end?]
    } else {
        let end = rest
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(rest.len());
        &rest[..end]
    };
    std::str::from_utf8(text).ok().map(str::to_string)
}

/// True when a path asks the next server to route the mail: a source route (`@relay:user@d`),
/// `%` or `!` in the local part (`user%other@d`, `other!user@d`), or an `@` inside a quoted local
/// part (`"user@other"@d`). Mail servers commonly honour these (Postfix's `allow_percent_hack`,
/// `swap_bangpath`, `resolve_dequoted_address` default to yes), so accepting one from an
/// untrusted client for a local domain would make etraq an open relay through its upstream.
pub fn has_sender_routing(raw: &str) -> bool {
    let raw = raw.trim();
    if raw.starts_with('@') {
        return true;
    }
    let bytes = raw.as_bytes();
    if bytes.first() == Some(&b'"') {
        // A quoted local part: look inside it (escapes decoded) and after it.
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            if escaped {
                escaped = false;
                if matches!(b, b'@' | b'%' | b'!') {
                    return true;
                }
                continue;
            }
            match b {
                b'\\' => escaped = true,
                b'"' => {
                    // Anything but `@domain` after the closing quote is routing or garbage.
                    let after = &raw[i + 1..];
                    return !after.starts_with('@') || after[1..].contains(['@', '%', '!', '"']);
                }
                b'@' | b'%' | b'!' => return true,
                _ => {}
            }
        }
        // No closing quote: not a usable address.
        return true;
    }
    let local = match raw.rfind('@') {
        Some(at) => &raw[..at],
        None => raw,
    };
    local.contains(['%', '!', '@', '"'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_path_exactly_as_sent() {
        assert_eq!(
            raw_path(b"RCPT TO:<\"victim@other.com\"@example.com>\r\n").as_deref(),
            Some("\"victim@other.com\"@example.com")
        );
        assert_eq!(
            raw_path(b"RCPT TO: <Bob.Smith@Example.COM> NOTIFY=NEVER\r\n").as_deref(),
            Some("Bob.Smith@Example.COM")
        );
        assert_eq!(
            raw_path(b"MAIL FROM:<\"a>b\\\"c\"@x.test> SIZE=10\r\n").as_deref(),
            Some("\"a>b\\\"c\"@x.test")
        );
        assert_eq!(raw_path(b"MAIL FROM:<>\r\n").as_deref(), Some(""));
        assert_eq!(
            raw_path(b"RCPT TO:user@example.com\r\n").as_deref(),
            Some("user@example.com")
        );
        assert_eq!(
            raw_path(b"RCPT TO:<@relay.test:u@example.com>\r\n").as_deref(),
            Some("@relay.test:u@example.com")
        );
        assert_eq!(raw_path(b"RCPT TO:<unterminated\r\n"), None);
    }

    #[test]
    fn finds_every_form_of_sender_routing() {
        for routed in [
            "victim%other.com@example.com",
            "other.com!victim@example.com",
            "\"victim@other.com\"@example.com",
            "\"victim%other.com\"@example.com",
            "\"victim\\@other.com\"@example.com",
            "@relay.test:victim@example.com",
            "@a.test,@b.test:victim@example.com",
            "\"unterminated@example.com",
        ] {
            assert!(has_sender_routing(routed), "{routed}");
        }
        for plain in [
            "support@example.com",
            "first.last+tag@example.com",
            "\"first last\"@example.com",
            "o'brien@example.com",
            "",
        ] {
            assert!(!has_sender_routing(plain), "{plain}");
        }
    }
}
