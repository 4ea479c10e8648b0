//! etraq's own outgoing mail: the [`OutMessage`] it composes (alerts, double opt-in
//! confirmations, and later acknowledgements and transcripts), the [`Outbound`] seam a mailer
//! implements, and the durable outbox ([`OutboxStore`]) every such message waits in.
//!
//! A message is stored first and mailed afterwards by the notifier, with retries, so a mail
//! server that is down never loses one and never holds up the request that caused it.

mod message;
mod store;

pub use message::{OutMessage, Outbound, backoff};
pub(crate) use store::CLAIMS;
pub use store::{Delivery, MAX_OUTBOX_ATTEMPTS, OutboxStore, QueuedMail, after_failure};
