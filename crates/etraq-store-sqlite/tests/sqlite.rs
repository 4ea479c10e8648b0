//! Behaviour specific to the SQLite backend: durability settings, schema versions, refusing
//! files that are not etraq stores.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_core::store::TrackingStore;
use etraq_core::{Error, Store};
use etraq_store_sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteStore, open_connection};

#[tokio::test]
async fn uses_wal_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etraq.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let conn = open_connection(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous must be FULL (2)");
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    store.close().await.unwrap();
}

#[tokio::test]
async fn refuses_a_store_written_by_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etraq.db");
    SqliteStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = SqliteStore::open(&path)
        .await
        .err()
        .expect("a newer schema was accepted");
    assert!(matches!(err, Error::SchemaTooNew { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("newer etraq"), "{msg}");
}

#[tokio::test]
async fn refuses_files_that_are_not_etraq_stores() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello, this is not a database at all").unwrap();
    let err = SqliteStore::open(&text)
        .await
        .err()
        .expect("a text file was accepted");
    assert!(matches!(err, Error::ForeignStore { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "hello, this is not a database at all"
    );

    let other = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE invoices(id INTEGER PRIMARY KEY)")
            .unwrap();
    }
    let err = SqliteStore::open(&other)
        .await
        .err()
        .expect("a foreign database was accepted");
    assert!(matches!(err, Error::ForeignStore { .. }), "{err:?}");
    assert!(err.to_string().contains("another application"), "{err}");

    let err = SqliteStore::open(dir.path())
        .await
        .err()
        .expect("a directory was accepted");
    assert!(matches!(err, Error::ForeignStore { .. }), "{err:?}");
}

#[tokio::test]
async fn an_impossible_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let path = file.join("sub").join("etraq.db");
    let err = SqliteStore::open(&path)
        .await
        .err()
        .expect("an impossible path was accepted");
    assert!(err.to_string().contains("plain-file"), "{err}");
}

#[tokio::test]
async fn two_handles_on_one_file_share_data() {
    // The server and a CLI command open the same file; both see each other's writes and DR
    // numbers stay unique across them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etraq.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        assert!(seen.insert(a.reserve_dr_numbers(1).await.unwrap()));
        assert!(seen.insert(b.reserve_dr_numbers(1).await.unwrap()));
    }
    a.put_user(&etraq_core::User::new(
        "x@example.com".parse().unwrap(),
        "X",
    ))
    .await
    .unwrap();
    assert_eq!(b.list_users().await.unwrap().len(), 1);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A scope of more than 10,000 DRs is sorted by walking the column index (not by sorting the
/// scope); both ways give the same order, page after page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_scopes_sort_through_the_column_index() {
    use etraq_core::store::DrQuery;
    use etraq_core::{DrSort, DrStatus};
    use etraq_store_tests::fixtures::{addr, new_dr_change};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("etraq.db"))
        .await
        .unwrap();
    let owners = [
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
        "u3@example.com",
    ];
    let n_total = 14_000u64;
    let mut expected = Vec::new();
    let mut n = 1;
    while n <= n_total {
        let mut batch = Vec::new();
        for k in n..(n + 2000).min(n_total + 1) {
            let owner = owners[(k % 4) as usize];
            let mut cs = new_dr_change(k, &format!("l{k}@x.test"), owner, "c@cust.test");
            let status = [DrStatus::Open, DrStatus::Replied, DrStatus::Closed][(k % 3) as usize];
            if let Some(w) = cs.dr.as_mut() {
                w.dr.status = status;
            }
            if k % 4 != 3 {
                expected.push((status.as_str().to_string(), k));
            }
            batch.push(cs);
        }
        n += batch.len() as u64;
        store.apply_batch(batch).await.unwrap();
    }
    // u0..u2 own 10,500 DRs: a large scope.
    let scope: Vec<_> = owners[..3].iter().map(|o| addr(o)).collect();
    for ascending in [true, false] {
        let mut want = expected.clone();
        want.sort();
        if !ascending {
            want.reverse();
        }
        let want: Vec<u64> = want.into_iter().map(|(_, k)| k).take(1500).collect();
        let mut got = Vec::new();
        let (mut after, mut after_key) = (None, None);
        while got.len() < 1500 {
            let page = store
                .list_drs(&DrQuery {
                    involving: Some(scope.clone()),
                    sort: DrSort::Status,
                    ascending,
                    after,
                    after_key: after_key.clone(),
                    limit: 500,
                    ..DrQuery::default()
                })
                .await
                .unwrap();
            got.extend(page.items.iter().map(|d| d.id.number()));
            after = page.next;
            after_key = page.items.last().and_then(|d| DrSort::Status.key(d));
        }
        assert_eq!(got, want, "ascending={ascending}");
    }
    store.close().await.unwrap();
}

/// Mail recorded before the search index existed (schema 6) is indexed when the store opens,
/// in batches, and a store that stopped half-way resumes where it was. Simulated on a current
/// store: its index is emptied and the backfill state rewound, as the 6 → 7 migration leaves
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_existing_archive_is_indexed_when_the_store_opens() {
    use etraq_core::archive::parse_query;
    use etraq_store_tests::fixtures::{change, mail};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etraq.db");
    {
        let s = SqliteStore::open(&path).await.unwrap();
        for i in 0..1_203 {
            let mut m = mail(
                &format!("m{i}@cust.example"),
                "c@cust.example",
                "ann@example.com",
                None,
            );
            m.subject = if i % 2 == 0 {
                "even parcel".into()
            } else {
                "odd".into()
            };
            s.apply(change(m, None)).await.unwrap();
        }
        s.close().await.unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DELETE FROM mail_fts; UPDATE search_backfill SET target = (SELECT MAX(seq) FROM mails), upto = 400;",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).await.unwrap();
    let q = parse_query("parcel", &jiff::tz::TimeZone::UTC).unwrap();
    let found = s.search_mails(&q, 0, 2_000).await.unwrap();
    // Mails 401 … 1203 were indexed again; 1 … 400 count as done (the rewound state says so).
    assert_eq!(
        found.len(),
        (401..=1_203).filter(|n| (n - 1) % 2 == 0).count()
    );
    s.close().await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (target, upto): (i64, i64) = conn
        .query_row("SELECT target, upto FROM search_backfill", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(target, upto, "finished");
}

/// A query ranks the newest 2,000 matches that pass its filters (docs/archive.md): a strong
/// match older than those is not on its pages, and a date narrows the search to reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_words_rank_the_newest_two_thousand_matches() {
    use etraq_core::archive::parse_query;
    use etraq_store_tests::fixtures::{at, change, mail};
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("etraq.db"))
        .await
        .unwrap();
    let mut old = mail(
        "old@cust.example",
        "c@cust.example",
        "ann@example.com",
        None,
    );
    old.subject = "parcel parcel parcel".into();
    old.received_at = at("2026-01-01T09:00:00Z");
    let oldest = s.apply(change(old, None)).await.unwrap();
    let batch: Vec<_> = (0..2_100)
        .map(|i| {
            let mut m = mail(
                &format!("n{i}@cust.example"),
                "c@cust.example",
                "ann@example.com",
                None,
            );
            m.subject = format!("about the parcel {i}");
            m.received_at = at("2026-11-01T09:00:00Z");
            change(m, None)
        })
        .collect();
    s.apply_batch(batch).await.unwrap();
    let tz = jiff::tz::TimeZone::UTC;
    let q = parse_query("parcel", &tz).unwrap();
    let page = s.search_mails(&q, 0, 20).await.unwrap();
    assert_eq!(page.len(), 20);
    assert!(
        page.iter().all(|(seq, _)| *seq != oldest),
        "outside the window"
    );
    let narrowed = parse_query("parcel before:2026-06-01", &tz).unwrap();
    let found = s.search_mails(&narrowed, 0, 20).await.unwrap();
    assert_eq!(found.first().map(|r| r.0), Some(oldest));
    s.close().await.unwrap();
}
