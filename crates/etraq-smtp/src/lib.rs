//! # etraq-smtp
//!
//! etraq's SMTP gateway: a before-queue proxy between the world and the company's mail server.
//! It receives each mail, has the tracker classify it, relays it upstream with the DR header and
//! subject tag, and answers the client with the upstream's own verdict, recording the mail only
//! once the upstream accepted it (see [`server`] for why nothing is lost).
//!
//! - [`session`]: the SMTP protocol as a sans-IO state machine (smtp-proto parses).
//! - [`server`]: listener, limits, TLS, graceful shutdown, the delivery step.
//! - [`transport`]: the upstream relay client and the evaluation Maildir.
//! - [`rewrite`]: what changes in a relayed mail, and dot-stuffing.
//! - [`data`]: the strict DATA reader (no SMTP smuggling).
//! - [`path`]: envelope paths as written, and the sender-specified routing check.
//! - [`reply`]: SMTP replies.
//! - [`probe`]: the validator's RCPT-only SMTP client.
//! - [`tls`]: certificates and keys from PEM files (STARTTLS, and the console's HTTPS).

#![warn(missing_docs)]

pub mod data;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod outbound;
pub mod path;
pub mod probe;
pub mod reply;
pub mod rewrite;
pub mod server;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod transport;

pub use error::SmtpError;
pub use reply::Reply;
pub use server::{Gateway, GatewayConfig, GatewayStats, reconcile_journal};
pub use session::{Event, Session, SessionConfig};
pub use transport::{Target, UpstreamConfig};
