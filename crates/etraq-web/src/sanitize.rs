//! Mail HTML made safe to show inside the console (ammonia, an allow-list sanitiser that parses
//! like a browser): no script, style, form, frame, SVG, `<base>` or `<meta>`; no event or
//! `style` attribute; links only to http(s) and mailto, opening without a referrer; remote images
//! dropped (and counted) until the reader asks for them; `cid:` images pointed at the console's
//! own inline-part route. The sender's relative URLs are dropped: in the console they would
//! point at the console.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ammonia::{Builder, UrlRelative};

/// The relative URLs that may stay: the inline-part paths the attribute filter wrote.
struct OwnPaths(String);

impl<'a> ammonia::UrlRelativeEvaluate<'a> for OwnPaths {
    fn evaluate<'url>(&self, url: &'url str) -> Option<std::borrow::Cow<'url, str>> {
        url.starts_with(self.0.as_str())
            .then_some(std::borrow::Cow::Borrowed(url))
    }
}

/// Mail HTML after [`sanitize`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeHtml {
    /// The markup, safe to embed as is.
    pub html: String,
    /// Remote images left out (0 when they were asked for).
    pub blocked_images: usize,
}

/// Sanitises `html` for display. `cid_base` is the path inline parts are served under (the
/// `Content-ID` is appended, percent-encoded); with `show_images` remote http(s) images stay.
pub fn sanitize(html: &str, cid_base: &str, show_images: bool) -> SafeHtml {
    let blocked = Arc::new(AtomicUsize::new(0));
    let counter = blocked.clone();
    let base = cid_base.to_string();
    let own = base.clone();
    let mut b = Builder::default();
    b.url_schemes(["http", "https", "mailto", "cid"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(move |element, attribute, value| {
            let is_url = matches!(
                (element, attribute),
                ("a", "href") | ("img", "src") | (_, "cite") | ("area", "href")
            );
            if !is_url {
                return Some(value.into());
            }
            let lower = value.trim().to_ascii_lowercase();
            if let Some(cid) = lower.strip_prefix("cid:") {
                if element != "img" {
                    return None;
                }
                let raw = &value.trim()[value.trim().len() - cid.len()..];
                let enc =
                    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC);
                return Some(format!("{base}{enc}").into());
            }
            let absolute = lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("mailto:");
            if !absolute {
                return None; // relative: it would point into the console
            }
            if element == "img" && !show_images {
                counter.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Some(value.into())
        })
        // Only the inline-part paths written above are relative; anything else was dropped.
        .url_relative(UrlRelative::Custom(Box::new(OwnPaths(own))));
    let html = b.clean(html).to_string();
    SafeHtml {
        html,
        blocked_images: blocked.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(h: &str) -> String {
        sanitize(h, "/mail/7/cid/", false).html
    }

    #[test]
    fn hostile_markup_is_removed() {
        let cases = [
            ("<script>alert(1)</script><p>hi</p>", "<script"),
            ("<img src=x onerror=alert(1)>", "onerror"),
            ("<a href=\"javascript:alert(1)\">x</a>", "javascript:"),
            ("<a href=\"JaVaScRiPt:alert(1)\">x</a>", "avascript"),
            (
                "<p style=\"width: expression(alert(1))\">x</p>",
                "expression",
            ),
            (
                "<div style=\"background:url(https://t.example/p.gif)\">x</div>",
                "t.example",
            ),
            ("<svg><script>alert(1)</script></svg>", "script"),
            ("<svg onload=alert(1)><circle/></svg>", "onload"),
            (
                "<base href=\"https://evil.example/\"><a href=\"x\">x</a>",
                "evil.example",
            ),
            (
                "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
                "refresh",
            ),
            ("<style>body{display:none}</style>", "display"),
            (
                "<form action=\"https://evil.example\"><input name=p></form>",
                "<form",
            ),
            ("<iframe src=\"https://evil.example\"></iframe>", "iframe"),
            ("<object data=\"x.swf\"></object>", "object"),
            ("<a href=\"/logout\">relative</a>", "/logout"),
            ("<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">", "data:"),
        ];
        for (input, bad) in cases {
            let out = clean(input);
            assert!(
                !out.to_ascii_lowercase().contains(&bad.to_ascii_lowercase()),
                "{input:?} gave {out:?}"
            );
        }
    }

    #[test]
    fn remote_images_wait_until_asked_and_a_pixel_is_counted() {
        let h = "<p>Hi</p><img src=\"https://track.example/p.gif\" width=1 height=1>\
                 <img src=\"http://cdn.example/logo.png\" alt=\"Logo\">";
        let blocked = sanitize(h, "/mail/7/cid/", false);
        assert_eq!(blocked.blocked_images, 2);
        assert!(!blocked.html.contains("track.example") && !blocked.html.contains("cdn.example"));
        assert!(blocked.html.contains("alt=\"Logo\""), "{}", blocked.html);
        let shown = sanitize(h, "/mail/7/cid/", true);
        assert_eq!(shown.blocked_images, 0);
        assert!(shown.html.contains("https://track.example/p.gif"));
    }

    #[test]
    fn inline_images_point_at_the_console_and_links_open_safely() {
        let out = clean("<img src=\"cid:logo@x\"><a href=\"https://shop.example/a\">Shop</a>");
        assert!(out.contains("src=\"/mail/7/cid/logo%40x\""), "{out}");
        assert!(out.contains("rel=\"noopener noreferrer\""), "{out}");
        assert!(out.contains("href=\"https://shop.example/a\""));
        assert!(
            !clean("<a href=\"cid:x\">x</a>").contains("cid"),
            "cid only for images"
        );
        assert!(
            !clean("<img src=\"/mail/7/cid/forged\">").contains("forged"),
            "no sender path"
        );
    }

    #[test]
    fn ordinary_mail_survives() {
        let out = clean("<table><tr><td><b>Order</b> 1234</td></tr></table><ul><li>one</li></ul>");
        assert!(
            out.contains("<b>Order</b>") && out.contains("<li>one</li>"),
            "{out}"
        );
    }
}
