//! Campaign mail as a complete message: `multipart/alternative` with the text part first and
//! the HTML part last (clients show the last part they can), formatted by lettre (RFC 2047
//! names and subjects, line lengths, transfer encodings).

use etraq_core::campaign::Rendered;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

/// One campaign message for one recipient.
pub struct CampaignMail<'a> {
    /// The From mailbox as written in configuration (`Name <addr>` or `addr`).
    pub from: &'a str,
    /// Where replies go, when not the From address.
    pub reply_to: Option<&'a str>,
    /// The recipient's address.
    pub to: &'a str,
    /// The recipient's name, possibly empty.
    pub to_name: &'a str,
    /// The Message-ID, without angle brackets.
    pub message_id: &'a str,
    /// The rendered parts.
    pub rendered: &'a Rendered,
    /// Further header fields (List-Unsubscribe, List-Id, …), added above lettre's.
    pub headers: &'a [(String, String)],
}

/// Formats the message. Fails, in words, on a From, Reply-To or recipient that is no
/// mailbox, and on a header field whose name or value could break the header section.
pub fn format_campaign(m: &CampaignMail<'_>) -> Result<Vec<u8>, String> {
    let mailbox = |what: &str, s: &str| -> Result<Mailbox, String> {
        s.parse::<Mailbox>()
            .map_err(|e| format!("{what} {s:?} is not a mailbox: {e}"))
    };
    let to = if m.to_name.trim().is_empty() {
        mailbox("the recipient", m.to)?
    } else {
        Mailbox::new(
            Some(m.to_name.trim().to_string()),
            m.to.parse()
                .map_err(|e| format!("the recipient {:?}: {e}", m.to))?,
        )
    };
    let mut builder = Message::builder()
        .from(mailbox("the From address", m.from)?)
        .to(to)
        .subject(m.rendered.subject.clone())
        .message_id(Some(format!("<{}>", m.message_id)));
    if let Some(r) = m.reply_to {
        builder = builder.reply_to(mailbox("the Reply-To address", r)?);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            m.rendered.text.clone(),
            m.rendered.html.clone(),
        ))
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    for (name, value) in m.headers {
        let bad_name = name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if bad_name || value.contains(['\r', '\n']) {
            return Err(format!(
                "the header field {name:?} cannot be written as given"
            ));
        }
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(&message.formatted());
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_and_the_headers_are_there_and_parse() {
        let rendered = Rendered {
            subject: "Grüße, Ann".into(),
            html: "<p>Hello <a href=\"https://example.com/x\">x</a></p>".into(),
            text: "Hello x (https://example.com/x)".into(),
        };
        let headers = vec![("List-Id".to_string(), "News <news.example.com>".to_string())];
        let bytes = format_campaign(&CampaignMail {
            from: "Shop <news@example.com>",
            reply_to: Some("help@example.com"),
            to: "ann@example.org",
            to_name: "Ann Smith",
            message_id: "c.1.abc@example.com",
            rendered: &rendered,
            headers: &headers,
        })
        .unwrap();
        let msg = mail_parser::MessageParser::new().parse(&bytes).unwrap();
        assert_eq!(msg.subject(), Some("Grüße, Ann"));
        assert_eq!(msg.message_id(), Some("c.1.abc@example.com"));
        assert_eq!(
            msg.header_raw("List-Id").map(str::trim),
            Some("News <news.example.com>")
        );
        assert!(msg.body_text(0).unwrap().contains("https://example.com/x"));
        assert!(
            msg.body_html(0)
                .unwrap()
                .contains("href=\"https://example.com/x\"")
        );
        let bad = vec![("X-Bad".to_string(), "a\r\nBcc: x@evil.test".to_string())];
        let e = format_campaign(&CampaignMail {
            from: "news@example.com",
            reply_to: None,
            to: "ann@example.org",
            to_name: "",
            message_id: "m@example.com",
            rendered: &rendered,
            headers: &bad,
        })
        .unwrap_err();
        assert!(e.contains("X-Bad"), "{e}");
    }
}
