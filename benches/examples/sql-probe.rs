//! Times SQL statements on an etraq SQLite store with etraq's own SQLite build (Debian's
//! `sqlite3` is too old for the store's FTS5 options): each argument after the path is run five
//! times, its rows counted and the best time printed. For looking into a slow query:
//! `cargo run --release -p etraq-benches --example sql-probe -- data/etraq.db "SELECT …"`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("the store's path");
    let c = etraq_store_sqlite::open_connection(&path).unwrap();
    for sql in args {
        let mut best = f64::MAX;
        let mut rows = 0;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let mut s = c.prepare(&sql).unwrap();
            let mut q = s.query([]).unwrap();
            rows = 0;
            while q.next().unwrap().is_some() {
                rows += 1;
            }
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("{best:8.2} ms {rows:6} rows  {sql}");
    }
}
