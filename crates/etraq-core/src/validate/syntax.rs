//! Mailbox syntax (RFC 5321 §4.1.2 and RFC 5322 §3.4.1) with IDNA domains.
//!
//! A marketing list must hold addresses a real MTA accepts in `RCPT TO`: a dot-atom local part
//! (a quoted one only when asked for, since almost no list should contain them), and a domain
//! of at least two LDH labels after IDNA (UTS #46) — `bücher.de` becomes `xn--bcher-kva.de`.
//! Address literals (`user@[192.0.2.1]`) are refused: they bypass MX routing.

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
    /// Why it is invalid (not serialised; the result's `reason` carries it).
    #[serde(skip)]
    pub error: Option<String>,
}

/// RFC 5322 `atext`.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Checks one address. `allow_quoted` admits `"john doe"@example.com`.
pub fn check_syntax(input: &str, allow_quoted: bool) -> Syntax {
    let input = input.trim();
    let invalid = |username: &str, domain: &str, why: &str| Syntax {
        address: None,
        domain: domain.to_string(),
        is_valid_syntax: false,
        username: username.to_string(),
        error: Some(why.to_string()),
    };
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
        return invalid(local, domain, "local part longer than 64 characters");
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
    let ascii = match idna::domain_to_ascii_strict(domain.trim_end_matches('.')) {
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
        error: None,
    }
}

/// `"…"` with printable ASCII inside, `\` escaping one character.
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
        } else if c == '"' || !(' '..='~').contains(&c) {
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
}
