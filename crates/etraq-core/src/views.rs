//! The rows every listing shows, with the contract JSON field names.
//!
//! The CLI's `--json` output and the console's JSON API serialise these same structs, so the two
//! can never drift apart; the CLI's tables and the console's HTML tables show their fields in the
//! original eTraq Server's column order.

use jiff::Timestamp;
use serde::Serialize;

use crate::address::EmailAddress;
use crate::model::{Alert, AlertMail, Dr, MailRecord};

/// A tracked mail / DR row: `id, owner, sender, recipient, subject, assigned_on, cc_users,
/// mail_type, status, escalation_level` (contract), plus the DR's customer and timers.
#[derive(Clone, Debug, Serialize)]
pub struct DrRow {
    /// `id`.
    pub id: String,
    /// `owner`.
    pub owner: String,
    /// `sender`.
    pub sender: String,
    /// `recipient`.
    pub recipient: Option<String>,
    /// `subject`.
    pub subject: String,
    /// `assigned_on`.
    pub assigned_on: Timestamp,
    /// `cc_users`.
    pub cc_users: Vec<String>,
    /// `mail_type`.
    pub mail_type: String,
    /// `status`.
    pub status: String,
    /// `escalation_level`.
    pub escalation_level: u32,
    /// `customer`.
    pub customer: String,
    /// `awaiting_since`.
    pub awaiting_since: Option<Timestamp>,
    /// `first_response_at`.
    pub first_response_at: Option<Timestamp>,
    /// `last_activity`.
    pub last_activity: Timestamp,
}

impl From<&Dr> for DrRow {
    fn from(d: &Dr) -> Self {
        DrRow {
            id: d.id.to_string(),
            owner: d.owner.to_string(),
            sender: d.last_sender.to_string(),
            recipient: d.last_recipient.as_ref().map(|r| r.to_string()),
            subject: d.subject.clone(),
            assigned_on: d.assigned_on,
            cc_users: strings(&d.cc_users),
            mail_type: d.last_mail_type.to_string(),
            status: d.status.to_string(),
            escalation_level: d.escalation_level,
            customer: d.customer.to_string(),
            awaiting_since: d.awaiting_since,
            first_response_at: d.first_response_at,
            last_activity: d.last_activity,
        }
    }
}

/// An untracked mail row: `recipient, sender, subject, cc_users, mailed_on, reason` (contract),
/// plus its ids.
#[derive(Clone, Debug, Serialize)]
pub struct UntrackedRow {
    /// `recipient`.
    pub recipient: Option<String>,
    /// `sender`.
    pub sender: Option<String>,
    /// `subject`.
    pub subject: String,
    /// `cc_users`.
    pub cc_users: Vec<String>,
    /// `mailed_on`.
    pub mailed_on: Timestamp,
    /// `reason`.
    pub reason: String,
    /// `message_id`.
    pub message_id: String,
    /// `direction`.
    pub direction: String,
    /// `dr`.
    pub dr: Option<String>,
    /// `seq`.
    pub seq: u64,
}

impl From<&MailRecord> for UntrackedRow {
    fn from(m: &MailRecord) -> Self {
        UntrackedRow {
            recipient: m.recipient().map(|r| r.to_string()),
            sender: m.sender.as_ref().map(|s| s.to_string()),
            subject: m.subject.clone(),
            cc_users: strings(&m.cc),
            mailed_on: m.received_at,
            reason: m
                .decision
                .reason()
                .map(|r| r.to_string())
                .unwrap_or_default(),
            message_id: m.message_id.to_string(),
            direction: m.direction.to_string(),
            dr: m.dr.as_ref().map(|d| d.to_string()),
            seq: m.seq,
        }
    }
}

/// A search result (contract: `message_id, dr, date, direction, from, to, subject, snippet,
/// score`; `seq` names the mail page).
#[derive(Clone, Debug, Serialize)]
pub struct SearchRow {
    /// `seq`.
    pub seq: u64,
    /// `message_id`.
    pub message_id: String,
    /// `dr`.
    pub dr: Option<String>,
    /// `date`: when it was sent (its Date header), else received.
    pub date: Timestamp,
    /// `direction`.
    pub direction: String,
    /// `from`.
    pub from: Option<String>,
    /// `to`.
    pub to: Vec<String>,
    /// `subject`.
    pub subject: String,
    /// `snippet`: the body around the first word searched for.
    pub snippet: String,
    /// `score`: relevance, higher is better (0 for a query of filters only).
    pub score: f64,
}

/// A mail in a history or a DR thread.
#[derive(Clone, Debug, Serialize)]
pub struct MailRow {
    /// `seq`.
    pub seq: u64,
    /// `message_id`.
    pub message_id: String,
    /// `mailed_on`.
    pub mailed_on: Timestamp,
    /// `direction`.
    pub direction: String,
    /// `sender`.
    pub sender: Option<String>,
    /// `recipient`.
    pub recipient: Option<String>,
    /// `cc_users`.
    pub cc_users: Vec<String>,
    /// `subject`.
    pub subject: String,
    /// `decision`.
    pub decision: String,
    /// `mail_type`.
    pub mail_type: Option<String>,
    /// `reason`.
    pub reason: Option<String>,
    /// `dr`.
    pub dr: Option<String>,
}

impl From<&MailRecord> for MailRow {
    fn from(m: &MailRecord) -> Self {
        MailRow {
            seq: m.seq,
            message_id: m.message_id.to_string(),
            mailed_on: m.received_at,
            direction: m.direction.to_string(),
            sender: m.sender.as_ref().map(|s| s.to_string()),
            recipient: m.recipient().map(|r| r.to_string()),
            cc_users: strings(&m.cc),
            subject: m.subject.clone(),
            decision: m.decision.kind().to_string(),
            mail_type: m.decision.mail_type().map(|t| t.to_string()),
            reason: m.decision.reason().map(|r| r.to_string()),
            dr: m.dr.as_ref().map(|d| d.to_string()),
        }
    }
}

fn strings(v: &[EmailAddress]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

/// An alert as `alerts list` and `escalate --json` print it: the contract fields first.
#[derive(Clone, Debug, Serialize)]
pub struct AlertRow {
    /// `event_type`.
    pub event_type: String,
    /// `user`.
    pub user: String,
    /// `date_time`.
    pub date_time: Timestamp,
    /// `source_dr`.
    pub source_dr: String,
    /// `assigned_on`.
    pub assigned_on: Timestamp,
    /// `dr_owner`.
    pub dr_owner: String,
    /// `id`.
    pub id: u64,
    /// `level`.
    pub level: u32,
    /// `customer`.
    pub customer: String,
    /// `subject`.
    pub subject: String,
    /// `waited_secs`.
    pub waited_secs: i64,
    /// `mail`.
    pub mail: String,
}

impl AlertRow {
    /// The Event Type cell: `Escalated (level 2)` for escalations, else the kind.
    pub fn event_label(&self) -> String {
        event_label(&self.event_type, self.level)
    }
}

/// The Event Type cell of an alert: an escalation says its level.
pub fn event_label(event_type: &str, level: u32) -> String {
    if event_type == crate::model::AlertKind::Escalated.to_string() {
        format!("Escalated (level {level})")
    } else {
        event_type.to_string()
    }
}

/// The column headings of the listings, named as the original product's guide names them.
/// The CLI's tables and the console's pages both take them from here, so a listing shows the
/// same columns under the same names wherever it is read; a frontend may add columns of its
/// own after them (a link to the raw mail, a password state).
pub mod columns {
    /// Mailing lists.
    pub const LISTS: &[&str] = &[
        "Name",
        "Opt-in",
        "Public",
        "Confirmed",
        "Unconfirmed",
        "Unsubscribed",
        "Description",
    ];
    /// Subscribers.
    pub const SUBSCRIBERS: &[&str] = &["Email", "Name", "Lists", "Blocklisted", "Attributes"];
    /// The blocklist (contract rows: `address, reason, created_at`).
    pub const BLOCKLIST: &[&str] = &["Address", "Reason", "Created At"];
    /// Tracked Mails (DRs): the guide's columns plus status and escalation level.
    pub const DRS: &[&str] = &[
        "Owner",
        "Sender",
        "Recipient",
        "Subject",
        "Assigned On",
        "DR Assigned",
        "CC Users",
        "Mail Type",
        "Status",
        "Level",
    ];
    /// Untracked Mails.
    pub const UNTRACKED: &[&str] = &[
        "Recipient",
        "Sender",
        "Subject",
        "CC Users",
        "Mailed On",
        "Reason",
    ];
    /// The mails of a history or a DR's thread.
    pub const MAILS: &[&str] = &[
        "Mailed On",
        "Direction",
        "Sender",
        "Recipient",
        "Subject",
        "Type / Reason",
    ];
    /// Users.
    pub const USERS: &[&str] = &[
        "Email",
        "Name",
        "Department",
        "Supervisor",
        "Role",
        "Tracking",
        "Alert Mail",
    ];
    /// Alerts: the guide's columns plus the state of the alert mail.
    pub const ALERTS: &[&str] = &[
        "Event Type",
        "User",
        "Date & Time",
        "Source DR",
        "Assigned On",
        "DR Owner",
        "Mail",
    ];
}

impl From<&Alert> for AlertRow {
    fn from(a: &Alert) -> Self {
        AlertRow {
            event_type: a.event_type.to_string(),
            user: a.user.to_string(),
            date_time: a.date_time,
            source_dr: a.source_dr.to_string(),
            assigned_on: a.assigned_on,
            dr_owner: a.dr_owner.to_string(),
            id: a.id,
            level: a.level,
            customer: a.customer.to_string(),
            subject: a.subject.clone(),
            waited_secs: a.waited_secs,
            mail: alert_mail_state(&a.mail, |t| t.to_string()),
        }
    }
}

/// A DR with its thread, as `etraq dr show --json` and `GET /api/v1/drs/{id}` show it.
#[derive(Clone, Debug, Serialize)]
pub struct DrDetail {
    /// The DR's listing row.
    #[serde(flatten)]
    pub dr: DrRow,
    /// External addresses seen on its mails.
    pub participants: Vec<String>,
    /// Its version (optimistic concurrency).
    pub version: u64,
    /// Its mails, oldest first (at most [`crate::service::MAX_THREAD`]).
    pub messages: Vec<MailRow>,
    /// True when the thread has more mails than are listed.
    pub truncated: bool,
    /// The campaign this DR is a lead of: the customer answered its mail (`null` otherwise).
    pub campaign: Option<String>,
}

/// An unreplied DR: the DR row plus how long the customer has waited (`etraq report unreplied`).
#[derive(Clone, Debug, Serialize)]
pub struct UnrepliedRow {
    /// The DR's listing row.
    #[serde(flatten)]
    pub dr: DrRow,
    /// Seconds the customer has waited.
    pub waiting_secs: i64,
    /// The owner's department.
    pub department: Option<String>,
}

/// `etraq status --json` and `GET /api/v1/status`: whether the server runs, the counters and
/// the counts.
#[derive(Clone, Debug, Serialize)]
pub struct StatusView {
    /// Whether a server is running.
    pub running: bool,
    /// What it listens on (`smtp 127.0.0.1:2525`, `web 127.0.0.1:8080`).
    pub listening: Vec<String>,
    /// `evaluation` or `relaying to HOST:PORT`.
    pub mode: Option<String>,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// Seconds since it started.
    pub uptime_secs: Option<i64>,
    /// Tracked mail records.
    pub tracked: u64,
    /// Untracked mail records.
    pub untracked: u64,
    /// Open DRs.
    pub open: u64,
    /// Replied DRs.
    pub replied: u64,
    /// Closed DRs.
    pub closed: u64,
    /// Users.
    pub users: u64,
    /// Escalations raised so far.
    #[serde(rename = "ESCALATED")]
    pub escalated: u64,
    /// Warnings raised so far.
    #[serde(rename = "WARNED")]
    pub warned: u64,
    /// Alerts waiting to be mailed.
    pub outbox: u64,
    /// The store.
    pub store: String,
    /// Which services run (known to the server itself, not to a separate CLI process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<crate::switches::ServiceStates>,
}

impl StatusView {
    /// The counts part from the store's statistics; the caller fills in the server part.
    pub fn from_stats(stats: &crate::store::StoreStats, store: String) -> StatusView {
        StatusView {
            running: false,
            listening: Vec::new(),
            mode: None,
            started_at: None,
            uptime_secs: None,
            tracked: stats.tracked,
            untracked: stats.untracked,
            open: stats.open,
            replied: stats.replied,
            closed: stats.closed,
            users: stats.users,
            escalated: stats.escalated,
            warned: stats.warned,
            outbox: stats.outbox,
            store,
            services: None,
        }
    }
}

/// What became of an alert's mail, in words, with times written by `time`.
pub fn alert_mail_state(m: &AlertMail, time: impl Fn(Timestamp) -> String) -> String {
    match m {
        AlertMail::Pending { attempts: 0, .. } => "pending".into(),
        AlertMail::Pending {
            attempts,
            last_error,
            ..
        } => format!(
            "retrying ({attempts} failed{})",
            last_error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
        AlertMail::Sent { at, .. } => format!("sent {}", time(*at)),
        AlertMail::Disabled => "off for this user".into(),
        AlertMail::Sending { since, .. } => format!(
            "being sent since {} (in doubt if that was long ago: the node sending it stopped)",
            time(*since)
        ),
    }
}

/// One membership in a [`SubscriberRow`]: `{name, status}` (contract).
#[derive(Clone, Debug, Serialize)]
pub struct MembershipRow {
    /// The list's name.
    pub name: String,
    /// `confirmed`, `unconfirmed` or `unsubscribed`.
    pub status: &'static str,
    /// When the status last changed.
    pub updated_at: Timestamp,
}

/// A subscriber as `subscriber show` and the API give it (contract: `email, name, attribs,
/// blocklisted, lists: [{name, status}], events`). Events come with campaign sending; until
/// then the array is empty.
#[derive(Clone, Debug, Serialize)]
pub struct SubscriberRow {
    /// `email`.
    pub email: String,
    /// `name`.
    pub name: String,
    /// `attribs`.
    pub attribs: serde_json::Map<String, serde_json::Value>,
    /// `blocklisted`: whether the blocklist holds the address or its domain.
    pub blocklisted: bool,
    /// The blocklist entry that applies, when `blocklisted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocklist_entry: Option<crate::campaign::BlockEntry>,
    /// `lists`.
    pub lists: Vec<MembershipRow>,
    /// `events`: sent, opens, clicks, bounces …, newest first.
    pub events: Vec<EventRow>,
    /// `score`: the engagement score now (opens, human clicks, replies, conversions, halving
    /// every 30 days); only in a single subscriber's view, where it costs one read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// When the address was first stored.
    pub created_at: Timestamp,
}

/// One of a subscriber's events: `kind, campaign, at, detail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// `sent`, `bounce`, `open`, `click` …
    pub kind: &'static str,
    /// The campaign's name.
    pub campaign: String,
    /// When.
    pub at: Timestamp,
    /// More words (a bounce's reply, a link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SubscriberRow {
    /// The row with the subscriber's events (newest first) filled in.
    pub fn with_events(mut self, events: Vec<EventRow>) -> SubscriberRow {
        self.events = events;
        self
    }

    /// The row with the engagement score filled in.
    pub fn with_score(mut self, score: f64) -> SubscriberRow {
        self.score = Some(score);
        self
    }

    /// The row of a subscriber; `blocked` is its blocklist entry, if known.
    pub fn new(
        s: &crate::campaign::Subscriber,
        blocked: Option<crate::campaign::BlockEntry>,
    ) -> SubscriberRow {
        SubscriberRow {
            email: s.email.to_string(),
            name: s.name.clone(),
            attribs: s.attribs.clone(),
            blocklisted: blocked.is_some(),
            blocklist_entry: blocked,
            lists: s
                .lists
                .values()
                .map(|m| MembershipRow {
                    name: m.list.clone(),
                    status: m.status.as_str(),
                    updated_at: m.updated_at,
                })
                .collect(),
            events: Vec::new(),
            score: None,
            created_at: s.created_at,
        }
    }
}

/// A campaign as `campaign list|show --json` and `/api/v1/campaigns` show it, with the contract
/// names (`name, status, owner, lists, template, subject, from, created_at, started_at,
/// finished_at, recipients, queued, sent, failed, in_doubt, skipped`), plus `send_at` and
/// `sending` (recipients whose mail is with the relay right now).
#[derive(Clone, Debug, Serialize)]
pub struct CampaignView {
    /// `name`.
    pub name: String,
    /// `status`.
    pub status: &'static str,
    /// `owner`.
    pub owner: Option<String>,
    /// `lists`.
    pub lists: Vec<String>,
    /// `template`.
    pub template: String,
    /// `subject` (a subject replacing the template's).
    pub subject: Option<String>,
    /// `from`.
    pub from: String,
    /// `created_at`.
    pub created_at: Timestamp,
    /// When a running server starts it (scheduled campaigns).
    pub send_at: Option<Timestamp>,
    /// `started_at`.
    pub started_at: Option<Timestamp>,
    /// `finished_at`.
    pub finished_at: Option<Timestamp>,
    /// `recipients`.
    pub recipients: u64,
    /// `queued`.
    pub queued: u64,
    /// Being handed to the relay now.
    pub sending: u64,
    /// `sent`.
    pub sent: u64,
    /// `failed`.
    pub failed: u64,
    /// `in_doubt`.
    pub in_doubt: u64,
    /// `skipped`.
    pub skipped: u64,
    /// `bounced_hard`.
    pub bounced_hard: u64,
    /// `bounced_soft`.
    pub bounced_soft: u64,
    /// `complaints`.
    pub complaints: u64,
    /// `unsubscribed`.
    pub unsubscribed: u64,
    /// `replies`.
    pub replies: u64,
    /// `opens`.
    pub opens: u64,
    /// `unique_opens`.
    pub unique_opens: u64,
    /// `human_opens`.
    pub human_opens: u64,
    /// `clicks`.
    pub clicks: u64,
    /// `unique_clicks`.
    pub unique_clicks: u64,
    /// `human_clicks`.
    pub human_clicks: u64,
    /// `conversions`.
    pub conversions: u64,
    /// `revenue`.
    pub revenue: f64,
    /// `links`: `url, clicks, unique_clicks, human_clicks` each (and conversions, revenue).
    pub links: Vec<crate::campaign::LinkStats>,
}

impl CampaignView {
    /// With the campaign's tracking counts.
    pub fn with_tracking(mut self, t: &crate::campaign::TrackingCounts) -> CampaignView {
        self.bounced_hard = t.bounced_hard;
        self.bounced_soft = t.bounced_soft;
        self.complaints = t.complaints;
        self.unsubscribed = t.unsubscribed;
        self.replies = t.replies;
        self.opens = t.opens;
        self.unique_opens = t.unique_opens;
        self.human_opens = t.human_opens;
        self.clicks = t.clicks;
        self.unique_clicks = t.unique_clicks;
        self.human_clicks = t.human_clicks;
        self.conversions = t.conversions;
        self.revenue = t.revenue;
        self.links = t.links.clone();
        self
    }

    /// The view of a campaign with its recipient counts.
    pub fn new(
        c: &crate::campaign::Campaign,
        n: &crate::campaign::RecipientCounts,
    ) -> CampaignView {
        CampaignView {
            name: c.name.clone(),
            status: c.status.as_str(),
            owner: c.owner.as_ref().map(|o| o.to_string()),
            lists: c.lists.clone(),
            template: c.template.clone(),
            subject: c.subject.clone(),
            from: c.from.clone(),
            created_at: c.created_at,
            send_at: c.send_at,
            started_at: c.started_at,
            finished_at: c.finished_at,
            recipients: n.recipients,
            queued: n.queued,
            sending: n.sending,
            sent: n.sent,
            failed: n.failed,
            in_doubt: n.in_doubt,
            skipped: n.skipped,
            bounced_hard: 0,
            bounced_soft: 0,
            complaints: 0,
            unsubscribed: 0,
            replies: 0,
            opens: 0,
            unique_opens: 0,
            human_opens: 0,
            clicks: 0,
            unique_clicks: 0,
            human_clicks: 0,
            conversions: 0,
            revenue: 0.0,
            links: Vec::new(),
        }
    }
}

/// A template as `template list --json` and `/api/v1/templates` show it: `name, kind, subject,
/// builtin` (contract).
#[derive(Clone, Debug, Serialize)]
pub struct TemplateRow {
    /// `name`.
    pub name: String,
    /// `kind`.
    pub kind: &'static str,
    /// `subject`.
    pub subject: String,
    /// `builtin`.
    pub builtin: bool,
}

impl From<&crate::campaign::Template> for TemplateRow {
    fn from(t: &crate::campaign::Template) -> TemplateRow {
        TemplateRow {
            name: t.name.clone(),
            kind: t.kind.as_str(),
            subject: t.subject.clone(),
            builtin: t.builtin,
        }
    }
}

/// A campaign recipient as `campaign recipients --json` and the API show it: `email, state,
/// message_id, sent_at, error, opened, clicked, bounced` (contract), plus its number `id`.
#[derive(Clone, Debug, Serialize)]
pub struct RecipientRow {
    /// The recipient's number in the campaign (the paging cursor).
    pub id: u64,
    /// `email`.
    pub email: String,
    /// `state`.
    pub state: &'static str,
    /// `message_id`.
    pub message_id: Option<String>,
    /// `sent_at`.
    pub sent_at: Option<Timestamp>,
    /// `error`.
    pub error: Option<String>,
    /// `opened` (open tracking comes with Campaigns II).
    pub opened: bool,
    /// `clicked`.
    pub clicked: bool,
    /// `bounced`: the relay refused it for good.
    pub bounced: bool,
}

impl From<&crate::campaign::Recipient> for RecipientRow {
    fn from(r: &crate::campaign::Recipient) -> RecipientRow {
        RecipientRow {
            id: r.id,
            email: r.email.to_string(),
            state: r.state.as_str(),
            message_id: r.message_id.clone(),
            sent_at: r.sent_at,
            error: r.error.clone(),
            opened: false,
            clicked: false,
            bounced: r.state == crate::campaign::RecipientState::Failed
                && r.error.as_deref().is_some_and(|e| e.starts_with('5')),
        }
    }
}
