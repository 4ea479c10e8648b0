//! The customer-service part of the JSON API: the knowledge base, a DR's suggested articles,
//! its transcript, replies written through the API, and the acknowledgement rules. Field names
//! are those of the CLI's `--json` (`kb search --json` and `dr suggest --json` rows are
//! `id, title, score`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use etraq_core::support::autoreply::AutoReplyRule;
use etraq_core::support::kb::{Article, ArticleInput, KbHit};
use etraq_core::{EmailAddress, HumanDuration};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::auth::{Access, Signed};
use crate::error::WebError;
use crate::extract::{Json, PathText, Query};
use crate::parse::parse_dr_id;
use crate::routes::{Group, Routes};
use crate::state::AppState;

/// The routes.
pub fn router() -> Vec<Group> {
    vec![
        Routes::new(Access::Signed)
            .get("/api/v1/kb", get(list))
            .post("/api/v1/kb", post(add))
            .get("/api/v1/kb/search", get(search))
            .get("/api/v1/kb/{id}", get(show))
            .post("/api/v1/kb/{id}", post(set))
            .post("/api/v1/kb/{id}/delete", post(delete))
            .get("/api/v1/drs/{id}/suggestions", get(suggestions))
            .get("/api/v1/drs/{id}/transcript", get(transcript))
            .post("/api/v1/drs/{id}/reply", post(reply))
            .get("/api/v1/autoreplies", get(rules))
            .finish(),
        Routes::new(Access::Supervisor)
            .post("/api/v1/autoreplies", post(add_rule))
            .post("/api/v1/autoreplies/{name}/delete", post(delete_rule))
            .post("/api/v1/autoreplies/{name}/enable", post(enable_rule))
            .finish(),
    ]
}

/// An article to write or change: every field optional when changing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    title: Option<String>,
    body: Option<String>,
    tags: Option<Vec<String>>,
    public: Option<bool>,
}

impl From<ArticleBody> for ArticleInput {
    fn from(b: ArticleBody) -> Self {
        ArticleInput {
            title: b.title,
            body: b.body,
            tags: b.tags,
            public: b.public,
        }
    }
}

/// An article with its versions (`etraq kb show --json`).
#[derive(Debug, Serialize)]
pub struct ArticleDetail {
    article: Article,
    history: Vec<Article>,
}

/// `GET /api/v1/kb` (`etraq kb list --json`).
async fn list(State(state): State<Arc<AppState>>, signed: Signed) -> ApiResult<Vec<Article>> {
    Ok(axum::Json(state.app.kb_list(&signed.actor).await?))
}

/// `POST /api/v1/kb`.
async fn add(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(body): Json<ArticleBody>,
) -> ApiResult<Article> {
    let input = ArticleInput::from(body);
    Ok(axum::Json(
        state
            .app
            .kb_add(&signed.actor, &input, Timestamp::now())
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/kb/search?q=` (`etraq kb search --json`).
async fn search(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(p): Query<SearchParams>,
) -> ApiResult<Vec<KbHit>> {
    let q = p.q.unwrap_or_default();
    if q.trim().is_empty() {
        return Err(WebError::BadRequest("q: give some words to search for".into()).into());
    }
    Ok(axum::Json(
        state
            .app
            .kb_search(&signed.actor, &q, p.limit.unwrap_or(10))
            .await?,
    ))
}

/// `GET /api/v1/kb/{id}` (`etraq kb show --json`).
async fn show(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> ApiResult<ArticleDetail> {
    let d = state.app.kb_show(&signed.actor, id).await?;
    Ok(axum::Json(ArticleDetail {
        article: d.article,
        history: d.history,
    }))
}

/// `POST /api/v1/kb/{id}`: a new version.
async fn set(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
    Json(body): Json<ArticleBody>,
) -> ApiResult<Article> {
    let input = ArticleInput::from(body);
    Ok(axum::Json(
        state
            .app
            .kb_set(&signed.actor, id, &input, Timestamp::now())
            .await?,
    ))
}

/// What a delete answers.
#[derive(Debug, Serialize)]
pub struct Deleted {
    deleted: bool,
}

/// `POST /api/v1/kb/{id}/delete` (supervisors).
async fn delete(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<u64>,
) -> ApiResult<Deleted> {
    state.app.kb_delete(&signed.actor, id).await?;
    Ok(axum::Json(Deleted { deleted: true }))
}

/// `GET /api/v1/drs/{id}/suggestions` (`etraq dr suggest --json`).
async fn suggestions(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> ApiResult<Vec<KbHit>> {
    let id = parse_dr_id(&id)?;
    Ok(axum::Json(state.app.suggest(&signed.actor, &id).await?))
}

/// A transcript.
#[derive(Debug, Serialize)]
pub struct TranscriptView {
    subject: String,
    text: String,
    html: String,
}

/// `GET /api/v1/drs/{id}/transcript` (`etraq dr transcript`).
async fn transcript(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> ApiResult<TranscriptView> {
    let id = parse_dr_id(&id)?;
    let t = state.app.transcript(&signed.actor, &id).await?;
    Ok(axum::Json(TranscriptView {
        subject: t.subject,
        text: t.text,
        html: t.html,
    }))
}

/// A reply: its text, copies, and whom to send as (default: the DR's owner).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    body: String,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default, rename = "as")]
    as_user: Option<String>,
}

/// What a reply answers (`etraq dr reply --json`).
#[derive(Debug, Serialize)]
pub struct ReplyAnswer {
    dr: String,
    to: String,
    subject: String,
    message_id: String,
    mail_type: Option<&'static str>,
}

fn address(field: &'static str, s: &str) -> Result<EmailAddress, WebError> {
    EmailAddress::parse(s).map_err(|e| WebError::BadRequest(format!("{field}: {e}")))
}

/// `POST /api/v1/drs/{id}/reply`.
async fn reply(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Json(b): Json<ReplyBody>,
) -> ApiResult<ReplyAnswer> {
    let id = parse_dr_id(&id)?;
    let cc =
        b.cc.iter()
            .map(|c| address("cc", c))
            .collect::<Result<Vec<_>, _>>()?;
    let as_user = b.as_user.as_deref().map(|a| address("as", a)).transpose()?;
    let input = etraq_core::service::ReplyInput {
        body: b.body,
        cc,
        as_user,
    };
    let sent = state
        .app
        .reply_dr(&signed.actor, &id, &input, Timestamp::now())
        .await?;
    Ok(axum::Json(ReplyAnswer {
        dr: id.to_string(),
        to: sent.to.to_string(),
        subject: sent.subject,
        message_id: sent.tracked.message_id.as_str().to_string(),
        mail_type: sent.tracked.decision.mail_type().map(|t| t.as_str()),
    }))
}

/// `GET /api/v1/autoreplies` (`etraq autoreply list --json`).
async fn rules(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> ApiResult<Vec<AutoReplyRule>> {
    Ok(axum::Json(state.app.autoreplies(&signed.actor).await?))
}

/// A rule to add.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    name: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    subject_matches: Option<String>,
    #[serde(default)]
    window: Option<String>,
}

/// Parses a rule's form or body into the use case's input.
pub fn rule_input(
    name: String,
    template: Option<String>,
    to: &[String],
    department: Option<String>,
    subject_matches: Option<String>,
    window: Option<&str>,
) -> Result<etraq_core::service::RuleInput, WebError> {
    let to = to
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| address("to", t.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let window = match window.map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => Some(jiff::SignedDuration::from_secs(
            HumanDuration::parse(w)
                .map_err(|e| WebError::BadRequest(format!("window: {e}")))?
                .as_secs(),
        )),
        None => None,
    };
    Ok(etraq_core::service::RuleInput {
        name,
        template: template
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| etraq_core::support::autoreply::BUILTIN_TEMPLATE.to_string()),
        to,
        department,
        subject_matches,
        window,
    })
}

/// `POST /api/v1/autoreplies` (supervisors).
async fn add_rule(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<RuleBody>,
) -> ApiResult<AutoReplyRule> {
    let input = rule_input(
        b.name,
        b.template,
        &b.to,
        b.department,
        b.subject_matches,
        b.window.as_deref(),
    )?;
    Ok(axum::Json(
        state
            .app
            .add_autoreply(&signed.actor, &input, Timestamp::now())
            .await?,
    ))
}

/// `POST /api/v1/autoreplies/{name}/delete`.
async fn delete_rule(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> ApiResult<Deleted> {
    state.app.delete_autoreply(&signed.actor, &name).await?;
    Ok(axum::Json(Deleted { deleted: true }))
}

/// `POST /api/v1/autoreplies/{name}/enable`.
async fn enable_rule(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> ApiResult<AutoReplyRule> {
    Ok(axum::Json(
        state.app.enable_autoreply(&signed.actor, &name).await?,
    ))
}
