//! # etraq-web
//!
//! The etraq console and its JSON API: axum with server-rendered askama pages, a little
//! progressive JavaScript (auto-refresh), every asset embedded in the binary.
//!
//! Its surface is small: [`app`] builds the router from [`WebDeps`], [`serve`] runs it (plain or
//! TLS), [`credentials`] manages passwords, sessions and API tokens (the CLI's `admin passwd`,
//! `user passwd` and `token` commands use it too), and [`routes_with_access`] and
//! [`openapi_document`] let tests walk everything it serves. Inside:
//!
//! - `auth`, `credentials`, `throttle`, `csrf`: who is asking (session cookie or bearer token),
//!   Argon2id passwords, sign-in throttling, cross-site request refusal; authorization is
//!   declared once per route group (`routes::Routes`, `auth::guard`).
//! - `pages`: the HTML pages — Status, Tracked and Untracked Mails, Escalations, Alerts, Log
//!   Files, a DR with its thread and actions, Customer History, Reports, Configuration,
//!   Password, Users.
//! - `api` and `openapi`: `/api/v1`, mirroring the CLI's `--json` listings.
//! - `parse`: input parsing shared by pages and API; `http`: the server around the router (TLS,
//!   limits, security headers).
//!
//! Visibility is decided by [`etraq_core::access`], never in a handler: an agent sees the DRs
//! they own or are CC'd on, a supervisor their department, an admin everything.

#![warn(missing_docs)]

mod api;
mod assets;
mod auth;
mod chart;
pub mod credentials;
mod csrf;
mod error;
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod html;
mod http;
mod markdown;
mod openapi;
mod pages;
mod parse;
mod public_rate;
mod routes;
mod sanitize;
mod state;
mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use auth::Access;
pub use error::WebError;
pub use http::serve;
pub use openapi::{document as openapi_document, schemas as openapi_schemas};
pub use routes::Route;

/// Every route the console serves (pages and API), for tests.
pub fn routes() -> Vec<Route> {
    routes_with_access()
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect()
}

/// The routes of the JSON API, for tests (the OpenAPI document must describe exactly these).
pub fn api_routes() -> Vec<Route> {
    api::router().into_iter().flat_map(|g| g.routes).collect()
}

/// Every route with who may use it, for tests.
pub fn routes_with_access() -> Vec<(axum::http::Method, &'static str, Access)> {
    pages::router()
        .into_iter()
        .chain(api::router())
        .flat_map(|g| {
            let access = g.access;
            g.routes.into_iter().map(move |(m, p)| (m, p, access))
        })
        .collect()
}
pub use state::{AppState, ServerInfo, WebDeps};

/// 404 for unknown paths: JSON under `/api/`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        api::ApiError(WebError::NotFound("no such API route".into())).into_response()
    } else {
        WebError::NotFound("no such page".into()).into_response()
    }
}

/// Only the endpoints campaign recipients reach without signing in (`web.public_listen`): the
/// public pages (`/u/…`, `/v/…`, `/s…`, `/t/…`, the conversion pixel included) and the
/// stylesheet, with the same layers as [`app`]. Everything else, the sign-in page and the API
/// included (a shop's server reports orders to `POST /api/v1/conversions` on the console's
/// listener, with an API token), is 404 here, so this listener can face the internet while the
/// console stays inside.
pub fn public_app(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for group in pages::router().into_iter().chain(api::router()) {
        if group.access == Access::Public {
            router = router.merge(group.guarded(&state));
        }
    }
    layered(
        router
            .route("/assets/style.css", get(assets::style))
            .layer(axum::middleware::from_fn(http::only_public)),
        state,
    )
}

/// The whole console: pages, API and assets, with their layers (body and header limits, CSRF
/// checks, security headers, HTML error pages).
pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for group in pages::router().into_iter().chain(api::router()) {
        router = router.merge(group.guarded(&state));
    }
    layered(
        router
            .route("/assets/style.css", get(assets::style))
            .route("/assets/app.js", get(assets::script)),
        state,
    )
}

/// The layers every listener's router gets.
fn layered(router: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn(http::csrf))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::public_rate,
        ))
        .layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(http::limit_headers))
        // Outside the refusals above, so theirs become JSON under /api/ and pages elsewhere.
        .layer(axum::middleware::from_fn(pages::error_bodies))
        .layer(axum::middleware::from_fn(http::security_headers))
        .with_state(state)
}
