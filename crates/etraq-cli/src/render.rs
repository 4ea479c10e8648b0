//! Output rows (the contract JSON field names of DESIGN §11) and their tables (the seed guide's
//! columns).

use comfy_table::{ContentArrangement, Table, presets};
use etraq_core::{Dr, EmailAddress, MailRecord, User};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// A tracked mail / DR row: `id, owner, sender, recipient, subject, assigned_on, cc_users,
/// mail_type, status, escalation_level` (contract), plus the DR's customer and timers.
#[derive(Debug, Serialize)]
pub struct DrRow {
    pub id: String,
    pub owner: String,
    pub sender: String,
    pub recipient: Option<String>,
    pub subject: String,
    pub assigned_on: Timestamp,
    pub cc_users: Vec<String>,
    pub mail_type: String,
    pub status: String,
    pub escalation_level: u32,
    pub customer: String,
    pub awaiting_since: Option<Timestamp>,
    pub first_response_at: Option<Timestamp>,
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
#[derive(Debug, Serialize)]
pub struct UntrackedRow {
    pub recipient: Option<String>,
    pub sender: Option<String>,
    pub subject: String,
    pub cc_users: Vec<String>,
    pub mailed_on: Timestamp,
    pub reason: String,
    pub message_id: String,
    pub direction: String,
    pub dr: Option<String>,
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
            message_id: m.message_id.clone(),
            direction: m.direction.to_string(),
            dr: m.dr.as_ref().map(|d| d.to_string()),
            seq: m.seq,
        }
    }
}

/// A mail in a history or a DR thread.
#[derive(Debug, Serialize)]
pub struct MailRow {
    pub seq: u64,
    pub message_id: String,
    pub mailed_on: Timestamp,
    pub direction: String,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub cc_users: Vec<String>,
    pub subject: String,
    pub decision: String,
    pub mail_type: Option<String>,
    pub reason: Option<String>,
    pub dr: Option<String>,
}

impl From<&MailRecord> for MailRow {
    fn from(m: &MailRecord) -> Self {
        MailRow {
            seq: m.seq,
            message_id: m.message_id.clone(),
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

/// A time for tables, in the configured zone: `2026-11-27 09:00`.
pub fn time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// A table in the house style: box drawing on a terminal (fitted to its width), Markdown
/// otherwise so it pastes and greps well.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    let term = console::Term::stdout();
    if term.is_term() {
        t.load_style(presets::UTF8_FULL_CONDENSED);
        let (_, cols) = term.size();
        t.set_width(cols)
            .set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.load_style(presets::ASCII_MARKDOWN);
    }
    t.set_header(headers.to_vec());
    t
}

/// The Tracked Mails columns of the seed guide, plus status and escalation level.
pub fn dr_table(rows: &[DrRow], tz: &TimeZone) -> Table {
    let mut t = table(&[
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
    ]);
    for r in rows {
        t.add_row(vec![
            r.owner.clone(),
            r.sender.clone(),
            opt(&r.recipient),
            r.subject.clone(),
            time(r.assigned_on, tz),
            r.id.clone(),
            r.cc_users.join(", "),
            r.mail_type.clone(),
            r.status.clone(),
            r.escalation_level.to_string(),
        ]);
    }
    t
}

/// The Untracked Mails columns of the seed guide.
pub fn untracked_table(rows: &[UntrackedRow], tz: &TimeZone) -> Table {
    let mut t = table(&[
        "Recipient",
        "Sender",
        "Subject",
        "CC Users",
        "Mailed On",
        "Reason",
    ]);
    for r in rows {
        t.add_row(vec![
            opt(&r.recipient),
            opt(&r.sender),
            r.subject.clone(),
            r.cc_users.join(", "),
            time(r.mailed_on, tz),
            r.reason.clone(),
        ]);
    }
    t
}

/// Mails of a history or a thread.
pub fn mail_table(rows: &[MailRow], tz: &TimeZone, with_dr: bool) -> Table {
    let mut headers = vec![
        "Mailed On",
        "Direction",
        "Sender",
        "Recipient",
        "Subject",
        "Type / Reason",
    ];
    if with_dr {
        headers.push("DR");
    }
    let mut t = table(&headers);
    for r in rows {
        let mut row = vec![
            time(r.mailed_on, tz),
            r.direction.clone(),
            opt(&r.sender),
            opt(&r.recipient),
            r.subject.clone(),
            r.mail_type
                .clone()
                .or_else(|| r.reason.clone())
                .unwrap_or_default(),
        ];
        if with_dr {
            row.push(opt(&r.dr));
        }
        t.add_row(row);
    }
    t
}

/// Users.
pub fn user_table(users: &[User]) -> Table {
    let mut t = table(&[
        "Email",
        "Name",
        "Department",
        "Supervisor",
        "Role",
        "Tracking",
    ]);
    for u in users {
        t.add_row(vec![
            u.email.to_string(),
            u.name.clone(),
            u.department.clone().unwrap_or_default(),
            u.supervisor
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            u.role.to_string(),
            if u.tracking { "on" } else { "off" }.to_string(),
            if u.alerts { "on" } else { "off" }.to_string(),
        ]);
    }
    t
}

/// The Alerts columns of the seed guide, plus the mail state.
pub fn alert_table(rows: &[crate::commands::escalate::AlertRow], tz: &TimeZone) -> Table {
    let mut t = table(&[
        "Event Type",
        "User",
        "Date & Time",
        "Source DR",
        "Assigned On",
        "DR Owner",
        "Mail",
    ]);
    for r in rows {
        let event = if r.event_type == "Escalated" {
            format!("Escalated (level {})", r.level)
        } else {
            r.event_type.clone()
        };
        t.add_row(vec![
            event,
            r.user.clone(),
            time(r.date_time, tz),
            r.source_dr.clone(),
            time(r.assigned_on, tz),
            r.dr_owner.clone(),
            r.mail.clone(),
        ]);
    }
    t
}
