//! The double opt-in confirmation mail: what it says and carries. Pure; it is queued in the
//! outbox by the service layer and mailed by the notifier.

use crate::address::EmailAddress;
use crate::campaign::audience::MailingList;
use crate::outbox::OutMessage;

/// The confirmation mail for `to` joining `list`, whose button leads to `confirm_url` (a page
/// with a button; only its POST confirms, so a link scanner opening the mail confirms nothing).
/// `from` is the campaigns' sender; `message_id` is without brackets.
pub fn confirmation_message(
    list: &MailingList,
    to: &EmailAddress,
    name: &str,
    confirm_url: &str,
    from: &EmailAddress,
    from_name: Option<String>,
    message_id: String,
) -> OutMessage {
    let greeting = if name.trim().is_empty() {
        "Hello,".to_string()
    } else {
        format!("Hello {},", name.trim())
    };
    let about = if list.description.trim().is_empty() {
        String::new()
    } else {
        format!("\n{}\n", list.description.trim())
    };
    let text = format!(
        "{greeting}\n\n\
         someone, hopefully you, asked to subscribe {to} to the list \"{list}\".\n{about}\n\
         To confirm, open this link and press the button:\n\n  {confirm_url}\n\n\
         If it was not you, ignore this mail: you will not be subscribed and will hear\n\
         nothing more from us.\n",
        list = list.name,
    );
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><html><body style=\"margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#222\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td align=\"center\">\
         <table role=\"presentation\" width=\"560\" cellpadding=\"24\" cellspacing=\"0\" style=\"max-width:560px;width:100%;background:#fff;border-radius:6px\"><tr><td>\
         <p style=\"margin:0 0 16px\">{greeting}</p>\
         <p style=\"margin:0 0 16px\">someone, hopefully you, asked to subscribe <b>{to}</b> to the list <b>{list}</b>.</p>{about}\
         <p style=\"margin:24px 0\"><a href=\"{url}\" style=\"background:#1f6feb;color:#fff;padding:12px 20px;border-radius:4px;text-decoration:none;display:inline-block\">Confirm my subscription</a></p>\
         <p style=\"margin:0;font-size:13px;color:#666\">If it was not you, ignore this mail: you will not be subscribed and will hear nothing more from us.</p>\
         </td></tr></table></td></tr></table></body></html>",
        greeting = esc(&greeting),
        to = esc(to.as_str()),
        list = esc(&list.name),
        about = if list.description.trim().is_empty() {
            String::new()
        } else {
            format!(
                "<p style=\"margin:0 0 16px\">{}</p>",
                esc(list.description.trim())
            )
        },
        url = esc(confirm_url),
    );
    OutMessage {
        cc: Vec::new(),
        from: from.clone(),
        from_name,
        to: to.clone(),
        subject: format!("Please confirm your subscription to {}", list.name),
        text,
        html: Some(html),
        message_id,
        headers: vec![
            ("Auto-Submitted".into(), "auto-generated".into()),
            ("X-Etraq-Loop".into(), from.domain().to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_carries_the_link_and_escapes_what_people_typed() {
        let mut list =
            MailingList::new("Beta <testers>", "2026-11-27T12:00:00Z".parse().unwrap()).unwrap();
        list.description = "Early builds & news".into();
        let to = EmailAddress::parse("ann@customer.example").unwrap();
        let from = EmailAddress::parse("news@example.com").unwrap();
        let m = confirmation_message(
            &list,
            &to,
            "<script>x</script>",
            "http://127.0.0.1:8080/s/confirm/TOKEN",
            &from,
            None,
            "confirm.1@example.com".into(),
        );
        assert!(m.text.contains("http://127.0.0.1:8080/s/confirm/TOKEN"));
        let html = m.html.unwrap();
        assert!(html.contains("href=\"http://127.0.0.1:8080/s/confirm/TOKEN\""));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;testers&gt;") && html.contains("Early builds &amp; news"));
        assert!(
            m.headers
                .iter()
                .any(|(k, v)| k == "Auto-Submitted" && v == "auto-generated")
        );
        assert!(m.subject.contains("Beta <testers>"));
    }
}
