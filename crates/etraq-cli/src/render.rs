//! Output rows (the contract JSON field names, from `etraq_core::views`) and their tables (the
//! columns of `etraq_core::views::columns`, shared with the console).

use comfy_table::{ContentArrangement, Table, presets};
use etraq_core::User;
pub use etraq_core::views::{AlertRow, DrRow, MailRow, UntrackedRow, columns};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A time for tables, in the configured zone: `2026-11-27 09:00`.
pub fn time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// Adding rows whose text came from outside (a mail's subject, an address as typed, a page's
/// URL). A control character in such text (an ESC starting a terminal escape sequence, a CR
/// that moves the cursor back over a column) must never reach the terminal as is: it could
/// hide or forge what the table says. Each is shown escaped instead (`\r`, `\u{1b}`).
pub trait TableExt {
    /// Adds one row of text, its control characters made visible.
    fn add_text_row(&mut self, cells: Vec<String>) -> &mut Self;
}

impl TableExt for Table {
    fn add_text_row(&mut self, cells: Vec<String>) -> &mut Self {
        self.add_row(cells.into_iter().map(|c| visible(&c)).collect::<Vec<_>>())
    }
}

/// `text` with its control characters written as Rust escapes; other text unchanged.
pub fn visible(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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

/// The Tracked Mails columns of the original eTraq Server, plus status and escalation level.
pub fn dr_table(rows: &[DrRow], tz: &TimeZone) -> Table {
    let mut t = table(columns::DRS);
    for r in rows {
        t.add_text_row(vec![
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

/// The Untracked Mails columns of the original eTraq Server.
pub fn untracked_table(rows: &[UntrackedRow], tz: &TimeZone) -> Table {
    let mut t = table(columns::UNTRACKED);
    for r in rows {
        t.add_text_row(vec![
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
    let mut headers = columns::MAILS.to_vec();
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
        t.add_text_row(row);
    }
    t
}

/// Users.
pub fn user_table(users: &[User]) -> Table {
    let mut t = table(columns::USERS);
    for u in users {
        t.add_text_row(vec![
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

/// The Alerts columns of the original eTraq Server, plus the mail state.
pub fn alert_table(rows: &[AlertRow], tz: &TimeZone) -> Table {
    let mut t = table(columns::ALERTS);
    for r in rows {
        t.add_text_row(vec![
            r.event_label(),
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
