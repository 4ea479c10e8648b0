//! What full-text search indexes of a recorded mail ([`IndexDoc`]): its subject, its sender
//! and recipients with their display names, its body as text (an HTML-only mail's HTML made
//! text), and its attachments' names. Pure: a store writes it in the same transaction as the
//! mail record.

use crate::MailRecord;

/// The most body text indexed per mail (characters): enough for any conversation, and a
/// mail of megabytes of text does not blow up the index.
pub const MAX_INDEXED_BODY: usize = 64 * 1024;

/// The indexed text of one mail, one field per searchable column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexDoc {
    /// The subject.
    pub subject: String,
    /// The sender's address and display name (`from:`).
    pub sender: String,
    /// The recipients' addresses (To, Cc, envelope) (`to:`).
    pub recipients: String,
    /// The body as text.
    pub body: String,
    /// The attachments' names.
    pub attachments: String,
    /// Whether it has attachments (`has:attachment`).
    pub has_attachment: bool,
}

/// The index document of a recorded mail and its raw bytes. Never fails: an undecodable body
/// indexes the headers alone.
pub fn index_doc(mail: &MailRecord, raw: &[u8]) -> IndexDoc {
    let body = super::read_message(raw);
    let text = match (body.text, body.html) {
        (Some(t), _) if !t.trim().is_empty() => t,
        (_, Some(h)) => html_text(&h),
        (Some(t), None) => t,
        (None, None) => String::new(),
    };
    let mut text = text;
    // Fewer bytes than the limit means fewer characters too: most mail is kept whole as it is.
    if text.len() > MAX_INDEXED_BODY
        && let Some((cut, _)) = text.char_indices().nth(MAX_INDEXED_BODY)
    {
        text.truncate(cut);
        text.shrink_to_fit();
    }
    let sender = [
        mail.sender.as_ref().map(|a| a.to_string()),
        mail.sender_name.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let mut recipients: Vec<String> = mail
        .to
        .iter()
        .chain(mail.cc.iter())
        .chain(mail.rcpt_to.iter())
        .map(|a| a.to_string())
        .collect();
    recipients.sort();
    recipients.dedup();
    IndexDoc {
        subject: mail.subject.clone(),
        sender,
        recipients: recipients.join(" "),
        body: text,
        attachments: body
            .attachments
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        has_attachment: !body.attachments.is_empty(),
    }
}

/// HTML as plain text for the index (links and layout dropped; only words matter here).
fn html_text(html: &str) -> String {
    std::panic::catch_unwind(|| {
        html2text::config::plain()
            .string_from_read(html.as_bytes(), 10_000)
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// A short piece of `text` around the first of `terms` found (any case), for a search
/// result: about `width` characters, whitespace folded, `…` where cut. Without a match, the
/// start of the text.
pub fn snippet(text: &str, terms: &[String], width: usize) -> String {
    let folded: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = folded.to_lowercase();
    let at = terms
        .iter()
        .filter(|t| !t.is_empty())
        .filter_map(|t| lower.find(&t.to_lowercase()))
        .min()
        .unwrap_or(0);
    // Byte offsets of lower and folded agree only for ASCII case changes; step in chars.
    let start_char = lower[..at].chars().count().saturating_sub(width / 3);
    let chars: Vec<char> = folded.chars().collect();
    let end_char = (start_char + width).min(chars.len());
    let mut s: String = chars[start_char.min(chars.len())..end_char]
        .iter()
        .collect();
    if start_char > 0 {
        s.insert(0, '…');
    }
    if end_char < chars.len() {
        s.push('…');
    }
    s
}

/// `text` with accents dropped (canonical decomposition without its combining marks), as
/// SQLite's `unicode61 remove_diacritics 2` folds it: `Köln`, `koln` and `KÖLN` become one word
/// once lower-cased, while `ß` stays `ß`. The stores without FTS5 (sled's tantivy index,
/// PostgreSQL's `tsvector`) fold what they index and what they are asked with this, so every
/// store answers a query the same way.
pub fn fold(text: &str) -> String {
    use unicode_normalization::char::{decompose_canonical, is_combining_mark};
    if text.is_ascii() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    out.push(d);
                }
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> MailRecord {
        MailRecord {
            seq: 1,
            message_id: crate::mail::MessageId::from_trusted("q@customer.example".into()),
            derived_message_id: false,
            direction: crate::model::Direction::Inbound,
            mail_from: None,
            rcpt_to: vec![],
            sender: None,
            sender_name: None,
            to: vec![],
            cc: vec![],
            subject: "s".into(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
            sent_at: None,
            decision: crate::model::Decision::Tracked {
                mail_type: crate::model::MailType::Normal,
            },
            dr: None,
            parties: vec![],
            size: 0,
        }
    }

    #[test]
    fn a_long_body_is_indexed_up_to_the_limit_in_characters() {
        // Two bytes a character: the cut counts characters and lands between two of them.
        let body = "é".repeat(MAX_INDEXED_BODY + 10);
        let raw =
            format!("Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
        let doc = index_doc(&mail(), raw.as_bytes());
        assert_eq!(doc.body.chars().count(), MAX_INDEXED_BODY);
        assert!(doc.body.chars().all(|c| c == 'é'));
        // A short body is kept whole.
        let doc = index_doc(&mail(), b"Subject: s\r\n\r\nhello world\r\n");
        assert_eq!(doc.body.trim_end(), "hello world");
    }

    #[test]
    fn snippets_centre_on_the_match() {
        let text =
            "Hello,\n\nthe parcel with order 1234 never arrived and I am waiting since Monday.";
        let s = snippet(text, &["order".into()], 30);
        assert!(s.contains("order 1234"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert_eq!(snippet("short", &["zzz".into()], 30), "short");
        // Non-ASCII text before the match does not break the cut.
        let s = snippet(
            "Grüße aus Köln, die Bestellung fehlt",
            &["bestellung".into()],
            20,
        );
        assert!(s.contains("Bestellung"), "{s}");
    }
}
