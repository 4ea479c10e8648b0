//! One recorded message for reading: its text and HTML bodies and its attachments, from the
//! raw bytes as received. Never fails and never panics: a message mail-parser cannot read is
//! still shown, marked undecodable, with its raw bytes one link away.

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// The longest file name an attachment keeps (characters, extension included).
pub const MAX_NAME_CHARS: usize = 100;

/// What a reader sees of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageBody {
    /// The text part (or the HTML's text when there is only HTML), decoded.
    pub text: Option<String>,
    /// The HTML part as written: unsafe, for a sanitiser only.
    pub html: Option<String>,
    /// Attachments and inline parts, in the message's order.
    pub attachments: Vec<Attachment>,
    /// mail-parser could not read the message (or panicked on it).
    pub undecodable: bool,
}

/// An attachment or inline part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Its number among the message's attachments (what a download names).
    pub index: usize,
    /// A file name safe to offer for download (see [`safe_file_name`]).
    pub name: String,
    /// Its type, lower-case (`application/pdf`), `application/octet-stream` if unstated.
    pub content_type: String,
    /// Its decoded size in bytes.
    pub size: u64,
    /// Its `Content-ID` without angle brackets, for `cid:` references.
    pub content_id: Option<String>,
}

fn parse(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .ok()
        .flatten()
}

/// Reads a raw message for display.
pub fn read_message(raw: &[u8]) -> MessageBody {
    let Some(m) = parse(raw) else {
        return MessageBody {
            undecodable: true,
            ..MessageBody::default()
        };
    };
    let text = m
        .text_bodies()
        .find(|p| matches!(p.body, PartType::Text(_)))
        .and_then(|p| p.text_contents().map(str::to_string));
    let html = m
        .html_bodies()
        .find(|p| matches!(p.body, PartType::Html(_)))
        .and_then(|p| p.text_contents().map(str::to_string));
    let text = text.or_else(|| m.body_text(0).map(|t| t.into_owned()));
    let attachments = m
        .attachments()
        .enumerate()
        .map(|(index, p)| describe(index, p))
        .collect();
    MessageBody {
        undecodable: false,
        text,
        html,
        attachments,
    }
}

fn content_type(p: &mail_parser::MessagePart<'_>) -> String {
    p.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .map(|t| t.to_ascii_lowercase())
        .filter(|t| t.contains('/'))
        .unwrap_or_else(|| "application/octet-stream".into())
}

fn describe(index: usize, p: &mail_parser::MessagePart<'_>) -> Attachment {
    let content_type = content_type(p);
    Attachment {
        index,
        name: safe_file_name(p.attachment_name(), index, &content_type),
        size: p.contents().len() as u64,
        content_id: p
            .content_id()
            .map(|c| {
                c.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .filter(|c| !c.is_empty()),
        content_type,
    }
}

/// Attachment number `index` of a raw message, described, with its decoded bytes.
pub fn attachment_bytes(raw: &[u8], index: usize) -> Option<(Attachment, Vec<u8>)> {
    let m = parse(raw)?;
    let p = m.attachment(u32::try_from(index).ok()?)?;
    Some((describe(index, p), p.contents().to_vec()))
}

/// The inline image a `cid:` reference names (`Content-ID` without brackets, any case), with
/// its bytes; only raster image types a browser shows safely (never SVG, which can script).
pub fn inline_image(raw: &[u8], cid: &str) -> Option<(Attachment, Vec<u8>)> {
    let m = parse(raw)?;
    let cid = cid.trim().trim_start_matches('<').trim_end_matches('>');
    m.attachments().enumerate().find_map(|(index, p)| {
        let a = describe(index, p);
        let safe = matches!(
            a.content_type.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        );
        (safe
            && a.content_id
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(cid)))
        .then(|| (a, p.contents().to_vec()))
    })
}

/// A file name safe to offer for download: the last path segment of what the sender wrote
/// (`../../evil.html` is `evil.html`), without control characters, quotes, slashes or leading
/// dots, at most [`MAX_NAME_CHARS`]; none (or nothing left) is `attachment-N` with an
/// extension for its type.
pub fn safe_file_name(name: Option<&str>, index: usize, content_type: &str) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | ':' | '*' | '?' | '<' | '>' | '|'))
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .trim()
        .to_string();
    if cleaned.is_empty() {
        return format!("attachment-{}{}", index + 1, extension(content_type));
    }
    if cleaned.chars().count() <= MAX_NAME_CHARS {
        return cleaned;
    }
    // Keep the extension when cutting.
    let ext: String = match cleaned.rfind('.') {
        Some(i) if cleaned.len() - i <= 10 => cleaned[i..].to_string(),
        _ => String::new(),
    };
    let stem: String = cleaned
        .chars()
        .take(MAX_NAME_CHARS - ext.chars().count())
        .collect();
    format!("{stem}{ext}")
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => ".pdf",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/csv" => ".csv",
        "message/rfc822" => ".eml",
        "application/zip" => ".zip",
        _ => ".bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "From: a@customer.test\r\nTo: b@example.com\r\nSubject: Files\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: multipart/alternative; boundary=\"c\"\r\n\r\n\
        --c\r\nContent-Type: text/plain\r\n\r\nHello there\r\n\
        --c\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n--c--\r\n\
        --b\r\nContent-Type: application/pdf; name=\"../../evil.html\"\r\n\
        Content-Disposition: attachment; filename=\"../../evil.html\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n\
        --b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n\
        Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
        --b\r\nContent-Type: image/svg+xml\r\nContent-ID: <svg@x>\r\n\r\n<svg/>\r\n--b--\r\n";

    #[test]
    fn reads_both_bodies_and_names_attachments_safely() {
        let b = read_message(MIXED.as_bytes());
        assert!(!b.undecodable);
        assert_eq!(b.text.as_deref().map(str::trim), Some("Hello there"));
        assert!(
            b.html
                .as_deref()
                .is_some_and(|h| h.contains("<b>there</b>"))
        );
        let names: Vec<&str> = b.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["evil.html", "attachment-2.png", "attachment-3.bin"]);
        assert_eq!(b.attachments[0].content_type, "application/pdf");
        assert_eq!(b.attachments[0].size, 5);
        assert_eq!(b.attachments[1].content_id.as_deref(), Some("logo@x"));
        let (a, bytes) = attachment_bytes(MIXED.as_bytes(), 0).unwrap();
        assert_eq!(
            (a.name.as_str(), bytes.as_slice()),
            ("evil.html", &b"Hello"[..])
        );
        assert!(attachment_bytes(MIXED.as_bytes(), 9).is_none());
    }

    #[test]
    fn only_raster_images_are_inline() {
        assert!(inline_image(MIXED.as_bytes(), "LOGO@x").is_some());
        assert!(inline_image(MIXED.as_bytes(), "<logo@x>").is_some());
        assert!(
            inline_image(MIXED.as_bytes(), "svg@x").is_none(),
            "SVG can script"
        );
        assert!(inline_image(MIXED.as_bytes(), "nope").is_none());
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(
            safe_file_name(Some("C:\\x\\report.pdf"), 0, ""),
            "report.pdf"
        );
        assert_eq!(
            safe_file_name(Some("..."), 2, "application/pdf"),
            "attachment-3.pdf"
        );
        assert_eq!(
            safe_file_name(Some(".htaccess"), 0, "text/plain"),
            "htaccess"
        );
        assert_eq!(safe_file_name(Some("a\"b\r\n.txt"), 0, ""), "ab.txt");
        assert_eq!(safe_file_name(None, 0, "weird/type"), "attachment-1.bin");
        let long = format!("{}.pdf", "x".repeat(300));
        let s = safe_file_name(Some(&long), 0, "");
        assert_eq!(s.chars().count(), MAX_NAME_CHARS);
        assert!(s.ends_with(".pdf"));
    }

    #[test]
    fn junk_is_read_without_a_panic() {
        let b = read_message(b"\xff\xfe\x00garbage");
        assert!(b.attachments.is_empty());
        let b = read_message(b"");
        assert!(b.text.is_none() && b.html.is_none());
    }
}
