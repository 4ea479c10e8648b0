//! Full-text search on both stores: two-word queries of the traffic generator's vocabulary,
//! each asking for its first 20 results through `search_mails`, on a store of 50,000
//! generated mails (`ETRAQ_BENCH_SEARCH` changes the count), against a Message-ID lookup on the
//! same store in the same run (the baseline: one indexed read through the same trait).
//!
//! The contract's figure (p95 ≤ 50 ms at 1,000,000 mails on SQLite) is measured by
//! `benches/search-load.sh` with `N=1000000`; this bench is the quick, repeatable one, and
//! the one that covers sled's tantivy index.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use etraq_benches::{Rng, Traffic, WORDS, add_employees, rules};
use etraq_core::archive::parse_query;
use etraq_core::{Envelope, Incoming, MessageId, ReceivedAt, Store, Tracker};
use etraq_store_sled::SledStore;
use etraq_store_sqlite::SqliteStore;
use std::hint::black_box;

async fn fill(store: &Arc<dyn Store>, mails: &[Vec<u8>]) {
    add_employees(store).await;
    let tracker = Tracker::new(store.clone(), rules());
    let now = "2026-11-27T12:00:00Z".parse().unwrap();
    for chunk in mails.chunks(500) {
        let items = chunk
            .iter()
            .map(|m| Incoming {
                raw: m.clone(),
                envelope: Envelope::default(),
                received: ReceivedAt::DateHeaderOr(now),
            })
            .collect();
        tracker.track_batch(items).await.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("ETRAQ_BENCH_SEARCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let mails = Traffic::new(42).take(n);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group(format!("search_{n}"));
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(10));
    let queries: Vec<_> = {
        let mut rng = Rng::new(7);
        (0..64)
            .map(|_| {
                let a = WORDS[rng.below(WORDS.len() as u64) as usize];
                let b = WORDS[rng.below(WORDS.len() as u64) as usize];
                parse_query(&format!("{a} {b}"), &jiff::tz::TimeZone::UTC).unwrap()
            })
            .collect()
    };
    for backend in ["sqlite", "sled"] {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = rt.block_on(async {
            let s: Arc<dyn Store> = match backend {
                "sqlite" => Arc::new(SqliteStore::open(dir.path().join("e.db")).await.unwrap()),
                _ => Arc::new(SledStore::open(dir.path().join("sled")).await.unwrap()),
            };
            fill(&s, &mails).await;
            s
        });
        let mid: MessageId = rt.block_on(async {
            let seq = store.search_mails(&queries[0], 0, 1).await.unwrap()[0].0;
            store.get_mail(seq).await.unwrap().unwrap().message_id
        });
        g.bench_function(format!("{backend}/message_id_lookup (baseline)"), |b| {
            b.iter(|| {
                rt.block_on(async { black_box(store.mails_by_message_id(&mid).await.unwrap()) })
            })
        });
        let mut i = 0usize;
        g.bench_function(format!("{backend}/two_words_first_20"), |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                rt.block_on(async {
                    black_box(store.search_mails(&queries[i], 0, 20).await.unwrap())
                })
            })
        });
        rt.block_on(store.close()).unwrap();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
