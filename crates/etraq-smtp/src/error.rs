//! The error type of the gateway crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What can stop the gateway from starting or running. Each names the input at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr} (smtp.listen)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file is unusable.
    #[error("TLS file {}: {reason}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is unusable.
    #[error("key `{key}`: {reason}")]
    Config {
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(etraq_core::Error),
    /// Another I/O failure.
    #[error(transparent)]
    Io(std::io::Error),
}
