//! Log Files: name, size, created, modified; view and download (admins only).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::PathText;
use crate::html::{self, Cell, Chrome, Column, Table, segment};
use crate::http::{Disposition, file_response};
use crate::pages::{ListingPage, render};
use crate::state::AppState;

/// `GET /logs`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let app = state.app.clone();
    let actor = signed.actor.clone();
    let mut files = tokio::task::spawn_blocking(move || app.log_files(&actor))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))??;
    files.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
    let table = Table {
        columns: ["Filename", "Size in Bytes", "Created On", "Modified On", ""]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
        rows: files
            .iter()
            .map(|f| {
                let base = format!("/logs/{}", segment(&f.name));
                vec![
                    Cell::link(f.name.clone(), base.clone()).class("mono"),
                    Cell::text(f.size.to_string()).class("num"),
                    Cell::text(html::opt_time(f.created, &tz)),
                    Cell::text(html::opt_time(f.modified, &tz)),
                    Cell::link("download", format!("{base}/download")),
                ]
            })
            .collect(),
        empty: "No log files yet.".into(),
        ..Table::default()
    };
    render(&ListingPage {
        chrome: Chrome::new(&state, &signed, "/logs", "Log Files"),
        intro: format!("In {}", state.app.logs_dir().display()),
        action: "/logs",
        fields: vec![],
        table,
    })
}

async fn read(state: &AppState, signed: &Signed, name: &str) -> Result<Vec<u8>, WebError> {
    let app = state.app.clone();
    let actor = signed.actor.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || app.log_file(&actor, &name))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .map_err(WebError::from)
}

/// `GET /logs/{name}`: the file as plain text.
pub async fn view(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> Result<Response, WebError> {
    let bytes = read(&state, &signed, &name).await?;
    Ok(file_response(
        bytes,
        "text/plain; charset=utf-8",
        Disposition::Inline,
    ))
}

/// `GET /logs/{name}/download`.
pub async fn download(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> Result<Response, WebError> {
    let bytes = read(&state, &signed, &name).await?;
    // The name passed `is_log_name`: letters, digits, '-' and '.' only.
    Ok(file_response(
        bytes,
        "application/octet-stream",
        Disposition::Attachment(name),
    ))
}
