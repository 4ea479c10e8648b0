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
//! - [`message`]: raw bytes → [`ParsedMail`] (mail-parser 0.11), robust to real-world mail.
//! - [`classify`]: the pure decision of DESIGN §4, from parsed mail and [`ThreadFacts`].
//! - [`transition`]: what a decision or a user's action does to a [`Dr`].
//! - [`tracker`]: orchestration — look up, decide, apply atomically, retry on conflict.
//! - [`store`]: the [`Store`] trait and its query and change types.
//! - [`access`]: who may see what in the console and the API.
//! - [`views`]: the rows of every listing, with the contract JSON field names.
//! - [`config`], [`address`], [`dr_id`], [`subject`], [`duration`], [`model`]: the vocabulary.

#![warn(missing_docs)]

pub mod access;
pub mod address;
pub mod calendar;
pub mod classify;
pub mod config;
pub mod dr_id;
pub mod duration;
pub mod envelope;
mod error;
pub mod escalation;
pub mod escalator;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub mod logfiles;
pub mod message;
pub mod model;
pub mod msgid;
pub mod queries;
pub mod reports;
pub mod services;
pub mod store;
pub mod subject;
pub mod tracker;
pub mod transition;
pub mod validate;
pub mod views;

pub use address::{EmailAddress, Party};
pub use classify::{Classification, DrAction, ThreadFacts, classify};
pub use config::{Config, LiveConfig, StoreUrl, TrackingRules};
pub use dr_id::DrId;
pub use duration::HumanDuration;
pub use envelope::{Envelope, ReversePath};
pub use error::{Error, Result};
pub use message::ParsedMail;
pub use model::{
    Decision, Direction, Dr, DrStatus, MailRecord, MailType, ResponseTime, Role, UntrackedReason,
    User,
};
pub use store::{ChangeSet, DrQuery, DrSort, DrWrite, FactsQuery, MailQuery, Page, Store};
pub use tracker::{Incoming, ReceivedAt, Tracked, Tracker};
