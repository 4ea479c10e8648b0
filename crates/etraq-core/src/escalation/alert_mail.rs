//! An alert as a mail: what etraq's own alert mail says and carries, and the [`Outbound`] seam
//! through which it is sent. Pure: the mailers live in `etraq-smtp`, the outbox loop in
//! [`crate::service`].

use async_trait::async_trait;
use jiff::SignedDuration;

use crate::address::EmailAddress;
use crate::model::{Alert, AlertKind};

/// An alert as a mail, ready for an [`Outbound`] mailer to format and send. etraq's own mail
/// always carries `Auto-Submitted: auto-generated` and `X-Etraq-Loop`, so no auto-responder
/// answers it and etraq never tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertMessage {
    /// Sender.
    pub from: EmailAddress,
    /// Recipient.
    pub to: EmailAddress,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Message-ID (without brackets), holding the alert and DR ids.
    pub message_id: String,
    /// Extra header fields.
    pub headers: Vec<(String, String)>,
}

/// Composes the mail for an alert. `console` is the console's base URL; `host` names this etraq
/// instance (loop header, Message-ID domain).
pub fn alert_message(
    alert: &Alert,
    from: &EmailAddress,
    console: &str,
    host: &str,
) -> AlertMessage {
    let waited = crate::duration::format_seconds(alert.waited_secs);
    let what = match alert.event_type {
        AlertKind::Warning => format!("a customer has waited {waited} for an answer"),
        AlertKind::Escalated => format!(
            "escalated (level {}): a customer has waited {waited}",
            alert.level
        ),
        AlertKind::Reminder => "a reminder you set is due".to_string(),
    };
    let subject = format!(
        "[etraq] {} {}: {}",
        alert.event_type, alert.source_dr, alert.subject
    );
    let link = format!("{}/dr/{}", console.trim_end_matches('/'), alert.source_dr);
    let body = format!(
        "{what}.\n\n\
         DR:          {dr}\n\
         Customer:    {customer}\n\
         Subject:     {subject}\n\
         Owner:       {owner}\n\
         Assigned on: {assigned}\n\
         Waiting:     {waited}\n\n\
         Open it in the console: {link}\n\n\
         -- \n\
         This alert was sent automatically by etraq. To stop alert mail, ask your administrator\n\
         (`etraq user set {user} --alerts off`).\n",
        dr = alert.source_dr,
        customer = alert.customer,
        subject = alert.subject,
        owner = alert.dr_owner,
        assigned = alert.assigned_on,
        user = alert.user,
    );
    AlertMessage {
        from: from.clone(),
        to: alert.user.clone(),
        subject,
        body,
        message_id: format!("alert.{}.{}@{}", alert.id, alert.source_dr, host),
        headers: vec![
            ("Auto-Submitted".into(), "auto-generated".into()),
            ("X-Etraq-Loop".into(), host.to_string()),
            ("X-Etraq-DR".into(), alert.source_dr.to_string()),
            ("Precedence".into(), "bulk".into()),
        ],
    }
}

/// Sends etraq's own mail (alerts): towards the upstream with lettre, or into the evaluation
/// Maildir.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// Sends one message. An error is a reason in words; the notifier retries later.
    async fn send(&self, message: &AlertMessage) -> std::result::Result<(), String>;
}

/// The delay before attempt `n + 1` after `n` failed attempts: 1 minute, doubling, at most 1 hour.
pub fn backoff(attempts: u32) -> SignedDuration {
    let secs = 60u64
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(10))
        .min(3600);
    SignedDuration::from_secs(secs as i64)
}
