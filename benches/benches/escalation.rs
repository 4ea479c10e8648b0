//! Escalation: `plan()` throughput over 1,000,000 DR states (against cloning them, the floor of
//! any planner that returns new states), and a full cycle on SQLite with 1,000,000 DRs of which
//! 1 % are due.
//!
//! Targets: `plan()` ≥ 1M DR states per second; a cycle ≤ 200 ms on SQLite. The 1M-DR store is
//! built once under `target/tmp` and reused; its DRs are due in 100 successive slices of 1 %, one
//! per measured cycle (`ETRAQ_BENCH_DRS` changes the size).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etraq_core::escalation::{self, Directory, Policies, Policy};
use etraq_core::escalator::Escalator;
use etraq_core::store::{ChangeSet, DrWrite};
use etraq_core::{Decision, Direction, Dr, DrId, DrStatus, MailRecord, MailType, Store, User};
use etraq_store_sqlite::SqliteStore;
use jiff::{SignedDuration, Timestamp};
use std::hint::black_box;

const H: i64 = 3600;
const SLICES: u64 = 100;

fn t0() -> Timestamp {
    "2026-11-27T00:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or_else(|e| panic!("{e}"))
}

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

/// DR `i`: open, waiting since 5 h before its slice's time, so the cycle of that slice warns.
fn dr(i: u64, n: u64) -> Dr {
    let slice = (i * SLICES / n) as i64;
    let due = plus(t0(), slice * 60);
    let owner: etraq_core::EmailAddress = format!("agent{}@example.com", i % 40)
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let customer: etraq_core::EmailAddress = format!("c{i}@customer{}.test", i % 1000)
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    Dr {
        id: DrId::new("SUPP", jiff::civil::date(2026, 11, 27), i + 1)
            .unwrap_or_else(|e| panic!("{e}")),
        owner,
        cc_users: vec![],
        customer: customer.clone(),
        participants: vec![],
        subject: format!("question {i}"),
        status: DrStatus::Open,
        assigned_on: plus(due, -5 * H),
        first_response_at: None,
        awaiting_since: Some(plus(due, -5 * H)),
        last_activity: plus(due, -5 * H),
        escalation_level: 0,
        last_sender: customer,
        last_recipient: None,
        last_mail_type: MailType::Normal,
        last_customer_at: Some(plus(due, -5 * H)),
        warned_at: None,
        remind_at: None,
        due_at: Some(due),
        version: 1,
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

async fn populate(store: &Arc<dyn Store>, n: u64) {
    if store
        .get_dr(&dr(n - 1, n).id)
        .await
        .ok()
        .flatten()
        .is_some()
    {
        return;
    }
    for i in 0..40 {
        let u = User::new(
            format!("agent{i}@example.com")
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            "agent",
        );
        store.put_user(&u).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mut i = 0;
    while i < n {
        let end = (i + 5000).min(n);
        let batch = (i..end)
            .map(|k| {
                let d = dr(k, n);
                ChangeSet {
                    mail: MailRecord {
                        seq: 0,
                        message_id: format!("b{k}@customer.test"),
                        derived_message_id: false,
                        direction: Direction::Inbound,
                        mail_from: Some(d.customer.clone()),
                        rcpt_to: vec![d.owner.clone()],
                        sender: Some(d.customer.clone()),
                        sender_name: None,
                        to: vec![d.owner.clone()],
                        cc: vec![],
                        subject: d.subject.clone(),
                        received_at: d.assigned_on,
                        sent_at: None,
                        decision: Decision::Tracked {
                            mail_type: MailType::Normal,
                        },
                        dr: Some(d.id.clone()),
                        parties: vec![d.customer.clone()],
                        size: 100,
                    },
                    raw: Arc::new(b"Subject: x\r\n\r\nx".to_vec()),
                    index_message_id: true,
                    dr: Some(DrWrite {
                        dr: d,
                        expected_version: 0,
                    }),
                    link: vec![],
                    response: None,
                    pending: None,
                }
            })
            .collect();
        store
            .apply_batch(batch)
            .await
            .unwrap_or_else(|e| panic!("populate: {e}"));
        i = end;
        if i % 100_000 == 0 {
            eprintln!("  populated {i}/{n} DRs");
        }
    }
}

fn bench_cycle(c: &mut Criterion) {
    let n: u64 = std::env::var("ETRAQ_BENCH_DRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("escalation-{n}"));
    let pristine = dir.join("pristine.db");
    let work = dir.join("work.db");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&pristine)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
        populate(&store, n).await;
        store.close().await.unwrap_or_else(|e| panic!("{e}"));
    });
    let _ = std::fs::remove_file(work.with_extension("db-wal"));
    std::fs::copy(&pristine, &work).unwrap_or_else(|e| panic!("{e}"));
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
