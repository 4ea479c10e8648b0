//! Reports: unreplied DRs older than X, response times per user (with an SVG chart), mail
//! volume per day (with an SVG chart). Each is limited to the viewer's scope.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::service::UnrepliedQuery;
use etraq_core::{Direction, EmailAddress, HumanDuration};
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::chart::{self, Series};
use crate::error::WebError;
use crate::extract::{Query, non_empty, parse_field};
use crate::html::{self, Cell, Chrome, Column, Field, Table, short};
use crate::pages::mail::dr_href;
use crate::pages::{render, render_status};
use crate::parse::parse_since;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    chrome: Chrome,
    subnav: Vec<(&'static str, &'static str, bool)>,
    intro: String,
    action: &'static str,
    fields: Vec<Field>,
    chart: String,
    table: Table,
}

fn subnav(current: &str) -> Vec<(&'static str, &'static str, bool)> {
    [
        ("/reports/unreplied", "Unreplied"),
        ("/reports/response-times", "Response times"),
        ("/reports/volume", "Mail volume"),
    ]
    .into_iter()
    .map(|(h, l)| (h, l, h == current))
    .collect()
}

fn show(ok: bool, page: &ReportPage) -> Result<Response, WebError> {
    if ok {
        render(page)
    } else {
        render_status(StatusCode::BAD_REQUEST, page)
    }
}

/// Query of the unreplied report.
#[derive(Debug, Default, Deserialize)]
pub struct UnrepliedParams {
    older_than: Option<String>,
    owner: Option<String>,
    department: Option<String>,
}

/// `GET /reports/unreplied`.
pub async fn unreplied(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<UnrepliedParams>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let now = Timestamp::now();
    let mut errors: Vec<(&str, String)> = Vec::new();
    let older = parse_field(
        &q.older_than,
        "older_than",
        &mut errors,
        HumanDuration::parse,
    )
    .map_or(0, |d| d.as_secs());
    let owner = parse_field(&q.owner, "owner", &mut errors, EmailAddress::parse);
    let mut table = Table {
        columns: [
            "DR",
            "Owner",
            "Department",
            "Customer",
            "Subject",
            "Waiting since",
            "Waiting",
            "Level",
        ]
        .iter()
        .map(|c| Column::new(c))
        .collect(),
        empty: "No customer is waiting that long.".into(),
        ..Table::default()
    };
    let mut intro = String::new();
    if errors.is_empty() {
        let query = UnrepliedQuery {
            older_than_secs: older,
            owner,
            department: non_empty(&q.department).map(String::from),
            limit: 2000,
        };
        match state.app.unreplied(&signed.actor, &query, now).await {
            Ok(rows) => {
                intro = format!(
                    "{} DR(s) waiting{}, longest first{}.",
                    rows.len(),
                    if older > 0 {
                        format!(" longer than {}", html::duration(older))
                    } else {
                        String::new()
                    },
                    if rows.len() >= 2000 {
                        " (the first 2000)"
                    } else {
                        ""
                    }
                );
                table.rows = rows
                    .iter()
                    .map(|r| {
                        let id = etraq_core::DrId::parse(&r.dr.id).ok();
                        vec![
                            match &id {
                                Some(id) => Cell::link(r.dr.id.clone(), dr_href(id)).class("mono"),
                                None => Cell::text(r.dr.id.clone()),
                            },
                            Cell::text(r.dr.owner.clone()),
                            Cell::text(r.department.clone().unwrap_or_default()),
                            Cell::text(r.dr.customer.clone()),
                            Cell::text(short(&r.dr.subject, 60)),
                            Cell::text(html::opt_time(r.dr.awaiting_since, &tz)),
                            Cell::text(html::duration(r.waiting_secs)),
                            Cell::text(r.dr.escalation_level.to_string()),
                        ]
                    })
                    .collect();
            }
            Err(etraq_core::Error::InvalidField { field, reason }) => errors.push((field, reason)),
            Err(e) => return Err(e.into()),
        }
    }
    let err = |f: &str| errors.iter().find(|(k, _)| *k == f).map(|(_, m)| m.clone());
    let page = ReportPage {
        chrome: Chrome::new(&state, &signed, "/reports", "Reports"),
        subnav: subnav("/reports/unreplied"),
        intro,
        action: "/reports/unreplied",
        fields: vec![
            Field::text(
                "older_than",
                "Waiting longer than",
                q.older_than.clone().unwrap_or_default(),
            )
            .placeholder("4h, 2d 3h")
            .error(err("older_than")),
            Field::text("owner", "Owner", q.owner.clone().unwrap_or_default()).error(err("owner")),
            Field::text(
                "department",
                "Department",
                q.department.clone().unwrap_or_default(),
            )
            .error(err("department")),
        ],
        chart: String::new(),
        table,
    };
    show(errors.is_empty(), &page)
}

/// Query of the response-time report.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseParams {
    since: Option<String>,
    owner: Option<String>,
    business: Option<String>,
}

/// `GET /reports/response-times`.
pub async fn response_times(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<ResponseParams>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let mut errors: Vec<(&str, String)> = Vec::new();
    let since = parse_field(&q.since, "since", &mut errors, |s| parse_since(s, &tz));
    let owner = parse_field(&q.owner, "owner", &mut errors, EmailAddress::parse);
    let business = q.business.is_some();
    let mut stats = Vec::new();
    if errors.is_empty() {
        match state
            .app
            .response_times(&signed.actor, since, owner, business)
            .await
        {
            Ok(s) => stats = s,
            Err(etraq_core::Error::InvalidField { field, reason }) => errors.push((field, reason)),
            Err(e) => return Err(e.into()),
        }
    }
    let series = [
        Series {
            name: "median",
            class: "s1",
        },
        Series {
            name: "90th percentile",
            class: "s2",
        },
    ];
    let rows: Vec<(String, Vec<f64>)> = stats
        .iter()
        .map(|s| {
            (
                s.user.to_string(),
                vec![s.all.median as f64 / 3600.0, s.all.p90 as f64 / 3600.0],
            )
        })
        .collect();
    let chart = if rows.is_empty() {
        String::new()
    } else {
        chart::horizontal_bars(
            &format!(
                "Response time per user, hours ({} time)",
                if business { "business" } else { "wall-clock" }
            ),
            &series,
            &rows,
            &|h| html::duration((h * 3600.0).round() as i64),
        )
    };
    let d = html::duration;
    let table = Table {
        columns: [
            "User",
            "First replies",
            "median",
            "p90",
            "max",
            "All replies",
            "median",
            "p90",
            "max",
        ]
        .iter()
        .map(|c| Column::new(c))
        .collect(),
        rows: stats
            .iter()
            .map(|s| {
                vec![
                    Cell::text(s.user.as_str()),
                    Cell::text(s.first.count.to_string()).class("num"),
                    Cell::text(d(s.first.median)),
                    Cell::text(d(s.first.p90)),
                    Cell::text(d(s.first.max)),
                    Cell::text(s.all.count.to_string()).class("num"),
                    Cell::text(d(s.all.median)),
                    Cell::text(d(s.all.p90)),
                    Cell::text(d(s.all.max)),
                ]
            })
            .collect(),
        empty: "No replies recorded in this period.".into(),
        ..Table::default()
    };
    let err = |f: &str| errors.iter().find(|(k, _)| *k == f).map(|(_, m)| m.clone());
    let page = ReportPage {
        chrome: Chrome::new(&state, &signed, "/reports", "Reports"),
        subnav: subnav("/reports/response-times"),
        intro: "How long customers waited for an answer: the first reply on each DR, and every reply to a waiting customer.".into(),
        action: "/reports/response-times",
        fields: vec![
            Field::text("since", "Since", q.since.clone().unwrap_or_default())
                .placeholder("2026-11-01")
                .error(err("since")),
            Field::text("owner", "User", q.owner.clone().unwrap_or_default()).error(err("owner")),
            Field::checkbox("business", "Business hours only", business).error(err("business")),
        ],
        chart,
        table,
    };
    show(errors.is_empty(), &page)
}

/// Query of the volume report.
#[derive(Debug, Default, Deserialize)]
pub struct VolumeParams {
    days: Option<String>,
}

/// `GET /reports/volume`.
pub async fn volume(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<VolumeParams>,
) -> Result<Response, WebError> {
    let mut error = None;
    let days = match non_empty(&q.days) {
        Some(d) => match d.parse::<i64>() {
            Ok(n) if (1..=366).contains(&n) => n,
            _ => {
                error = Some(format!("{d:?} is not a number of days from 1 to 366"));
                30
            }
        },
        None => 30,
    };
    let rows = if error.is_none() {
        state
            .app
            .volume_days(&signed.actor, days, Timestamp::now())
            .await?
    } else {
        Vec::new()
    };
    // One column per day of the range (days without mail too, so columns keep their width):
    // inbound and outbound, tracked and not.
    let mut by_day: std::collections::BTreeMap<jiff::civil::Date, [f64; 4]> =
        std::collections::BTreeMap::new();
    if error.is_none() {
        let today = Timestamp::now().to_zoned_datetime(state.time_zone()).date();
        let mut d = today;
        for _ in 0..days {
            by_day.insert(d, [0.0; 4]);
            match d.yesterday() {
                Ok(y) => d = y,
                Err(_) => break,
            }
        }
    }
    for r in &rows {
        let e = by_day.entry(r.day).or_default();
        match r.direction {
            Direction::Inbound => {
                e[0] += r.tracked as f64;
                e[1] += r.untracked as f64;
            }
            _ => {
                e[2] += r.tracked as f64;
                e[3] += r.untracked as f64;
            }
        }
    }
    let series = [
        Series {
            name: "inbound tracked",
            class: "s1",
        },
        Series {
            name: "inbound untracked",
            class: "s3",
        },
        Series {
            name: "outbound/internal tracked",
            class: "s2",
        },
        Series {
            name: "outbound/internal untracked",
            class: "s4",
        },
    ];
    let cols: Vec<(String, Vec<f64>)> = by_day
        .iter()
        .map(|(d, v)| (d.strftime("%m-%d").to_string(), v.to_vec()))
        .collect();
    let chart = if cols.is_empty() {
        String::new()
    } else {
        chart::stacked_columns(&format!("Mail per day, last {days} days"), &series, &cols)
    };
    let table = Table {
        columns: ["Day", "Direction", "Tracked", "Untracked"]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::text(r.day.to_string()),
                    Cell::text(r.direction.as_str()),
                    Cell::text(r.tracked.to_string()).class("num"),
                    Cell::text(r.untracked.to_string()).class("num"),
                ]
            })
            .collect(),
        empty: "No mail in this period.".into(),
        ..Table::default()
    };
    let page = ReportPage {
        chrome: Chrome::new(&state, &signed, "/reports", "Reports"),
        subnav: subnav("/reports/volume"),
        intro: "Every mail etraq saw, per day (company-wide counts, no content).".into(),
        action: "/reports/volume",
        fields: vec![
            Field::text(
                "days",
                "Days",
                q.days.clone().unwrap_or_else(|| "30".into()),
            )
            .kind("number")
            .error(error.clone()),
        ],
        chart,
        table,
    };
    show(error.is_none(), &page)
}
