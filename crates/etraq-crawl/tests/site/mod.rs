//! A web site served by the tests on 127.0.0.1: several sites by port, each a table of pages
//! plus a few scripted behaviours (429 before 200, redirect loops, oversized pages). Every
//! request is logged so tests can assert what was and was not fetched.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response, StatusCode, Uri, header};

/// What a path answers.
#[derive(Clone)]
pub enum Page {
    /// 200 with a content type and a body.
    Ok(&'static str, String),
    /// A redirect to the given location.
    Redirect(String),
    /// `429` with `Retry-After` for the first `n` requests, then the page.
    LimitedThen(usize, u64, Box<Page>),
    /// Always this status, with `Retry-After` if given.
    Status(u16, Option<u64>),
}

struct SiteState {
    pages: HashMap<String, Page>,
    hits: Mutex<Vec<String>>,
    counts: Mutex<HashMap<String, usize>>,
}

/// A running site.
#[derive(Clone)]
pub struct Site {
    pub addr: SocketAddr,
    state: Arc<SiteState>,
}

impl Site {
    /// Serves `pages` on a fresh port.
    pub async fn start(pages: Vec<(&str, Page)>) -> Site {
        let state = Arc::new(SiteState {
            pages: pages
                .into_iter()
                .map(|(p, page)| (p.to_string(), page))
                .collect(),
            hits: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Site { addr, state }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every path requested, in order (query included).
    pub fn hits(&self) -> Vec<String> {
        self.state
            .hits
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// How many times `path` was requested.
    pub fn hits_of(&self, path: &str) -> usize {
        self.hits().iter().filter(|h| *h == path).count()
    }
}

async fn handle(State(state): State<Arc<SiteState>>, uri: Uri) -> Response<Body> {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    if let Ok(mut hits) = state.hits.lock() {
        hits.push(path.clone());
    }
    let n = match state.counts.lock() {
        Ok(mut c) => {
            let e = c.entry(path.clone()).or_default();
            *e += 1;
            *e
        }
        Err(_) => 1,
    };
    match state.pages.get(&path) {
        Some(page) => respond(page, n),
        None => status(404, None),
    }
}

fn respond(page: &Page, n: usize) -> Response<Body> {
    match page {
        Page::Ok(ct, body) => {
            let mut r = Response::new(Body::from(body.clone()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        Page::Redirect(to) => {
            let mut r = status(302, None);
            if let Ok(v) = HeaderValue::from_str(to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Page::LimitedThen(limit, after, then) => {
            if n <= *limit {
                status(429, Some(*after))
            } else {
                respond(then, n)
            }
        }
        Page::Status(code, after) => status(*code, *after),
    }
}

fn status(code: u16, retry_after: Option<u64>) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("status {code}")));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(s) = retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// An HTML page.
pub fn html(body: impl Into<String>) -> Page {
    Page::Ok("text/html; charset=utf-8", body.into())
}

/// Cloudflare's encoding of `address` with `key`.
pub fn cloudflare(address: &str, key: u8) -> String {
    let mut hex = format!("{key:02x}");
    for b in address.bytes() {
        hex.push_str(&format!("{:02x}", b ^ key));
    }
    hex
}

/// A TLS server with a self-signed certificate: every handshake from a client that trusts the
/// public roots fails.
pub async fn start_untrusted_tls() -> SocketAddr {
    use tokio_rustls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .unwrap_or_else(|e| panic!("rcgen: {e}"));
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(rustls_pki_types::PrivatePkcs8KeyDer::from(
        cert.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("{e}"))
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap_or_else(|e| panic!("{e}"));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    addr
}

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(l);
    addr
}
