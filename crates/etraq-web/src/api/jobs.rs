//! The jobs part of the JSON API (supervisors and admins; each sees their own jobs, admins
//! all): start a validation or an extraction, follow it, read its results, cancel it, send an
//! extraction's addresses to a validation, and import a validation's safe addresses into a
//! list. `etraq serve`'s runner does the work.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post};
use etraq_core::jobs::{Job, JobSpec, ResultRow};
use etraq_core::service::ImportReport;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::auth::{Access, Signed};
use crate::extract::{Json, Query};
use crate::routes::{Group, Routes};
use crate::state::AppState;

/// Largest job request: 100,000 addresses of ordinary length fit in 8 MiB.
pub const MAX_JOB_BYTES: usize = 8 * 1024 * 1024;

/// The job routes.
pub fn router() -> Vec<Group> {
    vec![
        Routes::new(Access::Supervisor)
            .get("/api/v1/jobs", get(jobs))
            .post(
                "/api/v1/jobs",
                post(start).layer(DefaultBodyLimit::max(MAX_JOB_BYTES)),
            )
            .get("/api/v1/jobs/{id}", get(job))
            .post("/api/v1/jobs/{id}/cancel", post(cancel))
            .post("/api/v1/jobs/{id}/validate", post(validate))
            .post("/api/v1/jobs/{id}/import", post(import))
            .finish(),
    ]
}

/// A job with its results (`etraq job show --json`).
#[derive(Debug, Serialize)]
pub struct JobDetail {
    /// The job.
    pub job: Job,
    /// Its result rows so far.
    pub results: Vec<ResultRow>,
}

/// `GET /api/v1/jobs` (`etraq job list --json`).
async fn jobs(State(state): State<Arc<AppState>>, signed: Signed) -> ApiResult<Vec<Job>> {
    Ok(axum::Json(state.app.jobs(&signed.actor).await?))
}

/// `POST /api/v1/jobs`: `{"kind": "validate", "addresses": [...]}` or `{"kind": "extract",
/// "seeds": [...]}`, with options.
async fn start(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(spec): Json<JobSpec>,
) -> ApiResult<Job> {
    Ok(axum::Json(
        state
            .app
            .start_job(&signed.actor, spec, Timestamp::now())
            .await?,
    ))
}

/// `?results=false` leaves the result rows out (a progress poll).
#[derive(Debug, Default, Deserialize)]
struct JobQuery {
    results: Option<bool>,
}

/// `GET /api/v1/jobs/{id}` (`etraq job show ID --json`).
async fn job(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
    Query(q): Query<JobQuery>,
) -> ApiResult<JobDetail> {
    if q.results == Some(false) {
        let job = state.app.job(&signed.actor, id).await?;
        return Ok(axum::Json(JobDetail {
            job,
            results: Vec::new(),
        }));
    }
    let (job, results) = state.app.job_results(&signed.actor, id).await?;
    Ok(axum::Json(JobDetail { job, results }))
}

/// `POST /api/v1/jobs/{id}/cancel`.
async fn cancel(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> ApiResult<Job> {
    Ok(axum::Json(
        state
            .app
            .cancel_job(&signed.actor, id, Timestamp::now())
            .await?,
    ))
}

/// `POST /api/v1/jobs/{id}/validate`: a validation of the addresses an extraction found.
async fn validate(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> ApiResult<Job> {
    Ok(axum::Json(
        state
            .app
            .validate_job_results(&signed.actor, id, Timestamp::now())
            .await?,
    ))
}

/// Body of an import.
#[derive(Debug, Deserialize)]
struct ImportBody {
    list: String,
}

/// `POST /api/v1/jobs/{id}/import` `{"list": NAME}`: the safe addresses of a validation into a
/// list, as `subscriber import` would.
async fn import(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
    Json(b): Json<ImportBody>,
) -> ApiResult<ImportReport> {
    Ok(axum::Json(
        state
            .app
            .import_job_results(&signed.actor, id, &b.list, Timestamp::now())
            .await?,
    ))
}
