//! # etraq-core
//!
//! The domain of etraq, an email-tracking CRM: every mail a company exchanges with its customers
//! becomes part of a Discussion Report (DR) with an owner. This crate holds the model, the
//! configuration, thread matching, classification and DR transitions as pure functions, the
//! object-safe async [`Store`] trait, and the [`Tracker`] that ties them together. It never
//! touches a socket, a clock or a database itself; the store backends and frontends do.
//!
//! ## Embedding the Tracker
//!
//! etraq is also a Rust library. Track mail into the default SQLite store in a few lines:
//!
//! ```
//! use std::sync::Arc;
//! use etraq_core::{Config, Envelope, Tracker, Store};
//! use etraq_store_sqlite::SqliteStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let config = Config::from_toml(r#"local_domains = ["example.com"]"#, "etraq.toml".as_ref())?;
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("etraq.db")).await?);
//! let tracker = Tracker::new(store.clone(), config.tracking_rules()?);
//!
//! let mail = b"From: Ann Customer <ann@customer.example>\r\n\
//!               To: support@example.com\r\n\
//!               Subject: My order never arrived\r\n\
//!               Message-ID: <1@customer.example>\r\n\r\nHelp!\r\n";
//! let now = "2026-11-27T09:00:00Z".parse()?;
//! let tracked = tracker.track(mail, &Envelope::default(), now).await?;
//!
//! assert!(tracked.decision.is_tracked());
//! let dr = store.get_dr(tracked.dr.as_ref().unwrap()).await?.unwrap();
//! assert_eq!(dr.owner.as_str(), "support@example.com");
//! println!("{} is owned by {}", dr.id, dr.owner);
//! store.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Map
//!
//! One folder per area; each area's `mod.rs` re-exports what the rest of etraq uses, and its
//! files stay private.
//!
//! - [`model`]: users, DRs and their ids, mail records, decisions, alerts, pages.
//! - [`mail`]: raw bytes → [`ParsedMail`] (mail-parser 0.11), strict [`MessageId`]s, envelopes,
//!   DR tags in subjects.
//! - [`config`]: `etraq.toml`, one file per section, errors naming key and line.
//! - [`tracking`]: the pure classification and DR transitions, the [`Tracker`] that applies them,
//!   and [`TrackingStore`](tracking::TrackingStore).
//! - [`escalation`]: the pure planner, alert mail, and
//!   [`EscalationStore`](escalation::EscalationStore).
//! - [`outbox`]: etraq's own messages, the [`Outbound`](outbox::Outbound) mailer seam and
//!   [`OutboxStore`](outbox::OutboxStore), where they wait durably.
//! - [`validate`], [`extract`]: the pure halves of the email validator and extractor.
//! - [`store`]: the [`Store`] supertrait made of the areas' sub-traits, and its shared types;
//!   [`copy`]: the logical tables every backend exports and imports (`etraq migrate`).
//! - [`access`]: who may see what; [`views`]: the rows of every listing (contract JSON names).
//! - [`service`]: the use cases every frontend calls.
//! - [`switches`]: the pause switches of a running server; [`logs`]: the log files.

#![warn(missing_docs)]

mod address;
mod calendar;
mod duration;
mod error;
mod kv;

pub mod access;
pub mod archive;
pub mod campaign;
pub mod cluster;
pub mod config;
pub mod copy;
pub mod escalation;
pub mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod jobs;
pub mod logs;
pub mod mail;
pub mod model;
pub mod outbox;
pub mod service;
pub mod store;
pub mod support;
pub mod switches;
pub mod tracking;
pub mod validate;
pub mod views;

pub use address::{EmailAddress, MAX_ADDRESS_LEN, Party, normalize_domain};
pub use calendar::Calendar;
pub use config::{Config, LiveConfig, StoreUrl, TrackingRules};
pub use duration::{HumanDuration, format_seconds};
pub use error::{Error, Result};
pub use mail::{Envelope, MessageId, ParsedMail, ReversePath};
pub use model::{
    Decision, Direction, Dr, DrId, DrStatus, MailRecord, MailType, Page, ResponseTime, Role,
    UntrackedReason, User,
};
pub use store::{Store, StoreStats};
pub use switches::{Service, ServiceStates, Services};
pub use tracking::{
    ChangeSet, Classification, DrAction, DrQuery, DrSort, DrWrite, FactsQuery, Incoming, MailQuery,
    ReceivedAt, ThreadFacts, Tracked, Tracker, classify,
};
