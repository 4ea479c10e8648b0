//! The JSON API under `/api/v1`. It mirrors the CLI's listings with the same JSON field names
//! (the row types of [`etraq_core::views`]), takes a session cookie or `Authorization: Bearer`,
//! and applies the same visibility rules as the pages. Listings answer
//! `{"items": [...], "next": CURSOR}`; pass `after=CURSOR` for the next page. Errors answer
//! `{"error": "..."}` with a 4xx status.
//!
//! Each handler parses its input, calls one use case of `etraq_core::service` with the
//! signed-in actor, and answers its JSON. Routes are registered in groups by who may use them
//! through [`Routes`], which also records them, so the OpenAPI document ([`crate::openapi`]) is
//! checked against the router by a test.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use etraq_core::logs::LogFile;
use etraq_core::model::CycleRecord;
use etraq_core::service::{DrPage, UnrepliedQuery, UserResponses, VolumeDay};
use etraq_core::views::{
    AlertRow, DrDetail, DrRow, MailRow, StatusView, UnrepliedRow, UntrackedRow,
};
use etraq_core::{DrId, EmailAddress, HumanDuration, Party, User};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::auth::{Access, Signed};
use crate::error::WebError;
use crate::extract::{Json, PathText, Query, non_empty};
use crate::parse::{DrListParams, page_at, parse_dr_id, parse_local_time, parse_since};
use crate::routes::{Group, Routes};
use crate::state::AppState;

/// An API error: the status of the [`WebError`] and `{"error": message}`.
pub struct ApiError(pub WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl From<etraq_core::Error> for ApiError {
    fn from(e: etraq_core::Error) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let WebError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "API request failed");
        }
        let mut r = (
            self.0.status(),
            axum::Json(serde_json::json!({ "error": self.0.public_message() })),
        )
            .into_response();
        if let Some(v) = self.0.retry_after() {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    }
}

type ApiResult<T> = Result<axum::Json<T>, ApiError>;

/// A page of a listing.
#[derive(Debug, Serialize)]
pub struct Listing<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Cursor of the next page (`after=`), `null` on the last page.
    pub next: Option<u64>,
    /// With a sorted DR listing: the sort key of the cursor (`after_key=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
}

mod campaign;
mod jobs;
pub mod support;

pub use campaign::MAX_IMPORT_BYTES;

/// The API routes, in groups by who may use them.
pub fn router() -> Vec<Group> {
    let mut groups = core_routes();
    groups.extend(campaign::router());
    groups.extend(jobs::router());
    groups.extend(support::router());
    groups
}

/// The tracking, escalation and administration routes.
fn core_routes() -> Vec<Group> {
    vec![
        Routes::new(Access::Signed)
            .get("/api/v1/status", get(status))
            .get("/api/v1/drs", get(drs))
            .get("/api/v1/search", get(search))
            .get("/api/v1/drs/{id}", get(dr))
            .post("/api/v1/drs/{id}/close", post(close))
            .post("/api/v1/drs/{id}/reopen", post(reopen))
            .post("/api/v1/drs/{id}/assign", post(assign))
            .post("/api/v1/drs/{id}/remind", post(remind))
            .get("/api/v1/untracked", get(untracked))
            .get("/api/v1/history", get(history))
            .get("/api/v1/alerts", get(alerts))
            .get("/api/v1/reports/unreplied", get(unreplied))
            .get("/api/v1/reports/response-times", get(response_times))
            .get("/api/v1/reports/volume", get(volume))
            .get("/api/v1/openapi.json", get(openapi))
            .finish(),
        Routes::new(Access::Supervisor)
            .get("/api/v1/escalations", get(escalations))
            .finish(),
        Routes::new(Access::Admin)
            .get("/api/v1/users", get(users))
            .get("/api/v1/logs", get(logs))
            .post("/api/v1/services", post(services))
            .finish(),
    ]
}

/// `GET /api/v1/status`.
async fn status(State(state): State<Arc<AppState>>, signed: Signed) -> ApiResult<StatusView> {
    let stats = match state.cached_stats() {
        Some(s) => s,
        None => state.store().stats().await?,
    };
    let mut v = StatusView::from_stats(&stats, state.server.store.clone());
    if !signed.actor.viewer.is_admin() {
        // Company-wide figures are the admins'; others get the DRs in their view (as on the
        // Status page) and no mail or user totals.
        let mine = state.app.dr_counts(&signed.actor).await?;
        v.open = mine.open;
        v.replied = mine.replied;
        v.closed = mine.closed;
        v.tracked = 0;
        v.untracked = 0;
        v.users = 0;
        v.outbox = 0;
    }
    let now = Timestamp::now();
    v.running = true;
    v.listening = state
        .server
        .smtp
        .iter()
        .map(|s| format!("smtp {s}"))
        .chain(std::iter::once(format!("web {}", state.server.web)))
        .collect();
    v.mode = Some(state.server.mode.clone());
    v.started_at = Some(state.server.started_at);
    v.uptime_secs = Some(now.as_second() - state.server.started_at.as_second());
    v.services = Some(state.services().states());
    Ok(axum::Json(v))
}

fn first_error(errors: Vec<(&'static str, String)>) -> Result<(), ApiError> {
    match errors.into_iter().next() {
        Some((field, msg)) => Err(ApiError(WebError::BadRequest(format!("{field}: {msg}")))),
        None => Ok(()),
    }
}

/// `GET /api/v1/drs`: the DRs the viewer sees (`etraq dr list --json` rows).
async fn drs(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<DrListParams>,
) -> ApiResult<Listing<DrRow>> {
    let (f, errors) = q.filter();
    first_error(errors)?;
    let DrPage { page, next_key } = state.app.list_drs(&signed.actor, &f, &q.page()).await?;
    Ok(axum::Json(Listing {
        items: page.items.iter().map(DrRow::from).collect(),
        next: page.next,
        next_key,
    }))
}

/// `GET /api/v1/drs/{id}` (`etraq dr show --json`), its thread capped like every frontend's.
async fn dr(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> ApiResult<DrDetail> {
    let id = parse_dr_id(&id)?;
    let (detail, _) = state.app.dr_detail(&signed.actor, &id).await?;
    Ok(axum::Json(detail))
}

/// `POST /api/v1/drs/{id}/close`.
async fn close(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Query(q): Query<CloseParams>,
) -> ApiResult<DrRow> {
    let id = parse_dr_id(&id)?;
    let d = state
        .app
        .close_dr_with(&signed.actor, &id, q.transcript, Timestamp::now())
        .await?;
    Ok(axum::Json(DrRow::from(&d)))
}

/// `?transcript=true|false`: mail the customer the transcript (default:
/// `support.transcript_on_close`).
#[derive(Debug, Default, Deserialize)]
struct CloseParams {
    transcript: Option<bool>,
}

/// `POST /api/v1/drs/{id}/reopen`.
async fn reopen(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> ApiResult<DrRow> {
    let id = parse_dr_id(&id)?;
    let d = state
        .app
        .reopen_dr(&signed.actor, &id, Timestamp::now())
        .await?;
    Ok(axum::Json(DrRow::from(&d)))
}

/// Body of `assign`.
#[derive(Debug, Deserialize)]
struct AssignBody {
    owner: String,
}

/// `POST /api/v1/drs/{id}/assign` `{"owner": EMAIL}`.
async fn assign(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Json(b): Json<AssignBody>,
) -> ApiResult<DrRow> {
    let id = parse_dr_id(&id)?;
    let owner = EmailAddress::parse(b.owner.trim())
        .map_err(|e| ApiError(WebError::BadRequest(format!("owner: {e}"))))?;
    let d = state
        .app
        .assign_dr(&signed.actor, &id, &owner, Timestamp::now())
        .await?;
    Ok(axum::Json(DrRow::from(&d)))
}

/// Body of `remind`.
#[derive(Debug, Deserialize)]
struct RemindBody {
    at: String,
}

/// `POST /api/v1/drs/{id}/remind` `{"at": TIME}`.
async fn remind(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Json(b): Json<RemindBody>,
) -> ApiResult<DrRow> {
    let id = parse_dr_id(&id)?;
    let at = parse_local_time(&b.at, &state.time_zone())?;
    let d = state.app.remind_dr(&signed.actor, &id, at).await?;
    Ok(axum::Json(DrRow::from(&d)))
}

/// Query of mail listings.
#[derive(Debug, Default, Deserialize)]
struct MailsQuery {
    q: Option<String>,
    customer: Option<String>,
    order: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

fn party(field: &str, v: &Option<String>) -> Result<Option<Party>, ApiError> {
    non_empty(v)
        .map(|s| {
            Party::parse(s).map_err(|e| ApiError(WebError::BadRequest(format!("{field}: {e}"))))
        })
        .transpose()
}

fn oldest(order: &Option<String>) -> Result<bool, ApiError> {
    match non_empty(order) {
        None | Some("newest") => Ok(false),
        Some("oldest") => Ok(true),
        Some(o) => Err(ApiError(WebError::BadRequest(format!(
            "order: {o:?} is not newest or oldest"
        )))),
    }
}

/// `GET /api/v1/untracked` (`etraq untracked list --json` rows).
async fn untracked(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<MailsQuery>,
) -> ApiResult<Listing<UntrackedRow>> {
    let page = state
        .app
        .untracked(
            &signed.actor,
            party("customer", &q.customer)?,
            oldest(&q.order)?,
            &page_at(q.after, q.limit),
        )
        .await?;
    Ok(axum::Json(Listing {
        items: page.items.iter().map(UntrackedRow::from).collect(),
        next: page.next,
        next_key: None,
    }))
}

/// `GET /api/v1/history?q=ADDRESS|@DOMAIN` (`etraq history --json` rows), oldest first.
async fn history(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<MailsQuery>,
) -> ApiResult<Listing<MailRow>> {
    let Some(p) = party("q", &q.q)? else {
        return Err(ApiError(WebError::BadRequest(
            "q: give an address or @domain".into(),
        )));
    };
    let page = state
        .app
        .history(&signed.actor, p, &page_at(q.after, q.limit))
        .await?;
    Ok(axum::Json(Listing {
        items: page.items.iter().map(MailRow::from).collect(),
        next: page.next,
        next_key: None,
    }))
}

/// Query of `GET /api/v1/search`.
#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/search?q=&limit=`: the mails the caller may open that match, best first
/// (rows as `etraq search --json`).
async fn search(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Vec<etraq_core::views::SearchRow>> {
    let text = q.q.unwrap_or_default();
    let rows = state
        .app
        .search(&signed.actor, &text, q.limit.unwrap_or(20))
        .await?;
    Ok(axum::Json(rows))
}

/// Query of `GET /api/v1/alerts`.
#[derive(Debug, Default, Deserialize)]
struct AlertsQuery {
    user: Option<String>,
    dr: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/alerts` (`etraq alerts list --json` rows).
async fn alerts(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<AlertsQuery>,
) -> ApiResult<Listing<AlertRow>> {
    let user = non_empty(&q.user)
        .map(|u| {
            EmailAddress::parse(u).map_err(|e| ApiError(WebError::BadRequest(format!("user: {e}"))))
        })
        .transpose()?;
    let dr = non_empty(&q.dr)
        .map(|d| DrId::parse(d).map_err(|e| ApiError(WebError::BadRequest(format!("dr: {e}")))))
        .transpose()?;
    let page = state
        .app
        .alerts(&signed.actor, user, dr, &page_at(q.after, q.limit))
        .await?;
    Ok(axum::Json(Listing {
        items: page.items.iter().map(AlertRow::from).collect(),
        next: page.next,
        next_key: None,
    }))
}

/// Paging.
#[derive(Debug, Default, Deserialize)]
struct PagingQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/escalations`: escalation cycles (supervisors and admins).
async fn escalations(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<PagingQuery>,
) -> ApiResult<Listing<CycleRecord>> {
    let page = state
        .app
        .cycles(&signed.actor, &page_at(q.after, q.limit))
        .await?;
    Ok(axum::Json(Listing {
        items: page.items,
        next: page.next,
        next_key: None,
    }))
}

/// `GET /api/v1/users` (admins; `etraq user list --json`).
async fn users(State(state): State<Arc<AppState>>, signed: Signed) -> ApiResult<Vec<User>> {
    Ok(axum::Json(state.app.users(&signed.actor).await?))
}

/// Query of the unreplied report.
#[derive(Debug, Default, Deserialize)]
struct UnrepliedParams {
    older_than: Option<String>,
    owner: Option<String>,
    department: Option<String>,
}

/// `GET /api/v1/reports/unreplied` (`etraq report unreplied --json`).
async fn unreplied(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<UnrepliedParams>,
) -> ApiResult<Vec<UnrepliedRow>> {
    let older = non_empty(&q.older_than)
        .map(|d| {
            HumanDuration::parse(d)
                .map(|d| d.as_secs())
                .map_err(|e| ApiError(WebError::BadRequest(format!("older_than: {e}"))))
        })
        .transpose()?
        .unwrap_or(0);
    let owner = non_empty(&q.owner)
        .map(|o| {
            EmailAddress::parse(o)
                .map_err(|e| ApiError(WebError::BadRequest(format!("owner: {e}"))))
        })
        .transpose()?;
    let query = UnrepliedQuery {
        older_than_secs: older,
        owner,
        department: non_empty(&q.department).map(String::from),
        limit: 10_000,
    };
    Ok(axum::Json(
        state
            .app
            .unreplied(&signed.actor, &query, Timestamp::now())
            .await?,
    ))
}

/// Query of the response-time report.
#[derive(Debug, Default, Deserialize)]
struct ResponseParams {
    since: Option<String>,
    owner: Option<String>,
    business: Option<bool>,
}

/// `GET /api/v1/reports/response-times` (`etraq report response-times --json`).
async fn response_times(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<ResponseParams>,
) -> ApiResult<Vec<UserResponses>> {
    let tz = state.time_zone();
    let since = non_empty(&q.since)
        .map(|s| {
            parse_since(s, &tz).map_err(|e| ApiError(WebError::BadRequest(format!("since: {e}"))))
        })
        .transpose()?;
    let owner = non_empty(&q.owner)
        .map(|o| {
            EmailAddress::parse(o)
                .map_err(|e| ApiError(WebError::BadRequest(format!("owner: {e}"))))
        })
        .transpose()?;
    Ok(axum::Json(
        state
            .app
            .response_times(&signed.actor, since, owner, q.business.unwrap_or(false))
            .await?,
    ))
}

/// Query of the volume report.
#[derive(Debug, Default, Deserialize)]
struct VolumeParams {
    days: Option<i64>,
}

/// `GET /api/v1/reports/volume` (`etraq report volume --json`).
async fn volume(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<VolumeParams>,
) -> ApiResult<Vec<VolumeDay>> {
    Ok(axum::Json(
        state
            .app
            .volume_days(&signed.actor, q.days.unwrap_or(30), Timestamp::now())
            .await?,
    ))
}

/// `GET /api/v1/logs` (admins; `etraq logs list --json`).
async fn logs(State(state): State<Arc<AppState>>, signed: Signed) -> ApiResult<Vec<LogFile>> {
    let app = state.app.clone();
    let files = tokio::task::spawn_blocking(move || app.log_files(&signed.actor))
        .await
        .map_err(|e| ApiError(WebError::Internal(e.to_string())))??;
    Ok(axum::Json(files))
}

/// Body of `POST /api/v1/services`.
#[derive(Debug, Deserialize)]
struct ServicesBody {
    service: String,
    paused: bool,
}

/// `POST /api/v1/services` `{"service": "smtp"|"escalation"|"notifications"|"all", "paused": BOOL}`
/// (admins).
async fn services(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<ServicesBody>,
) -> ApiResult<etraq_core::switches::ServiceStates> {
    Ok(axum::Json(state.app.set_paused(
        &signed.actor,
        &b.service,
        b.paused,
    )?))
}

/// `GET /api/v1/openapi.json`.
async fn openapi(_signed: Signed) -> Response {
    (StatusCode::OK, axum::Json(crate::openapi::document())).into_response()
}
