//! The OpenAPI document matches the router (the same method and path pairs, both ways), and
//! its schemas name exactly the fields the API really returns.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::*;
use etraq_core::Role;
use serde_json::Value;

fn documented() -> BTreeSet<(String, String)> {
    let doc = etraq_web::openapi_document();
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn the_document_and_the_router_serve_the_same_routes() {
    let served: BTreeSet<(String, String)> = etraq_web::api_routes()
        .iter()
        .map(|(m, p)| (m.as_str().to_string(), p.to_string()))
        .collect();
    let doc = documented();
    let undocumented: Vec<_> = served.difference(&doc).collect();
    let unserved: Vec<_> = doc.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    // Every path parameter is declared.
    let d = etraq_web::openapi_document();
    for (path, ops) in d["paths"].as_object().unwrap() {
        for (_, op) in ops.as_object().unwrap() {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, in_path, "{path}");
        }
    }
}

fn props(schema: &str) -> BTreeSet<String> {
    etraq_web::openapi_schemas()[schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn schemas_name_the_fields_the_api_returns() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, Some("SUPP"), None)
        .await;
    let dr = c
        .customer_mail("x@cust.example", "ann@example.com", "Q", "q1@cust.example")
        .await;
    c.mail("From: ann@example.com\r\nTo: bob@example.com\r\nSubject: local\r\nMessage-ID: <l1@example.com>\r\n\r\nx\r\n")
        .await;
    // A reply, so response times have a row.
    c.mail(&format!(
        "From: ann@example.com\r\nTo: x@cust.example\r\nSubject: Re: Q [{dr}]\r\nIn-Reply-To: <q1@cust.example>\r\nMessage-ID: <r1@example.com>\r\n\r\nanswer\r\n"
    ))
    .await;
    std::fs::write(c.logs_dir.join("ET11272026.LOG"), "x").unwrap();
    let admin = c.admin().await;
    let get = |p: &'static str| {
        let admin = &admin;
        async move {
            let r = admin.get(p).await;
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            r.json()
        }
    };
    let drs = get("/api/v1/drs").await;
    assert_eq!(keys(&drs), ["items", "next"].map(String::from).into());
    assert_eq!(keys(&drs["items"][0]), props("DrRow"));
    let detail = admin.get(&format!("/api/v1/drs/{dr}")).await.json();
    assert_eq!(keys(&detail), props("DrDetail"));
    assert_eq!(keys(&detail["messages"][0]), props("MailRow"));
    let un = get("/api/v1/untracked").await;
    assert_eq!(keys(&un["items"][0]), props("UntrackedRow"));
    let h = get("/api/v1/history?q=%40cust.example").await;
    assert_eq!(keys(&h["items"][0]), props("MailRow"));
    let st = get("/api/v1/status").await;
    assert_eq!(keys(&st), props("Status"));
    let users = get("/api/v1/users").await;
    let mut user_keys = props("User");
    user_keys.remove("supervisor"); // left out when empty
    assert_eq!(keys(&users[0]), user_keys);
    let rt = get("/api/v1/reports/response-times").await;
    assert_eq!(keys(&rt[0]), props("UserResponses"));
    let vol = get("/api/v1/reports/volume").await;
    assert_eq!(keys(&vol[0]), props("VolumeDay"));
    let logs = get("/api/v1/logs").await;
    assert_eq!(keys(&logs[0]), props("LogFile"));
    // Reopen it so it is unreplied again, then check that report.
    admin
        .post_json(&format!("/api/v1/drs/{dr}/reopen"), "")
        .await;
    let unr = get("/api/v1/reports/unreplied").await;
    assert_eq!(keys(&unr[0]), props("UnrepliedRow"));
    // Escalation cycles and alerts: one cycle with a warning.
    let policies = (c.live.get().policies()).unwrap();
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(30))
        .unwrap();
    etraq_core::service::Escalator::new(c.store.clone(), policies)
        .run_cycle(later)
        .await
        .unwrap();
    let esc = get("/api/v1/escalations").await;
    assert_eq!(keys(&esc["items"][0]), props("Cycle"));
    let alerts = get("/api/v1/alerts").await;
    assert_eq!(keys(&alerts["items"][0]), props("AlertRow"));
    // The same names as the CLI's --json: the contract fields are there.
    for f in [
        "id",
        "owner",
        "sender",
        "recipient",
        "subject",
        "assigned_on",
        "cc_users",
        "mail_type",
        "status",
        "escalation_level",
    ] {
        assert!(drs["items"][0].get(f).is_some(), "tracked mail field {f}");
    }
    for f in [
        "event_type",
        "user",
        "date_time",
        "source_dr",
        "assigned_on",
        "dr_owner",
    ] {
        assert!(alerts["items"][0].get(f).is_some(), "alert field {f}");
    }
    // The document itself is served (to the signed-in).
    let doc = get("/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
}
