//! The Campaigns tab on a real console, as a supervisor would use it: create a list, upload a
//! CSV with a broken row and read the per-line report, find subscribers, add a template (a
//! broken one is shown again with its line), preview one in its sandboxed frame, create a
//! campaign and start it; an agent sees the pages without the forms.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::Role;

/// A multipart/form-data body with a file field and other fields.
fn multipart(boundary: &str, file: &str, fields: &[(&str, &str)]) -> String {
    let mut b = String::new();
    for (k, v) in fields {
        b.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    b.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    ));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_runs_the_campaign_tab_and_an_agent_only_looks() {
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

    let page = sue.get("/campaigns").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("href=\"/campaigns\"") && page.body.contains("No campaigns yet"));
    assert!(page.body.contains("id=\"create-campaign\""));

    let r = sue
        .post(
            "/lists",
            &[
                ("name", "News"),
                ("description", "Monthly news"),
                ("public", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/lists/News"), "{}", r.location());
    let list = sue.get("/lists/News").await;
    assert!(list.body.contains("Monthly news") && list.body.contains("/s/News"));
    assert!(list.body.contains("enctype=\"multipart/form-data\""));

    // Upload a CSV with a broken row: the report names its line; the rest is imported.
    let csv = "email,name,country\nann@customer.test,Ann,DE\nbroken-address,X,FR\nbob@customer.test,\"Smith, Bob\",FR\n";
    let r = sue
        .client
        .post(c.url("/lists/News/import"))
        .header("cookie", sue.cookie.clone().unwrap())
        .header("origin", c.url(""))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(multipart("XyZ", csv, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("id=\"import-report\""), "{body}");
    assert!(body.contains("2 imported"), "{body}");
    assert!(
        body.contains("<td class=\"num\">3</td>"),
        "line 3 is named: {body}"
    );
    // No file and nothing pasted: a clear 400.
    let r = sue
        .client
        .post(c.url("/lists/News/import"))
        .header("cookie", sue.cookie.clone().unwrap())
        .header("origin", c.url(""))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body("--XyZ\r\nContent-Disposition: form-data; name=\"csv\"\r\n\r\n\r\n--XyZ--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let found = ann.get("/subscribers?q=bob&list=News").await;
    assert!(found.body.contains("bob@customer.test") && !found.body.contains("ann@customer.test"));
    assert!(
        found
            .body
            .contains("method=\"get\" action=\"/subscribers\""),
        "the filter is a GET"
    );
    let bob = ann.get("/subscribers/bob@customer.test").await;
    assert!(bob.body.contains("Smith, Bob") && bob.body.contains("country"));
    assert!(
        !bob.body.contains("id=\"unsubscribe-all\""),
        "agents do not act"
    );
    assert!(
        sue.get("/subscribers/bob@customer.test")
            .await
            .body
            .contains("id=\"unsubscribe-all\"")
    );

    // A broken template comes back with the form and its line; a good one is previewed.
    let r = sue
        .post(
            "/templates",
            &[
                ("name", "Mine"),
                ("kind", "promotion"),
                ("subject", "Hi"),
                ("html", "<p>one</p>\n<p>{{ subscriber.nmae }}</p>"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("line 2") && r.body.contains("id=\"add-template\""),
        "{}",
        r.body
    );
    let r = sue
        .post(
            "/templates",
            &[
                ("name", "Mine"),
                ("kind", "promotion"),
                ("subject", "Hi {{ subscriber.name }}"),
                (
                    "html",
                    "<p style=\"color:red\">Hello {{ subscriber.name }}</p>",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let t = sue
        .get("/templates/Mine?subscriber=bob@customer.test")
        .await;
    assert!(t.body.contains("Hi Smith, Bob"), "{}", t.body);
    assert!(t.body.contains("<iframe class=\"preview\""));
    let frame = sue
        .get("/templates/Mine/preview?subscriber=bob@customer.test")
        .await;
    assert!(frame.body.contains("Hello Smith, Bob"));
    let csp = frame.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(frame.headers["x-frame-options"], "SAMEORIGIN");
    // The console's own pages keep the strict policy.
    let strict = sue.get("/templates").await;
    assert!(
        strict.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );

    let r = sue
        .post(
            "/campaigns",
            &[
                ("name", "Spring"),
                ("list", "News"),
                ("template", "Mine"),
                ("segment", "subscriber.attribs.country == \"FR\""),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = sue.get("/campaigns/Spring").await;
    assert!(page.body.contains("id=\"campaign-progress\""));
    assert!(page.body.contains("data-src=\"/api/v1/campaigns/Spring\""));
    assert!(page.body.contains("id=\"campaign-start\""));
    let bad = sue
        .post(
            "/campaigns",
            &[("name", "Spring"), ("list", "News"), ("template", "Mine")],
        )
        .await;
    assert_eq!(bad.status, 400, "the same name twice");
    assert!(
        bad.body.contains("id=\"create-campaign\""),
        "the form comes back"
    );
    let r = sue
        .post(
            "/campaigns/Spring/control",
            &[("action", "start"), ("at", "2030-01-01T09:00")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = sue.get("/campaigns/Spring").await;
    assert!(
        page.body.contains("scheduled") && page.body.contains("2030-01-01 09:00"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"campaign-cancel\""));

    // An agent sees the pages, without the forms and buttons.
    let page = ann.get("/campaigns/Spring").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"campaign-cancel\""));
    assert!(!ann.get("/lists").await.body.contains("id=\"create-list\""));
    assert_eq!(
        ann.post("/campaigns/Spring/control", &[("action", "cancel")])
            .await
            .status,
        403
    );
}
