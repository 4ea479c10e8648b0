//! The HTTP server around the router: plain or TLS connections, per-connection facts for the
//! handlers ([`ConnInfo`]), size limits, security headers, CSRF checks and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::WebError;

/// Largest form or JSON body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Largest total size of a request's headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a client may take to send its request headers, and to finish a TLS handshake.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Facts about the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// How a file response is shown by the browser.
pub enum Disposition {
    /// In the page (`inline`): plain text to read.
    Inline,
    /// Saved under this name. It must be a name the server made or checked (letters, digits,
    /// `-`, `.`): it is written into the header as is.
    Attachment(String),
}

/// A file's bytes as a response with its type and disposition: the raw-mail and log-file
/// routes answer this way, so their headers are written once.
pub fn file_response(
    bytes: Vec<u8>,
    content_type: &'static str,
    disposition: Disposition,
) -> Response {
    let mut r = Body::from(bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let value = match disposition {
        Disposition::Inline => Some(HeaderValue::from_static("inline")),
        Disposition::Attachment(name) => {
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok()
        }
    };
    if let Some(v) = value {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Refuses requests whose headers are too large (431) — hyper bounds its buffer too, but the
/// router may also be driven directly (tests, benchmarks).
pub async fn limit_headers(req: Request<Body>, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.uri().to_string().len();
    if size > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request headers are larger than {MAX_HEADER_BYTES} bytes"),
        )
            .into_response();
    }
    next.run(req).await
}

/// Whether a path is one of the public endpoints mail recipients reach without signing in.
pub fn is_public_endpoint(path: &str) -> bool {
    path == "/s"
        || ["/u/", "/s/", "/t/", "/v/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// On the public listener: 404 for everything but the public endpoints and the stylesheet.
pub async fn only_public(req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    if is_public_endpoint(path) || path == "/assets/style.css" {
        next.run(req).await
    } else {
        WebError::NotFound("no such page".into()).into_response()
    }
}

/// Rate-limits the public endpoints per client address (`web.public_rate_per_ip`): 429 with
/// `Retry-After` past it.
pub async fn public_rate(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    req: Request<Body>,
    next: Next,
) -> Response {
    if is_public_endpoint(req.uri().path())
        && let Some(info) = req.extensions().get::<ConnInfo>()
        && let Err(wait) = state.public_request(info.peer.ip())
    {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests from your address; try again shortly",
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    next.run(req).await
}

/// Refuses cross-site state changes (see [`crate::csrf`]).
pub async fn csrf(req: Request<Body>, next: Next) -> Response {
    if let Err(why) = crate::csrf::check(req.method(), req.headers()) {
        tracing::warn!(path = %req.uri().path(), why, "cross-site request refused");
        return WebError::CrossSite(why).into_response();
    }
    next.run(req).await
}

/// Security headers on every answer: a strict Content-Security-Policy (no inline script, no
/// third-party anything), no framing, no sniffing, no caching of console data, and HSTS when
/// the console is served over TLS.
pub async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/assets/");
    let tls = req.extensions().get::<ConnInfo>().is_some_and(|c| c.tls);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if tls {
        // Served over HTTPS: browsers must never fall back to plain HTTP for this host (the
        // session cookie is Secure, but a downgraded first request could still be tampered).
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // A response that set its own policy keeps it (a template preview frame is mail, not the
    // console: see pages::campaigns::template_preview); every other gets the strict one.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; \
                 object-src 'none'",
            ),
        );
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !asset && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` turns true, then lets
/// requests in flight finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let graceful = Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "web: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let tls = tls.clone();
                let graceful = graceful.clone();
                tokio::spawn(async move {
                    let info = ConnInfo { peer, tls: tls.is_some() };
                    match tls {
                        Some(acceptor) => {
                            match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => connection(TokioIo::new(s), app, info, &graceful).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "web: TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "web: TLS handshake timed out"),
                            }
                        }
                        None => connection(TokioIo::new(stream), app, info, &graceful).await,
                    }
                });
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    if let Ok(g) = Arc::try_unwrap(graceful) {
        let _ = tokio::time::timeout(Duration::from_secs(5), g.shutdown()).await;
    }
    Ok(())
}

async fn connection<I>(
    io: TokioIo<I>,
    app: Router,
    info: ConnInfo,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info);
        app.clone().oneshot(req.map(Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .serve_connection(io, svc);
    let conn = graceful.watch(conn);
    if let Err(e) = conn.await {
        tracing::debug!(peer = %info.peer, error = %e, "web: connection ended with an error");
    }
}
