//! Escalation: `plan()` throughput over 1,000,000 DR states (against cloning them, the floor of
//! any planner that returns new states), and a full cycle on SQLite with 1,000,000 DRs of which
//! 1 % are due.
//!
//! Targets: `plan()` ≥ 1M DR states per second; a cycle ≤ 200 ms on SQLite. The 1M-DR store is
//! built once under `target/tmp` and reused; its DRs are due in 100 successive slices of 1 %, one
//! per measured cycle (`ETRAQ_BENCH_DRS` changes the size).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etraq_benches::million::{self, H, SLICES, dr, plus, t0};
use etraq_core::escalation::{self, Directory, Policies, Policy};
use etraq_core::service::Escalator;
use etraq_core::{Dr, Store, User};
use etraq_store_sqlite::SqliteStore;
use std::hint::black_box;

fn policies() -> Policies {
    Policies {
        default: Policy {
            warn_after: 4 * H,
            escalate_after: 10 * 24 * H,
            reescalate_every: None,
            calendar: None,
        },
        departments: Default::default(),
    }
}

fn bench_plan(c: &mut Criterion) {
    let n = 1_000_000u64;
    let drs: Vec<Dr> = (0..n).map(|i| dr(i, n)).collect();
    let users: Directory = (0..40)
        .map(|i| {
            let u = User::new(
                format!("agent{i}@example.com")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
                "agent",
            );
            (u.email.clone(), u)
        })
        .collect();
    let p = policies();
    let now = plus(t0(), 200 * 60);
    let mut g = c.benchmark_group("plan_1M");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("clone states (baseline)", |b| {
        b.iter(|| black_box(drs.clone()))
    });
    g.bench_function("plan", |b| {
        b.iter(|| black_box(escalation::plan(&p, now, &drs, &users)))
    });
    g.finish();
}

fn bench_cycle(c: &mut Criterion) {
    let n: u64 = std::env::var("ETRAQ_BENCH_DRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let work = million::working_copy(&rt, dir, n, "escalation");
    let store: Arc<dyn Store> = Arc::new(
        rt.block_on(SqliteStore::open(&work))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let escalator = Escalator::new(store.clone(), policies());
    let mut slice = 0i64;
    let mut g = c.benchmark_group(format!("cycle_{n}_drs_1pct_due"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("sqlite", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                assert!(
                    slice < SLICES as i64,
                    "out of due slices: rebuild with fewer iterations"
                );
                let now = plus(t0(), slice * 60);
                let start = Instant::now();
                let r = rt
                    .block_on(escalator.run_cycle(now))
                    .unwrap_or_else(|e| panic!("{e}"));
                total += start.elapsed();
                assert_eq!(
                    r.record.warned,
                    n / SLICES,
                    "slice {slice} did not warn 1 %"
                );
                slice += 1;
            }
            total
        })
    });
    g.finish();
    rt.block_on(store.close()).unwrap_or_else(|e| panic!("{e}"));
}

criterion_group!(benches, bench_plan, bench_cycle);
criterion_main!(benches);
