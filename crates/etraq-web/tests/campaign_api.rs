//! The campaign part of the JSON API on a real console: lists, a CSV import with a broken row,
//! subscribers and their events, the blocklist, templates (a broken one refused naming its
//! line), and a campaign created, started and controlled; agents read but do not change.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_imports_templates_and_campaigns_through_the_api() {
    let c = Console::start().await;
    c.user("sue@example.com", Role::Supervisor, Some("SUPP"), None)
        .await;
    c.user(
        "ann@example.com",
        Role::Agent,
        Some("SUPP"),
        Some("sue@example.com"),
    )
    .await;
    let sue = c.login_as("sue@example.com").await;
    let ann = c.login_as("ann@example.com").await;

    let r = sue
        .post_json(
            "/api/v1/lists",
            r#"{"name": "News", "description": "Monthly"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "News");
    assert_eq!(r.json()["opt_in"], "single");
    let dup = sue.post_json("/api/v1/lists", r#"{"name": "news"}"#).await;
    assert_eq!(dup.status, 400, "{}", dup.body);
    assert!(
        dup.json()["error"].as_str().unwrap().contains("exists"),
        "{}",
        dup.body
    );

    // A CSV upload: a bad row is reported with its file line and never stops the rest.
    let csv = "email,name,country\nann@customer.test,Ann,DE\nnot-an-address,X,\n\"bob@customer.test\",\"Smith, Bob\",FR\n";
    let r = sue
        .client
        .post(c.url("/api/v1/lists/News/import"))
        .header("cookie", sue.cookie.clone().unwrap())
        .header("origin", c.url(""))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["errors"][0]["line"], 3, "{report}");
    let no_email = sue
        .client
        .post(c.url("/api/v1/lists/News/import"))
        .header("cookie", sue.cookie.clone().unwrap())
        .header("origin", c.url(""))
        .body("name,country\nx,DE\n")
        .send()
        .await
        .unwrap();
    assert_eq!(no_email.status(), 400);

    let r = sue
        .post_json(
            "/api/v1/lists/News/subscribers",
            r#"{"email": "cid@customer.test", "name": "Cid", "attribs": {"plan": "pro"}}"#,
        )
        .await;
    assert_eq!(r.json()["outcome"], "imported", "{}", r.body);
    let page = ann
        .get("/api/v1/subscribers?list=News&limit=2")
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_u64().unwrap();
    let rest = ann
        .get(&format!("/api/v1/subscribers?list=News&after={next}"))
        .await
        .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["attribs"]["plan"], "pro");
    let bob = ann
        .get("/api/v1/subscribers/bob@customer.test")
        .await
        .json();
    assert_eq!(bob["name"], "Smith, Bob");
    assert_eq!(bob["lists"][0]["status"], "confirmed");
    assert_eq!(
        ann.get("/api/v1/subscribers/nobody@x.test").await.status,
        404
    );
    assert_eq!(ann.get("/api/v1/lists").await.json()[0]["confirmed"], 3);

    let r = sue
        .post_json(
            "/api/v1/blocklist",
            r#"{"address": "@spam.test", "reason": "complaint"}"#,
        )
        .await;
    assert_eq!(r.json()["reason"], "complaint", "{}", r.body);
    assert_eq!(
        ann.get("/api/v1/blocklist")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sue.post_json("/api/v1/blocklist/remove", r#"{"address": "@spam.test"}"#)
            .await
            .status,
        403,
        "lifting a blocklist entry is an admin's decision"
    );

    let templates = ann.get("/api/v1/templates").await.json();
    assert_eq!(templates.as_array().unwrap().len(), 5);
    assert_eq!(templates[0]["builtin"], true);
    let broken = sue
        .post_json(
            "/api/v1/templates",
            r#"{"name": "Broken", "kind": "custom", "subject": "Hi", "html": "<p>ok</p>\n<p>{{ subscriber.nmae }}</p>"}"#,
        )
        .await;
    assert_eq!(broken.status, 400, "{}", broken.body);
    let why = broken.json()["error"].as_str().unwrap().to_string();
    assert!(why.contains("line 2") && why.contains("nmae"), "{why}");
    let ok = sue
        .post_json(
            "/api/v1/templates",
            r#"{"name": "Mine", "kind": "promotion", "subject": "Hi {{ subscriber.name }}", "html": "<p>Hello {{ subscriber.name }}</p>"}"#,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ann.get("/api/v1/templates/Mine").await.json()["kind"],
        "promotion"
    );

    let r = sue
        .post_json(
            "/api/v1/campaigns",
            r#"{"name": "Spring", "lists": ["News"], "template": "Mine", "where": "subscriber.attribs.country != 'FR'"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "draft");
    let bad_seg = sue
        .post_json(
            "/api/v1/campaigns",
            r#"{"name": "Bad", "lists": ["News"], "template": "Mine", "where": "subscriber.nope =="}"#,
        )
        .await;
    assert_eq!(bad_seg.status, 400, "{}", bad_seg.body);
    let started = sue
        .post_json(
            "/api/v1/campaigns/Spring/start",
            r#"{"at": "2030-01-01T09:00:00Z"}"#,
        )
        .await;
    assert_eq!(started.json()["status"], "scheduled", "{}", started.body);
    assert_eq!(started.json()["send_at"], "2030-01-01T09:00:00Z");
    let pause = sue.post_json("/api/v1/campaigns/Spring/pause", "").await;
    assert_eq!(
        pause.status, 400,
        "a scheduled campaign is not running: {}",
        pause.body
    );
    let cancel = sue.post_json("/api/v1/campaigns/Spring/cancel", "").await;
    assert_eq!(cancel.json()["status"], "cancelled", "{}", cancel.body);
    let all = ann.get("/api/v1/campaigns").await.json();
    assert_eq!(all[0]["name"], "Spring");
    assert_eq!(
        ann.get("/api/v1/campaigns/Spring/recipients").await.json()["items"],
        serde_json::json!([])
    );
    assert_eq!(ann.get("/api/v1/campaigns/Nope").await.status, 404);

    // Agents read but do not change.
    assert_eq!(
        ann.post_json("/api/v1/lists", r#"{"name": "Mine"}"#)
            .await
            .status,
        403
    );
}
