//! The [`Fetch`] trait: how the crawl gets a page, and what it learns when it cannot.
//!
//! The crawl policy never touches the network; a `Fetch` adapter (reqwest in `etraq-crawl`, a
//! scripted one in tests) does. Failures are classified here so that every adapter reports them
//! the same way and the summary can tell "blocked" from "unreachable" from "nothing found".

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use url::Url;

/// What is being fetched; an adapter may treat `robots.txt` differently (any content type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// A site's `/robots.txt`.
    Robots,
    /// A page to search for addresses and links.
    Page,
}

/// An HTTP answer. The body is read only when it can be useful: a 2xx whose content type
/// [`content_kind`] accepts (or any 2xx for `robots.txt`), and at most the adapter's size cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The URL after redirects, the base for the page's relative links.
    pub final_url: Url,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, empty when it was not read.
    pub body: Vec<u8>,
    /// The `Retry-After` header as a delay (seconds form or HTTP date), if any.
    pub retry_after: Option<Duration>,
}

/// Why a fetch produced no HTTP answer at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The host name does not resolve.
    Dns,
    /// The connection was refused or reset.
    Connect,
    /// The TLS handshake failed (bad certificate, protocol).
    Tls,
    /// No answer within the timeout.
    Timeout,
    /// More redirects than allowed (a loop, usually).
    TooManyRedirects,
    /// The body is larger than the cap.
    TooLarge,
    /// Anything else (a malformed response, a body cut short).
    Other,
}

impl FailureKind {
    /// Whether trying again later may help.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::Connect | FailureKind::Timeout | FailureKind::Other
        )
    }

    /// A short name for summaries.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Dns => "DNS",
            FailureKind::Connect => "connection",
            FailureKind::Tls => "TLS",
            FailureKind::Timeout => "timeout",
            FailureKind::TooManyRedirects => "too many redirects",
            FailureKind::TooLarge => "over the size cap",
            FailureKind::Other => "other",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A fetch that produced no usable answer, with the adapter's words for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchFailure {
    /// Which kind of failure.
    pub kind: FailureKind,
    /// The adapter's description, for logs.
    pub detail: String,
}

/// Gets one URL. Implementations follow a bounded number of redirects, cap the body size and
/// time out; they never panic on what a server sends.
#[async_trait::async_trait]
pub trait Fetch: Send + Sync {
    /// Fetches `url`. Non-2xx statuses are answers, not failures.
    async fn fetch(&self, url: &Url, kind: FetchKind) -> Result<Response, FetchFailure>;
}

/// How the extractor reads a body, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// HTML or XHTML: parsed, links followed.
    Html,
    /// Plain text: searched for addresses, no links.
    Text,
    /// Anything else (images, PDFs, archives): not read.
    Other,
}

/// Classifies a `Content-Type`. A missing header is taken as HTML, as browsers do.
pub fn content_kind(content_type: Option<&str>) -> ContentKind {
    let Some(ct) = content_type else {
        return ContentKind::Html;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" | "" => ContentKind::Html,
        "text/plain" => ContentKind::Text,
        _ => ContentKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            content_kind(Some("text/html; charset=utf-8")),
            ContentKind::Html
        );
        assert_eq!(
            content_kind(Some("Application/XHTML+XML")),
            ContentKind::Html
        );
        assert_eq!(content_kind(Some("text/plain")), ContentKind::Text);
        assert_eq!(content_kind(Some("image/png")), ContentKind::Other);
        assert_eq!(content_kind(Some("application/pdf")), ContentKind::Other);
        assert_eq!(content_kind(None), ContentKind::Html);
    }
}
