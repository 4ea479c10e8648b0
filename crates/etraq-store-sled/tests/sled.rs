//! Behaviour specific to the sled backend: refusing paths that are not etraq stores, schema
//! versions, one process at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_core::store::TrackingStore;
use etraq_core::{Error, Store};
use etraq_store_sled::{SCHEMA_VERSION, SledStore};

#[tokio::test]
async fn refuses_paths_that_are_not_etraq_stores() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "not a directory").unwrap();
    let err = SledStore::open(&file)
        .await
        .err()
        .expect("a file was accepted");
    assert!(matches!(err, Error::ForeignStore { .. }), "{err:?}");

    let other = dir.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("cat.jpg"), "meow").unwrap();
    let err = SledStore::open(&other)
        .await
        .err()
        .expect("a foreign directory was accepted");
    assert!(matches!(err, Error::ForeignStore { .. }), "{err:?}");
    assert!(other.join("cat.jpg").exists());

    let foreign = dir.path().join("foreign-sled");
    {
        let db = sled::open(&foreign).unwrap();
        db.insert("something", "else").unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&foreign)
        .await
        .err()
        .expect("another app's sled db was accepted");
    assert!(matches!(err, Error::ForeignStore { .. }), "{err:?}");
}

#[tokio::test]
async fn refuses_a_store_written_by_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sled");
    SledStore::open(&path).await.unwrap().close().await.unwrap();
    {
        let db = sled::open(&path).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&path)
        .await
        .err()
        .expect("a newer schema was accepted");
    assert!(matches!(err, Error::SchemaTooNew { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// A store of the previous layout (schema 1: written before the per-user DR index existed) is
/// migrated when opened: the index is rebuilt from the DRs, so the console's scoped listings
/// find every DR, and the store records the current schema.
#[tokio::test]
async fn opens_and_migrates_a_store_of_the_previous_layout() {
    use etraq_core::store::DrQuery;
    use etraq_store_tests::fixtures::{addr, new_dr_change};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sled");
    {
        let s = SledStore::open(&path).await.unwrap();
        s.apply(new_dr_change(
            1,
            "m1@x.test",
            "ann@example.com",
            "c@cust.test",
        ))
        .await
        .unwrap();
        s.apply(new_dr_change(
            2,
            "m2@x.test",
            "bob@example.com",
            "d@cust.test",
        ))
        .await
        .unwrap();
        s.close().await.unwrap();
    }
    // Turn it into a layout-1 store: no per-user index, version 1.
    {
        let db = sled::open(&path).unwrap();
        assert!(db.drop_tree("drs_by_user").unwrap());
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &1u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let s = SledStore::open(&path).await.unwrap();
    let ann = s
        .list_drs(&DrQuery {
            involving: Some(vec![addr("ann@example.com")]),
            ..DrQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ann.items.iter().map(|d| d.id.number()).collect::<Vec<_>>(),
        vec![1],
        "the per-user index was not rebuilt"
    );
    s.close().await.unwrap();
    let db = sled::open(&path).unwrap();
    let v = db
        .open_tree("meta")
        .unwrap()
        .get("schema_version")
        .unwrap()
        .unwrap();
    assert_eq!(
        u64::from_be_bytes(v.as_ref().try_into().unwrap()),
        SCHEMA_VERSION
    );
    assert_eq!(SCHEMA_VERSION, 3);
}

async fn found(s: &SledStore, q: &str) -> usize {
    let q = etraq_store_tests::search_query(q).unwrap();
    s.search_mails(&q, 0, 100).await.unwrap().len()
}

/// An archive recorded before the search index existed (a schema-2 store: no index directory,
/// no queue of mail to index) is indexed when it is opened, and so is one whose index was
/// deleted or damaged.
#[tokio::test]
async fn an_archive_without_a_search_index_is_indexed_when_opened() {
    use etraq_store_tests::fixtures::new_dr_change;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sled");
    {
        let s = SledStore::open(&path).await.unwrap();
        for n in 1..=30 {
            s.apply(new_dr_change(
                n,
                &format!("old{n}@x.test"),
                "ann@example.com",
                "c@cust.test",
            ))
            .await
            .unwrap();
        }
        s.close().await.unwrap();
    }
    // Make it a schema-2 store: no index, no queue.
    std::fs::remove_dir_all(path.join("search")).unwrap();
    {
        let db = sled::open(&path).unwrap();
        db.drop_tree("search_pending").unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &2u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let s = SledStore::open(&path).await.unwrap();
    assert_eq!(found(&s, "about").await, 30);
    assert_eq!(found(&s, "subject:old17").await, 1);
    s.close().await.unwrap();

    // A damaged index is rebuilt rather than refusing to open the store.
    let meta = path.join("search").join("meta.json");
    std::fs::write(&meta, b"{ not json").unwrap();
    let s = SledStore::open(&path).await.unwrap();
    assert_eq!(found(&s, "about").await, 30);
    // And mail recorded afterwards is found at once.
    s.apply(new_dr_change(
        31,
        "new31@x.test",
        "ann@example.com",
        "c@cust.test",
    ))
    .await
    .unwrap();
    assert_eq!(found(&s, "subject:new31").await, 1);
    s.close().await.unwrap();
}

/// Mail whose index entry never reached a tantivy commit (the process died between the two)
/// is indexed from the queue when the store is next opened.
#[tokio::test]
async fn mail_still_queued_for_the_index_is_indexed_when_opened() {
    use etraq_store_tests::fixtures::new_dr_change;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sled");
    {
        let s = SledStore::open(&path).await.unwrap();
        s.apply(new_dr_change(
            1,
            "kept@x.test",
            "ann@example.com",
            "c@cust.test",
        ))
        .await
        .unwrap();
        s.close().await.unwrap();
    }
    // Save the index as it is now, record another mail, then put the old index back: the
    // second mail is in the store and in the queue, but not in the index.
    let saved = dir.path().join("saved");
    copy_dir(&path.join("search"), &saved);
    let lost = {
        let s = SledStore::open(&path).await.unwrap();
        let seq = s
            .apply(new_dr_change(
                2,
                "lost@x.test",
                "ann@example.com",
                "c@cust.test",
            ))
            .await
            .unwrap();
        s.close().await.unwrap();
        seq
    };
    {
        let db = sled::open(&path).unwrap();
        let pending = db.open_tree("search_pending").unwrap();
        assert_eq!(pending.len(), 0, "a clean close empties the queue");
        pending.insert(lost.to_be_bytes(), &[]).unwrap();
        db.flush().unwrap();
    }
    std::fs::remove_dir_all(path.join("search")).unwrap();
    copy_dir(&saved, &path.join("search"));
    let s = SledStore::open(&path).await.unwrap();
    assert_eq!(found(&s, "subject:lost").await, 1);
    assert_eq!(found(&s, "subject:kept").await, 1);
    assert_eq!(found(&s, "about").await, 2, "nothing indexed twice");
    s.close().await.unwrap();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
