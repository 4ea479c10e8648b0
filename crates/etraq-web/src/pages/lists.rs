//! The Campaigns tab's audience pages: lists (create, settings, a CSV import with a per-line
//! error report, adding one address), subscribers (search by address, list and status; each
//! one's lists and events) and the blocklist. Everyone signed in may look; supervisors change;
//! admins delete a list or lift a blocklist entry.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::EmailAddress;
use etraq_core::campaign::{BlockReason, MemberStatus, OptIn, SubscriberInput, SubscriberQuery};
use etraq_core::service::{ImportReport, ListSettings};
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, PathText, Query, non_empty};
use crate::html::{self, Cell, Column, Field, Table, url};
use crate::pages::area::{Action, AreaPage, Done, FormBox, ReportBox, Section, path, supervisor};
use crate::pages::{back, done_message, render, render_status};
use crate::state::AppState;

/// `GET /lists`.
pub async fn lists(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let all = state.app.lists(&signed.actor).await?;
    let mut page = AreaPage::new(&state, &signed, "/lists", "Lists");
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.intro = "Mailing lists and how many receive their mail.".into();
    page.sections.push(Section {
        title: "Lists".into(),
        id: "lists".into(),
        table: Table {
            columns: [
                "Name",
                "Description",
                "Opt-in",
                "Public",
                "Confirmed",
                "Unconfirmed",
                "Unsubscribed",
            ]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
            rows: all
                .iter()
                .map(|l| {
                    vec![
                        Cell::link(l.list.name.clone(), path("/lists", &l.list.name)),
                        Cell::text(html::short(&l.list.description, 60)),
                        Cell::text(l.list.opt_in.as_str()),
                        Cell::text(if l.list.public { "yes" } else { "no" }),
                        Cell::text(l.confirmed.to_string()).class("num"),
                        Cell::text(l.unconfirmed.to_string()).class("num"),
                        Cell::text(l.unsubscribed.to_string()).class("num"),
                    ]
                })
                .collect(),
            empty: "No lists yet.".into(),
            ..Table::default()
        },
    });
    if supervisor(&signed) {
        page.forms.push(FormBox {
            method: "post",
            title: "New list".into(),
            help: String::new(),
            action: "/lists".into(),
            fields: list_fields("", "", false, false),
            button: "Create list".into(),
            id: "create-list".into(),
            multipart: false,
        });
    }
    render(&page)
}

fn list_fields(name: &str, description: &str, double: bool, public: bool) -> Vec<Field> {
    let mut f = Vec::new();
    if name.is_empty() {
        f.push(Field::text("name", "Name", "").placeholder("Customers"));
    }
    f.extend([
        Field::text("description", "Description", description),
        Field::checkbox(
            "double_opt_in",
            "Double opt-in (new members confirm by mail)",
            double,
        ),
        Field::checkbox("public", "Public (anyone may subscribe at /s/NAME)", public),
    ]);
    f
}

/// The list form.
#[derive(Debug, Default, Deserialize)]
pub struct ListForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    double_opt_in: Option<String>,
    public: Option<String>,
}

impl ListForm {
    fn settings(&self) -> ListSettings {
        ListSettings {
            description: Some(self.description.clone()),
            double_opt_in: Some(self.double_opt_in.is_some()),
            public: Some(self.public.is_some()),
        }
    }
}

/// `POST /lists`.
pub async fn create_list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<ListForm>,
) -> Result<Response, WebError> {
    let l = state
        .app
        .create_list(&signed.actor, &f.name, &f.settings(), Timestamp::now())
        .await?;
    Ok(back(&path("/lists", &l.name), "saved"))
}

/// `POST /lists/{name}`: its settings.
pub async fn update_list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Form(f): Form<ListForm>,
) -> Result<Response, WebError> {
    let l = state
        .app
        .update_list(&signed.actor, &name, &f.settings())
        .await?;
    Ok(back(&path("/lists", &l.name), "saved"))
}

/// `POST /lists/{name}/delete` (admins).
pub async fn delete_list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> Result<Response, WebError> {
    state.app.delete_list(&signed.actor, &name).await?;
    Ok(back("/lists", "deleted"))
}

async fn list_page(
    state: &AppState,
    signed: &Signed,
    name: &str,
    done: Option<&str>,
) -> Result<AreaPage, WebError> {
    let l = state.app.list(&signed.actor, name).await?;
    let mut page = AreaPage::new(state, signed, "/lists", &format!("List {}", l.list.name));
    page.chrome = page.chrome.flash(done_message(done));
    let tz = state.time_zone();
    page.facts = vec![
        ("Description".into(), l.list.description.clone()),
        (
            "Opt-in".into(),
            match l.list.opt_in {
                OptIn::Single => "single: an address added is subscribed".into(),
                OptIn::Double => "double: new members confirm by mail".into(),
            },
        ),
        (
            "Public".into(),
            if l.list.public {
                format!("yes: {}", path("/s", &l.list.name))
            } else {
                "no".into()
            },
        ),
        ("Confirmed".into(), l.confirmed.to_string()),
        ("Unconfirmed".into(), l.unconfirmed.to_string()),
        ("Unsubscribed".into(), l.unsubscribed.to_string()),
        ("Created".into(), html::time(l.list.created_at, &tz)),
        (
            "Growth chart".into(),
            "rebuilt from each member's status today and when it began: a member who left \
             counts as unsubscribed from that day only"
                .into(),
        ),
    ];
    let growth = state
        .app
        .list_growth(&signed.actor, &l.list.name, Timestamp::now())
        .await?;
    page.charts
        .extend(crate::pages::campaign_report::growth_chart(&growth));
    page.intro = format!(
        "Its members are on the Subscribers page: {}",
        url("/subscribers", &[("list", &l.list.name)])
    );
    if supervisor(signed) {
        let base = path("/lists", &l.list.name);
        page.forms.push(FormBox {
            method: "post",
            title: "Import subscribers".into(),
            help: "A CSV file with a header row: an email column, optionally name, every other \
                   column becomes an attribute. A bad row is reported with its line and never \
                   stops the rest; addresses on the list already are updated; someone who \
                   unsubscribed or is blocklisted is never added back."
                .into(),
            action: format!("{base}/import"),
            fields: vec![
                Field::text("file", "CSV file", "").kind("file"),
                Field::text("csv", "…or paste it", "")
                    .kind("textarea")
                    .placeholder("email,name,country\nann@example.org,Ann,DE"),
                Field::checkbox(
                    "confirmed",
                    "I vouch for their consent (no confirmation mail on a double opt-in list)",
                    false,
                ),
            ],
            button: "Import".into(),
            id: "import".into(),
            multipart: true,
        });
        page.forms.push(FormBox {
            method: "post",
            title: "Add one subscriber".into(),
            help: String::new(),
            action: format!("{base}/add"),
            fields: vec![
                Field::text("email", "Email", "").kind("email"),
                Field::text("name", "Name", ""),
                Field::checkbox("confirmed", "I vouch for their consent", false),
            ],
            button: "Add".into(),
            id: "add-subscriber".into(),
            multipart: false,
        });
        page.forms.push(FormBox {
            method: "post",
            title: "Settings".into(),
            help: String::new(),
            action: base.clone(),
            fields: list_fields(
                &l.list.name,
                &l.list.description,
                l.list.opt_in == OptIn::Double,
                l.list.public,
            ),
            button: "Save".into(),
            id: "save-list".into(),
            multipart: false,
        });
        if signed.actor.viewer.is_admin() {
            page.actions.push(
                Action::new(format!("{base}/delete"), "Delete this list", "delete-list")
                    .help("Its memberships go, unsubscribes included; the subscribers stay."),
            );
        }
    }
    Ok(page)
}

/// `GET /lists/{name}`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    render(&list_page(&state, &signed, &name, q.done.as_deref()).await?)
}

/// `POST /lists/{name}/import` (multipart: `file` or `csv`, and `confirmed`): imports and shows
/// the list with the report, each refused row with its file line.
pub async fn import(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let mut csv: Option<Bytes> = None;
    let mut pasted = String::new();
    let mut confirmed = false;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| WebError::BadRequest(format!("the upload is malformed: {e}")))?
    {
        let fname = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| WebError::BadRequest(format!("the upload is malformed: {e}")))?;
        match fname.as_str() {
            "file" if !bytes.is_empty() => csv = Some(bytes),
            "csv" => pasted = String::from_utf8_lossy(&bytes).into_owned(),
            "confirmed" => confirmed = true,
            _ => {}
        }
    }
    let csv = match csv {
        Some(b) => b,
        None if !pasted.trim().is_empty() => Bytes::from(pasted.into_bytes()),
        None => {
            return Err(WebError::BadRequest(
                "choose a CSV file or paste its text".into(),
            ));
        }
    };
    let report = state
        .app
        .import_csv(&signed.actor, &name, &csv, confirmed, Timestamp::now())
        .await;
    let mut page = list_page(&state, &signed, &name, None).await?;
    match report {
        Ok(r) => {
            page.report = Some(report_box(&r));
            render(&page)
        }
        Err(e) => {
            page.problem = Some(WebError::from(e).public_message());
            render_status(StatusCode::BAD_REQUEST, &page)
        }
    }
}

fn report_box(r: &ImportReport) -> ReportBox {
    let mut summary = format!(
        "{} imported, {} updated, {} skipped (unsubscribed or blocklisted), {} refused.",
        r.imported, r.updated, r.skipped, r.error_count
    );
    if r.confirmations > 0 {
        summary.push_str(&format!(
            " {} confirmation mails are queued; the new members stay unconfirmed until they follow them.",
            r.confirmations
        ));
    }
    if r.error_count > r.errors.len() as u64 {
        summary.push_str(&format!(" The first {} refused rows:", r.errors.len()));
    }
    ReportBox {
        summary,
        lines: r
            .errors
            .iter()
            .map(|e| (e.line, e.reason.clone()))
            .collect(),
    }
}

/// The add-one form.
#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    confirmed: Option<String>,
}

/// `POST /lists/{name}/add`.
pub async fn add(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Form(f): Form<AddForm>,
) -> Result<Response, WebError> {
    let email = EmailAddress::parse(f.email.trim())
        .map_err(|e| WebError::BadRequest(format!("Email: {e}")))?;
    let (outcome, queued) = state
        .app
        .add_subscriber(
            &signed.actor,
            &name,
            SubscriberInput {
                email,
                name: Some(f.name.trim().to_string()).filter(|n| !n.is_empty()),
                attribs: Default::default(),
            },
            f.confirmed.is_some(),
            Timestamp::now(),
        )
        .await?;
    let done = match (outcome, queued) {
        (etraq_core::campaign::MergeOutcome::Skipped, _) => "subscriber-skipped",
        (_, true) => "subscriber-confirm",
        _ => "subscriber-added",
    };
    Ok(back(&path("/lists", &name), done))
}

/// Query of the subscriber listing.
#[derive(Debug, Default, Deserialize)]
pub struct SubscribersQuery {
    list: Option<String>,
    status: Option<String>,
    q: Option<String>,
    after: Option<u64>,
}

/// `GET /subscribers`: search by address, filter by list and status.
pub async fn subscribers(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<SubscribersQuery>,
) -> Result<Response, WebError> {
    let status = non_empty(&q.status).map(MemberStatus::parse).transpose()?;
    let query = SubscriberQuery {
        list: non_empty(&q.list).map(str::to_string),
        status,
        search: non_empty(&q.q).map(str::to_string),
        after: q.after,
        limit: 100,
    };
    let (rows, next) = state.app.subscriber_rows(&signed.actor, &query).await?;
    let lists = state.app.lists(&signed.actor).await?;
    let mut page = AreaPage::new(&state, &signed, "/subscribers", "Subscribers");
    let keep = |after: Option<String>| {
        let after = after.unwrap_or_default();
        url(
            "/subscribers",
            &[
                ("list", q.list.as_deref().unwrap_or("")),
                ("status", q.status.as_deref().unwrap_or("")),
                ("q", q.q.as_deref().unwrap_or("")),
                ("after", &after),
            ],
        )
    };
    page.forms.push(FormBox {
        method: "post",
        title: "Find".into(),
        help: String::new(),
        action: "/subscribers".into(),
        fields: vec![
            Field::text("q", "Address contains", q.q.clone().unwrap_or_default()),
            Field::select(
                "list",
                "List",
                q.list.as_deref().unwrap_or(""),
                std::iter::once((String::new(), "any".to_string())).chain(
                    lists
                        .iter()
                        .map(|l| (l.list.name.clone(), l.list.name.clone())),
                ),
            ),
            Field::select(
                "status",
                "Status",
                q.status.as_deref().unwrap_or(""),
                ["", "confirmed", "unconfirmed", "unsubscribed"]
                    .iter()
                    .map(|s| {
                        (
                            s.to_string(),
                            if s.is_empty() { "any" } else { s }.to_string(),
                        )
                    }),
            ),
        ],
        button: "Show".into(),
        id: "find".into(),
        multipart: false,
    });
    page.forms[0].method = "get";
    page.sections.push(Section {
        title: "Subscribers".into(),
        id: "subscribers".into(),
        table: Table {
            columns: ["Email", "Name", "Lists", "Blocklisted"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        Cell::link(r.email.clone(), path("/subscribers", &r.email)),
                        Cell::text(r.name.clone()),
                        Cell::text(
                            r.lists
                                .iter()
                                .map(|m| format!("{} ({})", m.name, m.status))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        Cell::text(if r.blocklisted { "yes" } else { "" }),
                    ]
                })
                .collect(),
            empty: "Nobody matches.".into(),
            next: next.map(|n| keep(Some(n.to_string()))),
            first: q.after.map(|_| keep(None)),
            note: None,
        },
    });
    render(&page)
}

/// `GET /subscribers/{email}`: lists, attributes, events.
pub async fn subscriber(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(email): PathText,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let email = EmailAddress::parse(email.trim())
        .map_err(|e| WebError::BadRequest(format!("the address: {e}")))?;
    let d = state.app.subscriber(&signed.actor, &email).await?;
    let row = d.row();
    let tz = state.time_zone();
    let mut page = AreaPage::new(&state, &signed, "/subscribers", &row.email);
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.facts = vec![
        ("Name".into(), row.name.clone()),
        ("Since".into(), html::time(row.created_at, &tz)),
        (
            "Engagement score".into(),
            format!(
                "{:.1} (human opens 1, clicks 3, replies 5, conversions 10; halving every 30 days)",
                d.score
            ),
        ),
        (
            "Blocklisted".into(),
            match &row.blocklist_entry {
                Some(e) => format!("yes ({}, {})", e.address.key(), e.reason.as_str()),
                None => "no".into(),
            },
        ),
        (
            "History as a customer".into(),
            url("/history", &[("q", &row.email)]),
        ),
    ];
    for (k, v) in &row.attribs {
        page.facts.push((
            k.clone(),
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        ));
    }
    page.sections.push(Section {
        title: "Lists".into(),
        id: "memberships".into(),
        table: Table {
            columns: ["List", "Status", "Since"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: row
                .lists
                .iter()
                .map(|m| {
                    vec![
                        Cell::link(m.name.clone(), path("/lists", &m.name)),
                        Cell::text(m.status),
                        Cell::text(html::time(m.updated_at, &tz)),
                    ]
                })
                .collect(),
            empty: "On no list.".into(),
            ..Table::default()
        },
    });
    page.sections.push(Section {
        title: "Events".into(),
        id: "events".into(),
        table: Table {
            columns: ["When", "What", "Campaign", "Detail"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: row
                .events
                .iter()
                .map(|e| {
                    vec![
                        Cell::text(html::time(e.at, &tz)),
                        Cell::text(e.kind),
                        Cell::link(e.campaign.clone(), path("/campaigns", &e.campaign)),
                        Cell::text(e.detail.clone().unwrap_or_default()),
                    ]
                })
                .collect(),
            empty: "Nothing sent yet.".into(),
            ..Table::default()
        },
    });
    if supervisor(&signed)
        && row
            .lists
            .iter()
            .any(|m| m.status != MemberStatus::Unsubscribed.as_str())
    {
        page.actions.push(
            Action::new(
                path("/subscribers", &row.email) + "/unsubscribe",
                "Unsubscribe from every list",
                "unsubscribe-all",
            )
            .help("Only the person can subscribe again, through a list's subscribe form."),
        );
    }
    render(&page)
}

/// `POST /subscribers/{email}/unsubscribe` (`list` optional).
pub async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(email): PathText,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> Result<Response, WebError> {
    let addr = EmailAddress::parse(email.trim())
        .map_err(|e| WebError::BadRequest(format!("the address: {e}")))?;
    state
        .app
        .unsubscribe(
            &signed.actor,
            &addr,
            f.get("list").map(String::as_str).filter(|l| !l.is_empty()),
            Timestamp::now(),
        )
        .await?;
    Ok(back(&path("/subscribers", addr.as_str()), "unsubscribed"))
}

/// `GET /blocklist`.
pub async fn blocklist(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let entries = state.app.blocklist(&signed.actor).await?;
    let admin = signed.actor.viewer.is_admin();
    let mut page = AreaPage::new(&state, &signed, "/blocklist", "Blocklist");
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.intro = "Nothing is ever sent to these addresses and domains.".into();
    page.sections.push(Section {
        title: "Entries".into(),
        id: "blocklist".into(),
        table: Table {
            columns: ["Address", "Reason", "Since"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: entries
                .iter()
                .map(|e| {
                    vec![
                        Cell::text(e.address.key()),
                        Cell::text(e.reason.as_str()),
                        Cell::text(html::time(e.created_at, &tz)),
                    ]
                })
                .collect(),
            empty: "The blocklist is empty.".into(),
            ..Table::default()
        },
    });
    if supervisor(&signed) {
        page.forms.push(FormBox {
            method: "post",
            title: "Block".into(),
            help: String::new(),
            action: "/blocklist".into(),
            fields: vec![
                Field::text("address", "Address or @domain", "").placeholder("@competitor.example"),
                Field::select(
                    "reason",
                    "Reason",
                    "manual",
                    ["manual", "hard-bounce", "soft-bounces", "complaint"]
                        .iter()
                        .map(|r| (r.to_string(), r.to_string())),
                ),
            ],
            button: "Block".into(),
            id: "block".into(),
            multipart: false,
        });
    }
    if admin && !entries.is_empty() {
        page.forms.push(FormBox {
            method: "post",
            title: "Lift an entry".into(),
            help: "Mail may then go to someone who bounced or complained: be sure.".into(),
            action: "/blocklist/remove".into(),
            fields: vec![Field::select(
                "address",
                "Entry",
                "",
                entries.iter().map(|e| (e.address.key(), e.address.key())),
            )],
            button: "Remove".into(),
            id: "unblock".into(),
            multipart: false,
        });
    }
    render(&page)
}

/// The blocklist form.
#[derive(Debug, Default, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    address: String,
    #[serde(default)]
    reason: String,
}

/// `POST /blocklist`.
pub async fn block(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<BlockForm>,
) -> Result<Response, WebError> {
    let reason = match f.reason.trim() {
        "" => BlockReason::Manual,
        r => BlockReason::parse(r)?,
    };
    state
        .app
        .block(&signed.actor, &f.address, reason, Timestamp::now())
        .await?;
    Ok(back("/blocklist", "saved"))
}

/// `POST /blocklist/remove` (admins).
pub async fn unblock(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<BlockForm>,
) -> Result<Response, WebError> {
    state.app.unblock(&signed.actor, &f.address).await?;
    Ok(back("/blocklist", "deleted"))
}
