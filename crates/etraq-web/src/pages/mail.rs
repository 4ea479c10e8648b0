//! Tracked Mails, Untracked Mails, a customer's History, a DR with its thread and actions, and
//! the raw messages.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::service::DrPage as DrListing;
use etraq_core::store::DrSort;
use etraq_core::views::columns;
use etraq_core::{Dr, DrId, DrStatus, EmailAddress, MailRecord, Party};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, PathText, Query, non_empty, parse_field};
use crate::html::{self, Cell, Chrome, Column, Field, Table, segment, short, url};
use crate::http::{Disposition, file_response};
use crate::pages::{ListingPage, back, done_message, render, render_status};
use crate::parse::{DrListParams, FieldErrors, page_at, parse_dr_id, parse_local_time};
use crate::state::AppState;

fn error_for(errors: &FieldErrors, field: &str) -> Option<String> {
    errors
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, m)| m.clone())
}

/// The link to a DR's page.
pub fn dr_href(id: &DrId) -> String {
    format!("/dr/{}", segment(&id.to_string()))
}

pub(crate) fn addrs(v: &[EmailAddress]) -> String {
    v.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
}

/// The original eTraq Server's Tracked Mails columns, plus status and escalation level.
fn dr_rows(drs: &[Dr], tz: &TimeZone) -> Vec<Vec<Cell>> {
    drs.iter()
        .map(|d| {
            vec![
                Cell::text(d.owner.as_str()),
                Cell::text(d.last_sender.as_str()),
                Cell::text(d.last_recipient.as_ref().map_or("", |r| r.as_str())),
                Cell::link(short(&d.subject, 60), dr_href(&d.id)),
                Cell::text(html::time(d.assigned_on, tz)),
                Cell::link(d.id.to_string(), dr_href(&d.id)).class("mono"),
                Cell::text(addrs(&d.cc_users)),
                Cell::text(d.last_mail_type.as_str()),
                Cell::text(d.status.as_str()).class(match d.status {
                    DrStatus::Open => "status-open",
                    DrStatus::Replied => "status-replied",
                    DrStatus::Closed => "status-closed",
                }),
                Cell::text(d.escalation_level.to_string()),
            ]
        })
        .collect()
}

/// `GET /tracked`: DRs in the viewer's scope, newest or oldest first, filtered, keyset-paged.
pub async fn tracked(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<DrListParams>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let (filter, errors) = q.filter();
    let at = q.page();
    let mut table = Table {
        empty: "No DRs match.".into(),
        ..Table::default()
    };
    if errors.is_empty() {
        let DrListing { page, next_key } = state.app.list_drs(&signed.actor, &filter, &at).await?;
        table.rows = dr_rows(&page.items, &tz);
        let limit_text = q.limit.map(|l| l.to_string()).unwrap_or_default();
        let link = |sort: DrSort, ascending: bool, after: &str, after_key: &str| {
            url(
                "/tracked",
                &[
                    ("status", q.status.as_deref().unwrap_or("")),
                    ("owner", q.owner.as_deref().unwrap_or("")),
                    ("customer", q.customer.as_deref().unwrap_or("")),
                    (
                        "sort",
                        if sort == DrSort::Number {
                            ""
                        } else {
                            sort.as_str()
                        },
                    ),
                    ("order", if ascending { "asc" } else { "desc" }),
                    ("after", after),
                    ("after_key", after_key),
                    ("limit", &limit_text),
                ],
            )
        };
        table.next = page.next.map(|n| {
            let key = next_key.clone().unwrap_or_default();
            link(filter.sort, filter.ascending, &n.to_string(), &key)
        });
        table.first = q.after.map(|_| link(filter.sort, filter.ascending, "", ""));
        // A sortable header sorts by its column; clicked again, it reverses the order.
        let header = |label: &str, sort: DrSort| {
            let current = filter.sort == sort;
            let ascending = if current {
                !filter.ascending
            } else {
                sort != DrSort::Number
            };
            Column {
                label: label.to_string(),
                sort: Some(link(sort, ascending, "", "")),
                arrow: match (current, filter.ascending) {
                    (false, _) => "",
                    (true, true) => " ▲",
                    (true, false) => " ▼",
                },
            }
        };
        table.columns = vec![
            header("Owner", DrSort::Owner),
            Column::new("Sender"),
            Column::new("Recipient"),
            Column::new("Subject"),
            header("Assigned On", DrSort::Number),
            header("DR Assigned", DrSort::Number),
            Column::new("CC Users"),
            Column::new("Mail Type"),
            header("Status", DrSort::Status),
            Column::new("Level"),
        ];
    }
    let status_opts = ["all", "open", "replied", "closed"]
        .iter()
        .map(|s| (s.to_string(), s.to_string()));
    let fields = vec![
        Field::select(
            "status",
            "Status",
            q.status.as_deref().unwrap_or("all"),
            status_opts,
        )
        .error(error_for(&errors, "status")),
        Field::text("owner", "Owner", q.owner.clone().unwrap_or_default())
            .placeholder("ann@example.com")
            .error(error_for(&errors, "owner")),
        Field::text(
            "customer",
            "Customer",
            q.customer.clone().unwrap_or_default(),
        )
        .placeholder("bob@customer.example or @customer.example")
        .error(error_for(&errors, "customer")),
        Field::select(
            "sort",
            "Sort by",
            filter.sort.as_str(),
            [
                ("assigned".to_string(), "Assigned On".to_string()),
                ("owner".to_string(), "Owner".to_string()),
                ("customer".to_string(), "Customer".to_string()),
                ("status".to_string(), "Status".to_string()),
            ],
        )
        .error(error_for(&errors, "sort")),
        Field::select(
            "order",
            "Order",
            if filter.ascending { "asc" } else { "desc" },
            [
                ("desc".to_string(), "Descending (newest first)".to_string()),
                ("asc".to_string(), "Ascending (oldest first)".to_string()),
            ],
        )
        .error(error_for(&errors, "order")),
    ];
    let page = ListingPage {
        chrome: Chrome::new(&state, &signed, "/tracked", "Tracked Mails")
            .flash(done_message(q.done.as_deref()))
            .refreshing(),
        intro: scope_intro(&signed),
        action: "/tracked",
        fields,
        table,
    };
    listing_status(errors.is_empty(), &page)
}

/// 400 when the filters were bad (shown next to their fields), else 200.
fn listing_status(ok: bool, page: &ListingPage) -> Result<Response, WebError> {
    if ok {
        render(page)
    } else {
        render_status(StatusCode::BAD_REQUEST, page)
    }
}

fn scope_intro(signed: &Signed) -> String {
    match signed.actor.viewer.role {
        etraq_core::Role::Admin => String::new(),
        etraq_core::Role::Supervisor => {
            "DRs of your department and of everyone who reports to you.".into()
        }
        etraq_core::Role::Agent => "DRs you own or are CC'd on.".into(),
    }
}

/// Query of the Untracked Mails and History pages.
#[derive(Debug, Default, Deserialize)]
pub struct MailListQuery {
    q: Option<String>,
    customer: Option<String>,
    order: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

fn mail_href(seq: u64) -> String {
    format!("/mail/{seq}")
}

/// `GET /untracked`: mail that was not tracked, with the reason (seed columns).
pub async fn untracked(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<MailListQuery>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let mut errors: FieldErrors = Vec::new();
    let party = parse_field(&q.customer, "customer", &mut errors, Party::parse);
    let oldest_first = match non_empty(&q.order) {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(o) => {
            errors.push(("order", format!("{o:?} is not newest or oldest")));
            false
        }
    };
    let mut table = Table {
        empty: "No untracked mail matches.".into(),
        columns: Column::all(columns::UNTRACKED, &["DR"]),
        ..Table::default()
    };
    if errors.is_empty() {
        let page = state
            .app
            .untracked(
                &signed.actor,
                party,
                oldest_first,
                &page_at(q.after, q.limit),
            )
            .await?;
        table.rows = page
            .items
            .iter()
            .map(|m| {
                vec![
                    Cell::text(m.recipient().map_or("", |r| r.as_str())),
                    Cell::text(m.sender.as_ref().map_or("", |s| s.as_str())),
                    Cell::link(short(&m.subject, 60), mail_href(m.seq)),
                    Cell::text(addrs(&m.cc)),
                    Cell::text(html::time(m.received_at, &tz)),
                    Cell::text(m.decision.reason().map_or("", |r| r.as_str())),
                    match &m.dr {
                        Some(d) => Cell::link(d.to_string(), dr_href(d)).class("mono"),
                        None => Cell::text(""),
                    },
                ]
            })
            .collect();
        let params = |after: &str| {
            url(
                "/untracked",
                &[
                    ("customer", q.customer.as_deref().unwrap_or("")),
                    ("order", q.order.as_deref().unwrap_or("")),
                    ("after", after),
                ],
            )
        };
        table.next = page.next.map(|n| params(&n.to_string()));
        table.first = q.after.map(|_| params(""));
    }
    let fields = vec![
        Field::text(
            "customer",
            "Address or @domain",
            q.customer.clone().unwrap_or_default(),
        )
        .error(error_for(&errors, "customer")),
        Field::select(
            "order",
            "Order",
            q.order.as_deref().unwrap_or("newest"),
            [
                ("newest".to_string(), "Newest first".to_string()),
                ("oldest".to_string(), "Oldest first".to_string()),
            ],
        )
        .error(error_for(&errors, "order")),
    ];
    let page = ListingPage {
        chrome: Chrome::new(&state, &signed, "/untracked", "Untracked Mails").refreshing(),
        intro: if signed.actor.viewer.is_admin() {
            String::new()
        } else {
            "Untracked mail you or your team were on.".into()
        },
        action: "/untracked",
        fields,
        table,
    };
    listing_status(errors.is_empty(), &page)
}

/// `GET /history?q=ADDRESS|@DOMAIN`: a customer's full history, oldest first.
pub async fn history(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<MailListQuery>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let mut errors: FieldErrors = Vec::new();
    let party = parse_field(&q.q, "q", &mut errors, Party::parse);
    let mut table = Table {
        empty: if party.is_some() {
            "No mail with this address or domain.".into()
        } else {
            "Enter a customer's address or @domain.".into()
        },
        columns: Column::all(columns::MAILS, &["DR"]),
        ..Table::default()
    };
    if let Some(p) = &party {
        let page = state
            .app
            .history(&signed.actor, p.clone(), &page_at(q.after, q.limit))
            .await?;
        table.rows = page.items.iter().map(|m| mail_row(m, &tz, true)).collect();
        let params = |after: &str| {
            url(
                "/history",
                &[("q", q.q.as_deref().unwrap_or("")), ("after", after)],
            )
        };
        table.next = page.next.map(|n| params(&n.to_string()));
        table.first = q.after.map(|_| params(""));
    }
    let fields = vec![
        Field::text(
            "q",
            "Customer address or @domain",
            q.q.clone().unwrap_or_default(),
        )
        .placeholder("bob@customer.example or @customer.example")
        .error(error_for(&errors, "q")),
    ];
    let page = ListingPage {
        chrome: Chrome::new(&state, &signed, "/history", "Customer History"),
        intro: String::new(),
        action: "/history",
        fields,
        table,
    };
    listing_status(errors.is_empty(), &page)
}

fn mail_row(m: &MailRecord, tz: &TimeZone, with_dr: bool) -> Vec<Cell> {
    let mut row = vec![
        Cell::text(html::time(m.received_at, tz)),
        Cell::text(m.direction.as_str()),
        Cell::text(m.sender.as_ref().map_or("", |s| s.as_str())),
        Cell::text(m.recipient().map_or("", |r| r.as_str())),
        Cell::link(short(&m.subject, 70), mail_href(m.seq)),
        Cell::text(
            m.decision
                .mail_type()
                .map(|t| t.as_str())
                .or_else(|| m.decision.reason().map(|r| r.as_str()))
                .unwrap_or(""),
        ),
    ];
    if with_dr {
        row.push(match &m.dr {
            Some(d) => Cell::link(d.to_string(), dr_href(d)).class("mono"),
            None => Cell::text(""),
        });
    } else {
        row.push(Cell::link("download .eml", format!("/mail/{}/eml", m.seq)));
    }
    row
}

#[derive(Template)]
#[template(path = "dr.html")]
struct DrPage {
    chrome: Chrome,
    /// Each message of the thread, its text first (the mail page shows its HTML).
    messages: Vec<crate::pages::message::MessageView>,
    base: String,
    id: String,
    subject: String,
    status: String,
    owner: String,
    cc: String,
    customer: String,
    history: String,
    participants: String,
    /// The campaign this DR is a lead of, with its report's address.
    campaign: Option<(String, String)>,
    assigned_on: String,
    waiting: String,
    first_reply: String,
    level: u32,
    reminder: String,
    zone: String,
    remind_value: String,
    owners: Vec<(String, String, bool)>,
    table: Table,
    /// A reply that could not be sent, and why.
    problem: Option<String>,
    /// Suggested articles for the customer's latest message.
    suggestions: Vec<SuggestionView>,
    /// The reply form, unless the DR is closed or has no customer.
    reply: Option<ReplyView>,
    /// The close form offers a transcript (the DR has a customer).
    can_transcript: bool,
    /// The transcript box starts checked (`support.transcript_on_close`).
    transcript_default: bool,
    /// What was looked for in the knowledge base from this page, and what was found.
    kb_query: String,
    found: Option<Vec<SuggestionView>>,
}

/// A suggested article on the DR page.
struct SuggestionView {
    id: u64,
    title: String,
    href: String,
    public: bool,
    /// Its body rendered and sanitised.
    html: String,
    /// What "insert into reply" puts in the reply: its Markdown as written.
    insert: String,
}

impl SuggestionView {
    fn of(title: &str, a: &etraq_core::support::Article) -> SuggestionView {
        SuggestionView {
            id: a.id,
            title: title.to_string(),
            href: format!("/kb/{}", a.id),
            public: a.public,
            html: crate::markdown::article_html(&a.body),
            insert: a.body.clone(),
        }
    }
}

/// The reply form.
struct ReplyView {
    to: String,
    subject: String,
    quoted: String,
    owner: String,
    /// The signed-in user's address, when they may send as themselves.
    me: Option<String>,
    as_me: bool,
    body: String,
    cc: String,
}

/// The reply form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    cc: String,
    #[serde(default, rename = "as")]
    as_who: String,
}

/// `?done=` after an action; `?kb=` looks for articles to insert into the reply.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    kb: Option<String>,
}

/// `GET /dr/{id}`: the DR, its thread, and its actions.
pub async fn dr_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let id = parse_dr_id(&id)?;
    let mut page = dr_view(&state, &signed, &id, q.done.as_deref(), None, None).await?;
    if let Some(words) = q.kb.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        let mut found = Vec::new();
        for hit in state.app.kb_search(&signed.actor, words, 5).await? {
            let d = state.app.kb_show(&signed.actor, hit.id).await?;
            found.push(SuggestionView::of(&hit.title, &d.article));
        }
        page.kb_query = words.to_string();
        page.found = Some(found);
    }
    render(&page)
}

/// `POST /dr/{id}/reply`: sends the reply; on a refusal the page comes back with the text kept.
pub async fn reply(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Form(f): Form<ReplyForm>,
) -> Result<Response, WebError> {
    let id = parse_dr_id(&id)?;
    let cc: Result<Vec<EmailAddress>, WebError> =
        f.cc.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| EmailAddress::parse(c).map_err(|e| WebError::BadRequest(format!("cc: {e}"))))
            .collect();
    let as_user = if f.as_who == "me" {
        signed.actor.viewer.user.as_ref().map(|u| u.email.clone())
    } else {
        None
    };
    let result = match cc {
        Ok(cc) => state
            .app
            .reply_dr(
                &signed.actor,
                &id,
                &etraq_core::service::ReplyInput {
                    body: f.body.clone(),
                    cc,
                    as_user,
                },
                Timestamp::now(),
            )
            .await
            .map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(back(&dr_href(&id), "replied")),
        Err(WebError::BadRequest(why)) | Err(WebError::Unavailable(why)) => {
            let page = dr_view(&state, &signed, &id, None, Some(f), Some(why)).await?;
            crate::pages::render_status(axum::http::StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e),
    }
}

/// The DR page, with a reply draft and a problem when a reply was refused.
async fn dr_view(
    state: &Arc<AppState>,
    signed: &Signed,
    id: &etraq_core::DrId,
    done: Option<&str>,
    draft: Option<ReplyForm>,
    problem: Option<String>,
) -> Result<DrPage, WebError> {
    let id = id.clone();
    let dr = state.app.visible_dr(&signed.actor, &id).await?;
    let (detail, mails) = state.app.dr_detail(&signed.actor, &id).await?;
    let tz = state.time_zone();
    let now = Timestamp::now();
    let users = state.app.assignable_owners(&signed.actor).await?;
    let mut owners: Vec<(String, String, bool)> = users
        .iter()
        .map(|u| {
            (
                u.email.to_string(),
                format!("{} <{}>", u.name, u.email),
                u.email == dr.owner,
            )
        })
        .collect();
    if !owners.iter().any(|(_, _, sel)| *sel) {
        owners.insert(0, (dr.owner.to_string(), dr.owner.to_string(), true));
    }
    let mut messages = Vec::with_capacity(mails.len());
    for m in &mails {
        if let Ok((mail, raw)) = state.app.mail_with_raw(&signed.actor, m.seq).await {
            messages.push(crate::pages::message::MessageView::new(
                &mail, &raw, &tz, true, false,
            ));
        }
    }
    let table = Table {
        columns: Column::all(columns::MAILS, &["Raw"]),
        rows: mails.iter().map(|m| mail_row(m, &tz, false)).collect(),
        empty: "No mail recorded.".into(),
        note: detail.truncated.then(|| {
            format!(
                "Only the first {} mails of this DR are listed.",
                etraq_core::service::MAX_THREAD
            )
        }),
        ..Table::default()
    };
    let panel = state.app.support_panel(&signed.actor, &dr, &mails).await?;
    let suggestions = panel
        .suggestions
        .iter()
        .map(|(hit, a)| SuggestionView::of(&hit.title, a))
        .collect();
    let me = signed.actor.viewer.user.as_ref().map(|u| u.email.clone());
    let draft = draft.unwrap_or_default();
    let reply = panel.reply.as_ref().map(|r| ReplyView {
        to: r.to.to_string(),
        subject: r.subject.clone(),
        quoted: r.quoted.clone(),
        owner: r.owner.to_string(),
        me: me
            .as_ref()
            .filter(|m| **m != r.owner)
            .map(|m| m.to_string()),
        as_me: draft.as_who == "me",
        body: draft.body.clone(),
        cc: draft.cc.clone(),
    });
    let page = DrPage {
        chrome: Chrome::new(state, signed, "/tracked", &format!("DR {}", dr.id))
            .flash(done_message(done)),
        problem,
        suggestions,
        can_transcript: panel.reply.is_some() || dr.status != DrStatus::Closed,
        kb_query: String::new(),
        found: None,
        transcript_default: panel.transcript_on_close,
        reply,
        base: dr_href(&dr.id),
        id: dr.id.to_string(),
        subject: dr.subject.clone(),
        status: dr.status.to_string(),
        owner: dr.owner.to_string(),
        cc: addrs(&dr.cc_users),
        customer: dr.customer.to_string(),
        history: url("/history", &[("q", dr.customer.as_str())]),
        participants: addrs(&dr.participants),
        campaign: detail
            .campaign
            .as_ref()
            .map(|c| (c.clone(), crate::pages::area::path("/campaigns", c))),
        assigned_on: html::time(dr.assigned_on, &tz),
        waiting: match dr.awaiting_since {
            Some(s) if dr.status == DrStatus::Open => format!(
                "{} ({})",
                html::time(s, &tz),
                html::duration(now.as_second() - s.as_second())
            ),
            _ => "not waiting".into(),
        },
        first_reply: dr
            .first_response_at
            .map(|t| html::time(t, &tz))
            .unwrap_or_else(|| "none yet".into()),
        level: dr.escalation_level,
        reminder: dr
            .remind_at
            .map(|t| html::time(t, &tz))
            .unwrap_or_else(|| "none".into()),
        zone: tz.iana_name().unwrap_or("UTC").to_string(),
        remind_value: now
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(now)
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string(),
        owners,
        table,
        messages,
    };
    Ok(page)
}

/// The reassign form.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    owner: String,
}

/// `POST /dr/{id}/assign`.
pub async fn assign(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Form(f): Form<AssignForm>,
) -> Result<Response, WebError> {
    let id = parse_dr_id(&id)?;
    let owner = EmailAddress::parse(f.owner.trim())
        .map_err(|e| WebError::BadRequest(format!("owner: {e}")))?;
    state
        .app
        .assign_dr(&signed.actor, &id, &owner, Timestamp::now())
        .await?;
    // The previous owner stays on the DR as a CC user, so the page is still theirs to see.
    Ok(back(&dr_href(&id), "assigned"))
}

/// The close form: the transcript box.
#[derive(Debug, Default, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    transcript: Option<String>,
}

/// `POST /dr/{id}/close`: with the box checked, the customer is mailed the transcript.
pub async fn close(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Form(f): Form<CloseForm>,
) -> Result<Response, WebError> {
    let id = parse_dr_id(&id)?;
    // The form always says: a missing box is "no", whatever the configured default.
    let send = f.transcript.is_some();
    state
        .app
        .close_dr_with(&signed.actor, &id, Some(send), Timestamp::now())
        .await?;
    Ok(back(
        &dr_href(&id),
        if send { "closed-transcript" } else { "closed" },
    ))
}

/// `POST /dr/{id}/reopen`.
pub async fn reopen(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> Result<Response, WebError> {
    let id = parse_dr_id(&id)?;
    state
        .app
        .reopen_dr(&signed.actor, &id, Timestamp::now())
        .await?;
    Ok(back(&dr_href(&id), "reopened"))
}

/// The reminder form.
#[derive(Debug, Deserialize)]
pub struct RemindForm {
    at: String,
}

/// `POST /dr/{id}/remind`.
pub async fn remind(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Form(f): Form<RemindForm>,
) -> Result<Response, WebError> {
    let id = parse_dr_id(&id)?;
    let at = parse_local_time(&f.at, &state.time_zone())?;
    state.app.remind_dr(&signed.actor, &id, at).await?;
    Ok(back(&dr_href(&id), "reminder"))
}

/// The mail number of a path.
pub(crate) fn parse_seq(text: &str) -> Result<u64, WebError> {
    text.parse()
        .map_err(|_| WebError::BadRequest(format!("{text:?} is not a mail number")))
}

/// `GET /mail/{seq}/raw`: the raw message as plain text, never rendered as HTML.
pub async fn raw_view(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(seq): PathText,
) -> Result<Response, WebError> {
    let (_, raw) = state
        .app
        .mail_with_raw(&signed.actor, parse_seq(&seq)?)
        .await?;
    Ok(file_response(
        raw,
        "text/plain; charset=utf-8",
        Disposition::Inline,
    ))
}

/// `GET /mail/{seq}/eml`: the raw message as a `.eml` download.
pub async fn raw_download(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(seq): PathText,
) -> Result<Response, WebError> {
    let (mail, raw) = state
        .app
        .mail_with_raw(&signed.actor, parse_seq(&seq)?)
        .await?;
    Ok(file_response(
        raw,
        "message/rfc822",
        Disposition::Attachment(format!("etraq-{}.eml", mail.seq)),
    ))
}
