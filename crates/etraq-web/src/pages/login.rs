//! Sign-in and sign-out.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use etraq_core::access::ADMIN_LOGIN;
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::{self, COOKIE, Signed};
use crate::credentials;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::http::ConnInfo;
use crate::pages::render_status;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    login: String,
    next: String,
    error: Option<String>,
}

/// `GET /login?next=`.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    remember: Option<String>,
    next: Option<String>,
}

/// Only local paths are followed after sign-in (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login")
                && n.len() < 2048 =>
        {
            n.to_string()
        }
        _ => "/status".to_string(),
    }
}

/// The sign-in page.
pub async fn login_page(Query(q): Query<NextQuery>) -> Result<Response, WebError> {
    render_status(
        StatusCode::OK,
        &LoginPage {
            login: String::new(),
            next: safe_next(q.next.as_deref()),
            error: None,
        },
    )
}

/// Checks the password, throttled per account and client address; starts a session.
pub async fn login(
    State(state): State<Arc<AppState>>,
    conn: Option<Extension<ConnInfo>>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let now = Timestamp::now();
    let ip = conn
        .map(|c| c.0.peer.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let login = f.login.trim().to_ascii_lowercase();
    let next = safe_next(f.next.as_deref());
    let page = |status: StatusCode, error: String| {
        render_status(
            status,
            &LoginPage {
                login: login.clone(),
                next: next.clone(),
                error: Some(error),
            },
        )
    };
    if login.is_empty() || login.len() > 320 {
        return page(StatusCode::BAD_REQUEST, "Enter your login.".into());
    }
    // The attempt counts as failed from here on, so concurrent guesses cannot all be checked
    // before the first failure is recorded.
    let attempt = match state.with_throttle(|t| t.begin(&login, ip, now)) {
        Ok(a) => a,
        Err(wait) => {
            let mut r = page(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed sign-ins. Try again in {wait} seconds."),
            )?;
            if let Ok(v) = HeaderValue::from_str(&wait.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(r);
        }
    };
    let store = state.store().as_ref();
    let verified = match credentials::verify_password(store, &login, &f.password).await {
        Ok(v) => v,
        Err(e @ WebError::Busy { .. }) => {
            let mut r = page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy checking other sign-ins. Try again in a few seconds.".into(),
            )?;
            if let Some(v) = e.retry_after() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(r);
        }
        Err(e) => return Err(e),
    };
    let ok =
        verified && (login == ADMIN_LOGIN || auth::viewer_for(&state, &login).await?.is_some());
    if !ok {
        tracing::warn!(login = %login, %ip, "failed sign-in");
        return page(StatusCode::UNAUTHORIZED, "Wrong login or password.".into());
    }
    state.with_throttle(|t| t.succeeded(&login, attempt));
    let cfg = state.config();
    let remember = f.remember.is_some();
    let lifetime = if remember {
        cfg.web.remember_lifetime.as_secs()
    } else {
        cfg.web.session_lifetime.as_secs()
    };
    let (token, _) = credentials::create_session(store, &login, remember, lifetime, now).await?;
    tracing::info!(login = %login, %ip, remember, "signed in");
    let mut r = Redirect::to(&next).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(&token, remember.then_some(lifetime), state.secure_cookies),
    );
    Ok(r)
}

/// Ends the session and clears the cookie.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(token) = auth::cookie_value(&headers, COOKIE) {
        credentials::end_session(state.store().as_ref(), &token).await?;
    }
    tracing::info!(login = %signed.actor.viewer.login, "signed out");
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, auth::clear_cookie(state.secure_cookies));
    Ok(r)
}
