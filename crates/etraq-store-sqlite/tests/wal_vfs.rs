//! The WAL-coalescing VFS (`etraq_store_sqlite::vfs`): a commit reaches the WAL in a few writes
//! instead of two per page, and what SQLite reads back, in this connection or another, whatever
//! `synchronous` is, after a cache spill, a rollback and a reopen, is exactly what it wrote.
//!
//! One test function in its own binary: the VFS counts its writes per process, and other tests
//! running beside it would add theirs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use etraq_store_sqlite::vfs;
use rusqlite::{Connection, OpenFlags, params};

fn open(path: &Path) -> Connection {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let name = vfs::name().expect("the VFS registers over SQLite's default");
    let c = Connection::open_with_flags_and_vfs(path, flags, name).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    c
}

/// A row of `size` bytes that says which row it is all along.
fn row(i: i64, size: usize) -> Vec<u8> {
    format!("{i:08}").bytes().cycle().take(size).collect()
}

fn rows_of(c: &Connection) -> Vec<(i64, Vec<u8>)> {
    let mut st = c.prepare("SELECT id, v FROM t ORDER BY id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Asserts that `c` sees exactly the rows `ids`, each of `size` bytes, naming the first that
/// differs (the rows are too long to print whole).
fn assert_rows(c: &Connection, ids: std::ops::Range<i64>, size: usize, when: &str) {
    let got = rows_of(c);
    let want: Vec<(i64, Vec<u8>)> = ids.map(|i| (i, row(i, size))).collect();
    let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first_wrong.is_none(),
        "{when}: {} rows seen, {} expected; first wrong at index {first_wrong:?}",
        got.len(),
        want.len()
    );
}

fn insert(c: &Connection, ids: std::ops::Range<i64>, size: usize) {
    let tx = c.unchecked_transaction().unwrap();
    for i in ids {
        tx.execute(
            "INSERT INTO t(id, v) VALUES (?1, ?2)",
            params![i, row(i, size)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

#[test]
fn a_commit_reaches_the_wal_in_a_few_writes_and_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let w = open(&path);
    w.pragma_update(None, "synchronous", "FULL").unwrap();
    w.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .unwrap();

    // 1. One durable commit of ~100 pages: stock SQLite makes two writes per page (frame
    //    header, page); through the VFS it is a handful, each at most MAX_HELD bytes.
    let before = vfs::wal_writes();
    insert(&w, 0..100, 3000);
    let writes = vfs::wal_writes() - before;
    let frames: i64 = w
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .unwrap();
    assert!(frames >= 100, "the commit wrote {frames} frames");
    let bytes = usize::try_from(frames).unwrap() * (4096 + 24);
    assert!(
        writes <= (bytes / vfs::MAX_HELD + 1) as u64,
        "{writes} writes for {frames} frames"
    );
    assert!(writes >= 1, "the commit must reach the file");

    // 2. Another connection, on SQLite's default VFS, reads every row of it back.
    let other = Connection::open(&path).unwrap();
    assert_rows(
        &other,
        0..100,
        3000,
        "another connection after a durable commit",
    );

    // 3. Without an fsync at commit (synchronous=NORMAL) the commit frame still goes out before
    //    the commit is published: the other connection sees it at once.
    w.pragma_update(None, "synchronous", "NORMAL").unwrap();
    insert(&w, 100..150, 3000);
    assert_rows(
        &other,
        0..150,
        3000,
        "another connection after a commit without fsync",
    );

    // 4. A transaction larger than the page cache spills frames to the WAL before its commit,
    //    and reads them back; rolled back, none of it stays, and the next commit overwrites
    //    the same frames of the file.
    w.pragma_update(None, "synchronous", "FULL").unwrap();
    w.pragma_update(None, "cache_size", 10).unwrap();
    let tx = w.unchecked_transaction().unwrap();
    for i in 1000..1400 {
        tx.execute(
            "INSERT INTO t(id, v) VALUES (?1, ?2)",
            params![i, row(i, 2000)],
        )
        .unwrap();
    }
    let seen: i64 = tx
        .query_row(
            "SELECT count(*) FROM t WHERE id >= 1000 AND length(v) = 2000",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        seen, 400,
        "the spilled frames read back inside the transaction"
    );
    tx.rollback().unwrap();
    assert_rows(&other, 0..150, 3000, "another connection after a rollback");
    insert(&w, 150..400, 3000);
    assert_rows(
        &w,
        0..400,
        3000,
        "the writer after a commit over rolled-back frames",
    );
    assert_rows(
        &other,
        0..400,
        3000,
        "another connection after a commit over rolled-back frames",
    );

    // 5. After a checkpoint, a restart of the WAL and a reopen, the database is whole.
    w.execute_batch("PRAGMA wal_checkpoint(RESTART)").unwrap();
    insert(&w, 400..420, 3000);
    drop(other);
    drop(w);
    let again = open(&path);
    let check: String = again
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_rows(
        &again,
        0..420,
        3000,
        "after a restart of the WAL and a reopen",
    );
}
