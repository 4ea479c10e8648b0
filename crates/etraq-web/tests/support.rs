//! Customer service in the console and the API, on a real console: the knowledge base (a
//! hostile article is shown sanitised; deleting takes a supervisor), a DR's suggested answers,
//! its reply form (sent through the console's mailer, the evaluation Maildir, and recorded as
//! the reply; refusals come back with the text kept), closing with a transcript, and the
//! acknowledgement rules (supervisors write them).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::Role;

async fn setup() -> (Console, String) {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    c.user("sue@example.com", Role::Supervisor, None, None)
        .await;
    let dr = c
        .mail(
            "From: Carla <carla@customer.example>\r\nTo: ann@example.com\r\nSubject: Vase arrived broken\r\n\
             Message-ID: <v1@customer.example>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\n\
             The glass vase came in pieces. Can I get my money back?\r\n",
        )
        .await
        .unwrap();
    (c, dr)
}

fn maildir_files(c: &Console) -> Vec<Vec<u8>> {
    let dir = c.config_path.parent().unwrap().join("maildir").join("new");
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_are_written_searched_shown_sanitised_and_deleted_by_supervisors() {
    let (c, _) = setup().await;
    let ann = c.login_as("ann@example.com").await;
    let r = ann
        .post(
            "/kb",
            &[
                ("title", "An item arrived broken or damaged"),
                ("body", "Send us a **photo**.\n\n<script>alert('x')</script><img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))"),
                ("tags", "returns, Damaged"),
                ("public", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let href = r.location().split('?').next().unwrap().to_string();
    let page = ann.get(&href).await;
    assert_eq!(page.status, 200);
    let start = page.body.find("id=\"article-body\"").unwrap();
    let article = &page.body[start..start + page.body[start..].find("</article>").unwrap()];
    assert!(article.contains("<strong>photo</strong>"), "{article}");
    for bad in ["<script", "onerror", "javascript:"] {
        assert!(!article.contains(bad), "{bad} in {article}");
    }
    // The source is shown in the edit form as text, never as markup.
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("returns, damaged"));
    // A second version keeps the first in the history.
    let r = ann
        .post(
            &href,
            &[
                ("title", "An item arrived broken"),
                ("body", "Send a photo."),
                ("tags", "returns"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = href.trim_start_matches("/kb/");
    let detail = ann.get(&format!("/api/v1/kb/{id}")).await.json();
    assert_eq!(detail["history"].as_array().unwrap().len(), 2);
    assert_eq!(
        detail["article"]["public"], false,
        "an unchecked box is not public"
    );
    // A bad form comes back with the problem.
    let r = ann.post("/kb", &[("title", ""), ("body", "x")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("needs a title"), "{}", r.body);
    // Search from the page and the API.
    let page = ann.get("/kb?q=my+parcel+came+smashed").await;
    assert!(
        page.body.contains("An item arrived broken"),
        "{}",
        page.body
    );
    let hits = ann.get("/api/v1/kb/search?q=smashed+vase").await.json();
    assert_eq!(hits[0]["id"].to_string(), id);
    assert_eq!(ann.get("/api/v1/kb/search?q=").await.status, 400);
    // Agents may not delete; supervisors may.
    assert_eq!(ann.post(&format!("/kb/{id}/delete"), &[]).await.status, 403);
    let sue = c.login_as("sue@example.com").await;
    assert_eq!(sue.post(&format!("/kb/{id}/delete"), &[]).await.status, 303);
    assert_eq!(ann.get(&href).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dr_page_suggests_answers_sends_a_reply_and_closes_with_a_transcript() {
    let (c, dr) = setup().await;
    let ann = c.login_as("ann@example.com").await;
    let api = ann.post_json(
        "/api/v1/kb",
        r#"{"title":"An item arrived broken or damaged","body":"Send us a photo; we ship a replacement.","tags":["returns"],"public":true}"#,
    )
    .await;
    assert_eq!(api.status, 200, "{}", api.body);
    ann.post_json(
        "/api/v1/kb",
        r#"{"title":"Opening hours","body":"We answer every day."}"#,
    )
    .await;
    let page = ann.get(&format!("/dr/{dr}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"suggestions\""), "{}", page.body);
    assert!(
        page.body.contains("An item arrived broken or damaged"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"reply-form\""));
    assert!(
        page.body.contains("The glass vase came in pieces"),
        "the quoted message"
    );
    let sugg = ann
        .get(&format!("/api/v1/drs/{dr}/suggestions"))
        .await
        .json();
    assert_eq!(
        sugg[0]["title"], "An item arrived broken or damaged",
        "{sugg:#}"
    );

    // An empty reply comes back with the problem; a real one is sent and recorded.
    let r = ann
        .post(
            &format!("/dr/{dr}/reply"),
            &[("body", "  "), ("cc", ""), ("as", "owner")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("a reply needs a text"), "{}", r.body);
    let r = ann
        .post(
            &format!("/dr/{dr}/reply"),
            &[
                ("body", "Send us a photo, please."),
                ("cc", "not an address"),
                ("as", "owner"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Send us a photo, please."),
        "the text is kept"
    );
    let r = ann
        .post(
            &format!("/dr/{dr}/reply"),
            &[
                ("body", "Send us a photo, please."),
                ("cc", ""),
                ("as", "owner"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let sent = maildir_files(&c);
    assert_eq!(sent.len(), 1);
    let m = mail_parser::MessageParser::default()
        .parse(&sent[0])
        .unwrap();
    assert_eq!(m.in_reply_to().as_text(), Some("v1@customer.example"));
    assert!(m.subject().unwrap().contains(&format!("[{dr}]")));
    let detail = ann.get(&format!("/api/v1/drs/{dr}")).await.json();
    assert_eq!(detail["status"], "replied");
    let replies = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mail_type"] == "Replied Mail")
        .count();
    assert_eq!(replies, 1);

    // The API's reply refuses what the form refuses.
    let r = ann
        .post_json(&format!("/api/v1/drs/{dr}/reply"), r#"{"body":""}"#)
        .await;
    assert_eq!(r.status, 400);
    let t = ann
        .get(&format!("/api/v1/drs/{dr}/transcript"))
        .await
        .json();
    assert!(
        t["text"]
            .as_str()
            .unwrap()
            .contains("Send us a photo, please.")
    );

    // Close with the box checked: the transcript is queued for the customer.
    let r = ann
        .post(&format!("/dr/{dr}/close"), &[("transcript", "on")])
        .await;
    assert_eq!(r.status, 303);
    let queued = c.store.queued_mail("transcript", 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].message.to.as_str(), "carla@customer.example");
    // A closed DR offers no reply form and refuses a reply.
    let page = ann.get(&format!("/dr/{dr}")).await;
    assert!(!page.body.contains("id=\"reply-form\""));
    let r = ann
        .post_json(&format!("/api/v1/drs/{dr}/reply"), r#"{"body":"hello"}"#)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("closed"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgement_rules_are_written_by_supervisors() {
    let (c, _) = setup().await;
    let ann = c.login_as("ann@example.com").await;
    let sue = c.login_as("sue@example.com").await;
    assert_eq!(ann.get("/autoreplies").await.status, 200);
    assert_eq!(ann.post("/autoreplies", &[("name", "x")]).await.status, 403);
    let r = sue
        .post(
            "/autoreplies",
            &[
                ("name", "support"),
                ("template", ""),
                ("to", "support@example.com"),
                ("window", "2h"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = sue
        .post(
            "/autoreplies",
            &[("name", "bad"), ("subject_matches", "([")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("regular expression"), "{}", r.body);
    let rules = ann.get("/api/v1/autoreplies").await.json();
    assert_eq!(rules[0]["name"], "support");
    assert_eq!(rules[0]["window_secs"], 7200);
    let r = sue
        .post_json(
            "/api/v1/autoreplies",
            r#"{"name":"second","to":["help@example.com"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        sue.post("/autoreplies/support/delete", &[]).await.status,
        303
    );
    let rules = ann.get("/api/v1/autoreplies").await.json();
    assert_eq!(rules.as_array().unwrap().len(), 1);
}
