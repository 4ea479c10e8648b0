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
    assert_eq!(SCHEMA_VERSION, 2);
}
