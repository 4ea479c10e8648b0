//! Loop safety of automatic acknowledgements, end to end: two `etraq serve` processes, each
//! the other's customer, and a naive auto-responder, all joined by a small "internet" in the
//! test that delivers each company's outgoing mail to the other's gateway (its MX) and mail to
//! the responder's domain to the responder, which answers everything it gets without any
//! automatic-mail header. Every acknowledgement rule is on. The mail must settle: at most one
//! acknowledgement per conversation, no storm.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::*;
use etraq_smtp::testing::{FakeUpstream, Received};

/// One company: its etraq, its mail server (a recording upstream) and its domain.
struct Company {
    dir: tempfile::TempDir,
    domain: &'static str,
    smtp: u16,
    web: u16,
    upstream: FakeUpstream,
    serve: Option<Child>,
}

impl Company {
    async fn start(domain: &'static str, user: &str) -> Company {
        let dir = tempfile::tempdir().unwrap();
        let upstream = FakeUpstream::start().await;
        let (smtp, web) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("etraq.toml"),
            format!(
                "local_domains = [\"{domain}\"]\ntimezone = \"UTC\"\n\
                 [smtp]\nlisten = \"127.0.0.1:{smtp}\"\n\
                 [web]\nlisten = \"127.0.0.1:{web}\"\n\
                 [upstream]\nhost = \"127.0.0.1\"\nport = {}\n\
                 [store]\nurl = \"sqlite:data/etraq.db\"\n",
                upstream.addr.port()
            ),
        )
        .unwrap();
        let d = dir.path();
        ok(d, &["user", "add", user, "--name", "Agent"]);
        // Every mail to anyone is acknowledged by this rule, if the loop guard allows.
        ok(d, &["autoreply", "add", "everything", "--window", "1d"]);
        let child = serve(d, smtp).await;
        Company {
            dir,
            domain,
            smtp,
            web,
            upstream,
            serve: Some(child),
        }
    }
}

impl Drop for Company {
    fn drop(&mut self) {
        if let Some(mut c) = self.serve.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn message(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Sat, 05 Dec 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// What crossed the test's internet: (from domain's mail, recipient, automatic?).
#[derive(Clone, Debug)]
struct Hop {
    from: String,
    to: String,
    acknowledgement: bool,
}

/// The internet: delivers mail leaving each company's mail server to the recipient's domain.
/// Mail for the company's own domain stays in its mailboxes; mail for c.example goes to the
/// auto-responder, which answers every message with a fresh mail that carries no automatic
/// header, no references and a subject of its own.
async fn route(companies: &[&Company], seen: &mut [usize], log: &Arc<Mutex<Vec<Hop>>>) -> usize {
    let mut moved = 0;
    for (i, c) in companies.iter().enumerate() {
        let all: Vec<Received> = c.upstream.received();
        let fresh: Vec<Received> = all[seen[i]..].to_vec();
        seen[i] = all.len();
        for m in fresh {
            for rcpt in &m.rcpt_to {
                let domain = rcpt.rsplit('@').next().unwrap_or("").to_string();
                if domain == c.domain {
                    continue; // delivered to the company's own mailbox
                }
                moved += 1;
                log.lock().unwrap().push(Hop {
                    from: m.mail_from.clone(),
                    to: rcpt.clone(),
                    acknowledgement: m.header("Auto-Submitted").as_deref() == Some("auto-replied"),
                });
                if let Some(other) = companies.iter().find(|o| o.domain == domain) {
                    smtp_send(other.smtp, &m.mail_from, rcpt, &m.data).await;
                } else if domain == "c.example" {
                    // The naive auto-responder answers the author of anything it gets.
                    let n = log.lock().unwrap().len();
                    let author = m
                        .header("From")
                        .and_then(|f| {
                            f.rsplit('<')
                                .next()
                                .map(|x| x.trim_end_matches('>').to_string())
                        })
                        .unwrap_or_else(|| m.mail_from.clone());
                    let Some(home) = companies
                        .iter()
                        .find(|o| author.ends_with(&format!("@{}", o.domain)))
                    else {
                        continue;
                    };
                    let reply = message(
                        rcpt,
                        &author,
                        &format!("I am away ({n})"),
                        &format!("away.{n}@c.example"),
                        "I am out of the office and will read your mail when I am back.",
                    );
                    smtp_send(home.smtp, rcpt, &author, &reply).await;
                }
            }
        }
    }
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_etraqs_and_an_auto_responder_settle_with_one_acknowledgement_each() {
    let a = Company::start("a.example", "ann@a.example").await;
    let b = Company::start("b.example", "bob@b.example").await;
    let companies = [&a, &b];
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut seen = [0usize; 2];

    // Bob (an employee of B) writes to Ann at A: for A, Bob is a customer.
    smtp_send(
        b.smtp,
        "bob@b.example",
        "ann@a.example",
        &message(
            "bob@b.example",
            "ann@a.example",
            "Order 17",
            "bob.1@b.example",
            "Where is order 17?",
        ),
    )
    .await;
    // Ann writes to Bob about something else: for B, Ann is a customer.
    smtp_send(
        a.smtp,
        "ann@a.example",
        "bob@b.example",
        &message(
            "ann@a.example",
            "bob@b.example",
            "Invoice 9",
            "ann.1@a.example",
            "Is invoice 9 paid?",
        ),
    )
    .await;
    // Carol, whose mailbox auto-responds to everything, writes to Ann (from the internet).
    smtp_send(
        a.smtp,
        "carol@c.example",
        "ann@a.example",
        &message(
            "carol@c.example",
            "ann@a.example",
            "Question",
            "carol.1@c.example",
            "A question.",
        ),
    )
    .await;

    // Let the mail flow until nothing moves for 8 seconds (the outbox is mailed every 2 s),
    // with a hard bound: a storm would never settle.
    let start = Instant::now();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(8) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the mail never settled: {:#?}",
            log.lock().unwrap()
        );
        if route(&companies, &mut seen, &log).await > 0 {
            quiet_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let hops = log.lock().unwrap().clone();
    for h in &hops {
        println!(
            "hop {} -> {}{}",
            h.from,
            h.to,
            if h.acknowledgement {
                " (acknowledgement)"
            } else {
                ""
            }
        );
    }
    let mut acks: HashMap<(String, String), usize> = HashMap::new();
    for h in hops.iter().filter(|h| h.acknowledgement) {
        *acks.entry((h.from.clone(), h.to.clone())).or_insert(0) += 1;
    }
    // A acknowledged Bob once and Carol once; B acknowledged Ann once. Nothing else.
    assert_eq!(
        acks.get(&("ann@a.example".into(), "bob@b.example".into())),
        Some(&1),
        "{hops:#?}"
    );
    assert_eq!(
        acks.get(&("bob@b.example".into(), "ann@a.example".into())),
        Some(&1),
        "{hops:#?}"
    );
    let to_carol: usize = acks
        .iter()
        .filter(|((_, to), _)| to == "carol@c.example")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(to_carol, 1, "{hops:#?}");
    assert_eq!(acks.values().sum::<usize>(), 3, "{hops:#?}");
    assert!(hops.len() <= 12, "bounded: {} hops {hops:#?}", hops.len());

    // The responder's answer reached A and was tracked (a new DR: fresh subject, no
    // references), but was not acknowledged again: Carol was answered within the window.
    // Each acknowledgement is on its DR as an Auto Reply.
    let history: serde_json::Value =
        serde_json::from_str(&ok(a.dir.path(), &["history", "carol@c.example", "--json"])).unwrap();
    let rows = history.as_array().unwrap();
    let away = rows
        .iter()
        .filter(|r| r["subject"].as_str().unwrap_or("").starts_with("I am away"))
        .count();
    assert_eq!(away, 1, "{rows:#?}");
    let auto = rows
        .iter()
        .filter(|r| r["mail_type"].as_str() == Some("Auto Reply"))
        .count();
    assert_eq!(auto, 1, "{rows:#?}");
    let _ = (a.web, b.web);
}
