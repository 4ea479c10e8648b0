//! The console's findings of the black-box review, each performed as an attack on a real
//! console over a real SQLite store.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_cannot_outrun_the_throttle() {
    let c = Console::start_with("login_attempts = 5").await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    // 45 wrong passwords at once: only 5 may be checked; the rest wait for the window.
    let mut tasks = Vec::new();
    for i in 0..45 {
        let (base, url) = (c.base.clone(), c.url("/login"));
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .header("origin", base)
                .form(&[
                    ("login", "ann@example.com"),
                    ("password", &format!("guess-{i}")),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // And now the right password is refused too: the account waits out its window.
    let (status, headers, _) = c
        .try_login("ann@example.com", "pw-ann@example.com", false)
        .await;
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_cross_site_refusals_are_json() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    let dr = c
        .customer_mail("x@cust.example", "ann@example.com", "Q", "q1@cust.example")
        .await;
    let ann = c.login_as("ann@example.com").await;
    let r = ann
        .post_with(
            &format!("/api/v1/drs/{dr}/close"),
            &[],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403);
    let ct = r.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("application/json"), "{ct}");
    assert!(
        r.json()["error"].as_str().unwrap().contains("cross-site"),
        "{}",
        r.body
    );
    // Pages still answer with a page.
    let r = ann
        .post_with(
            &format!("/dr/{dr}/close"),
            &[],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("<html") || r.body.contains("<!DOCTYPE"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_revokes_the_logins_api_tokens() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    c.user("bob@example.com", Role::Agent, None, None).await;
    let store = c.store.as_ref();
    let now = jiff::Timestamp::now();
    let ann_token = etraq_web::credentials::create_token(store, "ann@example.com", "laptop", now)
        .await
        .unwrap();
    let bob_token = etraq_web::credentials::create_token(store, "bob@example.com", "cron", now)
        .await
        .unwrap();
    assert_eq!(c.bearer(&ann_token).get("/api/v1/drs").await.status, 200);
    // Ann changes her own password: her token dies, the page says so, her session lives on.
    let ann = c.login_as("ann@example.com").await;
    let r = ann
        .post(
            "/password",
            &[
                ("current", "pw-ann@example.com"),
                ("new", "a-brand-new-password"),
                ("confirm", "a-brand-new-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().contains("password-tokens-revoked"),
        "{}",
        r.location()
    );
    let page = ann.get(r.location()).await;
    assert!(page.body.contains("API tokens revoked"), "{}", page.body);
    assert_eq!(c.bearer(&ann_token).get("/api/v1/drs").await.status, 401);
    assert_eq!(
        c.bearer(&bob_token).get("/api/v1/drs").await.status,
        200,
        "bob's token is his"
    );
    // An admin setting bob's password revokes bob's.
    let admin = c.admin().await;
    let r = admin
        .post(
            "/users/bob@example.com",
            &[
                ("name", "bob"),
                ("role", "agent"),
                ("tracking", "on"),
                ("password", "bobs-new-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(c.bearer(&bob_token).get("/api/v1/drs").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sees_only_their_own_figures() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, Some("SUPP"), None)
        .await;
    c.user("bob@example.com", Role::Agent, Some("SALES"), None)
        .await;
    for i in 0..3 {
        c.customer_mail(
            "x@cust.example",
            "ann@example.com",
            &format!("A{i}"),
            &format!("a{i}@cust.example"),
        )
        .await;
    }
    c.customer_mail(
        "y@other.example",
        "bob@example.com",
        "B",
        "b1@other.example",
    )
    .await;
    c.state.refresh_stats().await;
    let total = |v: &serde_json::Value| -> u64 {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d["tracked"].as_u64().unwrap_or(0) + d["untracked"].as_u64().unwrap_or(0))
            .sum()
    };
    let bob = c.login_as("bob@example.com").await;
    let admin = c.admin().await;
    let r = bob.get("/api/v1/reports/volume").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin_v = admin.get("/api/v1/reports/volume").await;
    assert_eq!(total(&admin_v.json()), 4, "{}", admin_v.body);
    assert_eq!(
        total(&r.json()),
        1,
        "bob sees company-wide volume: {}",
        r.body
    );
    let s = bob.get("/api/v1/status").await.json();
    assert_eq!(s["open"], 1, "{s}");
    assert_eq!(s["tracked"], 0, "{s}");
    let s = admin.get("/api/v1/status").await.json();
    assert_eq!(s["open"], 4, "{s}");
    let page = bob.get("/status").await.body;
    assert!(page.contains("Open DRs in your view"), "{page}");
    assert!(!page.contains("Tracked mails"), "{page}");

    // The tab labels carry the company-wide counts: for admins only, not for a supervisor,
    // whose view is one department.
    c.user("lea@example.com", Role::Supervisor, Some("SALES"), None)
        .await;
    let lea = c.login_as("lea@example.com").await;
    let tabs = lea.get("/tracked").await.body;
    assert!(tabs.contains("Tracked Mails"), "{tabs}");
    assert!(!tabs.contains("Tracked Mails (4)"), "{tabs}");
    let tabs = admin.get("/tracked").await.body;
    assert!(tabs.contains("Tracked Mails (4)"), "{tabs}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_in_the_log_folder_is_not_followed() {
    let c = Console::start().await;
    let secret = c.logs_dir.parent().unwrap().join("etraq.toml");
    std::os::unix::fs::symlink(&secret, c.logs_dir.join("ET11272026.LOG")).unwrap();
    let admin = c.admin().await;
    for path in ["/logs/ET11272026.LOG", "/logs/ET11272026.LOG/download"] {
        let r = admin.get(path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(
            !r.body.contains("local_domains"),
            "{path} leaked the file behind the link"
        );
    }
    let r = admin.get("/logs").await;
    assert!(!r.body.contains("ET11272026.LOG"), "the link is listed");
}
