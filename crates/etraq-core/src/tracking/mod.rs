//! Tracking (the contract's classification, threading, DR numbers and transitions): every mail
//! gets one decision, and DRs follow from those decisions.
//!
//! - `classify`: the pure decision, from parsed mail and [`ThreadFacts`].
//! - `transition`: what a decision or a user's action does to a DR (pure).
//! - `facts`: what classification asks the store and what it answers.
//! - `tracker`: orchestration — look up, decide, apply atomically, retry on conflict.
//! - `store`: [`TrackingStore`], this area's part of the store contract.

mod classify;
mod facts;
mod store;
mod tracker;
pub(crate) mod transition;

pub use classify::{Classification, DrAction, Parties, classify, facts_query, parties};
pub use facts::{CampaignRef, FactsQuery, MailRef, ThreadFacts, campaign_of_message_id};
pub use store::{
    ChangeSet, DrCounts, DrQuery, DrSort, DrWrite, MailQuery, PendingDelivery, ResponseQuery,
    TrackingStore, VolumeBucket,
};
pub use tracker::{Incoming, Prepared, ReceivedAt, Tracked, Tracker};
pub use transition::MailSummary;
