//! The Campaigns tab's campaign pages: the listing with the form for a new one, and each
//! campaign's page with its live progress bar (`app.js` polls `/api/v1/campaigns/NAME`), its
//! controls (start now or at a time, pause, resume, cancel) and its recipients. Everyone signed
//! in may look; supervisors act (the route groups in [`crate::pages::router`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::EmailAddress;
use etraq_core::campaign::{CampaignStatus, RecipientState};
use etraq_core::service::{CampaignAction, CampaignDraft};
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, PathText, Query, non_empty};
use crate::html::{self, Cell, Column, Field, Table, segment, url};
use crate::pages::area::{Action, AreaPage, Done, FormBox, Progress, Section, path, supervisor};
use crate::pages::campaign_report;
use crate::pages::{back, done_message, render, render_status};
use crate::state::AppState;

/// `GET /campaigns`: every campaign with its counts.
pub async fn campaigns(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let all = state.app.campaigns(&signed.actor).await?;
    let rows = all
        .iter()
        .rev()
        .map(|(c, n)| {
            vec![
                Cell::link(c.name.clone(), path("/campaigns", &c.name)),
                Cell::text(c.status.as_str()).class(status_class(c.status)),
                Cell::text(c.lists.join(", ")),
                Cell::text(c.template.clone()),
                Cell::text(n.recipients.to_string()).class("num"),
                Cell::text(n.sent.to_string()).class("num"),
                Cell::text(n.failed.to_string()).class("num"),
                Cell::text(n.in_doubt.to_string()).class("num"),
                Cell::text(html::time(c.created_at, &tz)),
            ]
        })
        .collect();
    let mut page = AreaPage::new(&state, &signed, "/campaigns", "Campaigns");
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.intro = "Mass mail to the people on your lists, every recipient accounted for.".into();
    page.sections.push(Section {
        title: "All campaigns".into(),
        id: "campaigns".into(),
        table: Table {
            columns: [
                "Name",
                "Status",
                "Lists",
                "Template",
                "Recipients",
                "Sent",
                "Failed",
                "In doubt",
                "Created",
            ]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
            rows,
            empty: "No campaigns yet.".into(),
            ..Table::default()
        },
    });
    if !all.is_empty() {
        let reports = state.app.campaign_reports(&signed.actor).await?;
        page.sections.push(campaign_report::comparison(&reports));
    }
    if supervisor(&signed) {
        page.forms
            .push(new_campaign_form(&state, &signed, &CampaignForm::default()).await?);
    }
    render(&page)
}

fn status_class(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Running => "ok",
        CampaignStatus::Paused => "paused",
        _ => "",
    }
}

/// The fields of a new campaign.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CampaignForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    reply_to: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    segment: String,
    #[serde(default)]
    rate: String,
}

async fn new_campaign_form(
    state: &AppState,
    signed: &Signed,
    f: &CampaignForm,
) -> Result<FormBox, WebError> {
    let lists = state.app.lists(&signed.actor).await?;
    let templates = state.app.templates(&signed.actor).await?;
    Ok(FormBox {
        method: "post",
        title: "New campaign".into(),
        help: "It is checked before anything is sent: the template must render for the first \
               recipients and the segment must compile. Then start it from its page."
            .into(),
        action: "/campaigns".into(),
        fields: vec![
            Field::text("name", "Name", &f.name).placeholder("Spring sale"),
            Field::select(
                "list",
                "List",
                &f.list,
                lists.iter().map(|l| {
                    (
                        l.list.name.clone(),
                        format!("{} ({} receive)", l.list.name, l.confirmed),
                    )
                }),
            ),
            Field::select(
                "template",
                "Template",
                &f.template,
                templates
                    .iter()
                    .map(|t| (t.name.clone(), format!("{} ({})", t.name, t.kind.as_str()))),
            ),
            Field::text("subject", "Subject", &f.subject)
                .help("Leave empty for the template's own subject."),
            Field::text("from", "From", &f.from).placeholder("Shop <news@example.com>"),
            Field::text("reply_to", "Reply-To", &f.reply_to),
            Field::text("owner", "Owner", &f.owner)
                .placeholder("sue@example.com")
                .help("The user whose DRs the replies become."),
            Field::text("segment", "Only subscribers where", &f.segment)
                .placeholder("subscriber.attribs.country == \"DE\""),
            Field::text("rate", "Mails per second", &f.rate)
                .kind("number")
                .help("Empty: campaigns.rate_per_second."),
        ],
        button: "Create campaign".into(),
        id: "create-campaign".into(),
        multipart: false,
    })
}

/// `POST /campaigns`: creates a campaign, then shows it.
pub async fn create_campaign(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<CampaignForm>,
) -> Result<Response, WebError> {
    let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let owner = opt(&f.owner)
        .map(|o| EmailAddress::parse(&o).map_err(|e| WebError::BadRequest(format!("Owner: {e}"))))
        .transpose();
    let rate = opt(&f.rate)
        .map(|r| {
            r.parse::<u32>().map_err(|_| {
                WebError::BadRequest(format!("Mails per second: {r:?} is not a number"))
            })
        })
        .transpose();
    let result = match (owner, rate) {
        (Ok(owner), Ok(rate)) => state
            .app
            .create_campaign(
                &signed.actor,
                CampaignDraft {
                    name: f.name.clone(),
                    lists: opt(&f.list).into_iter().collect(),
                    template: f.template.clone(),
                    subject: opt(&f.subject),
                    from: opt(&f.from),
                    reply_to: opt(&f.reply_to),
                    owner,
                    segment: opt(&f.segment),
                    rate,
                    send_at: None,
                },
                Timestamp::now(),
            )
            .await
            .map_err(WebError::from),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(c) => Ok(back(&path("/campaigns", &c.name), "saved")),
        Err(WebError::BadRequest(why)) => {
            let mut page = AreaPage::new(&state, &signed, "/campaigns", "New campaign");
            page.problem = Some(why);
            page.forms
                .push(new_campaign_form(&state, &signed, &f).await?);
            render_status(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e),
    }
}

/// Query of a campaign's page.
#[derive(Debug, Default, Deserialize)]
pub struct CampaignQuery {
    done: Option<String>,
    state: Option<String>,
    after: Option<u64>,
}

/// `GET /campaigns/{name}`: the campaign, its live progress, its controls and recipients.
pub async fn campaign(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Query(q): Query<CampaignQuery>,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let (c, n) = state.app.campaign_with_counts(&signed.actor, &name).await?;
    let report = state.app.campaign_report(&signed.actor, &c.name).await?;
    // The chart runs from the send to now (or to the last hit of a campaign read later).
    let now = Timestamp::now();
    let minute = state
        .app
        .campaign_series(&signed.actor, &c.name, 60)
        .await?;
    let from = c.started_at.or(minute.first().map(|b| b.at)).unwrap_or(now);
    let to = minute.last().map_or(now, |b| b.at.max(now));
    let secs = campaign_report::bucket_secs(from, to);
    let series = state
        .app
        .campaign_series(&signed.actor, &c.name, secs)
        .await?;
    let mut page = AreaPage::new(
        &state,
        &signed,
        "/campaigns",
        &format!("Campaign {}", c.name),
    );
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.facts = vec![
        ("Status".into(), c.status.as_str().into()),
        ("Lists".into(), c.lists.join(", ")),
        ("Template".into(), c.template.clone()),
        (
            "Subject".into(),
            c.subject
                .clone()
                .unwrap_or_else(|| "(the template's)".into()),
        ),
        ("From".into(), c.from.clone()),
        (
            "Owner".into(),
            c.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
        ),
        ("Segment".into(), c.segment.clone().unwrap_or_default()),
        (
            "Rate".into(),
            c.rate
                .map(|r| format!("{r} per second"))
                .unwrap_or_else(|| "campaigns.rate_per_second".into()),
        ),
        ("Created".into(), html::time(c.created_at, &tz)),
        ("Scheduled for".into(), html::opt_time(c.send_at, &tz)),
        ("Started".into(), html::opt_time(c.started_at, &tz)),
        ("Finished".into(), html::opt_time(c.finished_at, &tz)),
    ];
    page.progress = Some(Progress {
        src: format!("/api/v1/campaigns/{}", segment(&c.name)),
        status: c.status.as_str().into(),
        done: n.sent + n.failed + n.in_doubt + n.skipped,
        total: n.recipients,
        sent: n.sent,
        failed: n.failed,
        in_doubt: n.in_doubt,
        skipped: n.skipped,
    });
    if supervisor(&signed) {
        let control = path("/campaigns", &c.name) + "/control";
        let act = |action: &str, label: &str| {
            Action::new(control.clone(), label, &format!("campaign-{action}"))
                .hidden("action", action)
        };
        match c.status {
            CampaignStatus::Draft | CampaignStatus::Scheduled => {
                page.actions.push(
                    act("start", "Start sending now")
                        .help("The running server sends it; the bar below follows it."),
                );
                page.forms.push(FormBox {
                    method: "post",
                    title: "Schedule".into(),
                    help: "Or pick a time: the running server starts sending then.".into(),
                    action: control.clone(),
                    fields: vec![
                        Field::text("action", "", "start").kind("hidden"),
                        Field::text("at", "Start at", "")
                            .kind("datetime-local")
                            .help("In the configured time zone."),
                    ],
                    button: "Schedule".into(),
                    id: "campaign-schedule".into(),
                    multipart: false,
                });
            }
            CampaignStatus::Running => page.actions.push(act("pause", "Pause")),
            CampaignStatus::Paused => page.actions.push(act("resume", "Resume")),
            _ => {}
        }
        if matches!(
            c.status,
            CampaignStatus::Draft
                | CampaignStatus::Scheduled
                | CampaignStatus::Running
                | CampaignStatus::Paused
        ) {
            page.actions
                .push(act("cancel", "Cancel").help("For good: nobody not yet sent to gets it."));
        }
    }
    if n.sent > 0 {
        page.lead.push(campaign_report::results(&report));
        page.charts = campaign_report::charts(&report, &series, (from, to), secs, &tz);
    }
    let st = non_empty(&q.state).map(RecipientState::parse).transpose()?;
    let recipients = state
        .app
        .campaign_recipients(&signed.actor, &c.name, st, q.after, 100)
        .await?;
    let here = path("/campaigns", &c.name);
    let state_text = q.state.clone().unwrap_or_default();
    page.sections.push(Section {
        title: match st {
            Some(s) => format!("Recipients ({})", s.as_str()),
            None => "Recipients".into(),
        },
        id: "recipients".into(),
        table: Table {
            columns: ["Email", "State", "Sent at", "Message-ID", "Error"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: recipients
                .items
                .iter()
                .map(|r| {
                    vec![
                        Cell::link(r.email.to_string(), path("/subscribers", r.email.as_str())),
                        Cell::text(r.state.as_str()),
                        Cell::text(html::opt_time(r.sent_at, &tz)),
                        Cell::text(r.message_id.clone().unwrap_or_default()).class("mono"),
                        Cell::text(r.error.clone().unwrap_or_default()),
                    ]
                })
                .collect(),
            empty: if n.recipients == 0 {
                "The recipients are frozen when sending starts.".into()
            } else {
                "No recipient in this state.".into()
            },
            next: recipients.next.map(|a| {
                url(&here, &[("state", &state_text), ("after", &a.to_string())]) + "#recipients"
            }),
            first: q
                .after
                .map(|_| url(&here, &[("state", &state_text)]) + "#recipients"),
            note: None,
        },
    });
    render(&page)
}

/// Body of the campaign controls.
#[derive(Debug, Default, Deserialize)]
pub struct ControlForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    at: String,
}

/// `POST /campaigns/{name}/control` (`action=start|pause|resume|cancel`, `at` to schedule).
pub async fn control(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Form(f): Form<ControlForm>,
) -> Result<Response, WebError> {
    let at = match f.at.trim() {
        "" => None,
        t => Some(crate::parse::parse_local_time(t, &state.time_zone())?),
    };
    let action = match f.action.as_str() {
        "start" => CampaignAction::Start { at },
        "pause" => CampaignAction::Pause,
        "resume" => CampaignAction::Resume,
        "cancel" => CampaignAction::Cancel,
        other => {
            return Err(WebError::BadRequest(format!(
                "unknown action {other:?}: start, pause, resume or cancel"
            )));
        }
    };
    let c = state
        .app
        .control_campaign(&signed.actor, &name, action, Timestamp::now())
        .await?;
    Ok(back(&path("/campaigns", &c.name), "saved"))
}
