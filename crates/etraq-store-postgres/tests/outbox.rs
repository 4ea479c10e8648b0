//! The outbox on PostgreSQL, held to the same contract as the other stores (the conformance
//! suite's outbox case, `etraq_store_tests::outbox`), on two nodes of one database and after a
//! reopen.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_store_postgres::PgStore;
use etraq_store_postgres::testing::Cluster;
use etraq_store_tests::outbox::{outbox_contract, outbox_contract_after_reopen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_queues_reschedules_and_is_shared_by_nodes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let a = PgStore::open_pg(&cluster.url()).await.unwrap();
    let b = PgStore::open_pg(&cluster.url()).await.unwrap();
    let ids = outbox_contract(&a, &b).await;
    a.close();
    b.close();
    let c = PgStore::open_pg(&cluster.url()).await.unwrap();
    outbox_contract_after_reopen(&c, ids).await;
}
