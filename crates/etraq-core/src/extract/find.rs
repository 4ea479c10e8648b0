//! Finding addresses (and links) in a fetched page: HTML via `scraper`, or plain text.
//!
//! What counts as an address on a web page, in the order a visitor's eye would find it:
//! - `mailto:` links, percent-decoded, with `?subject=…` stripped (its `to`, `cc` and `bcc`
//!   fields are addresses too);
//! - Cloudflare's e-mail protection, `data-cfemail="…"` and `/cdn-cgi/l/email-protection#…`,
//!   which XOR-encode the address with its first byte;
//! - the visible text, where HTML entities (`&#64;`) are already decoded by the parser, with
//!   inline elements joined (`info<b>@</b>acme.com`) and block elements kept apart;
//! - the obfuscated forms people type to dodge harvesters: `name [at] domain [dot] com`,
//!   `(at)`, `{at}`, `<at>`, ` @ `, and `name at domain dot com` (the bare word `at` only
//!   together with a spelled-out `dot`, since "we are at acme.com" is not an address);
//! - attribute values such as `value`, `title` or `content` (never `src`, `href` or `srcset`,
//!   which hold URLs, and never `placeholder`, which holds samples).
//!
//! Scripts, styles and comments are not read: what they contain is code, and the addresses in
//! it are rarely meant for people. Every candidate goes through [`plausible_address`].

use std::collections::HashSet;
use std::sync::LazyLock;

use ego_tree::iter::Edge;
use regex::Regex;
use scraper::{Html, Node};
use url::Url;

use super::plausible::{is_domain_byte, is_local_byte, plausible_address};

/// Links longer than this are ignored: they are session junk or traps, not pages.
const MAX_LINK_LEN: usize = 2048;

/// What one page yields: its addresses (normalised, each once, in the order they appear) and
/// the links to follow (absolute http(s) URLs without fragments, each once).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageFindings {
    /// Normalised addresses, first occurrence order.
    pub addresses: Vec<String>,
    /// Absolute `http`/`https` links, fragment removed, first occurrence order.
    pub links: Vec<Url>,
}

/// Collects addresses once each, in order.
#[derive(Default)]
struct Collector {
    seen: HashSet<String>,
    found: Vec<String>,
}

impl Collector {
    fn offer(&mut self, candidate: &str) {
        if let Some(addr) = plausible_address(candidate)
            && self.seen.insert(addr.as_str().to_string())
        {
            self.found.push(addr.as_str().to_string());
        }
    }
}

/// Finds the addresses and links of an HTML page. `base` is the page's URL (a `<base href>`
/// in the page takes precedence for links). Total: any input gives an answer.
pub fn find_in_html(html: &str, base: &Url) -> PageFindings {
    let doc = Html::parse_document(html);
    let mut out = Collector::default();
    let mut base = base.clone();
    let mut base_set = false;
    let mut links = Vec::new();
    let mut link_seen = HashSet::new();
    // Visible text, inline runs joined, blocks separated by '\n'.
    let mut text = String::with_capacity(html.len() / 2);
    // Depth inside <script>/<style>/<template>: their text is not read.
    let mut skip_depth = 0usize;

    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if is_opaque(name) {
                        skip_depth += 1;
                    }
                    if !is_inline(name) {
                        text.push('\n');
                    }
                    if name == "base" && !base_set {
                        if let Some(href) = el.attr("href")
                            && let Ok(b) = base.join(href.trim())
                        {
                            base = b;
                        }
                        base_set = true;
                    }
                    for (attr, value) in el.attrs() {
                        match attr {
                            "href" | "src" => {
                                let v = value.trim();
                                if let Some(mailto) = strip_prefix_ci(v, "mailto:") {
                                    read_mailto(mailto, &mut out);
                                } else if let Some(hex) = cloudflare_fragment(v) {
                                    read_cloudflare(hex, &mut out);
                                } else if matches!(name, "a" | "area" | "frame" | "iframe")
                                    && let Some(link) = resolve_link(&base, v)
                                    && link_seen.insert(link.as_str().to_string())
                                {
                                    links.push(link);
                                }
                            }
                            "data-cfemail" => read_cloudflare(value.trim(), &mut out),
                            "srcset" | "placeholder" | "style" | "action" | "data" => {}
                            _ => {
                                if value.contains('@') || value.contains("at") {
                                    scan_text(value, &mut out);
                                }
                            }
                        }
                    }
                }
                Node::Text(t) if skip_depth == 0 => text.push_str(t),
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if is_opaque(name) {
                        skip_depth = skip_depth.saturating_sub(1);
                    }
                    if !is_inline(name) {
                        text.push('\n');
                    }
                }
            }
        }
    }
    scan_text(&text, &mut out);
    PageFindings {
        addresses: out.found,
        links,
    }
}

/// Finds the addresses in plain text (a `text/plain` page, a list file).
pub fn find_in_text(text: &str) -> Vec<String> {
    let mut out = Collector::default();
    scan_text(text, &mut out);
    out.found
}

/// Elements whose content is code, not text for people.
fn is_opaque(name: &str) -> bool {
    matches!(name, "script" | "style" | "template")
}

/// Elements that do not break a line of text, so their text joins their neighbours'.
fn is_inline(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "em"
            | "font"
            | "i"
            | "kbd"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
            | "wbr"
    )
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Absolute http(s) URL of a link, fragment removed; `None` for other schemes and junk.
fn resolve_link(base: &Url, href: &str) -> Option<Url> {
    if href.is_empty() || href.len() > MAX_LINK_LEN || href.starts_with('#') {
        return None;
    }
    let mut url = base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

/// `mailto:a@x.com,b@y.com?subject=Hi&cc=c@z.com`: the addresses before `?`, and those of
/// `to`, `cc` and `bcc`; everything percent-decoded.
fn read_mailto(rest: &str, out: &mut Collector) {
    let (to, query) = rest.split_once('?').unwrap_or((rest, ""));
    let to = percent_encoding::percent_decode_str(to).decode_utf8_lossy();
    for part in to.split([',', ';']) {
        out.offer(part);
    }
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if ["to", "cc", "bcc"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            for part in value.split([',', ';']) {
                out.offer(part);
            }
        }
    }
}

/// The hex after `/cdn-cgi/l/email-protection#`, if `href` is Cloudflare's protected link.
fn cloudflare_fragment(href: &str) -> Option<&str> {
    let at = href.find("/cdn-cgi/l/email-protection#")?;
    Some(&href[at + "/cdn-cgi/l/email-protection#".len()..])
}

/// Decodes Cloudflare's e-mail protection: hex bytes, the first is the key every other byte is
/// XORed with. The result may itself be a `mailto:` with a query.
pub fn decode_cloudflare(hex: &str) -> Option<String> {
    let hex = hex.trim();
    if hex.len() < 4 || !hex.len().is_multiple_of(2) || hex.len() > 4096 {
        return None;
    }
    let mut bytes = Vec::with_capacity(hex.len() / 2);
    for pair in hex.as_bytes().chunks(2) {
        let s = std::str::from_utf8(pair).ok()?;
        bytes.push(u8::from_str_radix(s, 16).ok()?);
    }
    let key = bytes[0];
    let plain: Vec<u8> = bytes[1..].iter().map(|b| b ^ key).collect();
    String::from_utf8(plain).ok()
}

fn read_cloudflare(hex: &str, out: &mut Collector) {
    if let Some(plain) = decode_cloudflare(hex) {
        match strip_prefix_ci(&plain, "mailto:") {
            Some(rest) => read_mailto(rest, out),
            None => read_mailto(&plain, out),
        }
    }
}

/// An obfuscated `@`: `[at]`, `(at)`, `{at}`, `<at>`, `[@]`, `(@)`, ` @ `, or the bare word
/// ` at `. Group 1 is set for the bare word.
static AT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\s*(?:\[\s*(?:at|@)\s*\]|\(\s*(?:at|@)\s*\)|\{\s*at\s*\}|<\s*at\s*>|\s@\s)\s*|\s+(at)\s+")
        .unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// An obfuscated `.` at the start of the haystack: `[dot]`, `(dot)`, `{dot}`, `<dot>`, `[.]`,
/// `(.)` or the bare word ` dot `.
static DOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i)(?:\s*(?:\[\s*(?:dot|\.)\s*\]|\(\s*(?:dot|\.)\s*\)|\{\s*dot\s*\}|<\s*dot\s*>)\s*|\s+dot\s+)")
        .unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// An obfuscated `.` at the end of the haystack (for local parts like `john [dot] smith`).
static DOT_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\s*(?:\[\s*dot\s*\]|\(\s*dot\s*\)|\{\s*dot\s*\})\s*|\s+dot\s+)$")
        .unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// Scans text for plain and obfuscated addresses.
fn scan_text(text: &str, out: &mut Collector) {
    let bytes = text.as_bytes();
    for at in memchr::memchr_iter(b'@', bytes) {
        let mut start = at;
        while start > 0 && is_local_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain_byte(bytes[end]) {
            end += 1;
        }
        let local = text[start..at].trim_start_matches(['.', '\'', '=', '&', '-']);
        let domain = text[at + 1..end].trim_end_matches(['.', '-']);
        if local.is_empty() || domain.is_empty() {
            continue;
        }
        out.offer(&format!("{local}@{domain}"));
    }
    if has_word_marker(bytes) {
        scan_obfuscated(text, out);
    }
}

/// Cheap test before the regex: is there an `at` (any case) or an `@` next to a space or a
/// bracket at all? Most text has no obfuscated address.
fn has_word_marker(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(b't', b'T', bytes).any(|i| i > 0 && matches!(bytes[i - 1], b'a' | b'A'))
        || memchr::memchr_iter(b'@', bytes)
            .any(|i| i > 0 && matches!(bytes[i - 1], b' ' | b'[' | b'(' | b'\t' | b'\n'))
}

fn scan_obfuscated(text: &str, out: &mut Collector) {
    let bytes = text.as_bytes();
    for caps in AT.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let bare_at = caps.get(1).is_some();
        // The local part: a run of local characters, possibly joined by spelled-out dots.
        let mut start = whole.start();
        let mut local_parts = Vec::new();
        for _ in 0..4 {
            let mut s = start;
            while s > 0 && is_local_byte(bytes[s - 1]) && bytes[s - 1] != b'.' {
                s -= 1;
            }
            // A real dot inside the local part is fine: keep extending over it.
            while s > 1 && bytes[s - 1] == b'.' && is_local_byte(bytes[s - 2]) {
                s -= 1;
                while s > 0 && is_local_byte(bytes[s - 1]) && bytes[s - 1] != b'.' {
                    s -= 1;
                }
            }
            if s == start {
                break;
            }
            local_parts.push(&text[s..start]);
            start = s;
            match DOT_BEFORE.find(&text[..start]) {
                Some(m) => start = m.start(),
                None => break,
            }
        }
        if local_parts.is_empty() {
            continue;
        }
        local_parts.reverse();
        let local = local_parts.join(".");
        // The domain: labels joined by real or spelled-out dots.
        let mut pos = whole.end();
        let mut labels: Vec<&str> = Vec::new();
        let mut spelled_dot = false;
        loop {
            let label_start = pos;
            while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'-') {
                pos += 1;
            }
            if pos == label_start {
                break;
            }
            labels.push(&text[label_start..pos]);
            if pos < bytes.len()
                && bytes[pos] == b'.'
                && pos + 1 < bytes.len()
                && bytes[pos + 1].is_ascii_alphanumeric()
            {
                pos += 1;
                continue;
            }
            match DOT.find(&text[pos..]) {
                Some(dot) => {
                    spelled_dot = true;
                    pos += dot.end();
                }
                None => break,
            }
            if labels.len() > 10 {
                break;
            }
        }
        if labels.len() < 2 || (bare_at && !spelled_dot) {
            continue;
        }
        out.offer(&format!("{local}@{}", labels.join(".")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(s: &str) -> Vec<String> {
        let base = Url::parse("http://site.test/dir/page.html").unwrap_or_else(|e| panic!("{e}"));
        find_in_html(s, &base).addresses
    }

    #[test]
    fn plain_and_entity_addresses() {
        assert_eq!(
            html("<p>Write to sales@acme-tools.com or to J&#46;Doe&#64;Acme-Tools.com.</p>"),
            ["sales@acme-tools.com", "j.doe@acme-tools.com"]
        );
    }

    #[test]
    fn mailto_with_query_and_percent_encoding() {
        assert_eq!(
            html(
                r#"<a href="MAILTO:info%40acme-tools.com?subject=Hi%20there&cc=boss@acme-tools.com">x</a>"#
            ),
            ["info@acme-tools.com", "boss@acme-tools.com"]
        );
    }

    #[test]
    fn obfuscated_forms() {
        let page = "<ul><li>anna [at] acme-tools [dot] com</li><li>bob(at)acme-tools.com</li>\
                    <li>carl {at} acme-tools {dot} co {dot} uk</li><li>dora at acme-tools dot com</li>\
                    <li>eve [@] acme-tools.com</li><li>We are at acme-tools.com today</li>\
                    <li>john [dot] smith [at] acme-tools [dot] com</li></ul>";
        assert_eq!(
            html(page),
            [
                "anna@acme-tools.com",
                "bob@acme-tools.com",
                "carl@acme-tools.co.uk",
                "dora@acme-tools.com",
                "eve@acme-tools.com",
                "john.smith@acme-tools.com"
            ]
        );
    }

    #[test]
    fn cloudflare_both_forms() {
        // key 0x42 XOR "cf@acme-tools.com"
        let plain = "cf@acme-tools.com";
        let mut hex = String::from("42");
        for b in plain.bytes() {
            hex.push_str(&format!("{:02x}", b ^ 0x42));
        }
        let page = format!(
            r#"<a href="/cdn-cgi/l/email-protection" class="__cf_email__" data-cfemail="{hex}">[email&#160;protected]</a>
               <a href="/cdn-cgi/l/email-protection#{hex}">mail</a>"#
        );
        assert_eq!(html(&page), ["cf@acme-tools.com"]);
        assert_eq!(decode_cloudflare("zz"), None);
    }

    #[test]
    fn false_positives_are_dropped() {
        let page = r#"<img src="/img/logo@2x.png" srcset="hero@3x.jpg 3x" alt="logo@2x.png">
            <p>npm i jquery@3.6.0 — see you@example.com</p><input placeholder="name@acme-tools.com">
            <script>var e = "hidden@acme-tools.com";</script><!-- old@acme-tools.com -->"#;
        assert!(html(page).is_empty(), "{:?}", html(page));
    }

    #[test]
    fn inline_elements_join_blocks_separate() {
        assert_eq!(
            html("<table><tr><td>x</td><td>info<b>@</b>acme-tools.com</td></tr></table>"),
            ["info@acme-tools.com"]
        );
    }

    #[test]
    fn links_resolve_against_base() {
        let base = Url::parse("http://site.test/dir/page.html").unwrap_or_else(|e| panic!("{e}"));
        let found = find_in_html(
            r##"<a href="next.html#top">n</a><a href="/abs">a</a><a href="https://other.test/x">o</a>
               <a href="javascript:void(0)">j</a><a href="#frag">f</a><a href="next.html">again</a>"##,
            &base,
        );
        let links: Vec<_> = found.links.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            links,
            [
                "http://site.test/dir/next.html",
                "http://site.test/abs",
                "https://other.test/x"
            ]
        );
    }

    #[test]
    fn text_finder_handles_punctuation() {
        assert_eq!(
            find_in_text("(mail: ann@acme-tools.com), 'bob@acme-tools.com'. <carl@acme-tools.com>"),
            [
                "ann@acme-tools.com",
                "bob@acme-tools.com",
                "carl@acme-tools.com"
            ]
        );
    }
}
