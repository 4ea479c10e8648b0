//! The shared conformance suite and scenario tests, on sled.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use etraq_core::Store;
use etraq_store_sled::SledStore;
use etraq_store_tests::OpenFuture;

fn open(dir: PathBuf) -> OpenFuture {
    Box::pin(async move {
        let store = SledStore::open(dir.join("sled")).await?;
        Ok(Arc::new(store) as Arc<dyn Store>)
    })
}

etraq_store_tests::store_tests!(open);
