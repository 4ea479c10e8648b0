//! The reqwest [`Fetch`] adapter: rustls (ring, Mozilla's roots), gzip, a bounded number of
//! redirects, a body-size cap, a timeout and a user agent that says what it is.
//!
//! It reads a body only when it can be used — a 2xx page of a content type the extractor reads,
//! or robots.txt — so a crawl that meets a 2 GB video link costs one request's headers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etraq_core::extract::ContentKind;
use etraq_core::extract::MAX_ROBOTS_BYTES;
use etraq_core::extract::{FailureKind, Fetch, FetchFailure, FetchKind, Response, content_kind};
use url::Url;

use crate::Error;

/// The user agent etraq sends: product, version, and what the robot does.
pub const USER_AGENT: &str = concat!(
    "etraq/",
    env!("CARGO_PKG_VERSION"),
    " (email extractor; obeys robots.txt)"
);

/// Limits of one fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Whole-request timeout (connect, headers and body).
    pub timeout: Duration,
    /// Redirects followed at most; one more is a [`FailureKind::TooManyRedirects`].
    pub max_redirects: usize,
    /// Largest page body read; a larger page is a [`FailureKind::TooLarge`].
    pub max_body: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// When set, host names resolve from this table only and any other name fails as a DNS
    /// error: for closed networks and for tests, which must never ask a real resolver.
    pub hosts: Option<HashMap<String, IpAddr>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(20),
            max_redirects: 5,
            max_body: 5 * 1024 * 1024,
            user_agent: USER_AGENT.to_string(),
            hosts: None,
        }
    }
}

/// Fetches over HTTP(S) with reqwest.
pub struct ReqwestFetch {
    client: reqwest::Client,
    max_body: usize,
}

impl ReqwestFetch {
    /// A client with `options`. Fails only if TLS cannot be set up.
    pub fn new(options: &FetchOptions) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut builder = reqwest::Client::builder();
        if let Some(hosts) = &options.hosts {
            builder = builder.dns_resolver(Arc::new(StaticHosts(hosts.clone())));
        }
        let client = builder
            .tls_backend_preconfigured(tls)
            .user_agent(options.user_agent.clone())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::limited(options.max_redirects))
            .gzip(true)
            .pool_max_idle_per_host(32)
            .build()
            .map_err(Error::Client)?;
        Ok(ReqwestFetch {
            client,
            max_body: options.max_body,
        })
    }
}

#[async_trait]
impl Fetch for ReqwestFetch {
    async fn fetch(&self, url: &Url, kind: FetchKind) -> Result<Response, FetchFailure> {
        let mut resp = self
            .client
            .get(url.as_str())
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status().as_u16();
        let final_url = Url::parse(resp.url().as_str()).unwrap_or_else(|_| url.clone());
        let headers = resp.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
        let ok = (200..300).contains(&status);
        let read = match kind {
            FetchKind::Robots => ok,
            FetchKind::Page => ok && content_kind(content_type.as_deref()) != ContentKind::Other,
        };
        let mut body = Vec::new();
        if read {
            let (cap, truncate) = match kind {
                FetchKind::Robots => (MAX_ROBOTS_BYTES, true),
                FetchKind::Page => (self.max_body, false),
            };
            if !truncate && resp.content_length().is_some_and(|n| n > cap as u64) {
                return Err(too_large(cap));
            }
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > cap {
                    if truncate {
                        body.extend_from_slice(&chunk[..cap - body.len()]);
                        break;
                    }
                    return Err(too_large(cap));
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok(Response {
            status,
            final_url,
            content_type,
            body,
            retry_after,
        })
    }
}

/// A resolver answering from a fixed table, failing every other name.
struct StaticHosts(HashMap<String, IpAddr>);

impl reqwest::dns::Resolve for StaticHosts {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let answer = self.0.get(&name.as_str().to_ascii_lowercase()).copied();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match answer {
                // Port 0: reqwest puts the URL's port in.
                Some(ip) => {
                    Ok(Box::new(std::iter::once(SocketAddr::new(ip, 0))) as reqwest::dns::Addrs)
                }
                None => Err(format!("{host} is not in the hosts table").into()),
            }
        })
    }
}

fn too_large(cap: usize) -> FetchFailure {
    FetchFailure {
        kind: FailureKind::TooLarge,
        detail: format!("body larger than {cap} bytes"),
    }
}

/// `Retry-After` as a delay from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let span = at.duration_since(now);
    Some(Duration::try_from(span).unwrap_or(Duration::ZERO))
}

/// Maps a reqwest error onto the extractor's failure kinds, looking through its causes for
/// DNS and TLS errors.
fn classify(e: reqwest::Error) -> FetchFailure {
    let chain = error_chain(&e);
    let lower = chain.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_redirect() {
        FailureKind::TooManyRedirects
    } else if e.is_dns() {
        FailureKind::Dns
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("peer sent")
        || lower.contains("received fatal alert")
    {
        FailureKind::Tls
    } else if e.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Other
    };
    FetchFailure {
        kind,
        detail: chain,
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: jiff::Timestamp = "2026-11-28T10:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
