//! `etraq extract` through the real binary against a web site served on 127.0.0.1: output
//! formats, `[extractor]` settings and their flags, the summary, bad input and Ctrl-C.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;

type Hits = Arc<Mutex<Vec<String>>>;

/// A small site: `/` links to `/a` and `/b`; `/a` links to `/a/deeper`; `/slow/N` pages take
/// a second each.
async fn start_site() -> (SocketAddr, Hits) {
    async fn page(State(hits): State<Hits>, uri: Uri) -> impl IntoResponse {
        let path = uri.path().to_string();
        if let Ok(mut h) = hits.lock() {
            h.push(path.clone());
        }
        let html = |s: String| ([(header::CONTENT_TYPE, "text/html")], s).into_response();
        match path.as_str() {
            "/robots.txt" => "User-agent: *\nDisallow: /secret\n".into_response(),
            "/" => html(
                r#"<p>Sales: sales [at] acme-tools [dot] com</p>
                   <a href="/a">a</a> <a href="/b">b</a> <a href="/secret">s</a> <a href="/cv.pdf">cv</a>"#
                    .into(),
            ),
            "/a" => html(r#"<a href="mailto:ann@acme-tools.com">Ann</a> <a href="/a/deeper">d</a>"#.into()),
            "/a/deeper" => html("<p>deep@acme-tools.com</p>".into()),
            "/b" => html("<p>sales@acme-tools.com again, logo@2x.png</p>".into()),
            "/secret" => html("<p>secret@acme-tools.com</p>".into()),
            "/slow" => html(
                (0..20)
                    .map(|i| format!(r#"<a href="/slow/{i}">{i}</a>"#))
                    .chain(["<p>first@acme-tools.com</p>".to_string()])
                    .collect(),
            ),
            p if p.starts_with("/slow/") => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                html(format!("<p>slow{}@acme-tools.com</p>", &p[6..]))
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let hits: Hits = Arc::default();
    let app = Router::new().fallback(page).with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hits)
}

fn etraq(dir: &tempfile::TempDir) -> Command {
    let mut c = Command::cargo_bin("etraq").unwrap();
    c.current_dir(dir.path()).env_remove("ETRAQ_CONFIG");
    c
}

/// `--json`: the whole of standard output is one JSON array.
fn json_array(stdout: &[u8]) -> Vec<serde_json::Value> {
    match serde_json::from_slice(stdout) {
        Ok(serde_json::Value::Array(rows)) => rows,
        other => panic!(
            "--json must print one array, got {other:?}: {}",
            String::from_utf8_lossy(stdout)
        ),
    }
}

/// `--jsonl`: one JSON object per line.
fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_array_jsonl_csv_and_summary() {
    let (addr, hits) = start_site().await;
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://{addr}");
    let out = etraq(&dir)
        .args(["extract", &format!("{base}/"), "--json", "--delay", "0"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines = json_array(&out.stdout);
    let mut got: Vec<(String, String, u64)> = lines
        .iter()
        .map(|v| {
            (
                v["address"].as_str().unwrap().to_string(),
                v["source_url"].as_str().unwrap().to_string(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("ann@acme-tools.com".to_string(), format!("{base}/a"), 1),
            (
                "deep@acme-tools.com".to_string(),
                format!("{base}/a/deeper"),
                1
            ),
            ("sales@acme-tools.com".to_string(), format!("{base}/"), 2),
        ]
    );
    for v in &lines {
        assert_eq!(
            v.as_object().unwrap().len(),
            3,
            "exactly address, source_url, count: {v}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{addr}  found")), "{stderr}");
    assert!(stderr.contains("robots.txt refused 1"), "{stderr}");
    assert!(stderr.contains("excluded links 1"), "{stderr}");
    let h = hits.lock().unwrap().clone();
    assert!(!h.iter().any(|p| p == "/secret" || p == "/cv.pdf"), "{h:?}");

    // --jsonl: the same objects, one per line.
    let streamed = etraq(&dir)
        .args(["extract", &format!("{base}/"), "--jsonl", "--delay", "0"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(streamed.status.success(), "{streamed:?}");
    let mut again: Vec<(String, String, u64)> = json_lines(&streamed.stdout)
        .iter()
        .map(|v| {
            (
                v["address"].as_str().unwrap().to_string(),
                v["source_url"].as_str().unwrap().to_string(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect();
    again.sort();
    assert_eq!(again, got);

    let out = etraq(&dir)
        .args(["extract", &format!("{base}/b"), "--csv", "--no-robots"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("address,source_url,count\nsales@acme-tools.com,{base}/b,1\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_section_seeds_file_and_flags() {
    let (addr, hits) = start_site().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("etraq.toml"),
        "[extractor]\ndepth = 0\ndelay = 0\nno_robots = true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("seeds.txt"),
        format!("# our partner\nhttp://{addr}/a\n\n"),
    )
    .unwrap();
    let out = etraq(&dir)
        .args(["extract", "--seeds", "seeds.txt", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines = json_array(&out.stdout);
    assert_eq!(lines.len(), 1, "depth 0 from the config: the seed only");
    assert_eq!(lines[0]["address"], "ann@acme-tools.com");
    assert!(
        !hits.lock().unwrap().iter().any(|p| p == "/robots.txt"),
        "no_robots from the config"
    );

    let out = etraq(&dir)
        .args(["extract", "--seeds", "seeds.txt", "--json", "--depth", "1"])
        .output()
        .unwrap();
    assert_eq!(
        json_array(&out.stdout).len(),
        2,
        "--depth overrides the config"
    );
}

#[test]
fn bad_input_is_named_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    etraq(&dir)
        .args(["extract", "--seeds", "missing.txt"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("missing.txt"));
    etraq(&dir)
        .args(["extract", "ftp://files.test/", "::nonsense::"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "invalid seed \"ftp://files.test/\"",
        ))
        .stderr(predicates::str::contains(
            "none of the seeds is a usable URL",
        ));
    etraq(&dir)
        .args(["extract", "http://127.0.0.1:1/", "--threads", "0"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--threads"));
    etraq(&dir).args(["extract"]).assert().code(1);
    etraq(&dir)
        .args(["extract", "x", "--json", "--csv"])
        .assert()
        .code(2);
    etraq(&dir)
        .args(["extract", "x", "--json", "--jsonl"])
        .assert()
        .code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_and_still_prints_what_was_found() {
    let (addr, hits) = start_site().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("etraq");
    let child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args([
            "extract",
            &format!("http://{addr}/slow"),
            "--json",
            "--threads",
            "1",
            "--delay",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the crawl is inside the slow pages.
    for _ in 0..200 {
        if hits.lock().unwrap().iter().any(|p| p.starts_with("/slow/")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let lines = json_array(&out.stdout);
    assert!(
        lines.iter().any(|v| v["address"] == "first@acme-tools.com"),
        "{lines:?}"
    );
    assert!(lines.len() < 21, "stopped before the end");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Interrupted after"), "{stderr}");
}
