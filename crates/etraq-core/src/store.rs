//! The `Store`: everything etraq keeps, behind one object-safe async interface made of one
//! sub-trait per area ([`TrackingStore`], [`EscalationStore`], [`KeyValueStore`]).
//!
//! `Arc<dyn Store>` lets the gateway, the CLI and the console share one store, and lets a networked
//! store be added without touching the domain. Each area's code asks only for its own sub-trait
//! (`Arc<dyn TrackingStore>` …; an `Arc<dyn Store>` coerces to any of them). The embedded
//! backends (SQLite, sled) do their blocking work off the async runtime. Every backend passes one
//! conformance suite (`etraq-store-tests`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

pub use crate::escalation::{AlertQuery, CycleWrite, EscalationStore};
pub use crate::kv::KeyValueStore;
pub use crate::model::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, page_size};
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
pub trait Store: TrackingStore + EscalationStore + KeyValueStore + Send + Sync {
    /// A short name of the backend (`sqlite`, `sled`) for messages.
    fn backend(&self) -> &'static str;

    /// Counts of mails, DRs and users.
    async fn stats(&self) -> Result<StoreStats>;

    /// Flushes and releases the store. Later calls fail with
    /// [`Error::Closed`](crate::Error::Closed).
    async fn close(&self) -> Result<()>;
}
