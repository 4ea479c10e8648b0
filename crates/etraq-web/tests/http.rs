//! HTTP-level tests of the console and the API on a real server over a real SQLite store:
//! authentication everywhere, role visibility, CSRF, throttling, validation, bad input, XSS.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use axum::http::Method;
use common::*;
use etraq_core::Role;

/// Fills a route's parameters with values that exist in the test data.
fn concrete(path: &str, dr: &str) -> String {
    path.replace("{id}", dr)
        .replace("{seq}", "1")
        .replace("{name}", "ET11272026.LOG")
        .replace("{email}", "ann@example.com")
}

/// A console with two agents in different departments, a supervisor of ann's department, and
/// one DR each.
async fn team() -> (Console, String, String) {
    let c = Console::start().await;
    c.user(
        "ann@example.com",
        Role::Agent,
        Some("SUPP"),
        Some("sue@example.com"),
    )
    .await;
    c.user("bob@example.com", Role::Agent, Some("SALES"), None)
        .await;
    c.user("sue@example.com", Role::Supervisor, Some("SUPP"), None)
        .await;
    let a = c
        .customer_mail(
            "x@cust.example",
            "ann@example.com",
            "Ann's question",
            "a1@cust.example",
        )
        .await;
    let b = c
        .customer_mail(
            "y@other.example",
            "bob@example.com",
            "Bob's question",
            "b1@other.example",
        )
        .await;
    std::fs::write(c.logs_dir.join("ET11272026.LOG"), "log line\n").unwrap();
    c.state.refresh_stats().await;
    (c, a, b)
}

#[tokio::test]
async fn every_page_and_api_route_refuses_the_anonymous() {
    let (c, a, _) = team().await;
    let anon = c.anonymous();
    let routes = etraq_web::routes_with_access();
    assert!(routes.len() > 40, "{routes:?}");
    // Public by design, and only these: the sign-in page, and the pages mail recipients reach
    // without an account, where a signed token or a public list is the authority
    // (tests/unsubscribe.rs, tests/subscribe.rs).
    let mut public: Vec<&str> = routes
        .iter()
        .filter(|(_, _, access)| *access == etraq_web::Access::Public)
        .map(|(_, p, _)| *p)
        .collect();
    public.sort();
    public.dedup();
    assert_eq!(
        public,
        [
            "/",
            "/login",
            "/s",
            "/s/confirm/{token}",
            "/s/{list}",
            "/t/c/{token}",
            "/t/o/{token}",
            "/t/v/{token}",
            "/u/{token}",
            "/v/{token}"
        ],
        "a new public route must be a deliberate decision"
    );
    for (method, path, access) in routes {
        if access == etraq_web::Access::Public || path == "/reports" {
            continue;
        }
        let url = concrete(path, &a);
        let r = if method == Method::GET {
            anon.get(&url).await
        } else if path.starts_with("/api/") {
            anon.post_json(&url, "{}").await
        } else {
            anon.post(&url, &[]).await
        };
        if path.starts_with("/api/") {
            assert_eq!(r.status, 401, "{method} {url} answered {}", r.status);
            assert!(r.json()["error"].is_string());
        } else {
            assert_eq!(r.status, 303, "{method} {url} answered {}", r.status);
            assert!(
                r.location().starts_with("/login?next="),
                "{method} {url} → {}",
                r.location()
            );
        }
    }
    // The assets and the sign-in page are public.
    assert_eq!(anon.get("/assets/style.css").await.status, 200);
    assert_eq!(anon.get("/login").await.status, 200);
    // A forged or expired cookie is anonymous too.
    let forged = common::Session {
        cookie: Some(format!("etraq_session={}", "ab".repeat(32))),
        ..c.anonymous()
    };
    assert_eq!(forged.get("/tracked").await.status, 303);
}

#[tokio::test]
async fn every_route_group_refuses_the_roles_below_it() {
    let (c, a, _) = team().await;
    let ann = c.login_as("ann@example.com").await;
    let sue = c.login_as("sue@example.com").await;
    let routes = etraq_web::routes_with_access();
    let admin_only = routes
        .iter()
        .filter(|(_, _, access)| *access == etraq_web::Access::Admin)
        .count();
    assert!(admin_only >= 8, "{routes:?}");
    for (method, path, access) in routes {
        let refused: Vec<(&str, &common::Session)> = match access {
            etraq_web::Access::Admin => vec![("agent", &ann), ("supervisor", &sue)],
            etraq_web::Access::Supervisor => vec![("agent", &ann)],
            _ => continue,
        };
        let url = concrete(path, &a);
        for (role, s) in refused {
            let r = if method == Method::GET {
                s.get(&url).await
            } else if path.starts_with("/api/") {
                s.post_json(&url, "{}").await
            } else {
                s.post(&url, &[]).await
            };
            assert_eq!(
                r.status, 403,
                "{role} {method} {url} ({access:?}) answered {}: {}",
                r.status, r.body
            );
        }
    }
    // Nothing an agent tried changed the services.
    assert!(c.state.services().states().smtp);
}

#[tokio::test]
async fn signed_in_sweep_never_fails_for_any_role() {
    let (c, a, _) = team().await;
    for who in ["ann@example.com", "sue@example.com", "admin"] {
        let s = if who == "admin" {
            c.admin().await
        } else {
            c.login_as(who).await
        };
        for (method, path) in etraq_web::routes() {
            if method != Method::GET {
                continue;
            }
            let r = s.get(&concrete(path, &a)).await;
            assert!(
                r.status < 500,
                "{who}: GET {path} answered {}: {}",
                r.status,
                r.body
            );
        }
    }
}

#[tokio::test]
async fn an_agent_sees_only_their_drs_and_cannot_open_others_by_url() {
    let (c, a, b) = team().await;
    let ann = c.login_as("ann@example.com").await;
    let page = ann.get("/tracked").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&a), "ann's DR listed");
    assert!(!page.body.contains(&b), "bob's DR not listed");
    assert_eq!(ann.get(&format!("/dr/{a}")).await.status, 200);
    assert_eq!(ann.get(&format!("/dr/{b}")).await.status, 404);
    assert_eq!(ann.get(&format!("/api/v1/drs/{b}")).await.status, 404);
    // Bob's mail (seq 2) is not ann's to read either.
    assert_eq!(ann.get("/mail/2/raw").await.status, 404);
    assert_eq!(ann.get("/mail/1/raw").await.status, 200);
    // Nor can she act on it.
    assert_eq!(ann.post(&format!("/dr/{b}/close"), &[]).await.status, 404);
    let api = ann.get("/api/v1/drs").await.json();
    let ids: Vec<&str> = api["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str()]);
    // Admin pages are refused.
    for p in [
        "/config",
        "/users",
        "/logs",
        "/api/v1/users",
        "/api/v1/logs",
    ] {
        assert_eq!(ann.get(p).await.status, 403, "{p}");
    }
    assert_eq!(ann.get("/escalations").await.status, 403);
    assert_eq!(
        ann.post("/services", &[("service", "smtp"), ("action", "pause")])
            .await
            .status,
        403
    );
    assert!(!c.services.is_paused(etraq_core::switches::Service::Smtp));
    // History of bob's customer shows nothing to ann.
    let h = ann.get("/api/v1/history?q=%40other.example").await.json();
    assert!(h["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_supervisor_sees_their_department_and_an_admin_everything() {
    let (c, a, b) = team().await;
    let sue = c.login_as("sue@example.com").await;
    assert_eq!(sue.get(&format!("/dr/{a}")).await.status, 200);
    assert_eq!(sue.get(&format!("/dr/{b}")).await.status, 404);
    assert_eq!(sue.get("/escalations").await.status, 200);
    let admin = c.admin().await;
    assert_eq!(admin.get(&format!("/dr/{b}")).await.status, 200);
    let all = admin.get("/api/v1/drs").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reassigning_moves_the_dr_and_keeps_the_previous_owner_cc() {
    let (c, a, _) = team().await;
    let ann = c.login_as("ann@example.com").await;
    let r = ann
        .post(&format!("/dr/{a}/assign"), &[("owner", "bob@example.com")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let bob = c.login_as("bob@example.com").await;
    let page = bob.get(&format!("/dr/{a}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"dr-owner\">bob@example.com"));
    // ann stays on it as a CC user, so she still sees it.
    assert_eq!(ann.get(&format!("/dr/{a}")).await.status, 200);
    // Close, reopen and remind through the pages; the DR records each.
    assert_eq!(bob.post(&format!("/dr/{a}/close"), &[]).await.status, 303);
    let d = c
        .store
        .get_dr(&etraq_core::DrId::parse(&a).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, etraq_core::DrStatus::Closed);
    assert_eq!(bob.post(&format!("/dr/{a}/reopen"), &[]).await.status, 303);
    let r = bob
        .post(&format!("/dr/{a}/remind"), &[("at", "2030-01-02T09:30")])
        .await;
    assert_eq!(r.status, 303);
    let d = c
        .store
        .get_dr(&etraq_core::DrId::parse(&a).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, etraq_core::DrStatus::Open);
    assert_eq!(
        d.remind_at.unwrap().to_string(),
        "2030-01-02T09:30:00Z",
        "a datetime-local value is read in the configured zone (UTC here)"
    );
    // Reassigning to someone who is not a user is refused.
    let r = bob
        .post(
            &format!("/dr/{a}/assign"),
            &[("owner", "stranger@example.com")],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let (c, a, _) = team().await;
    let ann = c.login_as("ann@example.com").await;
    let path = format!("/dr/{a}/close");
    let evil = "http://evil.example";
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", evil)],
        vec![],
    ] {
        let r = ann.post_with(&path, &[], &headers).await;
        assert_eq!(r.status, 403, "{headers:?}");
        assert!(r.body.contains("cross-site"), "{}", r.body);
    }
    let d = c
        .store
        .get_dr(&etraq_core::DrId::parse(&a).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, etraq_core::DrStatus::Open, "nothing changed");
    // Signing in from another site is refused as well (login CSRF).
    let r = c
        .anonymous()
        .post_with(
            "/login",
            &[("login", "admin"), ("password", ADMIN_PW)],
            &[("origin", evil)],
        )
        .await;
    assert_eq!(r.status, 403);
    // The same request from the console itself passes.
    let r = ann.post_with(&path, &[], &[("origin", &c.base)]).await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account() {
    let c = Console::start_with("login_attempts = 3").await;
    for _ in 0..3 {
        let (status, _, body) = c.try_login("admin", "wrong-password", false).await;
        assert_eq!(status, 401);
        assert!(body.contains("Wrong login or password"));
    }
    let (status, headers, body) = c.try_login("admin", ADMIN_PW, false).await;
    assert_eq!(status, 429, "even the right password waits");
    assert!(headers.get("retry-after").is_some());
    assert!(body.contains("Too many failed sign-ins"));
    // Another account from the same address still works (the address limit is 10×).
    c.user("ann@example.com", Role::Agent, None, None).await;
    let (status, _, _) = c
        .try_login("ann@example.com", "pw-ann@example.com", false)
        .await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn sessions_remember_me_and_sign_out() {
    let c = Console::start().await;
    let (_, headers, _) = c.try_login("admin", ADMIN_PW, false).await;
    let set = headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Max-Age"), "a browser-session cookie: {set}");
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let (_, headers, _) = c.try_login("admin", ADMIN_PW, true).await;
    let set = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.contains("Max-Age=2592000"), "remember me: {set}");
    let s = c.admin().await;
    assert_eq!(s.get("/status").await.status, 200);
    let r = s.post("/logout", &[]).await;
    assert_eq!(r.status, 303);
    assert!(
        r.headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(s.get("/status").await.status, 303, "the session is gone");
}

#[tokio::test]
async fn config_errors_are_shown_next_to_their_fields_and_good_values_apply() {
    let c = Console::start().await;
    let admin = c.admin().await;
    let page = admin.get("/config").await;
    assert_eq!(page.status, 200);
    let good = |k: &'static str, v: &'static str| (k, v);
    let mut form = vec![
        good("threads", "4"),
        good("timeout_secs", "60"),
        good("web_ip", "127.0.0.1"),
        good("web_port", "8080"),
        good("smtp_listen", "127.0.0.1:2525"),
        good("upstream_host", ""),
        good("upstream_port", ""),
        good("interval_minutes", "15"),
        good("warn_after", "4h"),
        good("escalate_after", "1d"),
        good("reescalate_every", ""),
        good("local_domains", "example.com\nexample.org"),
        good("timezone", "UTC"),
        good("exclude_senders", ""),
        good("dr_prefix", "SUPP"),
    ];
    let bad = |form: &[(&'static str, &'static str)], k: &str, v: &'static str| {
        form.iter()
            .map(|(a, b)| if *a == k { (*a, v) } else { (*a, *b) })
            .collect::<Vec<_>>()
    };
    for (field, value) in [
        ("threads", "many"),
        ("web_ip", "localhost:99"),
        ("warn_after", "soon"),
        ("local_domains", "not a domain"),
        ("timezone", "Mars/Olympus"),
        ("dr_prefix", "NOT-OK"),
        ("exclude_senders", "@@"),
    ] {
        let r = admin.post("/config", &bad(&form, field, value)).await;
        assert_eq!(r.status, 400, "{field}={value}");
        assert!(
            r.body.contains(&format!("id=\"error-{field}\"")),
            "{field}={value}: no error next to the field"
        );
    }
    let before = std::fs::read_to_string(&c.config_path).unwrap();
    assert!(!before.contains("example.org"), "nothing was written");
    // A good save writes etraq.toml (keeping its comments) and applies at once.
    form[13] = ("exclude_senders", "@noise.example");
    let r = admin.post("/config", &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let after = std::fs::read_to_string(&c.config_path).unwrap();
    assert!(after.contains("example.org"));
    assert!(
        after.contains("# etraq.toml: configuration of etraq"),
        "comments kept"
    );
    assert_eq!(
        c.live.get().local_domains,
        vec!["example.com", "example.org"]
    );
    assert!(c.tracker.rules().is_local(&addr("x@example.org")));
    let dr = c
        .mail("From: z@cust.example\r\nTo: help@example.org\r\nSubject: new domain\r\nMessage-ID: <nd@cust.example>\r\n\r\nhi\r\n")
        .await;
    assert!(
        dr.is_some(),
        "mail to the new local domain is tracked without a restart"
    );
    // Changing the console's port needs a restart; the page says so.
    form[3] = ("web_port", "8181");
    let r = admin.post("/config", &form).await;
    assert_eq!(r.status, 303);
    let page = admin.get(r.location()).await;
    assert!(page.body.contains("restart-needed"), "{}", page.body);
}

#[tokio::test]
async fn malformed_input_gets_400_and_unknown_ids_404() {
    let (c, a, _) = team().await;
    let admin = c.admin().await;
    // Forms missing fields, bad query strings, bad JSON: 400 with a message, never 500.
    let r = admin.post("/dr/X/assign", &[]).await;
    assert_eq!(r.status, 400);
    let r = admin
        .post(&format!("/dr/{a}/assign"), &[("nope", "1")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("owner"), "{}", r.body);
    let r = admin.get("/tracked?limit=abc").await;
    assert_eq!(r.status, 400);
    let r = admin.get("/tracked?after=-1").await;
    assert_eq!(r.status, 400);
    let r = admin
        .post_json(&format!("/api/v1/drs/{a}/assign"), "{not json")
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("JSON"));
    let r = admin
        .post_json(&format!("/api/v1/drs/{a}/assign"), "{\"who\": 1}")
        .await;
    assert_eq!(
        r.status, 400,
        "a JSON body of the wrong shape is 400, not 422"
    );
    let r = admin
        .post_json(&format!("/api/v1/drs/{a}/remind"), "{\"at\": \"someday\"}")
        .await;
    assert_eq!(r.status, 400);
    let r = admin.get("/api/v1/drs?status=pending").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("status"));
    // Unknown ids.
    assert_eq!(admin.get("/dr/SUPP-11272026.999999").await.status, 404);
    assert_eq!(
        admin.get("/api/v1/drs/SUPP-11272026.999999").await.status,
        404
    );
    assert_eq!(admin.get("/mail/999999/raw").await.status, 404);
    assert_eq!(admin.get("/escalations/424242").await.status, 404);
    assert_eq!(admin.get("/users/nobody@example.com").await.status, 404);
    assert_eq!(admin.get("/logs/ET01012000.LOG").await.status, 404);
    assert_eq!(admin.get("/logs/..%2Fetraq.toml").await.status, 400);
    assert_eq!(admin.get("/api/v1/nothing").await.status, 404);
    // Size limits: headers and bodies.
    let big = "x".repeat(20_000);
    let r = admin
        .client
        .get(format!("{}/status", c.base))
        .header("x-filler", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 431);
    let huge = "y".repeat(300 * 1024);
    let r = admin
        .post("/login", &[("login", "admin"), ("password", &huge)])
        .await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn script_in_subject_and_sender_is_shown_inert_everywhere() {
    let c = Console::start().await;
    c.user("ann@example.com", Role::Agent, None, None).await;
    let dr = c
        .mail(concat!(
            "From: \"<script>alert('from')</script>\" <evil@cust.example>\r\n",
            "To: ann@example.com\r\n",
            "Subject: <script>alert('subject')</script><img src=x onerror=alert(1)>\r\n",
            "Message-ID: <xss@cust.example>\r\n\r\nbody <script>alert('body')</script>\r\n"
        ))
        .await
        .unwrap();
    // An untracked one too (local to local).
    c.mail("From: ann@example.com\r\nTo: bob@example.com\r\nSubject: <script>alert('u')</script>\r\nMessage-ID: <xss2@example.com>\r\n\r\nx\r\n")
        .await;
    c.state.refresh_stats().await;
    let admin = c.admin().await;
    for p in [
        "/tracked".to_string(),
        "/untracked".to_string(),
        format!("/dr/{dr}"),
        "/history?q=%40cust.example".to_string(),
        "/reports/unreplied".to_string(),
        "/alerts".to_string(),
        "/status".to_string(),
    ] {
        let r = admin.get(&p).await;
        assert_eq!(r.status, 200, "{p}");
        assert!(!r.body.contains("<script>alert"), "{p} shows a live script");
        assert!(!r.body.contains("<img src=x"), "{p} shows a live tag");
    }
    let page = admin.get("/tracked").await;
    assert!(page.body.contains("&#60;script&#62;alert"), "shown escaped");
    // The raw message is served as plain text, never HTML.
    let raw = admin.get("/mail/1/raw").await;
    assert!(
        raw.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(raw.headers["x-content-type-options"], "nosniff");
    // And the API returns it as data.
    let api = admin.get("/api/v1/drs").await.json();
    assert!(
        api["items"][0]["subject"]
            .as_str()
            .unwrap()
            .contains("<script>")
    );
}

#[tokio::test]
async fn bearer_tokens_work_for_the_api_until_revoked() {
    let (c, a, _) = team().await;
    let token = etraq_web::credentials::create_token(
        c.store.as_ref(),
        "ann@example.com",
        "script",
        jiff::Timestamp::now(),
    )
    .await
    .unwrap();
    let api = c.bearer(&token);
    let r = api.get("/api/v1/drs").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["items"].as_array().unwrap().len(),
        1,
        "ann's scope"
    );
    // A bearer POST needs no Origin (no cookie to forge).
    let r = api.post_json(&format!("/api/v1/drs/{a}/close"), "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "closed");
    let id = etraq_web::credentials::list_tokens(c.store.as_ref(), Some("ann@example.com"))
        .await
        .unwrap()[0]
        .id
        .clone();
    assert!(
        etraq_web::credentials::revoke_token(c.store.as_ref(), &id, None)
            .await
            .unwrap()
    );
    assert_eq!(api.get("/api/v1/drs").await.status, 401);
    assert_eq!(
        c.bearer("etq_nonsense").get("/api/v1/drs").await.status,
        401
    );
}

#[tokio::test]
async fn users_and_passwords_are_managed_from_the_console() {
    let c = Console::start().await;
    let admin = c.admin().await;
    let r = admin
        .post(
            "/users",
            &[
                ("email", "new@example.com"),
                ("name", "New Person"),
                ("department", "SUPP"),
                ("supervisor", ""),
                ("role", "agent"),
                ("tracking", "on"),
                ("password", "first-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let u = c
        .store
        .get_user(&addr("new@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert!(u.tracking && !u.alerts);
    // Errors next to fields: an address outside the local domains, a short password.
    let r = admin
        .post(
            "/users",
            &[
                ("email", "x@elsewhere.example"),
                ("name", ""),
                ("role", "boss"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    for f in ["email", "name", "role", "password"] {
        assert!(r.body.contains(&format!("id=\"error-{f}\"")), "{f}");
    }
    // The new user signs in and changes their password.
    let s = c.login("new@example.com", "first-password", false).await;
    let r = s
        .post(
            "/password",
            &[
                ("current", "wrong"),
                ("new", "second-password"),
                ("confirm", "second-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"error-current\""));
    let r = s
        .post(
            "/password",
            &[
                ("current", "first-password"),
                ("new", "second-password"),
                ("confirm", "second-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        c.try_login("new@example.com", "first-password", false)
            .await
            .0,
        401
    );
    assert_eq!(
        c.try_login("new@example.com", "second-password", false)
            .await
            .0,
        303
    );
    // A user with no record cannot sign in, whatever the password.
    etraq_web::credentials::set_password(c.store.as_ref(), "ghost@example.com", "ghost-password")
        .await
        .unwrap();
    assert_eq!(
        c.try_login("ghost@example.com", "ghost-password", false)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn services_can_be_paused_and_resumed_by_an_admin() {
    let c = Console::start().await;
    let admin = c.admin().await;
    let r = admin
        .post("/services", &[("service", "smtp"), ("action", "pause")])
        .await;
    assert_eq!(r.status, 303);
    assert!(c.services.is_paused(etraq_core::switches::Service::Smtp));
    let page = admin.get("/status").await;
    assert!(page.body.contains("id=\"service-smtp\" class=\"paused\""));
    assert!(page.body.contains("SMTP paused"), "status bar");
    let r = admin
        .post_json("/api/v1/services", r#"{"service": "all", "paused": false}"#)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["smtp"], true);
    assert!(!c.services.is_paused(etraq_core::switches::Service::Smtp));
    let r = admin
        .post("/services", &[("service", "web"), ("action", "pause")])
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn tracked_mails_sort_by_column_and_page_with_the_key_cursor() {
    let (c, a, b) = team().await;
    let admin = c.admin().await;
    // By owner, A to Z, one per page: ann's DR, then bob's, following the "Next page" link.
    let p1 = admin.get("/tracked?sort=owner&order=asc&limit=1").await;
    assert_eq!(p1.status, 200);
    assert!(p1.body.contains(&a) && !p1.body.contains(&b), "ann's first");
    let next = p1
        .body
        .split("id=\"next-page\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .map(|s| s.replace("&#38;", "&").replace("&amp;", "&"))
        .unwrap();
    assert!(next.contains("after_key=ann%40example.com"), "{next}");
    let p2 = admin.get(&next).await;
    assert_eq!(p2.status, 200);
    assert!(p2.body.contains(&b) && !p2.body.contains(&a), "then bob's");
    assert!(!p2.body.contains("id=\"next-page\""), "and no more");
    // Z to A.
    let z = admin.get("/tracked?sort=owner&order=desc&limit=1").await;
    assert!(z.body.contains(&b));
    // The API pages the same way.
    let j = admin
        .get("/api/v1/drs?sort=owner&order=asc&limit=1")
        .await
        .json();
    assert_eq!(j["next_key"], "ann@example.com");
    let j2 = admin
        .get(&format!(
            "/api/v1/drs?sort=owner&order=asc&limit=1&after={}&after_key=ann%40example.com",
            j["next"]
        ))
        .await
        .json();
    assert_eq!(j2["items"][0]["owner"], "bob@example.com");
    // An unknown column is a 400 next to the field.
    let bad = admin.get("/tracked?sort=subject").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("id=\"error-sort\""));
}
