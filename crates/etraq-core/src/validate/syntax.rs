//! Mailbox syntax (RFC 5321 §4.1.2 and RFC 5322 §3.4.1) with IDNA domains.
//!
//! A marketing list must hold addresses a real MTA accepts in `RCPT TO`: a dot-atom local part
//! (a quoted one only when asked for, since almost no list should contain them), and a domain
//! of at least two LDH labels after IDNA (UTS #46) — `bücher.de` becomes `xn--bcher-kva.de`.
//! Address literals (`user@[192.0.2.1]`) are refused: they bypass MX routing.
//!
//! The input is checked exactly as given. Nothing is trimmed: an address with a CR, LF, tab or
//! (Unicode) space around it is not the address, and a tool that silently repairs it hides a
//! broken list. A trailing dot on the domain (`x@a.com.`) is refused too: it is a DNS root
//! marker, not part of a mailbox name, and MTAs refuse it in `RCPT TO`.
//!
//! A local part may hold UTF-8 (RFC 6531, `josé@example.com`). Such an address is valid but
//! flagged [`Syntax::requires_smtputf8`]: only a server that offers SMTPUTF8 can take mail for
//! it, so the probe asks only such servers, and a list owner can see which addresses need it.

use serde::Serialize;

/// The `syntax` object of a result (Reacher's field names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Syntax {
    /// The normalised address (`local@ascii-domain`, domain lower-cased), empty when invalid.
    pub address: Option<String>,
    /// The ASCII domain.
    pub domain: String,
    /// Whether the address is syntactically valid.
    pub is_valid_syntax: bool,
    /// The local part as given.
    pub username: String,
    /// The local part holds UTF-8 (RFC 6531): mail to it needs a path that offers SMTPUTF8.
    pub requires_smtputf8: bool,
    /// Why it is invalid (not serialised; the result's `reason` carries it).
    #[serde(skip)]
    pub error: Option<String>,
}

/// RFC 5322 `atext`, widened by RFC 6531 to `UTF8-non-ascii` (see [`is_utf8_atext`]).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || is_utf8_atext(c)
}

/// A non-ASCII character a local part may hold. RFC 6531 admits any, but an address is typed,
/// printed and compared by people: spaces, controls, invisible format characters (zero-width
/// spaces, bidirectional overrides, the soft hyphen, the byte-order mark) and private-use
/// characters would make two addresses look alike or one look like another, so they are
/// refused, as mainstream validators do.
fn is_utf8_atext(c: char) -> bool {
    !c.is_ascii()
        && !c.is_whitespace()
        && !c.is_control()
        && !matches!(c,
            '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{F0000}'..='\u{10FFFF}')
}

/// Checks one address, exactly as given. `allow_quoted` admits `"john doe"@example.com`.
pub fn check_syntax(input: &str, allow_quoted: bool) -> Syntax {
    let invalid = |username: &str, domain: &str, why: &str| Syntax {
        address: None,
        domain: domain.to_string(),
        is_valid_syntax: false,
        username: username.to_string(),
        requires_smtputf8: false,
        error: Some(why.to_string()),
    };
    if input.trim() != input {
        return invalid("", "", "whitespace around the address");
    }
    if input.chars().any(char::is_control) {
        return invalid("", "", "a control character in the address");
    }
    let Some(at) = input.rfind('@') else {
        return invalid("", "", "no @");
    };
    let (local, domain) = (&input[..at], &input[at + 1..]);
    if local.is_empty() {
        return invalid(local, domain, "empty local part");
    }
    if domain.is_empty() {
        return invalid(local, domain, "empty domain");
    }
    if local.len() > 64 {
        return invalid(local, domain, "local part longer than 64 octets");
    }
    if local.starts_with('"') {
        if !allow_quoted {
            return invalid(
                local,
                domain,
                "quoted local part (allow with --allow-quoted)",
            );
        }
        if !quoted_ok(local) {
            return invalid(local, domain, "malformed quoted local part");
        }
    } else if local
        .split('.')
        .any(|atom| atom.is_empty() || !atom.chars().all(is_atext))
    {
        return invalid(local, domain, "local part is not a dot-atom");
    }
    if domain.starts_with('[') {
        return invalid(local, domain, "address literals are not accepted");
    }
    if domain.ends_with('.') {
        return invalid(local, domain, "the domain ends with a dot");
    }
    let ascii = match idna::domain_to_ascii_strict(domain) {
        Ok(d) => d,
        Err(_) => return invalid(local, domain, "the domain is not a valid name"),
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return invalid(local, &ascii, "the domain has a single label");
    }
    if ascii.len() > 253
        || labels.iter().any(|l| {
            l.is_empty()
                || l.len() > 63
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    {
        return invalid(local, &ascii, "the domain is not a valid host name");
    }
    if labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return invalid(local, &ascii, "the top-level domain is numeric");
    }
    let address = format!("{local}@{ascii}");
    if address.len() > 254 {
        return invalid(local, &ascii, "longer than 254 characters");
    }
    Syntax {
        address: Some(address),
        domain: ascii,
        is_valid_syntax: true,
        username: local.to_string(),
        requires_smtputf8: !local.is_ascii(),
        error: None,
    }
}

/// `"…"` with printable ASCII (or RFC 6531 UTF-8) inside, `\` escaping one character.
fn quoted_ok(local: &str) -> bool {
    let Some(inner) = local.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            escaped = false;
            if !(' '..='~').contains(&c) {
                return false;
            }
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' || !((' '..='~').contains(&c) || is_utf8_atext(c)) {
            return false;
        }
    }
    !escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses() {
        let s = check_syntax("John.Doe+news@Example.COM", false);
        assert!(s.is_valid_syntax);
        assert_eq!(s.address.as_deref(), Some("John.Doe+news@example.com"));
        assert_eq!(s.username, "John.Doe+news");
        let s = check_syntax("kontakt@bücher.de", false);
        assert_eq!(s.domain, "xn--bcher-kva.de");
        assert!(check_syntax("\"john doe\"@example.com", true).is_valid_syntax);
    }

    #[test]
    fn invalid_addresses_say_why() {
        for (bad, why) in [
            ("plainaddress", "no @"),
            ("@example.com", "empty local part"),
            ("john@", "empty domain"),
            ("john..doe@example.com", "dot-atom"),
            (".john@example.com", "dot-atom"),
            ("john doe@example.com", "dot-atom"),
            ("\"john doe\"@example.com", "quoted"),
            ("john@localhost", "single label"),
            ("john@[192.0.2.1]", "literal"),
            ("john@-bad-.com", "valid"),
            ("john@example.123", "numeric"),
            ("john@exa mple.com", "not a valid"),
        ] {
            let s = check_syntax(bad, false);
            assert!(!s.is_valid_syntax, "{bad}");
            let e = s.error.unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(!check_syntax(&long, false).is_valid_syntax);
    }

    /// From the isemail test suite: inputs that used to come out valid because they were
    /// trimmed, or because trailing dots were stripped.
    #[test]
    fn nothing_is_trimmed_or_repaired() {
        for (bad, why) in [
            ("test@iana.org\r\n", "whitespace"),
            (" \r\ntest@iana.org", "whitespace"),
            ("\ttest@iana.org", "whitespace"),
            ("test@iana.org ", "whitespace"),
            ("\u{00A0}test@iana.org", "whitespace"),
            ("test@iana.org\u{3000}", "whitespace"),
            ("te\u{0}st@iana.org", "control"),
            ("test@ia\rna.org", "control"),
            ("te\u{7f}st@iana.org", "control"),
            ("x@a.com.", "ends with a dot"),
            ("x@a.com...", "ends with a dot"),
            ("x@.", "ends with a dot"),
        ] {
            let s = check_syntax(bad, false);
            assert!(!s.is_valid_syntax, "{bad:?} must be invalid");
            let e = s.error.unwrap_or_default();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn utf8_local_parts_are_valid_and_flagged() {
        let s = check_syntax("josé@example.com", false);
        assert!(s.is_valid_syntax, "{:?}", s.error);
        assert!(s.requires_smtputf8);
        assert_eq!(s.address.as_deref(), Some("josé@example.com"));

        let s = check_syntax("用户@例子.广告", false);
        assert!(s.is_valid_syntax, "{:?}", s.error);
        assert!(s.requires_smtputf8);
        assert!(
            s.domain.is_ascii() && s.domain.starts_with("xn--"),
            "{}",
            s.domain
        );

        // A UTF-8 domain alone goes out as IDNA A-labels and needs no SMTPUTF8.
        assert!(!check_syntax("kontakt@bücher.de", false).requires_smtputf8);
        assert!(!check_syntax("ann@example.com", false).requires_smtputf8);
        assert!(check_syntax("\"josé doe\"@example.com", true).requires_smtputf8);

        // Look-alike and invisible characters stay out.
        for bad in [
            "jo\u{200B}se@example.com",
            "jo\u{202E}se@example.com",
            "jo\u{FEFF}se@example.com",
            "jo\u{E000}se@example.com",
            "jo\u{2003}se@example.com",
        ] {
            assert!(!check_syntax(bad, false).is_valid_syntax, "{bad:?}");
        }
        // 64 octets, not characters: 33 two-octet characters are too many.
        assert!(!check_syntax(&format!("{}@example.com", "é".repeat(33)), false).is_valid_syntax);
        assert!(check_syntax(&format!("{}@example.com", "é".repeat(32)), false).is_valid_syntax);
    }
}
