//! Batch ingest of 100,000 generated messages (`ETRAQ_BENCH_INGEST` overrides the count) into a
//! fresh SQLite, a fresh sled store and a fresh PostgreSQL database, the way `etraq ingest`
//! does it (batches of 500, one durable commit each), against parsing the same messages alone
//! in the same run. PostgreSQL is a throwaway cluster on this machine, durable (`fsync` and
//! `synchronous_commit` on); without PostgreSQL installed its case is left out, saying so.
//!
//! Targets: at least 5,000 messages/s on SQLite; PostgreSQL at least 40% of SQLite's rate.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etraq_benches::{Traffic, add_employees, rules};
use etraq_core::{Envelope, Incoming, ReceivedAt, Store, Tracker};
use etraq_store_sled::SledStore;
use etraq_store_sqlite::SqliteStore;
use std::hint::black_box;

const BATCH: usize = 500;

async fn ingest(store: Arc<dyn Store>, mails: &[Vec<u8>]) {
    add_employees(&store).await;
    let tracker = Tracker::new(store.clone(), rules());
    let now = "2026-11-27T12:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    for chunk in mails.chunks(BATCH) {
        let items = chunk
            .iter()
            .map(|m| Incoming {
                raw: m.clone(),
                envelope: Envelope::default(),
                received: ReceivedAt::DateHeaderOr(now),
            })
            .collect();
        tracker
            .track_batch(items)
            .await
            .unwrap_or_else(|e| panic!("ingest failed: {e}"));
    }
    store.close().await.unwrap_or_else(|e| panic!("{e}"));
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("ETRAQ_BENCH_INGEST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mails = Traffic::new(42).take(n);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group(format!("ingest_{n}"));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("parse_only (baseline)", |b| {
        b.iter(|| {
            for m in &mails {
                black_box(etraq_core::ParsedMail::parse(m));
            }
        })
    });
    let cluster = etraq_store_postgres::testing::Cluster::start_with(true);
    let mut databases = 0u32;
    let mut backends = vec!["sqlite", "sled"];
    if cluster.is_some() {
        backends.push("postgres");
    }
    for backend in backends {
        g.bench_function(backend, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                    // A fresh database, made before the clock starts.
                    databases += 1;
                    let db = format!("ingest{databases}");
                    if let ("postgres", Some(c)) = (backend, &cluster) {
                        c.create_database(&db);
                    }
                    let start = Instant::now();
                    rt.block_on(async {
                        let store: Arc<dyn Store> = match (backend, &cluster) {
                            ("postgres", Some(c)) => Arc::new(
                                etraq_store_postgres::PgStore::open(&c.url_of(&db))
                                    .await
                                    .unwrap_or_else(|e| panic!("{e}")),
                            ),
                            ("sqlite", _) => Arc::new(
                                SqliteStore::open(dir.path().join("e.db"))
                                    .await
                                    .unwrap_or_else(|e| panic!("{e}")),
                            ),
                            _ => Arc::new(
                                SledStore::open(dir.path().join("sled"))
                                    .await
                                    .unwrap_or_else(|e| panic!("{e}")),
                            ),
                        };
                        ingest(store, &mails).await;
                    });
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
