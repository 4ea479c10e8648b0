//! The e-mail extractor's core (docs/cli.md#finding-addresses-etraq-extract): finding addresses in pages, telling real ones from
//! look-alikes, and the crawl policy — all without I/O.
//!
//! - [`find`]: addresses and links in HTML (via `scraper`) and plain text, including `mailto:`,
//!   entities, percent-encoding, `[at]`/`[dot]` forms and Cloudflare's e-mail protection.
//! - [`plausible`]: the false-positive filter (asset names, unknown TLDs, lengths).
//! - [`policy`]: the sans-IO [`Frontier`] that decides what to fetch and when, and keeps the
//!   per-site report.
//! - [`fetch`]: the [`Fetch`] trait adapters implement (reqwest in `etraq-crawl`).
//!
//! The async driver that runs a [`Frontier`] over a [`Fetch`] lives in `etraq-crawl`.

mod fetch;
mod find;
mod plausible;
mod policy;

pub use fetch::{ContentKind, FailureKind, Fetch, FetchFailure, FetchKind, Response, content_kind};
pub use find::{PageFindings, decode_cloudflare, find_in_html, find_in_text};
pub use plausible::plausible_address;
pub use policy::{
    CrawlPolicy, CrawlReport, FoundAddress, Frontier, Job, MAX_ROBOTS_BYTES, Next, Outcome,
    Progress, SiteReport, SiteVerdict, normalize_extensions, parse_seed, site_of,
};
