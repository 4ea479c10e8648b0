//! A job started from the console (the API, as the console's form does) against the CLI on the
//! same input, in the same run, with the real `etraq` binary: the validator's addresses per
//! second (N addresses over 100 domains, against local DNS and catch-all SMTP servers) and the
//! extractor's pages per second (a local site of PAGES pages). Each pair runs ROUNDS times,
//! alternating; the figures are the best of each.
//!
//! Two figures per job: its own rate (started → finished, as the runner measures it) and the
//! end-to-end one a person sees (POST → done seen by a 100 ms poll), which also counts the
//! runner's pick-up (it looks for queued jobs every second).
//!
//! `cargo run --release -p etraq-benches --example job-vs-cli -- target/release/etraq [N] [PAGES] [ROUNDS]`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../crates/etraq-validate/tests/net/mod.rs"]
mod net;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use net::{Mode, Zone};
use serde_json::{Value, json};

const DOMAINS: usize = 100;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A site of `pages` pages, each naming an address and linking to five children.
async fn site(pages: usize) -> SocketAddr {
    use axum::extract::Path as P;
    use axum::response::Html;
    let app = axum::Router::new().route(
        "/p/{n}",
        axum::routing::get(move |P(n): P<usize>| async move {
            let mut s = format!("<html><body><p>Contact: page{n}@acme-tools.com</p>");
            for k in 1..=5 {
                let child = n * 5 + k;
                if child < pages {
                    s.push_str(&format!(r#"<a href="/p/{child}">child {child}</a> "#));
                }
            }
            s.push_str(&"<p>Filler about products, shipping and returns.</p>".repeat(50));
            s.push_str("</body></html>");
            Html(s)
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    a
}

fn etraq(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_LOG", "warn")
        .args(["--config", "etraq.toml"]);
    c
}

fn timed(mut c: Command) -> f64 {
    let t = Instant::now();
    let out = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a job through the API of a running serve; returns (end to end, runner's own) seconds.
async fn job(http: &reqwest::Client, web: u16, token: &str, spec: Value) -> (f64, f64) {
    let base = format!("http://127.0.0.1:{web}");
    let t = Instant::now();
    let text = http
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(spec.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let id = r["id"].as_u64().unwrap_or_else(|| panic!("{r}"));
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = http
            .get(format!("{base}/api/v1/jobs/{id}?results=false"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let j = &v["job"];
        match j["state"].as_str() {
            Some("done") => {
                let ts = |k: &str| j[k].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
                let own = ts("finished_at").duration_since(ts("started_at"));
                return (t.elapsed().as_secs_f64(), own.as_secs_f64());
            }
            Some("queued" | "running") => {}
            other => panic!("job {id} ended {other:?}: {v}"),
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = PathBuf::from(args.get(1).expect("the etraq binary"))
        .canonicalize()
        .unwrap();
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let pages: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let rounds: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(3);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let ips: Vec<Ipv4Addr> = (0..DOMAINS)
        .map(|i| Ipv4Addr::new(127, 0, 1, i as u8 + 1))
        .collect();
    let (port, servers) =
        net::start_smtp(ips.iter().map(|ip| (*ip, Mode::CatchAll)).collect()).await;
    std::mem::forget(servers);
    let mut zones = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        zones.push((
            format!("shop{i}.test"),
            Zone::Records {
                mx: vec![(10, format!("mx.shop{i}.test"))],
                a: vec![],
            },
        ));
        zones.push((
            format!("mx.shop{i}.test"),
            Zone::Records {
                mx: vec![],
                a: vec![*ip],
            },
        ));
    }
    let zones: Vec<(&str, Zone)> = zones.iter().map(|(n, z)| (n.as_str(), z.clone())).collect();
    let dns = net::start_dns(zones).await;
    let site = site(pages).await;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let web = free_port();
    std::fs::write(
        d.join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:{}\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n\
             [validator]\ndns = [\"{dns}\"]\nsmtp_port = {port}\nthreads = 32\nper_mx = 4\ntimeout = 10\n\
             [extractor]\nthreads = 8\ndelay = 0\nlinks_per_domain = {pages}\ndepth = 20\n",
            free_port()
        ),
    )
    .unwrap();
    let addresses: Vec<String> = (0..n)
        .map(|i| format!("customer{}@shop{}.test", i / DOMAINS, i % DOMAINS))
        .collect();
    std::fs::write(d.join("addrs.txt"), addresses.join("\n")).unwrap();
    let token = String::from_utf8(
        etraq(&bin, d)
            .args(["token", "create", "--name", "bench"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let _serve = Serve(
        etraq(&bin, d)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", web))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::new();
    let seed = format!("http://{site}/p/0");

    let (mut cli_v, mut job_v, mut own_v) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut cli_e, mut job_e, mut own_e) = (f64::MAX, f64::MAX, f64::MAX);
    for round in 0..rounds {
        let mut c = etraq(&bin, d);
        c.args(["validate", "--list", "addrs.txt", "--json"]);
        let cli = timed(c);
        let (e2e, own) = job(
            &http,
            web,
            &token,
            json!({"kind": "validate", "addresses": addresses}),
        )
        .await;
        println!(
            "round {round}: validate {n}: CLI {:.0} addr/s, job {:.0} addr/s ({:.0} end to end)",
            n as f64 / cli,
            n as f64 / own,
            n as f64 / e2e
        );
        cli_v = cli_v.min(cli);
        job_v = job_v.min(e2e);
        own_v = own_v.min(own);
        let mut c = etraq(&bin, d);
        c.args(["extract", &seed, "--json"]);
        let cli = timed(c);
        let (e2e, own) = job(
            &http,
            web,
            &token,
            json!({"kind": "extract", "seeds": [seed]}),
        )
        .await;
        println!(
            "round {round}: extract {pages} pages: CLI {:.0} pages/s, job {:.0} pages/s ({:.0} end to end)",
            pages as f64 / cli,
            pages as f64 / own,
            pages as f64 / e2e
        );
        cli_e = cli_e.min(cli);
        job_e = job_e.min(e2e);
        own_e = own_e.min(own);
    }
    println!(
        "best of {rounds}: validator job/CLI {:.1}% (end to end {:.1}%); extractor job/CLI {:.1}% (end to end {:.1}%)",
        cli_v / own_v * 100.0,
        cli_v / job_v * 100.0,
        cli_e / own_e * 100.0,
        cli_e / job_e * 100.0
    );
}
