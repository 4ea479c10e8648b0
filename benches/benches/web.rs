//! The console's Tracked Mails page over 1,000,000 DRs in SQLite: server time (routing, sign-in
//! check, store query, rendering, body) for first, deep and last pages, filtered pages, and the
//! scoped views of an agent and a supervisor. Target: ≤ 50 ms for any page.
//!
//! Baseline in the same run: the bare store query behind the default page (`list_drs`, 100 rows),
//! so each page's figure reads as a ratio of "what the database must do anyway". The 1M-DR store
//! is the one the escalation benchmark builds (cached under `target/tmp`; `ETRAQ_BENCH_DRS`
//! changes the size).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use etraq_benches::million;
use etraq_core::store::DrQuery;
use etraq_core::switches::Services;
use etraq_core::{Config, EmailAddress, LiveConfig, Role, Store, Tracker, User};
use etraq_store_sqlite::SqliteStore;
use etraq_web::{AppState, ServerInfo, WebDeps, credentials};
use std::hint::black_box;
use tower::ServiceExt;

fn addr(s: &str) -> EmailAddress {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn bench_tracked(c: &mut Criterion) {
    let n: u64 = std::env::var("ETRAQ_BENCH_DRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let work = million::working_copy(&rt, Path::new(env!("CARGO_TARGET_TMPDIR")), n, "web");
    let store: Arc<dyn Store> = Arc::new(
        rt.block_on(SqliteStore::open(&work))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    // A supervisor over a department of ten agents, and sessions for three viewers.
    let (admin, agent, supervisor) = rt.block_on(async {
        for i in 0..10 {
            let mut u = User::new(addr(&format!("agent{i}@example.com")), "agent");
            u.department = Some("D1".into());
            store.put_user(&u).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let mut sup = User::new(addr("boss@example.com"), "boss");
        sup.role = Role::Supervisor;
        sup.department = Some("D1".into());
        store.put_user(&sup).await.unwrap_or_else(|e| panic!("{e}"));
        let now = jiff::Timestamp::now();
        let mut cookies = Vec::new();
        for login in ["admin", "agent7@example.com", "boss@example.com"] {
            let (t, _) = credentials::create_session(store.as_ref(), login, false, 86_400, now)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            cookies.push(format!("etraq_session={t}"));
        }
        (cookies[0].clone(), cookies[1].clone(), cookies[2].clone())
    });
    let config = Config {
        local_domains: vec!["example.com".into()],
        timezone: "UTC".into(),
        ..Config::default()
    };
    let tracker = Arc::new(Tracker::new(
        store.clone(),
        config.tracking_rules().unwrap_or_else(|e| panic!("{e}")),
    ));
    let state = AppState::new(WebDeps {
        mailer: None,
        store: store.clone(),
        tracker,
        config: LiveConfig::new(config),
        config_path: work.with_extension("toml"),
        services: Services::new(),
        logs_dir: work.with_extension("logs"),
        server: ServerInfo {
            smtp: None,
            web: "bench".into(),
            mode: "bench".into(),
            started_at: jiff::Timestamp::now(),
            store: "sqlite".into(),
        },
        tls: false,
    });
    rt.block_on(state.refresh_stats());
    let app = etraq_web::app(state);
    let get = |uri: &str, cookie: &str| {
        let req = Request::get(uri)
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let app = app.clone();
        rt.block_on(async move {
            let resp = app.oneshot(req).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(body.len())
        })
    };
    // Sanity: the pages hold what they should.
    let first = {
        let req = Request::get("/tracked")
            .header("cookie", &admin)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let r = app
                .clone()
                .oneshot(req)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            String::from_utf8_lossy(
                &axum::body::to_bytes(r.into_body(), usize::MAX)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .into_owned()
        })
    };
    assert!(
        first.contains(&format!("SUPP-11272026.{n}")),
        "newest DR first"
    );
    assert_eq!(first.matches("<tr>").count(), 101, "100 rows and a header");

    let mut g = c.benchmark_group(format!("tracked_page_{n}_drs"));
    g.sample_size(30);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("store list_drs, 100 rows (baseline)", |b| {
        b.iter(|| {
            rt.block_on(store.list_drs(&DrQuery {
                limit: 100,
                ..DrQuery::default()
            }))
            .map(|p| black_box(p.items.len()))
            .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let deep = n / 2;
    let last = 150;
    let pages: Vec<(String, String, &str)> = vec![
        ("admin first page".into(), "/tracked".into(), admin.as_str()),
        (
            "admin deep page".into(),
            format!("/tracked?after={deep}"),
            admin.as_str(),
        ),
        (
            "admin last page".into(),
            format!("/tracked?after={last}"),
            admin.as_str(),
        ),
        (
            "admin oldest first, deep".into(),
            format!("/tracked?order=oldest&after={deep}"),
            admin.as_str(),
        ),
        (
            "admin status=open, deep".into(),
            format!("/tracked?status=open&after={deep}"),
            admin.as_str(),
        ),
        (
            "admin owner filter, deep".into(),
            format!("/tracked?owner=agent7%40example.com&after={deep}"),
            admin.as_str(),
        ),
        (
            "admin customer @domain".into(),
            "/tracked?customer=%40customer7.test".into(),
            admin.as_str(),
        ),
        (
            "admin sorted by owner A-Z, deep".into(),
            format!("/tracked?sort=owner&order=asc&after={deep}&after_key=agent20%40example.com"),
            admin.as_str(),
        ),
        (
            "admin sorted by customer Z-A, deep".into(),
            format!(
                "/tracked?sort=customer&order=desc&after={deep}&after_key=c500000%40customer0.test"
            ),
            admin.as_str(),
        ),
        (
            "admin sorted by status, deep".into(),
            format!("/tracked?sort=status&after={deep}&after_key=open"),
            admin.as_str(),
        ),
        (
            "agent sorted by status".into(),
            "/tracked?sort=status".into(),
            agent.as_str(),
        ),
        (
            "supervisor (10 agents) sorted by status, deep".into(),
            format!("/tracked?sort=status&after={deep}&after_key=open"),
            supervisor.as_str(),
        ),
        ("agent first page".into(), "/tracked".into(), agent.as_str()),
        (
            "agent deep page".into(),
            format!("/tracked?after={deep}"),
            agent.as_str(),
        ),
        (
            "supervisor (10 agents) first page".into(),
            "/tracked".into(),
            supervisor.as_str(),
        ),
        (
            "supervisor (10 agents) deep page".into(),
            format!("/tracked?after={deep}"),
            supervisor.as_str(),
        ),
    ];
    for (name, uri, cookie) in &pages {
        g.bench_function(name.as_str(), |b| b.iter(|| get(uri, cookie)));
    }
    g.finish();

    // The other pages a user lands on, and the background recount behind the status bar.
    let mut g = c.benchmark_group(format!("other_pages_{n}_drs"));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    for (name, uri, cookie) in [
        ("status page, admin", "/status", admin.as_str()),
        ("status page, agent", "/status", agent.as_str()),
        ("untracked mails, admin", "/untracked", admin.as_str()),
        (
            "history of a domain, admin",
            "/history?q=%40customer7.test",
            admin.as_str(),
        ),
        ("DR page", "/dr/SUPP-11272026.500000", admin.as_str()),
        (
            "unreplied > 1h, agent (25,000 open DRs)",
            "/reports/unreplied?older_than=1h",
            agent.as_str(),
        ),
        (
            "unreplied > 1h, admin (1,000,000 open DRs)",
            "/reports/unreplied?older_than=1h",
            admin.as_str(),
        ),
    ] {
        g.bench_function(name, |b| b.iter(|| get(uri, cookie)));
    }
    g.bench_function("stats() recount (background, every 10 s)", |b| {
        b.iter(|| {
            rt.block_on(store.stats())
                .map(|s| black_box(s.open))
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.finish();
    rt.block_on(store.close()).unwrap_or_else(|e| panic!("{e}"));
}

criterion_group!(benches, bench_tracked);
criterion_main!(benches);
