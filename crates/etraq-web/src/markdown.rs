//! Knowledge-base articles shown in the console: Markdown rendered with pulldown-cmark, then
//! cleaned with ammonia's allow-list, so an article with hostile Markdown or raw HTML (a
//! script, an event handler, a `javascript:` link) shows as harmless text and markup.

/// The article's Markdown as safe HTML: no script, style, frame, form or event attribute;
/// links only to http(s) and mailto, opening without a referrer.
pub fn article_html(markdown: &str) -> String {
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    opts.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let parser = pulldown_cmark::Parser::new_ext(markdown, opts);
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_hostile_parts_go() {
        let h = article_html("# Title\n\nSome **bold** and a [link](https://example.com).");
        assert!(h.contains("<h1>Title</h1>"), "{h}");
        assert!(h.contains("<strong>bold</strong>"), "{h}");
        assert!(h.contains("href=\"https://example.com\""), "{h}");
        for hostile in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "<iframe src=https://evil.example></iframe>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<style>body{display:none}</style>",
            "<form action=https://evil.example><input name=p></form>",
        ] {
            let h = article_html(hostile).to_lowercase();
            for bad in [
                "<script",
                "onerror",
                "javascript:",
                "<iframe",
                "data:text",
                "<style",
                "<form",
                "<input",
            ] {
                assert!(!h.contains(bad), "{hostile:?} gave {h:?}");
            }
        }
    }
}
