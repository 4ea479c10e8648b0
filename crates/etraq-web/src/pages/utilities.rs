//! The Utilities tab (supervisors and admins): the e-mail validator and the e-mail extractor as
//! background jobs `etraq serve` runs. A form starts one (pasted addresses or an uploaded
//! file; seed URLs), the job's page follows it with a live progress bar (`app.js` polls
//! `/api/v1/jobs/ID?results=false`), shows its results sortable and filtered by verdict, with
//! CSV and JSON downloads, and leads on: an extraction to its validation in one step, a
//! validation's safe addresses into a list through the subscriber import.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use etraq_core::jobs::{ExtractSpec, Job, JobKind, JobSpec, JobState, ResultRow, ValidateSpec};
use etraq_core::validate::input;
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::html::{self, Cell, Chrome, Column, Field, Table};
use crate::pages::render;
use crate::state::AppState;

/// Largest upload to the validator page: 8 MiB (about 300,000 addresses; one job takes at
/// most 100,000).
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;

/// Largest request the validator page reads to its end: a bigger file than
/// [`MAX_UPLOAD_BYTES`] is read and dropped up to here, so the browser gets the page that says
/// why rather than a connection cut mid-upload.
pub const MAX_REQUEST_BYTES: usize = 128 * 1024 * 1024;

/// Result rows shown on a job's page (the downloads have all).
const SHOWN_ROWS: usize = 1_000;

/// A job's live progress (polled by `app.js`).
#[derive(Clone, Debug)]
pub(crate) struct Live {
    src: String,
    state: String,
    done: u64,
    total: u64,
    results: u64,
    /// Time left at the last rate, for people (`3m 20s`), or `—`.
    eta: String,
}

/// What is left of `job` at its last rate.
fn eta(job: &Job) -> String {
    if job.state.is_final() {
        return "nothing".into();
    }
    let left = job.total.saturating_sub(job.done) as f64;
    if job.rate <= 0.0 || left <= 0.0 {
        return "—".into();
    }
    html::duration((left / job.rate).ceil() as i64)
}

#[derive(Template)]
#[template(path = "utilities.html")]
struct UtilitiesPage {
    chrome: Chrome,
    sub: Vec<(&'static str, &'static str, bool)>,
    intro: String,
    problem: Option<String>,
    facts: Vec<(String, String)>,
    live: Option<Live>,
    /// Buttons that post (action, label, id).
    actions: Vec<(String, String, String)>,
    /// The import form: the lists to choose from.
    import_lists: Vec<String>,
    import_action: String,
    downloads: Vec<(String, String)>,
    filters: Vec<(String, String, bool)>,
    table: Table,
    form: Option<JobForm>,
}

/// The form that starts a job.
#[derive(Clone, Debug)]
struct JobForm {
    title: String,
    help: String,
    action: String,
    multipart: bool,
    fields: Vec<Field>,
    button: String,
    id: String,
}

fn page(state: &AppState, signed: &Signed, here: &'static str, title: &str) -> UtilitiesPage {
    let sub = [
        ("/utilities/validate", "Email Validator"),
        ("/utilities/extract", "Email Extractor"),
    ]
    .into_iter()
    .map(|(h, l)| (h, l, h == here))
    .collect();
    UtilitiesPage {
        chrome: Chrome::new(state, signed, "/utilities", title),
        sub,
        intro: String::new(),
        problem: None,
        facts: Vec::new(),
        live: None,
        actions: Vec::new(),
        import_lists: Vec::new(),
        import_action: String::new(),
        downloads: Vec::new(),
        filters: Vec::new(),
        table: Table::default(),
        form: None,
    }
}

/// The table of jobs of one kind.
fn jobs_table(jobs: &[Job], kind: JobKind, tz: &jiff::tz::TimeZone) -> Table {
    Table {
        columns: [
            "Job",
            "State",
            "Progress",
            "Results",
            "Started by",
            "Created",
        ]
        .iter()
        .map(|c| Column::new(c))
        .collect(),
        rows: jobs
            .iter()
            .filter(|j| j.spec.kind() == kind)
            .map(|j| {
                vec![
                    Cell::link(format!("Job {}", j.id), format!("/jobs/{}", j.id)),
                    Cell::text(j.state.label()).class(state_class(j.state)),
                    Cell::text(j.progress_text()),
                    Cell::text(j.results.to_string()).class("num"),
                    Cell::text(j.owner.clone()),
                    Cell::text(html::time(j.created_at, tz)),
                ]
            })
            .collect(),
        empty: "No jobs yet.".into(),
        ..Table::default()
    }
}

fn state_class(s: JobState) -> &'static str {
    match s {
        JobState::Done => "ok",
        JobState::Failed | JobState::Interrupted => "overdue",
        JobState::Cancelled => "paused",
        _ => "",
    }
}

/// `GET /utilities`.
pub async fn index() -> Redirect {
    Redirect::to("/utilities/validate")
}

fn validate_form(addresses: &str, no_smtp: bool) -> JobForm {
    JobForm {
        title: "Check addresses".into(),
        help: "One address per line, or a file: a text file with one per line, or a CSV \
               (every field with an @ is taken). Each is checked for syntax, its domain's mail \
               servers, and whether the mailbox accepts mail, without sending anything."
            .into(),
        action: "/utilities/validate".into(),
        multipart: true,
        fields: vec![
            Field::text("addresses", "Addresses", addresses)
                .kind("textarea")
                .placeholder("ann@example.com"),
            Field::text("file", "Or a file (.txt or .csv)", "").kind("file"),
            Field::checkbox("no_smtp", "Syntax and DNS only (no SMTP check)", no_smtp),
            Field::text("threads", "SMTP sessions at once", "")
                .kind("number")
                .placeholder("as configured"),
        ],
        button: "Start checking".into(),
        id: "start-validation".into(),
    }
}

fn extract_form(seeds: &str) -> JobForm {
    JobForm {
        title: "Find addresses on web sites".into(),
        help: "One http or https URL per line. The crawl stays on these sites (unless you let \
               it follow links elsewhere), obeys robots.txt, and goes as deep as you say."
            .into(),
        action: "/utilities/extract".into(),
        multipart: false,
        fields: vec![
            Field::text("seeds", "Start pages", seeds)
                .kind("textarea")
                .placeholder("https://www.example.com/contact"),
            Field::text("depth", "Link depth", "")
                .kind("number")
                .placeholder("as configured"),
            Field::text("links_per_domain", "Pages per site at most", "")
                .kind("number")
                .placeholder("as configured"),
            Field::checkbox("follow_external", "Follow links to other sites", false),
        ],
        button: "Start crawling".into(),
        id: "start-extraction".into(),
    }
}

async fn kind_page(
    state: &AppState,
    signed: &Signed,
    kind: JobKind,
    problem: Option<String>,
    form: JobForm,
) -> Result<UtilitiesPage, WebError> {
    let tz = state.time_zone();
    let jobs = state.app.jobs(&signed.actor).await?;
    let (here, title, intro) = match kind {
        JobKind::Validate => (
            "/utilities/validate",
            "Email Validator",
            "Check a list before mailing it: which addresses exist, which are risky, which \
             would bounce.",
        ),
        JobKind::Extract => (
            "/utilities/extract",
            "Email Extractor",
            "Collect the addresses published on web sites, then check them and import the \
             safe ones into a list.",
        ),
    };
    let mut p = page(state, signed, here, title);
    p.intro = intro.into();
    p.problem = problem;
    p.table = jobs_table(&jobs, kind, &tz);
    p.form = Some(form);
    Ok(p)
}

/// `GET /utilities/validate`.
pub async fn validate_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> Result<Response, WebError> {
    render(
        &kind_page(
            &state,
            &signed,
            JobKind::Validate,
            None,
            validate_form("", false),
        )
        .await?,
    )
}

/// `GET /utilities/extract`.
pub async fn extract_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> Result<Response, WebError> {
    render(&kind_page(&state, &signed, JobKind::Extract, None, extract_form("")).await?)
}

/// The addresses of an uploaded file: text only (a file with NUL bytes or that is not UTF-8
/// is refused), read like `etraq validate --list` reads a file.
fn file_addresses(name: &str, bytes: &[u8]) -> Result<Vec<String>, WebError> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| {
            WebError::BadRequest(format!(
                "{name} is not a text file; upload addresses one per line, or a CSV"
            ))
        })?;
    let csv = name.to_ascii_lowercase().ends_with(".csv");
    Ok(input::list_addresses(text, csv))
}

fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, WebError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| WebError::BadRequest(format!("{field}: {t:?} is not a whole number")))
}

/// `POST /utilities/validate` (multipart: `addresses`, `file`, `no_smtp`, `threads`).
pub async fn start_validation(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let mut pasted = String::new();
    let mut file: Option<(String, Bytes)> = None;
    let mut no_smtp = false;
    let mut threads = String::new();
    let mut read = 0usize;
    let mut too_large = false;
    while let Some(mut field) = form.next_field().await.map_err(upload_error)? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().unwrap_or("the file").to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(upload_error)? {
            read += chunk.len();
            if read > MAX_UPLOAD_BYTES {
                too_large = true; // read on to the end, keeping nothing
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        match name.as_str() {
            "addresses" => pasted = String::from_utf8_lossy(&bytes).into_owned(),
            "file" if !bytes.is_empty() => file = Some((file_name, Bytes::from(bytes))),
            "no_smtp" => no_smtp = true,
            "threads" => threads = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
    let started = async {
        if too_large {
            return Err(WebError::TooLarge(format!(
                "the upload is larger than {} MiB; split the list",
                MAX_UPLOAD_BYTES / (1024 * 1024)
            )));
        }
        let mut addresses: Vec<String> = input::lines(&pasted).collect();
        if let Some((name, bytes)) = &file {
            addresses.extend(file_addresses(name, bytes)?);
        }
        input::dedup_inputs(&mut addresses);
        let spec = JobSpec::Validate(ValidateSpec {
            addresses,
            no_smtp,
            threads: number("SMTP sessions at once", &threads)?,
            top_mx_only: false,
        });
        Ok::<Job, WebError>(
            state
                .app
                .start_job(&signed.actor, spec, Timestamp::now())
                .await?,
        )
    }
    .await;
    started_or_form(
        &state,
        &signed,
        JobKind::Validate,
        started,
        validate_form(&pasted, no_smtp),
    )
    .await
}

/// The new job's page, or the form shown again with why it was refused (and its status).
async fn started_or_form(
    state: &AppState,
    signed: &Signed,
    kind: JobKind,
    started: Result<Job, WebError>,
    form: JobForm,
) -> Result<Response, WebError> {
    match started {
        Ok(job) => Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response()),
        Err(e) => {
            let p = kind_page(state, signed, kind, Some(e.public_message()), form).await?;
            crate::pages::render_status(e.status(), &p)
        }
    }
}

fn upload_error(e: axum::extract::multipart::MultipartError) -> WebError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge(format!(
            "the request is larger than {} MiB; split the list",
            MAX_REQUEST_BYTES / (1024 * 1024)
        ))
    } else {
        WebError::BadRequest(format!("the upload is malformed: {e}"))
    }
}

/// The extraction form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct ExtractForm {
    #[serde(default)]
    seeds: String,
    #[serde(default)]
    depth: String,
    #[serde(default)]
    links_per_domain: String,
    #[serde(default)]
    follow_external: Option<String>,
}

/// `POST /utilities/extract`.
pub async fn start_extraction(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<ExtractForm>,
) -> Result<Response, WebError> {
    let started = async {
        let spec = JobSpec::Extract(ExtractSpec {
            seeds: input::lines(&f.seeds).collect(),
            depth: number("Link depth", &f.depth)?,
            links_per_domain: number("Pages per site", &f.links_per_domain)?,
            follow_external: f.follow_external.is_some(),
        });
        Ok::<Job, WebError>(
            state
                .app
                .start_job(&signed.actor, spec, Timestamp::now())
                .await?,
        )
    }
    .await;
    started_or_form(
        &state,
        &signed,
        JobKind::Extract,
        started,
        extract_form(&f.seeds),
    )
    .await
}

/// `?verdict=&sort=&done=` of a job's page.
#[derive(Debug, Default, Deserialize)]
pub struct JobView {
    verdict: Option<String>,
    sort: Option<String>,
    done: Option<String>,
}

fn sorted(mut rows: Vec<ResultRow>, v: &JobView) -> Vec<ResultRow> {
    if let Some(want) = v.verdict.as_deref().filter(|w| !w.is_empty()) {
        rows.retain(|r| r.verdict.as_deref() == Some(want));
    }
    match v.sort.as_deref() {
        Some("address") => rows.sort_by(|a, b| a.address.cmp(&b.address)),
        Some("verdict") => rows.sort_by(|a, b| {
            a.verdict
                .cmp(&b.verdict)
                .then_with(|| a.address.cmp(&b.address))
        }),
        Some("pages") => rows.sort_by_key(|r| std::cmp::Reverse(r.pages)),
        _ => {}
    }
    rows
}

/// `GET /jobs/{id}`.
pub async fn job_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
    Query(v): Query<JobView>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let (job, rows) = state.app.job_results(&signed.actor, id).await?;
    let kind = job.spec.kind();
    let here = match kind {
        JobKind::Validate => "/utilities/validate",
        JobKind::Extract => "/utilities/extract",
    };
    let mut p = page(&state, &signed, here, &format!("Job {id}"));
    p.chrome = p.chrome.flash(match v.done.as_deref() {
        Some("cancel") => {
            Some("Asked to stop; it stops within seconds, keeping its results.".into())
        }
        Some(n) if n.starts_with("imported-") => Some(format!(
            "{} safe addresses imported.",
            n.trim_start_matches("imported-")
        )),
        _ => None,
    });
    p.intro = match kind {
        JobKind::Validate => "A check of addresses.".into(),
        JobKind::Extract => "A crawl for addresses.".into(),
    };
    p.problem = job.error.clone();
    p.facts = vec![
        ("Kind".into(), kind.label().into()),
        ("Started by".into(), job.owner.clone()),
        ("Created".into(), html::time(job.created_at, &tz)),
        ("Finished".into(), html::opt_time(job.finished_at, &tz)),
    ];
    if job.resumed > 0 {
        p.facts.push((
            "Resumed after a restart".into(),
            format!("{} time(s)", job.resumed),
        ));
    }
    p.live = Some(Live {
        src: format!("/api/v1/jobs/{id}?results=false"),
        state: job.state.label().into(),
        done: job.done,
        total: job.total.max(job.done),
        results: job.results,
        eta: eta(&job),
    });
    if !job.state.is_final() {
        p.actions.push((
            format!("/jobs/{id}/cancel"),
            "Stop".into(),
            "cancel-job".into(),
        ));
    }
    if kind == JobKind::Extract && job.results > 0 {
        p.actions.push((
            format!("/jobs/{id}/validate"),
            "Check these addresses".into(),
            "validate-results".into(),
        ));
    }
    if kind == JobKind::Validate && job.state == JobState::Done {
        p.import_lists = state
            .app
            .lists(&signed.actor)
            .await?
            .into_iter()
            .map(|l| l.list.name)
            .collect();
        p.import_action = format!("/jobs/{id}/import");
    }
    p.downloads = vec![
        (format!("/jobs/{id}/results.csv"), "CSV".into()),
        (format!("/jobs/{id}/results.json"), "JSON".into()),
    ];
    if kind == JobKind::Validate {
        let all = [
            ("", "All"),
            ("safe", "Safe"),
            ("risky", "Risky"),
            ("invalid", "Invalid"),
            ("unknown", "Unknown"),
        ];
        p.filters = all
            .iter()
            .map(|(k, l)| {
                (
                    format!("/jobs/{id}?verdict={k}"),
                    l.to_string(),
                    v.verdict.as_deref().unwrap_or("") == *k,
                )
            })
            .collect();
    }
    let shown = sorted(rows, &v);
    let total = shown.len();
    let sort_link = |key: &str, label: &str| Column {
        label: label.to_string(),
        sort: Some(format!(
            "/jobs/{id}?sort={key}&verdict={}",
            v.verdict.as_deref().unwrap_or("")
        )),
        arrow: if v.sort.as_deref() == Some(key) {
            "▲"
        } else {
            ""
        },
    };
    p.table = match kind {
        JobKind::Validate => Table {
            columns: vec![
                sort_link("address", "Address"),
                sort_link("verdict", "Verdict"),
                Column::new("Reason"),
            ],
            rows: shown
                .iter()
                .take(SHOWN_ROWS)
                .map(|r| {
                    let verdict = r.verdict.clone().unwrap_or_default();
                    vec![
                        Cell::text(r.address.clone()),
                        Cell::text(verdict.clone()).class(verdict_class(&verdict)),
                        Cell::text(r.reason.clone()),
                    ]
                })
                .collect(),
            empty: "No results yet.".into(),
            note: (total > SHOWN_ROWS)
                .then(|| format!("The first {SHOWN_ROWS} of {total}; the downloads have all.")),
            ..Table::default()
        },
        JobKind::Extract => Table {
            columns: vec![
                sort_link("address", "Address"),
                Column::new("First seen on"),
                sort_link("pages", "Pages"),
            ],
            rows: shown
                .iter()
                .take(SHOWN_ROWS)
                .map(|r| {
                    vec![
                        Cell::text(r.address.clone()),
                        Cell::text(r.source_url.clone().unwrap_or_default()),
                        Cell::text(r.pages.unwrap_or(0).to_string()).class("num"),
                    ]
                })
                .collect(),
            empty: "No addresses found yet.".into(),
            note: (total > SHOWN_ROWS)
                .then(|| format!("The first {SHOWN_ROWS} of {total}; the downloads have all.")),
            ..Table::default()
        },
    };
    render(&p)
}

fn verdict_class(v: &str) -> &'static str {
    match v {
        "safe" => "ok",
        "invalid" => "overdue",
        "risky" => "paused",
        _ => "",
    }
}

/// `GET /jobs/{id}/results.csv`: every result, for a spreadsheet (a UTF-8 byte-order mark so
/// spreadsheet programs read accents right).
pub async fn results_csv(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> Result<Response, WebError> {
    let (job, rows) = state.app.job_results(&signed.actor, id).await?;
    let mut w = csv::Writer::from_writer(Vec::from("\u{feff}".as_bytes()));
    let io = |e: csv::Error| WebError::BadRequest(format!("writing the CSV: {e}"));
    match job.spec.kind() {
        JobKind::Validate => {
            w.write_record(["address", "verdict", "reason"])
                .map_err(io)?;
            for r in &rows {
                w.write_record([
                    r.address.as_str(),
                    r.verdict.as_deref().unwrap_or(""),
                    r.reason.as_str(),
                ])
                .map_err(io)?;
            }
        }
        JobKind::Extract => {
            w.write_record(["address", "source_url", "pages"])
                .map_err(io)?;
            for r in &rows {
                w.write_record([
                    r.address.clone(),
                    r.source_url.clone().unwrap_or_default(),
                    r.pages.unwrap_or(0).to_string(),
                ])
                .map_err(io)?;
            }
        }
    }
    let body = w
        .into_inner()
        .map_err(|e| WebError::BadRequest(format!("writing the CSV: {e}")))?;
    Ok(download(
        body,
        "text/csv; charset=utf-8",
        &format!("job-{id}.csv"),
    ))
}

/// `GET /jobs/{id}/results.json`.
pub async fn results_json(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> Result<Response, WebError> {
    let (_, rows) = state.app.job_results(&signed.actor, id).await?;
    let body = serde_json::to_vec_pretty(&rows)
        .map_err(|e| WebError::BadRequest(format!("writing the JSON: {e}")))?;
    Ok(download(
        body,
        "application/json",
        &format!("job-{id}.json"),
    ))
}

fn download(body: Vec<u8>, kind: &'static str, name: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> Result<Redirect, WebError> {
    state
        .app
        .cancel_job(&signed.actor, id, Timestamp::now())
        .await?;
    Ok(Redirect::to(&format!("/jobs/{id}?done=cancel")))
}

/// `POST /jobs/{id}/validate`: the extraction's addresses to a new validation.
pub async fn validate_results(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> Result<Redirect, WebError> {
    let job = state
        .app
        .validate_job_results(&signed.actor, id, Timestamp::now())
        .await?;
    Ok(Redirect::to(&format!("/jobs/{}", job.id)))
}

/// The import form.
#[derive(Debug, Deserialize)]
pub struct ImportForm {
    list: String,
}

/// `POST /jobs/{id}/import`: the safe addresses into a list.
pub async fn import(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
    Form(f): Form<ImportForm>,
) -> Result<Redirect, WebError> {
    let report = state
        .app
        .import_job_results(&signed.actor, id, &f.list, Timestamp::now())
        .await?;
    Ok(Redirect::to(&format!(
        "/jobs/{id}?done=imported-{}",
        report.imported
    )))
}
