//! Tracked mail: every `http(s)` link of a rendered campaign mail becomes a signed click link,
//! and its HTML part gets an open pixel and a hidden honeypot link. Pure: the caller says how a
//! URL becomes a link number (the campaign's link book) and how a number becomes a click URL.
//!
//! The HTML is read with a WHATWG tokenizer (html5gum) that reports where each start tag lies,
//! so only the `<a>` and `<area>` tags whose links are tracked are written anew; everything
//! else of the mail stays byte for byte. A link carrying `data-notrack`, and etraq's own links
//! (unsubscribe, view in browser), are left as they are.

use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::campaign::template::Rendered;

/// The link number of the hidden honeypot link: a click on it is a machine's.
pub const HONEYPOT: u16 = u16::MAX;

/// The most distinct links one campaign tracks (its link book); further ones stay untracked.
pub const MAX_LINKS: usize = 60_000;

/// Where tracked links point.
pub struct TrackUrls<'a> {
    /// The click URL of link number `n`.
    pub click: &'a dyn Fn(u16) -> String,
    /// The open pixel's URL.
    pub open: String,
    /// Links starting with this are etraq's own and stay as they are (`campaigns.public_url`).
    pub own_prefix: &'a str,
}

/// Whether `url` is one to track: an absolute `http(s)` link that is not etraq's own.
fn trackable(url: &str, own_prefix: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && (own_prefix.is_empty() || !url.starts_with(own_prefix))
}

fn escape_attr(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The mail with its links tracked (see the module comment). `link_id` gives a URL's number in
/// the campaign's link book, or `None` when the book is full (the link then stays as it is).
pub fn track_links(
    rendered: &Rendered,
    link_id: &mut dyn FnMut(&str) -> Option<u16>,
    urls: &TrackUrls<'_>,
) -> Rendered {
    Rendered {
        subject: rendered.subject.clone(),
        html: track_html(&rendered.html, link_id, urls),
        text: track_text(&rendered.text, link_id, urls),
    }
}

/// The trackable URLs of a rendered mail (HTML links and bare URLs of the text part), each
/// once, in the order they appear: what the campaign's link book must hold before the mail is
/// tracked.
pub fn links_in(rendered: &Rendered, own_prefix: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut collect = |u: &str| {
        if !seen.iter().any(|s| s == u) {
            seen.push(u.to_string());
        }
        None
    };
    let click = |_: u16| String::new();
    let urls = TrackUrls {
        click: &click,
        open: String::new(),
        own_prefix,
    };
    let _ = track_html(&rendered.html, &mut collect, &urls);
    let _ = track_text(&rendered.text, &mut collect, &urls);
    seen
}

fn track_html(
    html: &str,
    link_id: &mut dyn FnMut(&str) -> Option<u16>,
    urls: &TrackUrls<'_>,
) -> String {
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    // Script, style and the like hold text, not tags.
    emitter.naively_switch_states(true);
    let mut out = String::with_capacity(html.len() + 512);
    let mut copied = 0;
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(Token::StartTag(tag)) = token else {
            continue;
        };
        if !(tag.name.as_slice() == b"a" || tag.name.as_slice() == b"area") {
            continue;
        }
        if tag.attributes.contains_key(b"data-notrack".as_slice()) {
            continue;
        }
        let Some(href) = tag.attributes.get(b"href".as_slice()) else {
            continue;
        };
        let href = String::from_utf8_lossy(&href.value).trim().to_string();
        if !trackable(&href, urls.own_prefix) {
            continue;
        }
        let Some(n) = link_id(&href) else {
            continue;
        };
        let (start, end) = (tag.span.start, tag.span.end);
        if start < copied || end > html.len() || !html.is_char_boundary(start) {
            continue;
        }
        out.push_str(&html[copied..start]);
        out.push('<');
        out.push_str(&String::from_utf8_lossy(&tag.name));
        for (name, value) in &tag.attributes {
            out.push(' ');
            out.push_str(&String::from_utf8_lossy(name));
            out.push_str("=\"");
            if name.as_slice() == b"href" {
                out.push_str(&escape_attr(&(urls.click)(n)));
            } else {
                out.push_str(&escape_attr(&String::from_utf8_lossy(&value.value)));
            }
            out.push('"');
        }
        if tag.self_closing {
            out.push_str(" /");
        }
        out.push('>');
        copied = end;
    }
    out.push_str(&html[copied..]);
    // The open pixel, and the honeypot: a link no person sees, which only a machine follows.
    let extra = format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0\">\
         <a href=\"{}\" style=\"display:none;font-size:0;line-height:0;max-height:0;overflow:hidden\" aria-hidden=\"true\" tabindex=\"-1\">&#8203;</a>",
        escape_attr(&urls.open),
        escape_attr(&(urls.click)(HONEYPOT)),
    );
    match find_ignore_case(&out, "</body") {
        Some(i) => out.insert_str(i, &extra),
        None => out.push_str(&extra),
    }
    out
}

fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    h.windows(n.len()).rposition(|w| w.eq_ignore_ascii_case(n))
}

/// Bare `http(s)://` URLs in the text part, each up to whitespace or an angle bracket or quote,
/// without the punctuation that usually ends a sentence.
fn track_text(
    text: &str,
    link_id: &mut dyn FnMut(&str) -> Option<u16>,
    urls: &TrackUrls<'_>,
) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(i) = find_url_start(rest) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        let mut url = &tail[..end];
        url = url.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        match (trackable(url, urls.own_prefix), url.len() > 8) {
            (true, true) => match link_id(url) {
                Some(n) => out.push_str(&(urls.click)(n)),
                None => out.push_str(url),
            },
            _ => out.push_str(url),
        }
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

fn find_url_start(s: &str) -> Option<usize> {
    let a = s.find("http://");
    let b = s.find("https://");
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(html: &str, text: &str) -> (Rendered, Vec<String>) {
        let mut book: Vec<String> = Vec::new();
        let click = |n: u16| format!("https://etraq.example/t/c/T{n}");
        let urls = TrackUrls {
            click: &click,
            open: "https://etraq.example/t/o/OPEN".into(),
            own_prefix: "https://etraq.example",
        };
        let mut id = |u: &str| {
            let i = book.iter().position(|b| b == u).unwrap_or_else(|| {
                book.push(u.to_string());
                book.len() - 1
            });
            Some(i as u16)
        };
        let out = track_links(
            &Rendered {
                subject: "s".into(),
                html: html.into(),
                text: text.into(),
            },
            &mut id,
            &urls,
        );
        (out, book)
    }

    #[test]
    fn links_become_click_links_and_everything_else_stays() {
        let html = r#"<!doctype html><html><body><p class="x">Hi &amp; welcome</p>
<a href="https://shop.example/a?x=1&amp;y=2" style="color:red">Shop</a>
<A HREF='http://b.example/'>B</A> <a href="https://shop.example/a?x=1&amp;y=2">again</a>
<a href="https://c.example/" data-notrack>not tracked</a>
<a href="mailto:press@example.com">mail</a> <a href="https://etraq.example/u/TOKEN">Unsubscribe</a>
<!-- <a href="https://comment.example/"> --><style>a{content:"<a href='https://css.example/'>"}</style>
<area href="https://map.example/" alt="m"></body></html>"#;
        let (out, book) = run(html, "");
        assert_eq!(
            book,
            [
                "https://shop.example/a?x=1&y=2",
                "http://b.example/",
                "https://map.example/"
            ]
        );
        let h = &out.html;
        assert!(
            h.contains(r#"<a href="https://etraq.example/t/c/T0" style="color:red">Shop</a>"#),
            "{h}"
        );
        assert!(
            h.contains(r#"<a href="https://etraq.example/t/c/T1">B</A>"#),
            "{h}"
        );
        assert!(
            h.contains(r#"<a href="https://etraq.example/t/c/T0">again</a>"#),
            "the same URL, the same number: {h}"
        );
        assert!(h.contains(r#"<a href="https://c.example/" data-notrack>not tracked</a>"#));
        assert!(
            h.contains("mailto:press@example.com") && h.contains("https://etraq.example/u/TOKEN")
        );
        assert!(
            h.contains("<!-- <a href=\"https://comment.example/\"> -->"),
            "comments stay"
        );
        assert!(
            h.contains("<a href='https://css.example/'>"),
            "style text stays"
        );
        assert!(
            h.contains(r#"<area alt="m" href="https://etraq.example/t/c/T2">"#),
            "{h}"
        );
        assert!(h.contains("<p class=\"x\">Hi &amp; welcome</p>"));
        // The pixel and the honeypot go just before </body>.
        let pixel = h.find("https://etraq.example/t/o/OPEN").unwrap();
        let honeypot = h.find(&format!("t/c/T{HONEYPOT}")).unwrap();
        let body_end = h.find("</body>").unwrap();
        assert!(
            pixel < body_end && honeypot < body_end && pixel > h.find("map.example").unwrap_or(0)
        );
    }

    #[test]
    fn links_in_lists_each_trackable_url_once() {
        let r = Rendered {
            subject: String::new(),
            html: "<a href=\"https://a.example/\">a</a><a href=\"https://a.example/\">again</a>\
                   <a href=\"https://own.example/u/x\">own</a><a data-notrack href=\"https://n.example/\">n</a>"
                .into(),
            text: "see https://b.example/ and https://a.example/".into(),
        };
        assert_eq!(
            links_in(&r, "https://own.example"),
            ["https://a.example/", "https://b.example/"]
        );
    }

    #[test]
    fn bare_urls_in_the_text_part_are_tracked_without_their_punctuation() {
        let text = "Read https://shop.example/news/1. Or see (https://b.example/x?y=1), \
                    and unsubscribe: https://etraq.example/u/TOKEN\nhttp://\n";
        let (out, book) = run("<html><body></body></html>", text);
        assert_eq!(
            book,
            ["https://shop.example/news/1", "https://b.example/x?y=1"]
        );
        assert_eq!(
            out.text,
            "Read https://etraq.example/t/c/T0. Or see (https://etraq.example/t/c/T1), \
             and unsubscribe: https://etraq.example/u/TOKEN\nhttp://\n"
        );
    }

    #[test]
    fn a_full_link_book_leaves_links_as_they_are_and_broken_html_never_panics() {
        let click = |n: u16| format!("C{n}");
        let urls = TrackUrls {
            click: &click,
            open: "O".into(),
            own_prefix: "",
        };
        let mut none = |_: &str| None;
        let r = Rendered {
            subject: String::new(),
            html: "<a href=\"https://x.example/\">x</a>".into(),
            text: "https://x.example/".into(),
        };
        let out = track_links(&r, &mut none, &urls);
        assert!(out.html.starts_with("<a href=\"https://x.example/\">x</a>"));
        assert_eq!(out.text, "https://x.example/");
        for junk in [
            "<a href=",
            "<a href=\"https://x",
            "<<<>>>",
            "<a\u{0}href='https://é.example'>",
            "",
        ] {
            let r = Rendered {
                subject: String::new(),
                html: junk.into(),
                text: junk.into(),
            };
            let mut any = |_: &str| Some(1);
            let _ = track_links(&r, &mut any, &urls);
        }
    }
}
