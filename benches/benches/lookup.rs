//! Message-ID lookup with 1,000,000 recorded mails, against the same lookup with 1,000 in the
//! same run, on both stores. Lookups go through the `Store` trait exactly as the tracker makes
//! them (a blocking-pool hop included).
//!
//! Target: at most 50 µs per lookup with 1M records. The 1M stores are built once under
//! `target/tmp` and reused by later runs (`ETRAQ_BENCH_RECORDS` changes the size).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use etraq_benches::Rng;
use etraq_core::store::{ChangeSet, FactsQuery};
use etraq_core::{Decision, Direction, EmailAddress, MailRecord, Store, UntrackedReason};
use etraq_store_sled::SledStore;
use etraq_store_sqlite::SqliteStore;
use std::hint::black_box;

fn record(i: u64) -> ChangeSet {
    let customer: EmailAddress = format!("user{}@customer{}.test", i % 20_000, i % 2_000)
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let agent: EmailAddress = "agent@example.com"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let t = "2026-11-27T12:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    ChangeSet {
        mail: MailRecord {
            seq: 0,
            message_id: mid(&format!(
                "m{i}.{}@customer.test",
                i.wrapping_mul(2654435761) % 1_000_003
            )),
            derived_message_id: false,
            direction: Direction::Inbound,
            mail_from: Some(customer.clone()),
            rcpt_to: vec![agent.clone()],
            sender: Some(customer.clone()),
            sender_name: None,
            to: vec![agent],
            cc: vec![],
            subject: format!("subject {i}"),
            received_at: t,
            sent_at: None,
            decision: Decision::Untracked {
                reason: UntrackedReason::LocalEmail,
            },
            dr: None,
            parties: vec![customer],
            size: 2000,
        },
        raw: std::sync::Arc::new(vec![b'x'; 200]),
        index_message_id: true,
        dr: None,
        link: vec![],
        response: None,
        pending: None,
        queue: Vec::new(),
    }
}

async fn populate(store: &Arc<dyn Store>, n: u64) {
    if store
        .mails_by_message_id(&record(n - 1).mail.message_id)
        .await
        .map(|v| !v.is_empty())
        .unwrap_or(false)
    {
        return;
    }
    let mut i = 0;
    while i < n {
        let end = (i + 5_000).min(n);
        store
            .apply_batch((i..end).map(record).collect())
            .await
            .unwrap_or_else(|e| panic!("populate: {e}"));
        i = end;
        if i % 100_000 == 0 {
            eprintln!("  populated {i}/{n}");
        }
    }
}

fn run(
    c: &mut Criterion,
    name: &str,
    open: &dyn Fn(&Path) -> Arc<dyn Store>,
    rt: &tokio::runtime::Runtime,
    n: u64,
) {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut g = c.benchmark_group(format!("lookup_{name}"));
    for size in [1_000u64, n] {
        let store = open(&tmp.join(format!("lookup-{name}-{size}")));
        rt.block_on(populate(&store, size));
        let mut rng = Rng::new(size);
        g.bench_function(format!("mails_by_message_id/{size}"), |b| {
            b.iter(|| {
                let id = record(rng.below(size)).mail.message_id;
                let found = rt
                    .block_on(store.mails_by_message_id(&id))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(found.len(), 1);
                black_box(found);
            })
        });
        g.bench_function(format!("thread_facts_3_refs/{size}"), |b| {
            b.iter(|| {
                let q = FactsQuery {
                    message_id: mid(&format!("new{}@x.test", rng.next_u64())),
                    direction: Direction::Inbound,
                    candidates: (0..3)
                        .map(|_| record(rng.below(size)).mail.message_id)
                        .collect(),
                    tags: vec![],
                    users: vec![],
                };
                let f = rt
                    .block_on(store.thread_facts(&q))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(f.referenced.len(), 3);
                black_box(f);
            })
        });
        rt.block_on(store.close()).unwrap_or_else(|e| panic!("{e}"));
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("ETRAQ_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let sqlite = |p: &Path| -> Arc<dyn Store> {
        let p = p.with_extension("db");
        Arc::new(
            tokio::runtime::Runtime::new()
                .unwrap_or_else(|e| panic!("{e}"))
                .block_on(SqliteStore::open(p))
                .unwrap_or_else(|e| panic!("{e}")),
        )
    };
    run(c, "sqlite", &sqlite, &rt, n);
    let sled_open = |p: &Path| -> Arc<dyn Store> {
        let p = p.with_extension("sled");
        Arc::new(
            tokio::runtime::Runtime::new()
                .unwrap_or_else(|e| panic!("{e}"))
                .block_on(SledStore::open(p))
                .unwrap_or_else(|e| panic!("{e}")),
        )
    };
    run(c, "sled", &sled_open, &rt, n);
}

criterion_group!(benches, bench);
criterion_main!(benches);

fn mid(s: &str) -> etraq_core::MessageId {
    etraq_core::MessageId::parse(s).unwrap_or_else(|| panic!("bad Message-ID {s}"))
}
