//! Query latency of full-text search on an existing SQLite store: two-word queries made of the
//! generator's vocabulary, each asking for its first 20 results, as the store answers them
//! (`search_mails`), then queries with filters. Prints p50, p95 and the slowest. Used by `benches/search-load.sh`:
//! `cargo run --release -p etraq-benches --example search-bench -- data/etraq.db 300`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_core::Store;
use etraq_core::archive::parse_query;
use etraq_core::store::TrackingStore;

#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).expect("the store's path");
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let store = etraq_store_sqlite::SqliteStore::open(&path).await.unwrap();
    let words = etraq_benches::WORDS;
    let mut rng = etraq_benches::Rng::new(7);
    let mut times = Vec::with_capacity(n);
    let mut found = 0usize;
    for _ in 0..n {
        let a = words[rng.below(words.len() as u64) as usize];
        let b = words[rng.below(words.len() as u64) as usize];
        let q = parse_query(&format!("{a} {b}"), &jiff::tz::TimeZone::UTC).unwrap();
        let t = std::time::Instant::now();
        let hits = store.search_mails(&q, 0, 20).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found += hits.len();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "{n} two-word queries, first 20 results: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms ({:.1} results on average)",
        at(0.50),
        at(0.95),
        times[times.len() - 1],
        found as f64 / n as f64
    );
    // Queries with filters (they rank every match, not a window): a date that every generated
    // mail passes (the worst case), a DR, and has:attachment (which no generated mail has).
    for (label, make) in [
        (
            "two words + after:",
            Box::new(|a: &str, b: &str, _: u64| format!("{a} {b} after:2026-11-01"))
                as Box<dyn Fn(&str, &str, u64) -> String>,
        ),
        (
            "one word + dr:",
            Box::new(|a: &str, _: &str, n: u64| format!("{a} dr:{n}")),
        ),
        (
            "one word + has:attachment",
            Box::new(|a: &str, _: &str, _: u64| format!("{a} has:attachment")),
        ),
    ] {
        let mut times = Vec::with_capacity(n / 3);
        for _ in 0..(n / 3).max(10) {
            let a = words[rng.below(words.len() as u64) as usize];
            let b = words[rng.below(words.len() as u64) as usize];
            let q =
                parse_query(&make(a, b, 1 + rng.below(1000)), &jiff::tz::TimeZone::UTC).unwrap();
            let t = std::time::Instant::now();
            store.search_mails(&q, 0, 20).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "{} queries \"{label}\", first 20: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            times.len(),
            at(0.50),
            at(0.95),
            times[times.len() - 1]
        );
    }
    store.close().await.unwrap();
    // The index's share of the store: a copy without it, vacuumed.
    let with = std::fs::metadata(&path).unwrap().len();
    let copy = format!("{path}.noindex");
    std::fs::copy(&path, &copy).unwrap();
    let c = etraq_store_sqlite::open_connection(&copy).unwrap();
    c.execute_batch("DROP TABLE mail_fts; VACUUM;").unwrap();
    drop(c);
    let without = std::fs::metadata(&copy).unwrap().len();
    let _ = std::fs::remove_file(&copy);
    println!(
        "store {:.1} MB, without the index {:.1} MB: the index adds {:.1}%",
        with as f64 / 1048576.0,
        without as f64 / 1048576.0,
        (with as f64 / without as f64 - 1.0) * 100.0
    );
}
