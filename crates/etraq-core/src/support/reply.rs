//! A reply to a DR written in etraq (the console's reply form, `dr reply`, the API): the
//! message it becomes. Pure; the service layer sends it through the relay and records it
//! through the tracker, like any mail passing the gateway.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::address::EmailAddress;
use crate::mail::{add_tag, base_subject};
use crate::model::{Dr, MailRecord};
use crate::outbox::OutMessage;

/// The largest reply body, in bytes.
pub const MAX_REPLY: usize = 512 * 1024;

/// The message the customer last wrote, to answer and quote.
#[derive(Clone, Debug)]
pub struct Answered<'a> {
    /// Its record (Message-ID, sender, date).
    pub mail: &'a MailRecord,
    /// Its text, without what it quoted itself.
    pub text: &'a str,
}

/// `Re: <the DR's subject> [TAG]`: one `Re:`, the tag once.
pub fn reply_subject(dr: &Dr) -> String {
    add_tag(&format!("Re: {}", base_subject(&dr.subject)), &dr.id)
}

/// The reply of `from` to `dr`'s customer: `body`, then the customer's last message quoted
/// (`On …, … wrote:` and `> ` lines), threaded to it with `In-Reply-To` and `References`.
/// It is a person's mail, so it carries none of the automatic-mail header fields.
#[allow(clippy::too_many_arguments)]
pub fn reply_message(
    dr: &Dr,
    answered: Option<Answered<'_>>,
    from: &EmailAddress,
    from_name: Option<String>,
    body: &str,
    cc: &[EmailAddress],
    message_id: String,
    tz: &TimeZone,
) -> OutMessage {
    let mut text = body.trim_end().replace("\r\n", "\n");
    text.push('\n');
    let mut headers = Vec::new();
    if let Some(a) = answered {
        let id = a.mail.message_id.as_str();
        headers.push(("In-Reply-To".to_string(), format!("<{id}>")));
        headers.push(("References".to_string(), format!("<{id}>")));
        let at: Timestamp = a.mail.sent_at.unwrap_or(a.mail.received_at);
        let who = match (a.mail.sender_name.as_deref(), &a.mail.sender) {
            (Some(n), Some(s)) if !n.trim().is_empty() => format!("{} <{s}>", n.trim()),
            (_, Some(s)) => s.to_string(),
            _ => "you".to_string(),
        };
        text.push_str(&format!(
            "\nOn {}, {who} wrote:\n",
            at.to_zoned_datetime(tz.clone())
                .strftime("%a, %-d %b %Y at %H:%M")
        ));
        for line in a.text.trim_end().lines() {
            if line.is_empty() {
                text.push_str(">\n");
            } else {
                text.push_str("> ");
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    OutMessage {
        from: from.clone(),
        from_name,
        to: dr.customer.clone(),
        cc: cc.to_vec(),
        subject: reply_subject(dr),
        text,
        html: None,
        message_id,
        headers,
    }
}
