//! # etraq-crawl
//!
//! The I/O half of etraq's e-mail extractor. The rules — what an address is, which
//! link to follow, when to retry — are in `etraq_core::extract`, free of I/O; this crate runs
//! them: [`Crawl`] drives the core's frontier with real time and bounded concurrency over any
//! [`Fetch`](etraq_core::extract::Fetch), and [`ReqwestFetch`] is the HTTP(S) one.

#![warn(missing_docs)]

mod driver;
pub mod http;

pub use driver::Crawl;
pub use http::{FetchOptions, ReqwestFetch, USER_AGENT};

/// Errors setting up a crawl (a crawl itself never fails: what goes wrong is in its report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}
