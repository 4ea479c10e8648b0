//! A write acknowledged to a child process survives `kill -9` of that process (PostgreSQL).
//! The child finds the parent's cluster through [`testing::PORT_ENV`].

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
            .expect("the cluster was started before the crash test")?;
        Ok(Arc::new(store) as Arc<dyn Store>)
    })
}

fn main() {
    let Some(port) = testing::shared_port() else {
        return;
    };
    etraq_store_tests::crash::main_with_env(open, &[(testing::PORT_ENV, port.to_string())]);
}
