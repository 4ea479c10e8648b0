//! The shared conformance suite, the scenario tests and the search suite, on PostgreSQL: every
//! case in a database of its own on one throwaway cluster per test process.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use etraq_core::Store;
use etraq_store_postgres::testing;
use etraq_store_tests::OpenFuture;

fn open(dir: PathBuf) -> OpenFuture {
    Box::pin(async move {
        let store = testing::open_in(&dir)
            .await
            .expect("PostgreSQL was found installed before the case ran")?;
        Ok(Arc::new(store) as Arc<dyn Store>)
    })
}

fn available() -> bool {
    testing::shared_port().is_some()
}

etraq_store_tests::store_tests!(open, if available);
