//! The `Store`: everything etraq keeps, behind one object-safe async interface made of one
//! sub-trait per area ([`TrackingStore`], [`EscalationStore`], [`CampaignStore`],
//! [`OutboxStore`], [`SupportStore`], [`KeyValueStore`], [`LeaseStore`]).
//!
//! `Arc<dyn Store>` lets the gateway, the CLI and the console share one store, and lets a networked
//! store be added without touching the domain. Each area's code asks only for its own sub-trait
//! (`Arc<dyn TrackingStore>` …; an `Arc<dyn Store>` coerces to any of them). The embedded
//! backends (SQLite, sled) do their blocking work off the async runtime. Every backend passes one
//! conformance suite (`etraq-store-tests`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

pub use crate::campaign::{CampaignStore, SubscriberQuery};
pub use crate::cluster::LeaseStore;
pub use crate::escalation::{AlertQuery, CycleWrite, EscalationStore};
pub use crate::kv::KeyValueStore;
pub use crate::model::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, page_size};
pub use crate::outbox::OutboxStore;
pub use crate::support::SupportStore;
pub use crate::tracking::{
    ChangeSet, DrCounts, DrQuery, DrSort, DrWrite, FactsQuery, MailQuery, PendingDelivery,
    ResponseQuery, ThreadFacts, TrackingStore, VolumeBucket,
};

/// Counts for `etraq status` and the console's status bar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Tracked mail records.
    pub tracked: u64,
    /// Untracked mail records.
    pub untracked: u64,
    /// DRs by status.
    pub open: u64,
    /// DRs waiting on the customer.
    pub replied: u64,
    /// Closed DRs.
    pub closed: u64,
    /// Registered users.
    pub users: u64,
    /// Warnings raised so far (the `WARNED` counter).
    pub warned: u64,
    /// Escalations raised so far (the `ESCALATED` counter).
    pub escalated: u64,
    /// Alerts whose mail is still in the outbox.
    pub outbox: u64,
}

/// Everything etraq keeps. Object-safe: use it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    TrackingStore
    + EscalationStore
    + CampaignStore
    + OutboxStore
    + SupportStore
    + KeyValueStore
    + LeaseStore
    + crate::copy::CopyStore
    + Send
    + Sync
{
    /// A short name of the backend (`sqlite`, `sled`) for messages.
    fn backend(&self) -> &'static str;

    /// Counts of mails, DRs and users.
    async fn stats(&self) -> Result<StoreStats>;

    /// Flushes and releases the store. Later calls fail with
    /// [`Error::Closed`](crate::error::Error::Closed).
    async fn close(&self) -> Result<()>;
}

/// What every backend shares to keep its records and report its failures the same way: records
/// are JSON documents, and a record that does not decode names the backend and where it lay.
pub mod record {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::error::{Error, Result};

    /// Decodes a stored JSON record; `place` is the table or tree holding it.
    pub fn decode<T: DeserializeOwned>(
        backend: &'static str,
        place: &'static str,
        bytes: &[u8],
    ) -> Result<T> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::backend(backend, format!("corrupt record in {place}"), e))
    }

    /// Encodes a record as JSON for `place`.
    pub fn encode<T: Serialize>(
        backend: &'static str,
        place: &'static str,
        value: &T,
    ) -> Result<Vec<u8>> {
        serde_json::to_vec(value)
            .map_err(|e| Error::backend(backend, format!("cannot encode a record for {place}"), e))
    }
}
