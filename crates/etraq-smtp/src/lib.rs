//! # etraq-smtp
//!
//! etraq's SMTP gateway: a before-queue proxy between the world and the company's mail server.
//! It receives each mail, has the tracker classify it, relays it upstream with the DR header and
//! subject tag, and answers the client with the upstream's own verdict, recording the mail only
//! once the upstream accepted it (see [`Gateway`] for why nothing is lost).
//!
//! Its surface: [`Gateway`] (bind and run the listener), [`Session`] (the protocol, sans-IO),
//! [`LettreOutbound`]/[`MaildirOutbound`] (etraq's own mail: alerts), [`TcpProbe`] (the
//! validator's RCPT-only client), [`tls_acceptor`] (PEM files to a TLS acceptor, for STARTTLS
//! and the console's HTTPS). Inside:
//!
//! - `session`: the SMTP protocol as a sans-IO state machine (smtp-proto parses).
//! - `server`: listener, limits, TLS, graceful shutdown, the delivery step.
//! - `transport`: the upstream relay client and the evaluation Maildir.
//! - `rewrite`: what changes in a relayed mail, and dot-stuffing.
//! - `data`: the strict DATA reader (no SMTP smuggling).
//! - `path`: envelope paths as written, and the sender-specified routing check.
//! - `reply`: SMTP replies; `probe`: the validator's client; `tls`: certificates and keys.

#![warn(missing_docs)]

mod campaign_mail;
mod campaign_send;
mod data;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod outbound;
mod path;
mod probe;
mod reply;
mod rewrite;
mod server;
mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod transport;

pub use campaign_mail::{CampaignMail, format_campaign};
pub use campaign_send::{
    CampaignRelay, MaildirRelay, RunReport, UpstreamRelay, held_by_another, run_campaign,
};
pub use error::SmtpError;
pub use outbound::{LettreOutbound, MaildirOutbound};
pub use probe::{ProbeConfig, TcpProbe};
pub use reply::Reply;
pub use server::{Gateway, GatewayConfig, GatewayStats, host_name, reconcile_journal};
pub use session::{Event, Session, SessionConfig};
pub use tls::acceptor as tls_acceptor;
pub use transport::{Target, UpstreamConfig};
