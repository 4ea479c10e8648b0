//! The campaign part of the JSON API: lists, subscribers, the blocklist, templates and
//! campaigns, with the same JSON rows as the CLI's `--json`. Anyone signed in may read;
//! supervisors change; admins delete a list or lift a blocklist entry. Each handler parses,
//! calls one use case of `etraq_core::service` with the signed-in actor, and answers JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post};
use etraq_core::EmailAddress;
use etraq_core::campaign::{
    BlockEntry, BlockReason, ListSummary, MemberStatus, RecipientState, SubscriberInput,
    SubscriberQuery, Template, TemplateKind,
};
use etraq_core::service::{CampaignAction, CampaignDraft, ImportReport, ListSettings};
use etraq_core::views::{CampaignView, RecipientRow, SubscriberRow, TemplateRow};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, Listing};
use crate::auth::{Access, Signed};
use crate::error::WebError;
use crate::extract::{Json, Query};
use crate::routes::{Group, Routes};
use crate::state::AppState;

/// Largest CSV an import through the API (or the console) takes: 32 MiB, about 300,000 rows.
/// Bigger files go through `etraq subscriber import`, which streams.
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// The campaign routes, in groups by who may use them.
pub fn router() -> Vec<Group> {
    vec![
        Routes::new(Access::Signed)
            .get("/api/v1/lists", get(lists))
            .get("/api/v1/lists/{name}", get(list))
            .get("/api/v1/subscribers", get(subscribers))
            .get("/api/v1/subscribers/{email}", get(subscriber))
            .get("/api/v1/blocklist", get(blocklist))
            .get("/api/v1/templates", get(templates))
            .get("/api/v1/templates/{name}", get(template))
            .get("/api/v1/campaigns", get(campaigns))
            .get("/api/v1/campaigns/{name}", get(campaign))
            .get("/api/v1/campaigns/{name}/recipients", get(recipients))
            .post("/api/v1/conversions", post(conversion))
            .finish(),
        Routes::new(Access::Supervisor)
            .post("/api/v1/lists", post(create_list))
            .post("/api/v1/lists/{name}", post(update_list))
            .post("/api/v1/lists/{name}/subscribers", post(add_subscriber))
            .post(
                "/api/v1/lists/{name}/import",
                post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
            )
            .post("/api/v1/subscribers/{email}/unsubscribe", post(unsubscribe))
            .post("/api/v1/blocklist", post(block))
            .post("/api/v1/templates", post(add_template))
            .post("/api/v1/campaigns", post(create_campaign))
            .post("/api/v1/campaigns/{name}/start", post(start))
            .post("/api/v1/campaigns/{name}/pause", post(pause))
            .post("/api/v1/campaigns/{name}/resume", post(resume))
            .post("/api/v1/campaigns/{name}/cancel", post(cancel))
            .finish(),
        Routes::new(Access::Admin)
            .post("/api/v1/lists/{name}/delete", post(delete_list))
            .post("/api/v1/blocklist/remove", post(unblock))
            .finish(),
    ]
}

fn address(field: &str, text: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(text.trim())
        .map_err(|e| ApiError(WebError::BadRequest(format!("{field}: {e}"))))
}

fn time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    text.trim().parse::<Timestamp>().map_err(|e| {
        ApiError(WebError::BadRequest(format!(
            "{field}: {text:?} is not an RFC 3339 time: {e}"
        )))
    })
}

/// `GET /api/v1/lists` (`etraq list ls --json`).
async fn lists(State(state): State<Arc<AppState>>, signed: Signed) -> ApiResult<Vec<ListSummary>> {
    Ok(axum::Json(state.app.lists(&signed.actor).await?))
}

/// `GET /api/v1/lists/{name}` (`etraq list show --json`).
async fn list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<ListSummary> {
    Ok(axum::Json(state.app.list(&signed.actor, &name).await?))
}

/// Body of `POST /api/v1/lists` and `POST /api/v1/lists/{name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListBody {
    #[serde(default)]
    name: Option<String>,
    description: Option<String>,
    double_opt_in: Option<bool>,
    public: Option<bool>,
}

impl ListBody {
    fn settings(&self) -> ListSettings {
        ListSettings {
            description: self.description.clone(),
            double_opt_in: self.double_opt_in,
            public: self.public,
        }
    }
}

/// `POST /api/v1/lists` `{"name", "description"?, "double_opt_in"?, "public"?}`.
async fn create_list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<ListBody>,
) -> ApiResult<ListSummary> {
    let name = b
        .name
        .clone()
        .ok_or_else(|| ApiError(WebError::BadRequest("name: a list needs a name".into())))?;
    let l = state
        .app
        .create_list(&signed.actor, &name, &b.settings(), Timestamp::now())
        .await?;
    Ok(axum::Json(state.app.list(&signed.actor, &l.name).await?))
}

/// `POST /api/v1/lists/{name}`: changes a list's settings.
async fn update_list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
    Json(b): Json<ListBody>,
) -> ApiResult<ListSummary> {
    let l = state
        .app
        .update_list(&signed.actor, &name, &b.settings())
        .await?;
    Ok(axum::Json(state.app.list(&signed.actor, &l.name).await?))
}

/// What a deletion answers.
#[derive(Debug, Serialize)]
struct Deleted {
    deleted: String,
}

/// `POST /api/v1/lists/{name}/delete` (admins).
async fn delete_list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<Deleted> {
    state.app.delete_list(&signed.actor, &name).await?;
    Ok(axum::Json(Deleted { deleted: name }))
}

/// Body of `POST /api/v1/lists/{name}/subscribers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    email: String,
    name: Option<String>,
    #[serde(default)]
    attribs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    confirmed: bool,
}

/// What adding one subscriber answers.
#[derive(Debug, Serialize)]
struct Added {
    email: String,
    outcome: etraq_core::campaign::MergeOutcome,
    confirmation_queued: bool,
}

/// `POST /api/v1/lists/{name}/subscribers` `{"email", "name"?, "attribs"?, "confirmed"?}`.
async fn add_subscriber(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(list): Path<String>,
    Json(b): Json<AddBody>,
) -> ApiResult<Added> {
    let email = address("email", &b.email)?;
    let input = SubscriberInput {
        email: email.clone(),
        name: b.name,
        attribs: b.attribs,
    };
    let (outcome, confirmation_queued) = state
        .app
        .add_subscriber(&signed.actor, &list, input, b.confirmed, Timestamp::now())
        .await?;
    Ok(axum::Json(Added {
        email: email.to_string(),
        outcome,
        confirmation_queued,
    }))
}

/// Query of the import.
#[derive(Debug, Default, Deserialize)]
struct ImportQuery {
    #[serde(default)]
    confirmed: bool,
}

/// `POST /api/v1/lists/{name}/import[?confirmed=true]` with the CSV as the body (`etraq
/// subscriber import --json`): `{imported, updated, skipped, errors: [{line, reason}]}`.
async fn import(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(list): Path<String>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult<ImportReport> {
    Ok(axum::Json(
        state
            .app
            .import_csv(&signed.actor, &list, &body, q.confirmed, Timestamp::now())
            .await?,
    ))
}

/// Query of the subscriber listing.
#[derive(Debug, Default, Deserialize)]
struct SubscribersQuery {
    list: Option<String>,
    status: Option<String>,
    q: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/subscribers?list=&status=&q=&after=&limit=` (`etraq subscriber list --json`).
async fn subscribers(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<SubscribersQuery>,
) -> ApiResult<Listing<SubscriberRow>> {
    let status = crate::extract::non_empty(&q.status)
        .map(MemberStatus::parse)
        .transpose()?;
    let query = SubscriberQuery {
        list: crate::extract::non_empty(&q.list).map(str::to_string),
        status,
        search: crate::extract::non_empty(&q.q).map(str::to_string),
        after: q.after,
        limit: q.limit.unwrap_or(0),
    };
    let (items, next) = state.app.subscriber_rows(&signed.actor, &query).await?;
    Ok(axum::Json(Listing {
        items,
        next,
        next_key: None,
    }))
}

/// `GET /api/v1/subscribers/{email}` (`etraq subscriber show --json`, events included).
async fn subscriber(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(email): Path<String>,
) -> ApiResult<SubscriberRow> {
    let email = address("email", &email)?;
    Ok(axum::Json(
        state.app.subscriber(&signed.actor, &email).await?.row(),
    ))
}

/// Body of the unsubscribe.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeBody {
    list: Option<String>,
}

/// What an unsubscribe answers.
#[derive(Debug, Serialize)]
struct Unsubscribed {
    email: String,
    unsubscribed_from: Vec<String>,
}

/// `POST /api/v1/subscribers/{email}/unsubscribe` `{"list"?}`: from one list, or every list.
async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(email): Path<String>,
    Json(b): Json<UnsubscribeBody>,
) -> ApiResult<Unsubscribed> {
    let email = address("email", &email)?;
    let left = state
        .app
        .unsubscribe(&signed.actor, &email, b.list.as_deref(), Timestamp::now())
        .await?;
    Ok(axum::Json(Unsubscribed {
        email: email.to_string(),
        unsubscribed_from: left,
    }))
}

/// `GET /api/v1/blocklist` (`etraq blocklist list --json`).
async fn blocklist(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> ApiResult<Vec<BlockEntry>> {
    Ok(axum::Json(state.app.blocklist(&signed.actor).await?))
}

/// Body of the blocklist routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    address: String,
    reason: Option<String>,
}

/// `POST /api/v1/blocklist` `{"address": "EMAIL|@DOMAIN", "reason"?}`.
async fn block(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<BlockBody>,
) -> ApiResult<BlockEntry> {
    let reason = b
        .reason
        .as_deref()
        .map(BlockReason::parse)
        .transpose()?
        .unwrap_or(BlockReason::Manual);
    Ok(axum::Json(
        state
            .app
            .block(&signed.actor, &b.address, reason, Timestamp::now())
            .await?,
    ))
}

/// `POST /api/v1/blocklist/remove` `{"address"}` (admins).
async fn unblock(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<BlockBody>,
) -> ApiResult<Deleted> {
    state.app.unblock(&signed.actor, &b.address).await?;
    Ok(axum::Json(Deleted {
        deleted: b.address.trim().to_string(),
    }))
}

/// `GET /api/v1/templates` (`etraq template list --json`).
async fn templates(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> ApiResult<Vec<TemplateRow>> {
    let all = state.app.templates(&signed.actor).await?;
    Ok(axum::Json(all.iter().map(TemplateRow::from).collect()))
}

/// `GET /api/v1/templates/{name}` (`etraq template show --json`): subject and bodies.
async fn template(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<Template> {
    Ok(axum::Json(state.app.template(&signed.actor, &name).await?))
}

/// Body of `POST /api/v1/templates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    name: String,
    kind: String,
    subject: String,
    html: String,
    text: Option<String>,
}

/// `POST /api/v1/templates` `{"name", "kind", "subject", "html", "text"?}`: adds or replaces
/// a template of your own; it must compile and name known merge fields.
async fn add_template(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<TemplateBody>,
) -> ApiResult<TemplateRow> {
    let kind = TemplateKind::parse(&b.kind)?;
    let t = state
        .app
        .save_template(
            &signed.actor,
            Template {
                name: b.name,
                kind,
                subject: b.subject,
                html: b.html,
                text: b.text.filter(|t| !t.trim().is_empty()),
                builtin: false,
                created_at: Timestamp::now(),
            },
            Timestamp::now(),
        )
        .await?;
    Ok(axum::Json(TemplateRow::from(&t)))
}

/// `GET /api/v1/campaigns` (`etraq campaign list --json`).
async fn campaigns(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> ApiResult<Vec<CampaignView>> {
    Ok(axum::Json(state.app.campaign_reports(&signed.actor).await?))
}

/// `GET /api/v1/campaigns/{name}` (`etraq campaign show --json`); the console's progress bar
/// polls it.
async fn campaign(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<CampaignView> {
    Ok(axum::Json(
        state.app.campaign_report(&signed.actor, &name).await?,
    ))
}

/// Body of `POST /api/v1/campaigns` (the flags of `etraq campaign create`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    name: String,
    lists: Vec<String>,
    template: String,
    subject: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
    owner: Option<String>,
    #[serde(rename = "where")]
    segment: Option<String>,
    at: Option<String>,
    rate: Option<u32>,
}

/// `POST /api/v1/campaigns`: creates a campaign (its template tried on its first recipients).
async fn create_campaign(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Json(b): Json<CampaignBody>,
) -> ApiResult<CampaignView> {
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let draft = CampaignDraft {
        name: b.name,
        lists: b.lists,
        template: b.template,
        subject: some(b.subject),
        from: some(b.from),
        reply_to: some(b.reply_to),
        owner: some(b.owner).map(|o| address("owner", &o)).transpose()?,
        segment: some(b.segment),
        rate: b.rate,
        send_at: some(b.at).map(|t| time("at", &t)).transpose()?,
    };
    let c = state
        .app
        .create_campaign(&signed.actor, draft, Timestamp::now())
        .await?;
    Ok(axum::Json(
        state.app.campaign_report(&signed.actor, &c.name).await?,
    ))
}

/// Body of `start`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    at: Option<String>,
}

async fn control(
    state: &AppState,
    signed: &Signed,
    name: &str,
    action: CampaignAction,
) -> ApiResult<CampaignView> {
    state
        .app
        .control_campaign(&signed.actor, name, action, Timestamp::now())
        .await?;
    Ok(axum::Json(
        state.app.campaign_report(&signed.actor, name).await?,
    ))
}

/// `POST /api/v1/campaigns/{name}/start` `{"at"?}`: the running server sends it, now or then.
async fn start(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
    Json(b): Json<StartBody>,
) -> ApiResult<CampaignView> {
    let at = b.at.as_deref().map(|t| time("at", t)).transpose()?;
    control(&state, &signed, &name, CampaignAction::Start { at }).await
}

/// `POST /api/v1/campaigns/{name}/pause`.
async fn pause(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<CampaignView> {
    control(&state, &signed, &name, CampaignAction::Pause).await
}

/// `POST /api/v1/campaigns/{name}/resume`.
async fn resume(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<CampaignView> {
    control(&state, &signed, &name, CampaignAction::Resume).await
}

/// `POST /api/v1/campaigns/{name}/cancel`.
async fn cancel(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
) -> ApiResult<CampaignView> {
    control(&state, &signed, &name, CampaignAction::Cancel).await
}

/// Query of the recipient listing.
#[derive(Debug, Default, Deserialize)]
struct RecipientsQuery {
    state: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/campaigns/{name}/recipients?state=&after=&limit=` (`etraq campaign recipients
/// --json`).
async fn recipients(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<RecipientsQuery>,
) -> ApiResult<Listing<RecipientRow>> {
    let st = crate::extract::non_empty(&q.state)
        .map(RecipientState::parse)
        .transpose()?;
    let (items, next) = state
        .app
        .recipient_rows(
            &signed.actor,
            &name,
            st,
            q.after,
            etraq_core::store::page_size(q.limit.unwrap_or(0)),
        )
        .await?;
    Ok(axum::Json(Listing {
        items,
        next,
        next_key: None,
    }))
}

/// Body of `POST /api/v1/conversions`: what a shop's server reports for an order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionBody {
    /// The `etraq` parameter the click's redirect carried.
    token: String,
    value: Option<f64>,
    currency: Option<String>,
    order_id: Option<String>,
}

/// What a conversion report answers.
#[derive(Debug, Serialize)]
struct ConversionAnswer {
    /// False when the order was counted already (nothing changed).
    recorded: bool,
}

/// `POST /api/v1/conversions` `{token, value?, currency?, order_id?}`: a purchase after a
/// campaign click, reported by the shop's server with an API token. One `order_id` counts once.
async fn conversion(
    State(state): State<Arc<AppState>>,
    _signed: Signed,
    Json(b): Json<ConversionBody>,
) -> ApiResult<ConversionAnswer> {
    let outcome = state
        .app
        .track_conversion(
            &b.token,
            &etraq_core::service::Purchase {
                value: b.value,
                currency: b.currency,
                order_id: b.order_id,
            },
            &etraq_core::service::Visit::default(),
            Timestamp::now(),
        )
        .await?;
    Ok(axum::Json(ConversionAnswer {
        recorded: outcome == etraq_core::campaign::HitOutcome::Recorded,
    }))
}
