//! `etraq migrate` on the real binary: a SQLite store with something in every table (mail and
//! DRs from an mbox, response times, an escalation cycle and its alerts, users, an API token,
//! the knowledge base with history, lists, subscribers, the blocklist, a campaign sent to a
//! recording sink with its link book, hits, events and engagement, a queued message and a
//! journal entry) goes SQLite → PostgreSQL → sled → SQLite. Every listing of the last store is
//! identical to the first's; the PostgreSQL and sled stores list the same (relevance scores
//! aside: each backend ranks its own way). Each copied store then takes new mail, subscribers,
//! articles and alerts under fresh ids. A non-empty target, the same store twice and a bad URL
//! are refused.
//!
//! The PostgreSQL hop needs a throwaway cluster (initdb + pg_ctl); without PostgreSQL installed
//! the test says so and copies SQLite → sled → SQLite only, except under CI where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;

use common::{json, ok, refused};
use etraq_core::campaign::{CampaignStore, Hit, HitKind};
use etraq_core::outbox::{Delivery, OutMessage, QueuedMail};
use etraq_core::store::PendingDelivery;
use etraq_core::store::{OutboxStore, TrackingStore};
use etraq_core::{MessageId, Store};
use etraq_smtp::testing::FakeUpstream;
use etraq_store_postgres::testing::Cluster;
use serde_json::Value;

/// Every listing compared, as `etraq` arguments (each with `--json`).
const LISTINGS: &[&[&str]] = &[
    &["dr", "list", "--status", "all", "--limit", "500"],
    &["dr", "show", "SUPP-11302026.3"],
    &["untracked", "list"],
    &["history", "@customer0.test"],
    &["history", "cust1@customer1.test"],
    &["search", "gearbox"],
    &["search", "from:cust2@customer2.test widget"],
    &["alerts", "list"],
    &["report", "response-times"],
    &["report", "unreplied", "--now", "2026-12-04T12:00:00Z"],
    &["report", "volume"],
    &["user", "list"],
    &["token", "list"],
    &["list", "ls"],
    &["list", "show", "News"],
    &["subscriber", "list"],
    &["subscriber", "show", "ann@customer0.test"],
    &["blocklist", "list"],
    &["campaign", "list"],
    &["campaign", "show", "Spring"],
    &["campaign", "recipients", "Spring"],
    &["kb", "list"],
    &["kb", "show", "1"],
    &["kb", "search", "gearbox"],
    &["status"],
];

fn mbox() -> String {
    let mut out = String::new();
    for i in 0..40 {
        let c = format!("cust{}@customer{}.test", i % 7, i % 3);
        out.push_str(&format!(
            "From {c} Mon Nov 30 09:00:00 2026\nFrom: Cust {i} <{c}>\nTo: support@example.com\n\
             Subject: Order {i} broken widget\nMessage-ID: <c{i}@customer.test>\n\
             Date: Mon, 30 Nov 2026 09:{i:02}:00 +0000\n\n\
             My widget number {i} is broken, the gearbox rattles.\n\n"
        ));
        if i % 2 == 0 {
            out.push_str(&format!(
                "From support@example.com Mon Nov 30 10:00:00 2026\n\
                 From: Support <support@example.com>\nTo: {c}\n\
                 Subject: Re: Order {i} broken widget\nMessage-ID: <r{i}@example.com>\n\
                 In-Reply-To: <c{i}@customer.test>\nDate: Mon, 30 Nov 2026 10:{i:02}:00 +0000\n\n\
                 We will replace widget {i}.\n\n"
            ));
        }
    }
    out.push_str(
        "From x@else.test Mon Nov 30 09:00:00 2026\nFrom: x@else.test\nTo: y@else2.test\n\
         Subject: untracked thing\nMessage-ID: <u1@else.test>\n\nhello\n",
    );
    out
}

/// Fills the source store through the binary, and the parts no command writes directly
/// (hits, a queued message, a journal entry) through the store itself.
async fn fill(dir: &Path) {
    ok(
        dir,
        &[
            "user",
            "add",
            "boss@example.com",
            "--name",
            "Boss",
            "--role",
            "supervisor",
        ],
    );
    ok(
        dir,
        &[
            "user",
            "add",
            "support@example.com",
            "--name",
            "Support",
            "--supervisor",
            "boss@example.com",
        ],
    );
    std::fs::write(dir.join("traffic.mbox"), mbox()).unwrap();
    ok(dir, &["ingest", "traffic.mbox"]);
    ok(
        dir,
        &["escalate", "--once", "--now", "2026-12-02T12:00:00Z"],
    );
    ok(dir, &["token", "create", "--name", "migrate-test"]);
    std::fs::write(
        dir.join("kb.md"),
        "# Widgets\n\nReplace the gearbox of a broken widget.\n",
    )
    .unwrap();
    ok(dir, &["kb", "add", "Broken widgets", "--file", "kb.md"]);
    ok(
        dir,
        &["kb", "set", "1", "--title", "Broken widgets and gearboxes"],
    );
    ok(dir, &["list", "create", "News"]);
    for who in [
        "ann@customer0.test",
        "bob@customer1.test",
        "cy@customer2.test",
    ] {
        ok(dir, &["subscriber", "add", who, "--list", "News"]);
    }
    ok(dir, &["blocklist", "add", "@spam.test"]);
    ok(
        dir,
        &[
            "campaign",
            "create",
            "Spring",
            "--list",
            "News",
            "--template",
            "newsletter",
        ],
    );
    ok(dir, &["campaign", "run", "Spring", "--json"]);

    let store = etraq_store_sqlite::SqliteStore::open(dir.join("src.db"))
        .await
        .unwrap();
    let campaign = store.get_campaign("Spring").await.unwrap().unwrap();
    let ann = store
        .get_subscriber(&"ann@customer0.test".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let recipients = json(dir, &["campaign", "recipients", "Spring", "--json"]);
    let recipient = recipients
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == "ann@customer0.test")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    store
        .add_campaign_links(
            campaign.id,
            vec![
                "https://shop.example.com/a".into(),
                "https://shop.example.com/b".into(),
            ],
        )
        .await
        .unwrap();
    let at: jiff::Timestamp = "2026-12-03T08:00:00Z".parse().unwrap();
    for (kind, link, order) in [
        (HitKind::Open, None, None),
        (HitKind::Click, Some(1), None),
        (HitKind::Conversion, Some(1), Some("order-7")),
    ] {
        store
            .record_hit(Hit {
                campaign: campaign.id,
                recipient,
                subscriber: ann.id,
                kind,
                link,
                at,
                user_agent: Some("Mozilla/5.0".into()),
                ip: Some("192.0.2.7".into()),
                bot: None,
                value: order.map(|_| 42.5),
                currency: order.map(|_| "EUR".into()),
                order_id: order.map(Into::into),
                detail: None,
            })
            .await
            .unwrap();
    }
    store
        .queue_mails(vec![QueuedMail {
            id: 0,
            kind: "acknowledgement".into(),
            message: OutMessage {
                from: "support@example.com".parse().unwrap(),
                from_name: Some("Support".into()),
                to: "ann@customer0.test".parse().unwrap(),
                cc: Vec::new(),
                subject: "We got your mail".into(),
                text: "Thanks.".into(),
                html: None,
                message_id: "ack1@example.com".into(),
                headers: Vec::new(),
            },
            created_at: at,
            delivery: Delivery::Pending {
                attempts: 1,
                next_attempt_at: at,
                last_error: Some("451 try later".into()),
            },
        }])
        .await
        .unwrap();
    store
        .put_pending(&PendingDelivery {
            id: 0,
            message_id: MessageId::parse("<p1@customer.test>").unwrap(),
            mail_from: Some("cust0@customer0.test".parse().unwrap()),
            rcpt_to: vec!["support@example.com".parse().unwrap()],
            size: 1234,
            client: "192.0.2.9".into(),
            started_at: at,
        })
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// What the store itself says of the parts no listing shows.
async fn store_facts(url: &str, dir: &Path) -> Value {
    let url = etraq_core::config::StoreUrl::parse(url, dir).unwrap();
    let store: std::sync::Arc<dyn Store> = match &url {
        etraq_core::config::StoreUrl::Sqlite(p) => {
            std::sync::Arc::new(etraq_store_sqlite::SqliteStore::open(p).await.unwrap())
        }
        etraq_core::config::StoreUrl::Sled(p) => {
            std::sync::Arc::new(etraq_store_sled::SledStore::open(p).await.unwrap())
        }
        etraq_core::config::StoreUrl::Postgres(u) => {
            std::sync::Arc::new(etraq_store_postgres::PgStore::open(u).await.unwrap())
        }
    };
    let campaign = store.get_campaign("Spring").await.unwrap().unwrap();
    let ann = store
        .get_subscriber(&"ann@customer0.test".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let facts = serde_json::json!({
        "links": store.campaign_links(campaign.id).await.unwrap(),
        "hits": store.campaign_hits(campaign.id).await.unwrap(),
        "events": store.subscriber_events(ann.id, 100).await.unwrap(),
        "engagement": store.subscriber_engagement(ann.id).await.unwrap().map(|e| (e.millis, e.at)),
        "queued": store.queued_mail("acknowledgement", 10).await.unwrap(),
        "pending": store.list_pending().await.unwrap(),
        "raw": store.raw_message(3).await.unwrap(),
    });
    store.close().await.unwrap();
    facts
}

/// Every listing of the store at `url`; relevance scores dropped when `scores` is false.
fn listings(dir: &Path, url: &str, scores: bool) -> Vec<(String, Value)> {
    LISTINGS
        .iter()
        .map(|args| {
            let mut full: Vec<&str> = vec!["--store", url];
            full.extend_from_slice(args);
            full.push("--json");
            let mut v = json(dir, &full);
            scrub(&mut v, scores);
            (args.join(" "), v)
        })
        .collect()
}

/// Drops what names the store itself (`status`'s `store`) and, unless kept, search scores.
fn scrub(v: &mut Value, scores: bool) {
    match v {
        Value::Object(m) => {
            m.remove("store");
            if !scores {
                m.remove("score");
            }
            m.values_mut().for_each(|x| scrub(x, scores));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, scores)),
        _ => {}
    }
}

fn same(a: &[(String, Value)], b: &[(String, Value)], what: &str) {
    for ((name, x), (_, y)) in a.iter().zip(b) {
        if x != y {
            let (x, y) = (x.to_string(), y.to_string());
            let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
            let from = at.saturating_sub(200);
            panic!(
                "{what}: `etraq {name} --json` differs at byte {at}:\n  was {}\n  now {}",
                x.get(from..(at + 200).min(x.len())).unwrap_or(""),
                y.get(from..(at + 200).min(y.len())).unwrap_or("")
            );
        }
    }
}

fn migrate(dir: &Path, from: &str, to: &str) -> Value {
    let report = json(dir, &["migrate", "--from", from, "--to", to, "--json"]);
    assert_eq!(report["verified"], true, "{report}");
    for t in report["tables"].as_array().unwrap() {
        assert_eq!(t["verified"], true, "{t}");
    }
    report
}

fn rows(report: &Value, table: &str) -> u64 {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap()["rows"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_to_sled_to_sqlite_lists_the_same() {
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [store]\nurl = \"sqlite:src.db\"\n\
             [escalation]\nwarn_after = \"4h\"\nescalate_after = \"1d\"\n\
             [campaigns]\nrelay = \"127.0.0.1:{}\"\n",
            sink.addr.port()
        ),
    )
    .unwrap();
    fill(d).await;
    let cluster = Cluster::start();
    let pg = cluster.as_ref().map(|c| {
        c.create_database("migrated");
        c.url_of("migrated")
    });
    if pg.is_none() {
        eprintln!("PostgreSQL is not installed: copying SQLite → sled → SQLite only");
    }

    let source = listings(d, "sqlite:src.db", true);
    let facts = store_facts("sqlite:src.db", d).await;
    let mut chain = vec!["sqlite:src.db".to_string()];
    chain.extend(pg.clone());
    chain.push("sled:mid.sled".into());
    chain.push("sqlite:back.db".into());
    let mut first = None;
    for pair in chain.windows(2) {
        let report = migrate(d, &pair[0], &pair[1]);
        first.get_or_insert(report);
    }
    let report = first.unwrap();
    assert_eq!(rows(&report, "drs"), 40);
    // 61 from the mbox, and the campaign's 3 (each campaign mail is recorded).
    assert_eq!(rows(&report, "mails"), 64);
    assert_eq!(rows(&report, "responses"), 20);
    assert!(rows(&report, "alerts") >= 20);
    assert_eq!(rows(&report, "hits"), 3);
    assert_eq!(rows(&report, "kb_history"), 2);
    assert_eq!(rows(&report, "outbox"), 1);
    assert_eq!(rows(&report, "pending"), 1);
    for t in [
        "counters",
        "kv",
        "users",
        "message_ids",
        "cycles",
        "lists",
        "subscribers",
        "blocklist",
        "campaigns",
        "recipients",
        "events",
        "campaign_links",
        "engagement",
        "kb_articles",
    ] {
        assert!(rows(&report, t) > 0, "{t} should have rows in this test");
    }

    // Back in SQLite: byte for byte the same listings, scores included.
    same(
        &source,
        &listings(d, "sqlite:back.db", true),
        "SQLite after the round trip",
    );
    assert_eq!(facts, store_facts("sqlite:back.db", d).await);
    // On the way: the same listings (each backend ranks search hits its own way).
    let unscored = listings(d, "sqlite:src.db", false);
    for url in pg.iter().map(String::as_str).chain(["sled:mid.sled"]) {
        same(&unscored, &listings(d, url, false), url);
        assert_eq!(facts, store_facts(url, d).await, "{url}");
    }

    // Each copy takes new records under fresh ids, and the next DR number.
    std::fs::write(
        d.join("new.eml"),
        "From: New <new@customer9.test>\nTo: support@example.com\nSubject: new issue\n\
         Message-ID: <new1@customer9.test>\n\nhello\n",
    )
    .unwrap();
    for url in pg
        .iter()
        .map(String::as_str)
        .chain(["sled:mid.sled", "sqlite:back.db"])
    {
        let line = json(d, &["--store", url, "ingest", "--json", "new.eml"]);
        assert!(
            line["dr"].as_str().unwrap().ends_with(".41"),
            "{url}: the next DR number follows the copied ones: {line}"
        );
        assert!(line["seq"].as_u64().unwrap() > 64, "{url}: {line}");
        ok(
            d,
            &[
                "--store",
                url,
                "subscriber",
                "add",
                "dee@x.test",
                "--list",
                "News",
            ],
        );
        ok(
            d,
            &["--store", url, "kb", "add", "Second", "--file", "kb.md"],
        );
        let kb = json(d, &["--store", url, "kb", "list", "--json"]);
        assert_eq!(kb.as_array().unwrap().len(), 2, "{url}: {kb}");
        let before = json(d, &["--store", url, "alerts", "list", "--json"]);
        ok(
            d,
            &[
                "--store",
                url,
                "escalate",
                "--once",
                "--now",
                "2026-12-09T12:00:00Z",
            ],
        );
        let after = json(d, &["--store", url, "alerts", "list", "--json"]);
        assert!(
            after.as_array().unwrap().len() > before.as_array().unwrap().len(),
            "{url}: new alerts are recorded beside the copied ones"
        );
    }
    if let Some(c) = cluster {
        c.stop_server();
    }
}

#[test]
fn a_non_empty_target_the_same_store_and_bad_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("etraq.toml"),
        "local_domains = [\"example.com\"]\n[store]\nurl = \"sqlite:src.db\"\n",
    )
    .unwrap();
    ok(
        d,
        &["user", "add", "support@example.com", "--name", "Support"],
    );
    ok(
        d,
        &[
            "--store",
            "sqlite:other.db",
            "user",
            "add",
            "someone@example.com",
            "--name",
            "Someone",
        ],
    );
    refused(
        d,
        &["migrate", "--to", "sqlite:other.db"],
        "is not empty (its users table has rows)",
    );
    refused(
        d,
        &["migrate", "--to", "sqlite:src.db"],
        "are the same store",
    );
    refused(d, &["migrate", "--to", "nonsense"], "nonsense");
    refused(
        d,
        &["migrate", "--from", "sqlite:typo.db", "--to", "sqlite:x.db"],
        "there is no store at sqlite:./typo.db",
    );
    assert!(
        !d.join("typo.db").exists(),
        "a mistyped source is not created"
    );
    ok(d, &["--store", "sqlite:blank.db", "status"]);
    refused(
        d,
        &[
            "migrate",
            "--from",
            "sqlite:blank.db",
            "--to",
            "sqlite:x.db",
        ],
        "is empty: nothing to copy",
    );
    // Nothing was written to the refused target: it still has its one user.
    let users = json(d, &["--store", "sqlite:other.db", "user", "list", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 1);
    // A damaged record in the source is named by table and key; the copy stops there.
    std::fs::write(
        d.join("one.eml"),
        "From: ann@customer.test\nTo: support@example.com\nSubject: help\n\
         Message-ID: <one@customer.test>\n\nhello\n",
    )
    .unwrap();
    ok(d, &["--store", "sqlite:damaged.db", "ingest", "one.eml"]);
    let conn = etraq_store_sqlite::open_connection(d.join("damaged.db")).unwrap();
    conn.execute("UPDATE drs SET data = '{broken'", []).unwrap();
    drop(conn);
    refused(
        d,
        &[
            "migrate",
            "--from",
            "sqlite:damaged.db",
            "--to",
            "sled:damaged.sled",
        ],
        "row 1 of table drs is not a valid record",
    );
    // An empty existing store is a fine target.
    ok(d, &["--store", "sqlite:empty.db", "status"]);
    let out = ok(d, &["migrate", "--to", "sqlite:empty.db"]);
    assert!(out.contains("Copied"), "{out}");
}
