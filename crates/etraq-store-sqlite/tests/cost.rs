//! The cost of tracking one mail grows linearly with the number of addresses on it.
//!
//! The black-box review found de-duplication by `Vec::contains` in loops: 20,000 addresses took
//! 1.4 s, 40,000 took 6.6 s, and 400,000 in one `To:` never finished. This test measures two
//! sizes in the same run and asserts on their ratio, never on a wall-clock time: four times the
//! addresses may cost at most eight times as much (linear is 4×, quadratic 16×). Each size is
//! measured several times and the fastest run counts, so a busy machine does not fail it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use etraq_core::{Envelope, Store, Tracker};
use etraq_store_sqlite::SqliteStore;
use jiff::Timestamp;

fn config() -> etraq_core::Config {
    etraq_core::Config::from_toml(
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n",
        "t.toml".as_ref(),
    )
    .unwrap()
}

/// A customer's mail to support, with `n` more addresses in To and Cc: half local, half not.
fn mail(n: usize, tag: &str) -> Vec<u8> {
    let mut to = String::from("support@example.com");
    let mut cc = String::new();
    for i in 0..n {
        if i % 2 == 0 {
            to.push_str(&format!(",\r\n u{i}@customer.test"));
        } else {
            if !cc.is_empty() {
                cc.push_str(",\r\n ");
            }
            cc.push_str(&format!("staff{i}@example.com"));
        }
    }
    format!(
        "From: Ann <ann@customer.test>\r\nTo: {to}\r\nCc: {cc}\r\nSubject: many {tag}\r\nMessage-ID: <{tag}@customer.test>\r\n\r\nbody\r\n"
    )
    .into_bytes()
}

/// The fastest of `runs` trackings of a fresh mail with `n` addresses, each in a fresh store.
async fn cost(n: usize, runs: usize) -> Duration {
    let mut best = Duration::MAX;
    for r in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("e.db")).await.unwrap());
        let tracker = Tracker::new(store.clone(), config().tracking_rules().unwrap());
        let raw = mail(n, &format!("m{n}-{r}"));
        // Envelope from the headers, as `etraq ingest` does: every address is a recipient too.
        let start = Instant::now();
        let t = tracker
            .track(&raw, &Envelope::default(), Timestamp::now())
            .await
            .unwrap();
        best = best.min(start.elapsed());
        assert!(t.decision.is_tracked(), "{t:?}");
        store.close().await.unwrap();
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_cost_is_linear_in_the_addresses_of_a_mail() {
    // Warm up (page cache, allocator, lazy statics).
    cost(500, 1).await;
    let small = cost(5_000, 3).await;
    let large = cost(20_000, 3).await;
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-6);
    eprintln!(
        "5,000 addresses: {small:?}; 20,000: {large:?}; ratio {ratio:.2} (linear 4, quadratic 16)"
    );
    assert!(
        ratio < 8.0,
        "4x the addresses cost {ratio:.1}x as much ({small:?} vs {large:?}): not linear"
    );
}
