//! `GET /search`: full-text search from the box on every page, with filters that add
//! operators to the query (from, to, with attachments, after, before). Results link to the
//! mail page and the DR; an agent finds only what they may open (the service filters).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::Query;
use crate::html::{self, Cell, Chrome, Column, Field, Table};
use crate::pages::{ListingPage, render, render_status};
use crate::state::AppState;

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    attachment: Option<String>,
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
}

impl SearchForm {
    /// The query the box and the filters make together.
    fn query(&self) -> String {
        let mut q = self.q.trim().to_string();
        let mut add = |op: &str, v: &str| {
            let v = v.trim();
            if !v.is_empty() {
                let v = if v.contains(char::is_whitespace) {
                    format!("\"{}\"", v.replace('"', ""))
                } else {
                    v.to_string()
                };
                q.push_str(&format!(" {op}{v}"));
            }
        };
        add("from:", &self.from);
        add("to:", &self.to);
        add("after:", &self.after);
        add("before:", &self.before);
        if self.attachment.is_some() {
            q.push_str(" has:attachment");
        }
        q.trim().to_string()
    }
}

/// `GET /search?q=…`.
pub async fn search(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(f): Query<SearchForm>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let query = f.query();
    let fields = vec![
        Field::text("q", "Words", &f.q)
            .placeholder("parcel \"never arrived\" -refund")
            .help("All words must match; \"a phrase\"; -word leaves out; also subject:, dr:ID."),
        Field::text("from", "From", &f.from).placeholder("carol@customer.example"),
        Field::text("to", "To", &f.to),
        Field::text("after", "On or after", &f.after).kind("date"),
        Field::text("before", "Before", &f.before).kind("date"),
        Field::checkbox("attachment", "With attachments", f.attachment.is_some()),
    ];
    let mut table = Table {
        columns: ["Date", "From", "Subject", "DR", "Text"]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
        rows: Vec::new(),
        empty: "No mail matches.".into(),
        ..Table::default()
    };
    let mut status = StatusCode::OK;
    let mut intro =
        "Every recorded mail you may open, tracked or not, best match first.".to_string();
    if !query.is_empty() {
        match state.app.search(&signed.actor, &query, 50).await {
            Ok(rows) => {
                intro = format!("{} result(s) for {query}", rows.len());
                table.rows = rows
                    .iter()
                    .map(|r| {
                        vec![
                            Cell::text(html::time(r.date, &tz)),
                            Cell::text(r.from.clone().unwrap_or_default()),
                            Cell::link(
                                html::short(
                                    if r.subject.is_empty() {
                                        "(no subject)"
                                    } else {
                                        &r.subject
                                    },
                                    80,
                                ),
                                format!("/mail/{}", r.seq),
                            ),
                            match &r.dr {
                                Some(d) => {
                                    Cell::link(d.clone(), format!("/dr/{}", html::segment(d)))
                                }
                                None => Cell::text(""),
                            },
                            Cell::text(r.snippet.clone()).class("snippet"),
                        ]
                    })
                    .collect();
            }
            Err(etraq_core::Error::InvalidField { reason, .. }) => {
                status = StatusCode::BAD_REQUEST;
                intro = format!("The query cannot be searched: {reason}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = ListingPage {
        chrome: Chrome::new(&state, &signed, "/search", "Search").query(&query),
        intro,
        action: "/search",
        fields,
        table,
    };
    if status == StatusCode::OK {
        render(&page)
    } else {
        render_status(status, &page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_become_operators() {
        let f = SearchForm {
            q: "parcel".into(),
            from: "Carol Customer".into(),
            after: "2026-11-01".into(),
            attachment: Some("on".into()),
            ..SearchForm::default()
        };
        assert_eq!(
            f.query(),
            "parcel from:\"Carol Customer\" after:2026-11-01 has:attachment"
        );
        assert_eq!(SearchForm::default().query(), "");
    }
}
