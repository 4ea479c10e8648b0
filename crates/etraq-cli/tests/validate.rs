//! `etraq validate` through the real binary against a DNS server and SMTP servers the test runs
//! on loopback: JSON lines with check-if-email-exists' fields, CSV in input order, `[validator]`
//! settings, extraction from HTML, CSV and .eml, the pre-flight message and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../etraq-validate/tests/net/mod.rs"]
mod net;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use assert_cmd::Command;
use net::{Mode, Zone};

struct World {
    dns: SocketAddr,
    port: u16,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let (port, _servers) = net::start_smtp(vec![(
        Ipv4Addr::new(127, 0, 0, 2),
        Mode::Mailboxes(vec![
            "alice@acme-tools.com",
            "bob@acme-tools.com",
            "carol@acme-tools.com",
        ]),
    )])
    .await;
    let rec = |mx: Vec<(u16, &str)>, a: Vec<Ipv4Addr>| Zone::Records {
        mx: mx.into_iter().map(|(p, h)| (p, h.to_string())).collect(),
        a,
    };
    let dns = net::start_dns(vec![
        (
            "acme-tools.com",
            rec(vec![(10, "mx.acme-tools.com")], vec![]),
        ),
        (
            "mx.acme-tools.com",
            rec(vec![], vec![Ipv4Addr::new(127, 0, 0, 2)]),
        ),
        ("down-shop.com", rec(vec![(10, "mx.down-shop.com")], vec![])),
        (
            "mx.down-shop.com",
            rec(vec![], vec![Ipv4Addr::new(127, 0, 0, 8)]),
        ),
    ])
    .await;
    World {
        dns,
        port,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    fn etraq(&self) -> Command {
        let mut c = Command::cargo_bin("etraq").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("ETRAQ_CONFIG")
            .timeout(Duration::from_secs(60));
        c
    }

    fn net_flags(&self) -> [String; 6] {
        [
            "--dns".into(),
            self.dns.to_string(),
            "--smtp-port".into(),
            self.port.to_string(),
            "--timeout".into(),
            "2".into(),
        ]
    }
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

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_follows_check_if_email_exists_as_an_array_and_jsonl_as_lines() {
    let w = world().await;
    let out = w
        .etraq()
        .args([
            "validate",
            "alice@acme-tools.com",
            "nobody@acme-tools.com",
            "not-an-address",
            "--json",
        ])
        .args(w.net_flags())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines = json_array(&out.stdout);
    assert_eq!(lines.len(), 3);
    let by = |input: &str| {
        lines
            .iter()
            .find(|v| v["input"] == input)
            .unwrap_or_else(|| panic!("{input}"))
    };
    let alice = by("alice@acme-tools.com");
    assert_eq!(
        keys(alice),
        [
            "deferred",
            "input",
            "is_reachable",
            "misc",
            "mx",
            "reason",
            "smtp",
            "syntax"
        ]
    );
    assert_eq!(
        keys(&alice["smtp"]),
        [
            "can_connect_smtp",
            "has_full_inbox",
            "is_catch_all",
            "is_deliverable",
            "is_disabled"
        ]
    );
    assert_eq!(keys(&alice["mx"]), ["accepts_mail", "records"]);
    assert_eq!(keys(&alice["misc"]), ["is_disposable", "is_role_account"]);
    assert_eq!(
        keys(&alice["syntax"]),
        [
            "address",
            "domain",
            "is_valid_syntax",
            "requires_smtputf8",
            "username"
        ]
    );
    assert_eq!(alice["is_reachable"], "safe");
    assert_eq!(alice["mx"]["records"][0], "mx.acme-tools.com");
    assert_eq!(by("nobody@acme-tools.com")["is_reachable"], "invalid");
    assert_eq!(by("not-an-address")["is_reachable"], "invalid");
    assert_eq!(by("not-an-address")["syntax"]["is_valid_syntax"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("safe 1, risky 0, invalid 2, unknown 0"),
        "{stderr}"
    );
    assert!(stderr.contains("1 SMTP session."), "{stderr}");
    let order: Vec<&str> = lines.iter().filter_map(|v| v["input"].as_str()).collect();
    assert_eq!(
        order,
        [
            "alice@acme-tools.com",
            "nobody@acme-tools.com",
            "not-an-address"
        ],
        "the array keeps input order"
    );

    // --jsonl streams the same objects, one per line, in the order they were decided.
    let streamed = w
        .etraq()
        .args([
            "validate",
            "alice@acme-tools.com",
            "nobody@acme-tools.com",
            "not-an-address",
            "--jsonl",
        ])
        .args(w.net_flags())
        .output()
        .unwrap();
    assert!(streamed.status.success(), "{streamed:?}");
    let mut a: Vec<String> = json_lines(&streamed.stdout)
        .iter()
        .map(|v| format!("{}={}", v["input"], v["is_reachable"]))
        .collect();
    let mut b: Vec<String> = lines
        .iter()
        .map(|v| format!("{}={}", v["input"], v["is_reachable"]))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracts_from_html_csv_and_eml_and_applies_the_config() {
    let w = world().await;
    let p = |n: &str| w.dir.path().join(n);
    std::fs::write(p("page.html"), r#"<p>Write to <a href="mailto:alice@acme-tools.com">Alice</a> or bob [at] acme-tools [dot] com. <img src="logo@2x.png"></p>"#).unwrap();
    std::fs::write(
        p("list.csv"),
        "name,email\nCarol,carol@acme-tools.com\nDan,dan@acme-tools.com\n",
    )
    .unwrap();
    std::fs::write(
        p("mail.eml"),
        "From: Alice <alice@acme-tools.com>\r\nTo: erin@acme-tools.com\r\nSubject: hi\r\n\r\nCopy frank@acme-tools.com please.\r\n",
    )
    .unwrap();
    std::fs::write(
        p("notes.txt"),
        "Call Alice (alice@acme-tools.com) or bob(at)acme-tools.com.\n",
    )
    .unwrap();
    std::fs::write(
        p("etraq.toml"),
        format!(
            "[validator]\ndns = [\"{}\"]\nsmtp_port = {}\ntimeout = 2\nexclude_user = [\"dan\"]\n",
            w.dns, w.port
        ),
    )
    .unwrap();
    let run = |file: &str| {
        let out = w
            .etraq()
            .args(["validate", "--extract-from", file, "--csv"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.splitn(3, ',').collect();
                (f[0].to_string(), f[1].to_string())
            })
            .collect::<Vec<_>>()
    };
    let s = |a: &str, v: &str| (a.to_string(), v.to_string());
    assert_eq!(
        run("page.html"),
        [
            s("alice@acme-tools.com", "safe"),
            s("bob@acme-tools.com", "safe")
        ]
    );
    assert_eq!(
        run("notes.txt"),
        [
            s("alice@acme-tools.com", "safe"),
            s("bob@acme-tools.com", "safe")
        ]
    );
    assert_eq!(
        run("list.csv"),
        [
            s("carol@acme-tools.com", "safe"),
            s("dan@acme-tools.com", "invalid")
        ],
        "dan is excluded by the config"
    );
    assert_eq!(
        run("mail.eml"),
        [
            s("alice@acme-tools.com", "safe"),
            s("erin@acme-tools.com", "invalid"),
            s("frank@acme-tools.com", "invalid")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_smtp_is_said_once_and_exits_1() {
    let w = world().await;
    let addrs: Vec<String> = (0..50).map(|i| format!("u{i}@down-shop.com")).collect();
    let out = w
        .etraq()
        .arg("validate")
        .args(&addrs)
        .args(w.net_flags())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stdout.is_empty(),
        "no result lines: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("looks blocked").count(), 1, "{stderr}");
    assert!(stderr.contains("--no-smtp"), "{stderr}");

    // With --no-smtp the run goes on with syntax and DNS only.
    let out = w
        .etraq()
        .args(["validate", "u1@down-shop.com", "--no-smtp", "--json"])
        .args(w.net_flags())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines = json_array(&out.stdout);
    assert_eq!(lines[0]["is_reachable"], "unknown");
    assert_eq!(lines[0]["mx"]["accepts_mail"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_on_the_command_line_are_checked_exactly_as_given() {
    let w = world().await;
    std::fs::write(
        w.dir.path().join("list.txt"),
        "  alice@acme-tools.com  \r\n",
    )
    .unwrap();
    let out = w
        .etraq()
        .args([
            "validate",
            "alice@acme-tools.com\r\n",
            " \r\nalice@acme-tools.com",
            "alice@acme-tools.com.",
            "josé@acme-tools.com",
            "--list",
            "list.txt",
            "--no-smtp",
            "--json",
        ])
        .args(w.net_flags())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows = json_array(&out.stdout);
    let by = |input: &str| {
        rows.iter()
            .find(|v| v["input"] == input)
            .unwrap_or_else(|| panic!("{input:?} in {rows:?}"))
            .clone()
    };
    for bad in [
        "alice@acme-tools.com\r\n",
        " \r\nalice@acme-tools.com",
        "alice@acme-tools.com.",
    ] {
        let r = by(bad);
        assert_eq!(r["is_reachable"], "invalid", "{bad:?}: {r}");
        assert_eq!(r["syntax"]["is_valid_syntax"], false, "{bad:?}");
    }
    // A list file's lines may still be trimmed: that is the file's layout, not the address.
    assert_eq!(
        by("alice@acme-tools.com")["syntax"]["is_valid_syntax"],
        true
    );
    let utf8 = by("josé@acme-tools.com");
    assert_eq!(utf8["syntax"]["is_valid_syntax"], true);
    assert_eq!(utf8["syntax"]["requires_smtputf8"], true);

    // The table shows such an input with its control characters escaped, never raw.
    let table = w
        .etraq()
        .args(["validate", "alice@acme-tools.com\r\n\u{1b}[2J", "--no-smtp"])
        .args(w.net_flags())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
    assert!(
        text.contains("alice@acme-tools.com\\r\\n\\u{1b}[2J"),
        "{text}"
    );
}

#[test]
fn bad_input_is_named_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let etraq = || {
        let mut c = Command::cargo_bin("etraq").unwrap();
        c.current_dir(dir.path()).env_remove("ETRAQ_CONFIG");
        c
    };
    etraq()
        .args(["validate", "--list", "missing.txt"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("missing.txt"));
    etraq()
        .args(["validate", "a@acme-tools.com", "--dns", "not-an-ip"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("not-an-ip"));
    etraq()
        .args(["validate", "a@acme-tools.com", "--recheck-after", "soon"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--recheck-after"));
    etraq().args(["validate"]).assert().code(1);
    etraq()
        .args(["validate", "a@b.c", "--json", "--csv"])
        .assert()
        .code(2);
    etraq()
        .args(["validate", "a@b.c", "--json", "--jsonl"])
        .assert()
        .code(2);
}
