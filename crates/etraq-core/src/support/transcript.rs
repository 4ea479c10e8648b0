//! A DR's transcript: every customer-visible message of the conversation, in order, as text
//! and HTML, for the customer. Pure: the service layer gathers the mails and their text.
//!
//! Customer-visible means what crossed the company boundary: the customer's mail, the
//! company's replies, etraq's acknowledgements, and an employee's first mail that the
//! customer's answer joined to the DR. Never an `Internal Note`, a forward to a colleague, or
//! anything internal, whatever its addresses; never a duplicate copy, an automatic mail (an
//! out-of-office) or a bounce.

use jiff::tz::TimeZone;

use crate::address::EmailAddress;
use crate::model::{Decision, Direction, Dr, MailRecord, MailType, UntrackedReason};
use crate::outbox::OutMessage;

/// Whether a mail of a DR belongs in the customer's transcript.
pub fn customer_visible(m: &MailRecord) -> bool {
    if !matches!(m.direction, Direction::Inbound | Direction::Outbound) {
        return false;
    }
    match m.decision {
        Decision::Tracked { mail_type } => matches!(
            mail_type,
            MailType::Normal | MailType::Replied | MailType::AutoReply
        ),
        Decision::Untracked { reason } => reason == UntrackedReason::OutboundNewMail,
    }
}

/// One message of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it was sent (its Date header, else when etraq received it), formatted.
    pub date: String,
    /// Who wrote it (name and address).
    pub sender: String,
    /// What they wrote: the text without the quoted history.
    pub text: String,
}

impl Entry {
    /// The entry of a mail whose text body is `body`, dated in `tz`.
    pub fn of(m: &MailRecord, body: &str, tz: &TimeZone) -> Entry {
        let at = m.sent_at.unwrap_or(m.received_at);
        let date = at
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string();
        let address = m
            .sender
            .as_ref()
            .map(|a| a.as_str())
            .unwrap_or("(unknown sender)");
        let sender = match m.sender_name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => format!("{n} <{address}>"),
            _ => address.to_string(),
        };
        let text: Vec<String> = crate::archive::quoted_blocks(body)
            .into_iter()
            .filter(|b| !b.quoted)
            .map(|b| b.text)
            .collect();
        Entry {
            date,
            sender,
            text: text.join("\n").trim().to_string(),
        }
    }
}

/// A transcript, ready to print or mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// `Transcript of … [TAG]`.
    pub subject: String,
    /// The plain text.
    pub text: String,
    /// The HTML version.
    pub html: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The transcript of `dr` with `entries` in order.
pub fn transcript(dr: &Dr, entries: &[Entry]) -> Transcript {
    let subject = crate::mail::add_tag(&format!("Transcript: {}", dr.subject), &dr.id);
    let mut text = format!(
        "Transcript of our conversation {} \"{}\"\n{} message(s)\n",
        dr.id,
        dr.subject,
        entries.len()
    );
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:Arial,Helvetica,sans-serif;color:#222;max-width:720px\">\
         <h2 style=\"font-size:18px\">Transcript of our conversation {} &ldquo;{}&rdquo;</h2>",
        esc(&dr.id.to_string()),
        esc(&dr.subject)
    );
    for e in entries {
        text.push_str(&format!(
            "\n----- {} — {} -----\n{}\n",
            e.date, e.sender, e.text
        ));
        html.push_str(&format!(
            "<div style=\"border-top:1px solid #ddd;padding:8px 0\"><p style=\"margin:0;color:#555;font-size:13px\">{} &mdash; <b>{}</b></p><pre style=\"white-space:pre-wrap;font-family:inherit;margin:8px 0\">{}</pre></div>",
            esc(&e.date),
            esc(&e.sender),
            esc(&e.text)
        ));
    }
    html.push_str("</body></html>");
    Transcript {
        subject,
        text,
        html,
    }
}

/// The transcript as a message to the customer, from `from` (the DR's owner), through the
/// outbox: `Auto-Submitted: auto-generated` and `X-Etraq-Loop` so no auto-responder answers
/// it and etraq never tracks it as a customer's mail.
pub fn transcript_message(
    t: &Transcript,
    from: &EmailAddress,
    from_name: Option<String>,
    to: &EmailAddress,
    message_id: String,
) -> OutMessage {
    OutMessage {
        cc: Vec::new(),
        from: from.clone(),
        from_name,
        to: to.clone(),
        subject: t.subject.clone(),
        text: t.text.clone(),
        html: Some(t.html.clone()),
        message_id,
        headers: vec![
            ("Auto-Submitted".into(), "auto-generated".into()),
            ("X-Etraq-Loop".into(), from.domain().to_string()),
        ],
    }
}
