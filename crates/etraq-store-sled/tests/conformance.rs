//! The shared conformance suite and scenario tests, on sled.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use etraq_core::Store;
use etraq_store_sled::SledStore;

fn open(dir: PathBuf) -> Pin<Box<dyn Future<Output = etraq_core::Result<Arc<dyn Store>>> + Send>> {
    Box::pin(async move {
        let store = SledStore::open(dir.join("sled")).await?;
        Ok(Arc::new(store) as Arc<dyn Store>)
    })
}

etraq_store_tests::store_tests!(open);
