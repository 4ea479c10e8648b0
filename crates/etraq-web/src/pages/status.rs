//! The Status page (listening, counters, counts, services) and the services control.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use etraq_core::switches::Service;
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::html::{self, Chrome};
use crate::pages::{back, done_message, render};
use crate::state::AppState;

struct ServiceRow {
    name: &'static str,
    label: &'static str,
    running: bool,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    chrome: Chrome,
    smtp: String,
    web: String,
    mode: String,
    started: String,
    uptime: String,
    store: String,
    escalated: String,
    warned: String,
    counts: Vec<(String, String)>,
    services: Vec<ServiceRow>,
    admin: bool,
}

/// `?done=` after an action.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /status`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let now = Timestamp::now();
    let stats = state.cached_stats();
    let n = |f: fn(&etraq_core::store::StoreStats) -> u64| {
        stats
            .as_ref()
            .map(|s| f(s).to_string())
            .unwrap_or_else(|| "…".into())
    };
    // Company-wide counts are the admins'; everyone else sees the DRs in their own view, like
    // every listing.
    let mut counts = Vec::new();
    if signed.actor.viewer.is_admin() {
        counts.push(("Tracked mails".to_string(), n(|s| s.tracked)));
        counts.push(("Untracked mails".to_string(), n(|s| s.untracked)));
        counts.push(("Open DRs".to_string(), n(|s| s.open)));
        counts.push(("Replied DRs".to_string(), n(|s| s.replied)));
        counts.push(("Closed DRs".to_string(), n(|s| s.closed)));
        counts.push(("Users".to_string(), n(|s| s.users)));
        counts.push(("Alerts waiting to be mailed".to_string(), n(|s| s.outbox)));
    } else {
        let mine = state.app.dr_counts(&signed.actor).await?;
        counts.push(("Open DRs in your view".to_string(), mine.open.to_string()));
        counts.push((
            "Replied DRs in your view".to_string(),
            mine.replied.to_string(),
        ));
        counts.push((
            "Closed DRs in your view".to_string(),
            mine.closed.to_string(),
        ));
    }
    let running = state.services().states();
    let smtp = match &state.server.smtp {
        Some(addr) if running.smtp => format!("Listening on {addr}"),
        Some(addr) => format!("Paused (answering 421 on {addr})"),
        None => "not running in this process".into(),
    };
    let page = StatusPage {
        chrome: Chrome::new(&state, &signed, "/status", "Status")
            .flash(done_message(q.done.as_deref()))
            .refreshing(),
        smtp,
        web: state.server.web.clone(),
        mode: state.server.mode.clone(),
        started: html::time(state.server.started_at, &tz),
        uptime: html::duration(now.as_second() - state.server.started_at.as_second()),
        store: state.server.store.clone(),
        escalated: n(|s| s.escalated),
        warned: n(|s| s.warned),
        counts,
        services: Service::ALL
            .iter()
            .map(|s| ServiceRow {
                name: s.as_str(),
                label: s.label(),
                running: !state.services().is_paused(*s),
            })
            .collect(),
        admin: signed.actor.viewer.is_admin(),
    };
    render(&page)
}

/// The services form.
#[derive(Debug, Deserialize)]
pub struct ServiceForm {
    service: String,
    action: String,
}

/// `POST /services`: pause or resume one service or all (admins only).
pub async fn services(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<ServiceForm>,
) -> Result<Response, WebError> {
    let paused = match f.action.as_str() {
        "pause" => true,
        "resume" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "action must be pause or resume, not {other:?}"
            )));
        }
    };
    state.app.set_paused(&signed.actor, &f.service, paused)?;
    Ok(back("/status", if paused { "paused" } else { "resumed" }))
}
