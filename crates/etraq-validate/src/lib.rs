//! # etraq-validate
//!
//! The I/O half of etraq's e-mail validator. The rules — syntax, lists, what a
//! reply means — are pure functions in `etraq_core::validate`; this crate runs them over real
//! DNS ([`HickoryDns`]) and the RCPT-only SMTP probe of `etraq-smtp`, with one session per
//! domain, a cap per mail exchanger, MX fallback, a pre-flight check of outbound SMTP, and a
//! later recheck of greylisted addresses ([`Validator`]).

#![warn(missing_docs)]

pub mod dns;
mod run;

pub use dns::{HickoryDns, parse_server};
pub use run::{RunOptions, Summary, Validator};

/// Errors setting up a validation run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DNS server given in the configuration or on the command line is not `IP[:port]`.
    #[error(
        "invalid DNS server {0:?}: expected IP or IP:port, e.g. 192.0.2.53 or [2001:db8::53]:5353"
    )]
    DnsServer(String),
    /// The resolver could not be built (for example, no usable system configuration).
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}
