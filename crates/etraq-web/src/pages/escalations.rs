//! Escalations (each cycle with what it warned, escalated and bypassed) and Alerts.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use etraq_core::{DrId, EmailAddress};
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{PathText, Query, parse_field};
use crate::html::{self, Cell, Chrome, Column, Field, Table, url};
use crate::pages::mail::dr_href;
use crate::pages::{ListingPage, render, render_status};
use crate::parse::page_at;
use crate::state::AppState;

/// Paging of a listing.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /escalations`: the escalation cycles, newest first (supervisors and admins).
pub async fn cycles(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Paging>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let page = state
        .app
        .cycles(&signed.actor, &page_at(q.after, q.limit))
        .await?;
    let table = Table {
        columns: [
            "Cycle",
            "Ran At",
            "Warned",
            "Escalated",
            "Reminders",
            "Bypassed",
        ]
        .iter()
        .map(|c| Column::new(c))
        .collect(),
        rows: page
            .items
            .iter()
            .map(|c| {
                vec![
                    Cell::link(c.id.to_string(), format!("/escalations/{}", c.id)),
                    Cell::text(html::time(c.at, &tz)),
                    Cell::text(c.warned.to_string()),
                    Cell::text(c.escalated.to_string()),
                    Cell::text(c.reminded.to_string()),
                    Cell::text(c.bypassed.to_string()),
                ]
            })
            .collect(),
        empty: "No escalation cycle has run yet.".into(),
        next: page
            .next
            .map(|n| url("/escalations", &[("after", &n.to_string())])),
        first: q.after.map(|_| "/escalations".to_string()),
        note: None,
    };
    render(&ListingPage {
        chrome: Chrome::new(&state, &signed, "/escalations", "Escalations").refreshing(),
        intro: format!(
            "The escalation server runs every {} minutes{}. Bypassed: DRs it looked at that needed nothing yet.",
            state.config().escalation.interval_minutes,
            if state
                .services()
                .is_paused(etraq_core::switches::Service::Escalation)
            {
                " (paused now)"
            } else {
                ""
            }
        ),
        action: "/escalations",
        fields: vec![],
        table,
    })
}

/// `GET /escalations/{id}`: one cycle's decisions (those about DRs the viewer sees).
pub async fn cycle(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> Result<Response, WebError> {
    let id: u64 = id
        .parse()
        .map_err(|_| WebError::BadRequest(format!("{id:?} is not a cycle number")))?;
    let (c, hidden) = state.app.cycle(&signed.actor, id).await?;
    let tz = state.time_zone();
    let rows = c
        .decisions
        .iter()
        .map(|d| {
            vec![
                Cell::link(d.dr.to_string(), dr_href(&d.dr)).class("mono"),
                Cell::text(d.action.to_string()),
                Cell::text(d.detail.clone()),
            ]
        })
        .collect();
    let table = Table {
        columns: ["DR", "Action", "Details"]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
        rows,
        empty: "This cycle warned and escalated nothing.".into(),
        ..Table::default()
    };
    render(&ListingPage {
        chrome: Chrome::new(
            &state,
            &signed,
            "/escalations",
            &format!("Escalation cycle {} at {}", c.id, html::time(c.at, &tz)),
        ),
        intro: format!(
            "Warned {}, escalated {}, reminders {}, bypassed {}.{}",
            c.warned,
            c.escalated,
            c.reminded,
            c.bypassed,
            if hidden > 0 {
                format!(" {hidden} decision(s) about DRs outside your view are not listed.")
            } else {
                String::new()
            }
        ),
        action: "/escalations",
        fields: vec![],
        table,
    })
}

/// Query of the Alerts page.
#[derive(Debug, Default, Deserialize)]
pub struct AlertsQuery {
    user: Option<String>,
    dr: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /alerts`: alerts sent to the viewer (agents) or their team (supervisors); all for admins.
pub async fn alerts(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let mut errors: Vec<(&str, String)> = Vec::new();
    let user = parse_field(&q.user, "user", &mut errors, EmailAddress::parse);
    let dr = parse_field(&q.dr, "dr", &mut errors, DrId::parse);
    let mut table = Table {
        columns: Column::all(etraq_core::views::columns::ALERTS, &[]),
        empty: "No alerts.".into(),
        ..Table::default()
    };
    if errors.is_empty() {
        let page = state
            .app
            .alerts(&signed.actor, user, dr, &page_at(q.after, q.limit))
            .await?;
        table.rows = page
            .items
            .iter()
            .map(|a| {
                vec![
                    Cell::text(etraq_core::views::event_label(
                        &a.event_type.to_string(),
                        a.level,
                    )),
                    Cell::text(a.user.as_str()),
                    Cell::text(html::time(a.date_time, &tz)),
                    Cell::link(a.source_dr.to_string(), dr_href(&a.source_dr)).class("mono"),
                    Cell::text(html::time(a.assigned_on, &tz)),
                    Cell::text(a.dr_owner.as_str()),
                    Cell::text(etraq_core::views::alert_mail_state(&a.mail, |t| {
                        html::time(t, &tz)
                    })),
                ]
            })
            .collect();
        let params = |after: &str| {
            url(
                "/alerts",
                &[
                    ("user", q.user.as_deref().unwrap_or("")),
                    ("dr", q.dr.as_deref().unwrap_or("")),
                    ("after", after),
                ],
            )
        };
        table.next = page.next.map(|n| params(&n.to_string()));
        table.first = q.after.map(|_| params(""));
    }
    let err = |f: &str| errors.iter().find(|(k, _)| *k == f).map(|(_, m)| m.clone());
    let page = ListingPage {
        chrome: Chrome::new(&state, &signed, "/alerts", "Alerts").refreshing(),
        intro: String::new(),
        action: "/alerts",
        fields: vec![
            Field::text("user", "User", q.user.clone().unwrap_or_default()).error(err("user")),
            Field::text("dr", "DR", q.dr.clone().unwrap_or_default())
                .placeholder("SUPP-11272026.1")
                .error(err("dr")),
        ],
        table,
    };
    if errors.is_empty() {
        render(&page)
    } else {
        render_status(axum::http::StatusCode::BAD_REQUEST, &page)
    }
}
