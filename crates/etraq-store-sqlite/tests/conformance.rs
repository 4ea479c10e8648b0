//! The shared conformance suite and scenario tests, on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use etraq_core::Store;
use etraq_store_sqlite::SqliteStore;
use etraq_store_tests::OpenFuture;

fn open(dir: PathBuf) -> OpenFuture {
    Box::pin(async move {
        let store = SqliteStore::open(dir.join("etraq.db")).await?;
        Ok(Arc::new(store) as Arc<dyn Store>)
    })
}

etraq_store_tests::store_tests!(open);
