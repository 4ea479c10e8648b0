//! Email addresses in the one normal form every comparison in etraq uses.
//!
//! Mail reaches etraq with addresses spelled many ways: `Bob@Example.COM`, `<bob@example.com>`,
//! `bob@bücher.example` or its Punycode `bob@xn--bcher-kva.example`. Threading, ownership and
//! history lookups all compare addresses, so they are normalised once, at the edge: the domain
//! goes through IDNA (UTS #46) to lower-case ASCII, and the local part is lower-cased. Lower-casing
//! the local part is not what RFC 5321 promises, but it is what every real mail system does, and a
//! customer who writes once as `Bob@` and once as `bob@` is the same customer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The longest address etraq accepts (RFC 5321 §4.5.3.1.3 limits a path to 256 octets).
pub const MAX_ADDRESS_LEN: usize = 320;

/// A normalised email address: `local@domain`, local part lower-cased, domain in lower-case
/// ASCII (IDNA). Construct it with [`EmailAddress::parse`]; it is then safe to compare, hash and
/// use as a store key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    text: String,
    at: usize,
}

impl EmailAddress {
    /// Parses and normalises one address. Accepts surrounding whitespace and angle brackets
    /// (`<a@b>`), since that is how addresses appear in envelopes and headers. Refuses anything
    /// without exactly one usable `@`, with whitespace or control characters, or whose domain
    /// IDNA rejects.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidAddress {
            input: truncate_for_error(input),
            reason: why.to_string(),
        };
        let trimmed = input.trim();
        let trimmed = trimmed
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(trimmed)
            .trim();
        if trimmed.is_empty() {
            return Err(invalid("empty address"));
        }
        // A cheap bound before any work; the exact limit applies to the normalised form below.
        if trimmed.len() > MAX_ADDRESS_LEN * 4 {
            return Err(invalid("longer than 320 characters"));
        }
        // The domain never contains '@'; a quoted local part might, so split at the last one.
        let Some(at) = trimmed.rfind('@') else {
            return Err(invalid("no '@'"));
        };
        let (local, domain) = (&trimmed[..at], &trimmed[at + 1..]);
        if local.is_empty() {
            return Err(invalid("empty local part"));
        }
        if domain.is_empty() {
            return Err(invalid("empty domain"));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() || (c.is_whitespace() && !local.starts_with('"')))
        {
            return Err(invalid("contains whitespace or control characters"));
        }
        let mut text = String::with_capacity(local.len() + 1 + domain.len());
        if local.is_ascii() {
            text.extend(local.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            text.push_str(&local.to_lowercase());
        }
        let at = text.len();
        text.push('@');
        if is_plain_ascii_domain(domain) {
            // The common case needs no IDNA: lower-case ASCII letters, digits, '-', '.'.
            text.extend(
                domain
                    .strip_suffix('.')
                    .unwrap_or(domain)
                    .chars()
                    .map(|c| c.to_ascii_lowercase()),
            );
        } else {
            let d =
                normalize_domain(domain).map_err(|_| invalid("the domain is not a valid name"))?;
            text.push_str(&d);
        }
        // Punycode can make a domain longer, so the limit applies to the normalised address.
        if text.len() > MAX_ADDRESS_LEN {
            return Err(invalid("longer than 320 characters"));
        }
        Ok(EmailAddress { at, text })
    }

    /// The whole normalised address.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The normalised local part (before the `@`).
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The normalised domain (lower-case ASCII, Punycode for IDN).
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }
}

/// Normalises a domain name the same way [`EmailAddress::parse`] does: IDNA to lower-case ASCII,
/// with a trailing root dot removed. Used for `local_domains` and `@domain` queries so they compare
/// equal to address domains.
pub fn normalize_domain(domain: &str) -> Result<String, Error> {
    let d = domain.trim();
    let d = d.strip_prefix('@').unwrap_or(d);
    // Address literals ([192.0.2.1]) are kept as written.
    if d.starts_with('[') && d.ends_with(']') {
        return Ok(d.to_ascii_lowercase());
    }
    let invalid = || Error::InvalidAddress {
        input: truncate_for_error(domain),
        reason: "not a valid domain name".to_string(),
    };
    // IDNA maps full-width and ideographic dots to '.', so every structural check is made on
    // its output.
    let ascii =
        idna::domain_to_ascii_cow(d.as_bytes(), idna::AsciiDenyList::URL).map_err(|_| invalid())?;
    // One trailing dot is the DNS root ("example.com."): drop it.
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    // Host names are letters, digits and hyphens (underscores occur in the wild); IDNA passes
    // other ASCII through, so check what it produced.
    if ascii.is_empty()
        || ascii.starts_with('.')
        || ascii.ends_with('.')
        || ascii.contains("..")
        || !ascii
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(invalid());
    }
    Ok(ascii.to_string())
}

/// True for a domain that IDNA would only lower-case: ASCII labels of letters, digits and inner
/// hyphens, not Punycode, with at most a trailing root dot.
fn is_plain_ascii_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && !label
                    .get(..4)
                    .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn truncate_for_error(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.text)
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        EmailAddress::parse(s)
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EmailAddress::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Who a history or DR lookup is about: one customer address, or everybody at a domain
/// (`@example.com`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// Exactly this address.
    Address(EmailAddress),
    /// Any address at this (normalised) domain.
    Domain(String),
}

impl Party {
    /// Parses `ADDRESS` or `@DOMAIN`, the form `etraq history` takes.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let t = input.trim();
        if let Some(domain) = t.strip_prefix('@') {
            Ok(Party::Domain(normalize_domain(domain)?))
        } else {
            Ok(Party::Address(EmailAddress::parse(t)?))
        }
    }

    /// True when `addr` is this party (the address itself, or any address at the domain).
    pub fn matches(&self, addr: &EmailAddress) -> bool {
        match self {
            Party::Address(a) => a == addr,
            Party::Domain(d) => addr.domain() == d,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Address(a) => write!(f, "{a}"),
            Party::Domain(d) => write!(f, "@{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_brackets_and_idn() {
        let a = EmailAddress::parse(" <Bob@Example.COM> ").unwrap();
        assert_eq!(a.as_str(), "bob@example.com");
        assert_eq!(a.local_part(), "bob");
        assert_eq!(a.domain(), "example.com");
        let idn = EmailAddress::parse("Info@Bücher.Example").unwrap();
        assert_eq!(idn.as_str(), "info@xn--bcher-kva.example");
        assert_eq!(
            idn,
            EmailAddress::parse("info@xn--bcher-kva.example").unwrap()
        );
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "<>",
            "nobody",
            "@example.com",
            "bob@",
            "bo b@example.com",
            "bob@exa mple.com",
            "bob@example..com",
            "bob@example.com..",
            "bob@exa(mple.com",
            "bob@\u{0}x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn party_parses_domain_and_address() {
        assert_eq!(
            Party::parse("@Example.COM").unwrap(),
            Party::Domain("example.com".into())
        );
        let p = Party::parse("a@b.example").unwrap();
        assert!(p.matches(&EmailAddress::parse("A@B.example").unwrap()));
        assert!(
            Party::parse("@b.example")
                .unwrap()
                .matches(&EmailAddress::parse("z@b.example").unwrap())
        );
    }
}
