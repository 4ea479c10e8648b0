//! An alert as a mail: what etraq's own alert mail says and carries. Pure: it is sent through
//! the [`Outbound`](crate::outbox::Outbound) seam by the notifier in [`crate::service`].

use crate::address::EmailAddress;
use crate::model::{Alert, AlertKind};
use crate::outbox::OutMessage;

/// Composes the mail for an alert. `console` is the console's base URL; `host` names this etraq
/// instance (loop header, Message-ID domain).
pub fn alert_message(alert: &Alert, from: &EmailAddress, console: &str, host: &str) -> OutMessage {
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
    OutMessage {
        cc: Vec::new(),
        from: from.clone(),
        from_name: None,
        to: alert.user.clone(),
        subject,
        text: body,
        html: None,
        message_id: format!("alert.{}.{}@{}", alert.id, alert.source_dr, host),
        headers: vec![
            ("Auto-Submitted".into(), "auto-generated".into()),
            ("X-Etraq-Loop".into(), host.to_string()),
            ("X-Etraq-DR".into(), alert.source_dr.to_string()),
            ("Precedence".into(), "bulk".into()),
        ],
    }
}
