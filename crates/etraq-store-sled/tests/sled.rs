//! Behaviour specific to the sled backend: refusing paths that are not etraq stores, schema
//! versions, one process at a time.

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
