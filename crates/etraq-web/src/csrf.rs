//! Cross-site request forgery protection for every state change.
//!
//! A browser tells us where a request comes from: `Sec-Fetch-Site` (all current browsers) and
//! `Origin` (on every POST). A state-changing request is accepted only when it comes from the
//! console's own pages (`same-origin`, or `none` for a user typing the URL), or, without
//! `Sec-Fetch-Site`, when `Origin` names this very host. A request with neither header is no
//! browser's (browsers send `Origin` on every POST): it passes only when it carries no cookie,
//! since then there is no session to ride on (scripts with a bearer token, curl). Session
//! cookies are also `SameSite=Strict`; this check does not rely on it.

use axum::http::{HeaderMap, Method, header};

/// Whether a request may change state. `Err` says why not.
pub fn check(method: &Method, headers: &HeaderMap) -> Result<(), &'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::AUTHORIZATION.as_str())
        .is_some_and(|a| a.len() > 7 && a[..7].eq_ignore_ascii_case("bearer "))
        && text(header::COOKIE.as_str()).is_none()
    {
        return Ok(());
    }
    if let Some(site) = text("sec-fetch-site") {
        return match site.trim().to_ascii_lowercase().as_str() {
            "same-origin" | "none" => Ok(()),
            _ => Err("the request came from another site"),
        };
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        if text(header::COOKIE.as_str()).is_none() {
            return Ok(());
        }
        return Err("the request carries a cookie but neither Sec-Fetch-Site nor Origin");
    };
    let Some(host) = text(header::HOST.as_str()) else {
        return Err("the request has no Host header");
    };
    // `Origin` is `scheme://host[:port]`; compare its authority with Host.
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    if !authority.is_empty() && authority.eq_ignore_ascii_case(host.trim()) {
        Ok(())
    } else {
        Err("the Origin does not match this console")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_are_never_checked() {
        assert!(check(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")])).is_ok());
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_posts_fail() {
        let post = Method::POST;
        assert!(check(&post, &headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(check(&post, &headers(&[("sec-fetch-site", "none")])).is_ok());
        assert!(check(&post, &headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(check(&post, &headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(
            check(
                &post,
                &headers(&[
                    ("origin", "http://127.0.0.1:8080"),
                    ("host", "127.0.0.1:8080")
                ])
            )
            .is_ok()
        );
        assert!(
            check(
                &post,
                &headers(&[
                    ("origin", "http://evil.example"),
                    ("host", "127.0.0.1:8080")
                ])
            )
            .is_err()
        );
        assert!(check(&post, &headers(&[("origin", "null"), ("host", "a")])).is_err());
        // Neither header: only a request without cookies (not a browser's) passes.
        assert!(check(&post, &headers(&[("cookie", "etraq_session=1")])).is_err());
        assert!(check(&post, &headers(&[])).is_ok());
    }

    #[test]
    fn bearer_requests_without_cookies_are_not_checked() {
        let post = Method::POST;
        assert!(check(&post, &headers(&[("authorization", "Bearer etq_x")])).is_ok());
        assert!(
            check(
                &post,
                &headers(&[
                    ("authorization", "Bearer etq_x"),
                    ("cookie", "etraq_session=1")
                ])
            )
            .is_err()
        );
    }
}
