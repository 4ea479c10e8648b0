//! Is a string that looks like an address really one? The false-positive filter of the extractor.
//!
//! Pages are full of things shaped like `x@y.z` that are not addresses: retina image names
//! (`logo@2x.png`), package versions (`jquery@3.6.0`), placeholders (`you@example.com`) and
//! hosts without a real top-level domain (`admin@localhost`, `a@b.c`). An address is kept only
//! when its top-level domain is on the Public Suffix List (the `psl` crate, a compiled copy of
//! the maintained list), it respects RFC 5321's lengths, and it is not an asset name.

use crate::address::EmailAddress;

/// File extensions that show a "domain" is really a file name (`logo@2x.png`). Some of them are
/// real TLDs (`.zip`, `.mov`), which is why the list is checked even after the TLD test.
const ASSET_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "bmp", "ico", "tif", "tiff", "heic", "css",
    "js", "mjs", "map", "json", "xml", "woff", "woff2", "ttf", "eot", "otf", "mp4", "mp3", "mov",
    "avi", "webm", "wav", "ogg", "pdf", "zip", "gz", "tgz", "tar", "rar", "7z", "exe", "dmg",
    "apk", "txt", "php", "asp", "aspx", "jsp", "html", "htm", "scss", "less", "ts", "vue",
];

/// Domains reserved for documentation (RFC 2606): any address there is a placeholder.
const RESERVED_DOMAINS: &[&str] = &["example.com", "example.net", "example.org", "example.edu"];

/// The longest local part RFC 5321 allows.
const MAX_LOCAL: usize = 64;
/// The longest domain RFC 5321 allows.
const MAX_DOMAIN: usize = 253;
/// The longest whole address (a forward-path is at most 256 octets with its angle brackets).
const MAX_ADDRESS: usize = 254;

/// Normalises `candidate` (lower case, IDNA domain) and returns it when it passes every filter,
/// `None` otherwise. The one gate every address the extractor reports goes through.
pub fn plausible_address(candidate: &str) -> Option<EmailAddress> {
    let candidate = candidate.trim();
    if candidate.len() > MAX_ADDRESS * 4 || candidate.starts_with('"') {
        return None;
    }
    let addr = EmailAddress::parse(candidate).ok()?;
    let (local, domain) = (addr.local_part(), addr.domain());
    if addr.as_str().len() > MAX_ADDRESS || local.len() > MAX_LOCAL || domain.len() > MAX_DOMAIN {
        return None;
    }
    if !local_ok(local) || !domain_ok(domain) {
        return None;
    }
    Some(addr)
}

/// A dot-atom local part of the characters addresses on web pages really use.
fn local_ok(local: &str) -> bool {
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(is_local_byte)
}

/// Characters the finder accepts in a local part: RFC 5322 atext without the rarely-used
/// symbols that mostly appear in code (`{|}~^`` ` ``).
pub(crate) fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'' | b'=' | b'&')
}

/// Characters of a domain name in ASCII form.
pub(crate) fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

fn domain_ok(domain: &str) -> bool {
    if RESERVED_DOMAINS.contains(&domain) {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    for label in &labels {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return false;
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.bytes().all(|b| b.is_ascii_digit()) || ASSET_EXTENSIONS.contains(&tld) {
        return false;
    }
    // `name@2x.something`: a retina image whatever the extension.
    if labels.len() == 2 && is_scale_factor(labels[0]) {
        return false;
    }
    match psl::suffix(domain.as_bytes()) {
        // The suffix must be a listed one, and there must be a name in front of it.
        Some(suffix) => suffix.is_known() && suffix.as_bytes().len() < domain.len(),
        None => false,
    }
}

/// `2x`, `3x`, `1.5x`-style image scale suffixes (the part after `@` in `logo@2x.png`).
fn is_scale_factor(label: &str) -> bool {
    label
        .strip_suffix('x')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Option<String> {
        plausible_address(s).map(|a| a.as_str().to_string())
    }

    #[test]
    fn real_addresses_pass_normalised() {
        assert_eq!(
            ok("Info@Acme-Tools.COM").as_deref(),
            Some("info@acme-tools.com")
        );
        assert_eq!(
            ok("jane.doe+sales@shop.co.uk").as_deref(),
            Some("jane.doe+sales@shop.co.uk")
        );
        assert_eq!(ok("o'brien@pub.ie").as_deref(), Some("o'brien@pub.ie"));
        assert_eq!(
            ok("kontakt@bücher.de").as_deref(),
            Some("kontakt@xn--bcher-kva.de")
        );
    }

    #[test]
    fn image_names_versions_and_unknown_tlds_fail() {
        for bad in [
            "logo@2x.png",
            "icon@3x.webp",
            "hero@2x.mov",
            "sprite@1x.zip",
            "jquery@3.6.0",
            "admin@localhost",
            "a@b.c",
            "user@host.invalidtld",
            "x@10.0.0.1",
            "you@example.com",
            "a@co.uk",
            "a@-bad.com",
            "a..b@acme.com",
            ".a@acme.com",
        ] {
            assert_eq!(ok(bad), None, "{bad} should be refused");
        }
    }

    #[test]
    fn length_limits_hold() {
        let long_local = format!("{}@acme.com", "a".repeat(65));
        assert_eq!(ok(&long_local), None);
        let long_label = format!("a@{}.com", "b".repeat(64));
        assert_eq!(ok(&long_label), None);
        let fine = format!("{}@acme.com", "a".repeat(64));
        assert!(ok(&fine).is_some());
    }
}
