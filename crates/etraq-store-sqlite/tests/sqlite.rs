//! Behaviour specific to the SQLite backend: durability settings, schema versions, refusing
//! files that are not etraq stores.

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
