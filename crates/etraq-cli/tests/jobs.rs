//! Background jobs run by a real `etraq serve`, started through its JSON API, against peers the
//! test runs on loopback (a DNS server, SMTP servers and a web site, the same kinds the
//! `validate` and `extract` tests use): a crawl feeds a validation whose safe addresses go into
//! a list; two jobs run at once; a cancel keeps the results so far; `kill -9` of serve mid-job
//! and a new serve resume the validation (no address checked twice) and mark the crawl
//! interrupted with what it found.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../etraq-validate/tests/net/mod.rs"]
mod net;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use net::{Mode, Zone};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn etraq(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etraq"));
    c.current_dir(dir)
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_LOG", "warn")
        .args(["--config", "etraq.toml"]);
    c
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = etraq(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A site: `/` names three addresses over two pages; `/slow` links to 20 pages that take a
/// second each, each naming one address.
async fn start_site() -> SocketAddr {
    async fn page(uri: Uri) -> impl IntoResponse {
        let html = |s: String| ([(header::CONTENT_TYPE, "text/html")], s).into_response();
        let path = uri.path().to_string();
        match path.as_str() {
            "/" => html(
                r#"<p>Write to ann@acme-tools.com or sales@acme-tools.com</p><a href="/team">team</a>"#
                    .into(),
            ),
            "/team" => html("<p>nobody@acme-tools.com</p>".into()),
            "/slow" => html(
                (0..20)
                    .map(|i| format!(r#"<a href="/slow/{i}">{i}</a>"#))
                    .collect(),
            ),
            p if p.starts_with("/slow/") => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                html(format!("<p>slow{}@acme-tools.com</p>", &p[6..]))
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(page)).await;
    });
    addr
}

struct World {
    dir: tempfile::TempDir,
    web: u16,
    token: String,
    http: reqwest::Client,
}

/// The peers, etraq.toml pointing the validator and the extractor at them, and a token.
async fn world(extractor_threads: usize) -> World {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (port, _servers) = net::start_smtp(vec![
        (
            Ipv4Addr::new(127, 0, 0, 2),
            Mode::Mailboxes(vec!["ann@acme-tools.com", "sales@acme-tools.com"]),
        ),
        (Ipv4Addr::new(127, 0, 0, 3), Mode::Silent),
    ])
    .await;
    std::mem::forget(_servers);
    let rec = |mx: Vec<(u16, String)>, a: Vec<Ipv4Addr>| Zone::Records { mx, a };
    let mut zones = vec![
        (
            "acme-tools.com".to_string(),
            rec(vec![(10, "mx.acme-tools.com".into())], vec![]),
        ),
        (
            "mx.acme-tools.com".to_string(),
            rec(vec![], vec![Ipv4Addr::new(127, 0, 0, 2)]),
        ),
        (
            "mx.quiet.test".to_string(),
            rec(vec![], vec![Ipv4Addr::new(127, 0, 0, 3)]),
        ),
    ];
    for i in 0..8 {
        zones.push((
            format!("quiet{i}.test"),
            rec(vec![(10, "mx.quiet.test".into())], vec![]),
        ));
    }
    let zones: Vec<(&str, Zone)> = zones.iter().map(|(n, z)| (n.as_str(), z.clone())).collect();
    let dns = net::start_dns(zones).await;
    let dir = tempfile::tempdir().unwrap();
    let (smtp, web) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:{smtp}\"\n\
             [web]\nlisten = \"127.0.0.1:{web}\"\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n\
             [validator]\ndns = [\"{dns}\"]\nsmtp_port = {port}\ntimeout = 2\n\
             [extractor]\nthreads = {extractor_threads}\ndelay = 0\n"
        ),
    )
    .unwrap();
    let token = ok(dir.path(), &["token", "create", "--name", "jobs-test"])
        .trim()
        .to_string();
    World {
        dir,
        web,
        token,
        http: reqwest::Client::new(),
    }
}

impl World {
    fn d(&self) -> &Path {
        self.dir.path()
    }

    async fn serve(&self) -> Child {
        let child = etraq(self.d())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", self.web).parse().unwrap();
        let start = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://127.0.0.1:{}{path}", self.web);
        let req = match method {
            "POST" => self.http.post(url).json(&body.unwrap_or(json!({}))),
            _ => self.http.get(url),
        };
        let r = req.bearer_auth(&self.token).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn job(&self, id: u64) -> Value {
        let (s, v) = self.call("GET", &format!("/api/v1/jobs/{id}"), None).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn start(&self, spec: Value) -> u64 {
        let (s, v) = self.call("POST", "/api/v1/jobs", Some(spec)).await;
        assert_eq!(s, 200, "{v}");
        v["id"].as_u64().unwrap()
    }

    /// Waits until job `id` satisfies `cond`, returning it.
    async fn wait(&self, id: u64, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let v = self.job(id).await;
            if cond(&v) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "job {id}: waited too long for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn state(v: &Value) -> &str {
    v["job"]["state"].as_str().unwrap()
}

fn addresses(v: &Value) -> Vec<String> {
    let mut a: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    a.sort();
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_feeds_a_validation_whose_safe_addresses_go_into_a_list() {
    let w = world(4).await;
    let site = start_site().await;
    ok(w.d(), &["list", "create", "Leads"]);
    let mut serve = w.serve().await;

    let crawl = w
        .start(json!({"kind": "extract", "seeds": [format!("http://{site}/")]}))
        .await;
    let done = w.wait(crawl, "the crawl", |v| state(v) == "done").await;
    assert_eq!(
        addresses(&done),
        [
            "ann@acme-tools.com",
            "nobody@acme-tools.com",
            "sales@acme-tools.com"
        ]
    );
    assert_eq!(done["job"]["done"], 2, "two pages fetched: {done}");
    assert!(
        done["results"][0]["source_url"]
            .as_str()
            .unwrap()
            .starts_with("http://")
    );

    // One step from the crawl's addresses to their validation.
    let (s, v) = w
        .call("POST", &format!("/api/v1/jobs/{crawl}/validate"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let check = v["id"].as_u64().unwrap();
    let done = w
        .wait(check, "the validation", |v| state(v) == "done")
        .await;
    let verdict = |a: &str| {
        done["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == a)
            .map(|r| r["verdict"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(verdict("ann@acme-tools.com"), "safe");
    assert_eq!(verdict("sales@acme-tools.com"), "risky", "a role account");
    assert_eq!(verdict("nobody@acme-tools.com"), "invalid");
    assert_eq!(done["job"]["total"], 3);
    assert_eq!(done["job"]["done"], 3);

    // The safe ones into a list, through the subscriber import.
    let (s, report) = w
        .call(
            "POST",
            &format!("/api/v1/jobs/{check}/import"),
            Some(json!({"list": "Leads"})),
        )
        .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["imported"], 1, "{report}");
    let members = ok(w.d(), &["subscriber", "list", "--list", "Leads", "--json"]);
    assert!(members.contains("ann@acme-tools.com"), "{members}");
    assert!(!members.contains("sales@acme-tools.com"), "{members}");

    // The CLI sees the same jobs.
    let listed: Value = serde_json::from_str(&ok(w.d(), &["job", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["id"], check, "newest first");
    let shown = ok(w.d(), &["job", "show", &check.to_string()]);
    assert!(
        shown.contains("nobody@acme-tools.com") && shown.contains("invalid"),
        "{shown}"
    );

    // Bad input: a clear error each.
    for (spec, words) in [
        (
            json!({"kind": "extract", "seeds": ["ftp://files.test/"]}),
            "only http and https",
        ),
        (
            json!({"kind": "extract", "seeds": ["file:///etc/passwd"]}),
            "only http and https",
        ),
        (json!({"kind": "validate", "addresses": []}), "no address"),
        (json!({"kind": "mine-bitcoin"}), "kind"),
    ] {
        let (s, v) = w.call("POST", "/api/v1/jobs", Some(spec.clone())).await;
        assert_eq!(s, 400, "{spec}: {v}");
        assert!(v.to_string().contains(words), "{spec}: {v}");
    }
    let (s, v) = w.call("GET", "/api/v1/jobs/999", None).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = w
        .call(
            "POST",
            &format!("/api/v1/jobs/{crawl}/import"),
            Some(json!({"list": "Leads"})),
        )
        .await;
    assert_eq!(s, 400, "a crawl is not imported unvalidated: {v}");
    let out = etraq(w.d()).args(["job", "show", "999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("job not found: 999"));

    serve.kill().unwrap();
    let _ = serve.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_run_at_once_a_cancel_keeps_results_and_a_restart_resumes() {
    let w = world(1).await;
    let site = start_site().await;
    let mut serve = w.serve().await;

    // A crawl of 20 one-second pages, one at a time, and a validation of 8 addresses whose
    // mail exchanger never answers (2 s each, one session at a time).
    let crawl = w
        .start(json!({"kind": "extract", "seeds": [format!("http://{site}/slow")]}))
        .await;
    let quiet: Vec<String> = (0..8).map(|i| format!("someone@quiet{i}.test")).collect();
    let check = w
        .start(json!({"kind": "validate", "addresses": quiet, "threads": 1}))
        .await;
    // Both run at once.
    let start = Instant::now();
    loop {
        let (_, all) = w.call("GET", "/api/v1/jobs", None).await;
        let running = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "running")
            .count();
        if running == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never two at once: {all}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Cancel the crawl once it has found something: it stops, keeping what it found.
    w.wait(crawl, "a first address", |v| {
        !v["results"].as_array().unwrap().is_empty()
    })
    .await;
    let (s, _) = w
        .call("POST", &format!("/api/v1/jobs/{crawl}/cancel"), None)
        .await;
    assert_eq!(s, 200);
    let cancelled = w
        .wait(crawl, "the cancel", |v| state(v) == "cancelled")
        .await;
    let kept = addresses(&cancelled).len();
    assert!((1..20).contains(&kept), "{cancelled}");

    // A second crawl, then serve dies mid-way through both jobs.
    let crawl2 = w
        .start(json!({"kind": "extract", "seeds": [format!("http://{site}/slow")]}))
        .await;
    w.wait(crawl2, "a first address", |v| {
        !v["results"].as_array().unwrap().is_empty()
    })
    .await;
    let before = w
        .wait(check, "some checked", |v| {
            v["job"]["done"].as_u64().unwrap() >= 2
        })
        .await;
    assert_eq!(state(&before), "running");
    serve.kill().unwrap(); // SIGKILL
    let _ = serve.wait();

    let mut serve = w.serve().await;
    let interrupted = w
        .wait(crawl2, "interrupted", |v| state(v) == "interrupted")
        .await;
    assert!(!addresses(&interrupted).is_empty(), "partial results kept");
    let done = w
        .wait(check, "the resumed validation", |v| state(v) == "done")
        .await;
    assert_eq!(done["job"]["resumed"], 1, "{done}");
    let checked = addresses(&done);
    let mut unique = checked.clone();
    unique.dedup();
    assert_eq!(checked.len(), 8, "every address once: {done}");
    assert_eq!(unique.len(), 8);
    assert!(
        done["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["verdict"] == "unknown")
    );
    serve.kill().unwrap();
    let _ = serve.wait();
}
