//! From raw bytes to the facts classification needs, via mail-parser 0.11.
//!
//! [`ParsedMail`] is an owned summary of one message: ids, addresses, subject, date and the
//! "automatic mail" markers. It survives real mail: RFC 2047 subjects and display names (decoded by
//! mail-parser), IDN and mixed-case domains (normalised by [`EmailAddress`]), a missing Message-ID
//! (a stable one is derived from the content), a missing From (the envelope sender is used) and
//! header garbage (unusable fields are dropped, never fatal). Nothing here fails: every input,
//! even one with no headers at all, yields a `ParsedMail`, so every mail gets a decision.

use jiff::Timestamp;
use mail_parser::{Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use crate::address::EmailAddress;
use crate::mail::msgid::{self, MessageId};

/// The longest subject kept (RFC 5322 line limit); longer ones are cut.
pub const MAX_SUBJECT_CHARS: usize = 998;

/// At most this many References are used for threading (newest first). A mail with thousands of
/// references must not turn into thousands of lookups.
pub const MAX_REFERENCES: usize = 64;

/// The domain of Message-IDs that etraq derives for mails without one.
pub const DERIVED_ID_DOMAIN: &str = "etraq.derived";

/// Why a mail counts as automatic (RFC 3834 and common practice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoMarker {
    /// `Auto-Submitted` present and not `no`.
    AutoSubmitted,
    /// `Precedence: bulk|junk|list|auto_reply`.
    Precedence,
    /// `X-Autoreply`, `X-Autorespond` and similar.
    AutoreplyHeader,
    /// From `mailer-daemon@` or `postmaster@`.
    DaemonSender,
    /// Our own `X-Etraq-Loop` header.
    EtraqLoop,
    /// `multipart/report` that is not a delivery status (e.g. a read receipt).
    Report,
}

/// The summary of one message that classification reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMail {
    /// Message-ID without brackets; derived from the content when missing.
    pub message_id: MessageId,
    /// True when `message_id` was derived.
    pub derived_message_id: bool,
    /// In-Reply-To ids.
    pub in_reply_to: Vec<MessageId>,
    /// References, newest first, at most [`MAX_REFERENCES`].
    pub references: Vec<MessageId>,
    /// The author's address (From), when usable.
    pub from: Option<EmailAddress>,
    /// The author's display name, decoded.
    pub from_name: Option<String>,
    /// To addresses.
    pub to: Vec<EmailAddress>,
    /// Cc addresses.
    pub cc: Vec<EmailAddress>,
    /// Bcc addresses (rarely present in transit).
    pub bcc: Vec<EmailAddress>,
    /// `Return-Path`: `Some(None)` for `<>`, `Some(Some(a))` for an address, `None` if absent.
    pub return_path: Option<Option<EmailAddress>>,
    /// Decoded subject, one line.
    pub subject: String,
    /// The Date header.
    pub date: Option<Timestamp>,
    /// The first automatic-mail marker found, if any.
    pub auto: Option<AutoMarker>,
    /// True for a `multipart/report; report-type=delivery-status` (a DSN).
    pub is_dsn: bool,
    /// Message-IDs of the original message quoted inside a DSN, for threading the bounce.
    pub dsn_original_ids: Vec<MessageId>,
    /// True when a `message/rfc822` part is attached (a forward as attachment).
    pub has_attached_message: bool,
    /// Size in bytes of the raw message.
    pub size: u64,
}

impl ParsedMail {
    /// Parses raw message bytes. Never fails and never panics.
    ///
    /// mail-parser is robust, but a parser bug must not take a mail gateway down: if a full
    /// parse panics, the headers alone are parsed; if that fails too, the mail is treated as
    /// having no headers. Either way it still gets a decision and is archived.
    pub fn parse(raw: &[u8]) -> ParsedMail {
        let full =
            std::panic::catch_unwind(|| parser().parse(raw).map(|msg| from_message(&msg, raw)));
        let parsed = match full {
            Ok(p) => p,
            Err(_) => std::panic::catch_unwind(|| {
                parser()
                    .parse_headers(raw)
                    .map(|msg| from_message(&msg, raw))
            })
            .ok()
            .flatten(),
        };
        parsed.unwrap_or_else(|| ParsedMail::empty(raw))
    }

    /// The summary of bytes in which no header could be found.
    fn empty(raw: &[u8]) -> ParsedMail {
        ParsedMail {
            message_id: derive_message_id(&[], raw),
            derived_message_id: true,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            from: None,
            from_name: None,
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            return_path: None,
            subject: String::new(),
            date: None,
            auto: None,
            is_dsn: false,
            dsn_original_ids: Vec::new(),
            has_attached_message: false,
            size: raw.len() as u64,
        }
    }

    /// Candidate Message-IDs for threading, in the order of docs/tracking.md#threading-which-dr-a-mail-belongs-to: In-Reply-To, then
    /// References newest first, then (for a DSN) the bounced original. Duplicates removed.
    pub fn thread_candidates(&self) -> Vec<&MessageId> {
        let mut out: Vec<&MessageId> =
            Vec::with_capacity(self.in_reply_to.len() + self.references.len());
        let mut seen = std::collections::HashSet::with_capacity(out.capacity());
        for id in self
            .in_reply_to
            .iter()
            .chain(&self.references)
            .chain(&self.dsn_original_ids)
        {
            if *id != self.message_id && seen.insert(id) {
                out.push(id);
            }
        }
        out
    }
}

/// The shared parser. It skips the trace and signature headers (Received, DKIM, ARC …): a mail
/// carries many of them, tokenising them is a fifth of mail-parser's work, and tracking never
/// reads them; unknown headers stay raw text. The raw message, archived as received, keeps them byte for byte.
fn parser() -> &'static MessageParser {
    static PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
        // With any header configured, mail-parser parses only the configured ones and keeps the
        // rest raw, so everything tracking reads is listed.
        MessageParser::new()
            .with_mime_headers()
            .with_date_headers()
            .with_address_headers()
            // Message-ID, In-Reply-To and References stay raw: `msgid` reads them strictly.
            .header_text(HeaderName::Subject)
            .header_id(HeaderName::ReturnPath)
            .header_raw(HeaderName::AutoSubmitted)
            .ignore_header(HeaderName::Received)
            .ignore_header(HeaderName::DkimSignature)
            .ignore_header(HeaderName::ArcSeal)
            .ignore_header(HeaderName::ArcMessageSignature)
            .ignore_header(HeaderName::ArcAuthenticationResults)
            .ignore_header(HeaderName::AuthenticationResults)
    });
    &PARSER
}

fn from_message(msg: &Message<'_>, raw: &[u8]) -> ParsedMail {
    // One pass over the top-level headers. mail-parser's accessors (`from()`, `subject()` …) each
    // rescan every header; with a dozen lookups per mail that doubled the cost of parsing.
    let mut h = RootHeaders::default();
    for header in msg.root_part().headers() {
        h.take(header);
    }

    // Ids are read strictly from the raw header text (see `msgid`): an id that does not parse
    // never threads, and a mail whose own id does not parse gets a synthetic one.
    let message_id = h
        .message_id
        .and_then(|h| raw_value(h, raw))
        .and_then(msgid::message_id)
        .map(MessageId::from_trusted);
    let derived_message_id = message_id.is_none();
    let message_id = message_id.unwrap_or_else(|| derive_message_id_from(msg, raw));

    let in_reply_to = h
        .in_reply_to
        .and_then(|h| raw_value(h, raw))
        .map(id_list)
        .unwrap_or_default();
    let mut references = h
        .references
        .and_then(|h| raw_value(h, raw))
        .map(id_list)
        .unwrap_or_default();
    references.reverse();
    references.truncate(MAX_REFERENCES);

    let (from, from_name) = h
        .from
        .and_then(|v| v.as_address())
        .and_then(|a| {
            a.iter().find_map(|addr| {
                let parsed = addr.address().and_then(|s| EmailAddress::parse(s).ok())?;
                Some((
                    parsed,
                    addr.name().map(clean_line).filter(|n| !n.is_empty()),
                ))
            })
        })
        .map(|(a, n)| (Some(a), n))
        .unwrap_or((None, None));

    let return_path = h.return_path.map(|v| {
        let text = match v {
            HeaderValue::Text(t) => Some(t.as_ref()),
            HeaderValue::TextList(l) => l.last().map(|t| t.as_ref()),
            _ => None,
        };
        text.map(str::trim)
            .filter(|t| !t.is_empty() && *t != "<>")
            .and_then(|t| EmailAddress::parse(t).ok())
    });

    let subject = h
        .subject
        .and_then(|v| v.as_text())
        .map(clean_line)
        .unwrap_or_default();
    let date = h
        .date
        .and_then(|v| v.as_datetime())
        .filter(|d| d.is_valid())
        .and_then(|d| Timestamp::from_second(d.to_timestamp()).ok());

    let (is_report, is_dsn) = match h.content_type.and_then(|v| v.as_content_type()) {
        Some(ct)
            if ct.c_type.eq_ignore_ascii_case("multipart")
                && ct
                    .c_subtype
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report")) =>
        {
            let dsn = ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
            (true, dsn)
        }
        _ => (false, false),
    };

    let mut has_attached_message = false;
    let mut dsn_original_ids = Vec::new();
    for part in msg.parts.iter().skip(1) {
        if let Some(inner) = part.message() {
            has_attached_message = true;
            if is_dsn
                && let Some(id) = inner
                    .header_raw(HeaderName::MessageId)
                    .and_then(msgid::message_id)
                    .map(MessageId::from_trusted)
            {
                dsn_original_ids.push(id);
            }
        } else if is_dsn && part.is_content_type("text", "rfc822-headers") {
            let headers = MessageParser::default().parse_headers(part.contents());
            if let Some(id) = headers
                .as_ref()
                .and_then(|h| h.header_raw(HeaderName::MessageId))
                .and_then(msgid::message_id)
                .map(MessageId::from_trusted)
            {
                dsn_original_ids.push(id);
            }
        }
    }

    let auto = auto_marker(&h.markers, from.as_ref(), is_report && !is_dsn);

    let to = addresses(&h.to);
    let cc = addresses(&h.cc);
    let bcc = addresses(&h.bcc);

    ParsedMail {
        message_id,
        derived_message_id,
        in_reply_to,
        references,
        from,
        from_name,
        to,
        cc,
        bcc,
        return_path,
        subject,
        date,
        auto,
        is_dsn,
        dsn_original_ids,
        has_attached_message,
        size: raw.len() as u64,
    }
}

/// The top-level header values classification reads, collected in one pass. For single-valued
/// fields the last occurrence wins (as in mail-parser's accessors); To, Cc and Bcc collect every
/// occurrence.
#[derive(Default)]
struct RootHeaders<'a, 'x> {
    message_id: Option<&'a mail_parser::Header<'x>>,
    in_reply_to: Option<&'a mail_parser::Header<'x>>,
    references: Option<&'a mail_parser::Header<'x>>,
    from: Option<&'a HeaderValue<'x>>,
    to: Vec<&'a HeaderValue<'x>>,
    cc: Vec<&'a HeaderValue<'x>>,
    bcc: Vec<&'a HeaderValue<'x>>,
    return_path: Option<&'a HeaderValue<'x>>,
    subject: Option<&'a HeaderValue<'x>>,
    date: Option<&'a HeaderValue<'x>>,
    content_type: Option<&'a HeaderValue<'x>>,
    markers: HeaderMarkers<'a>,
}

impl<'a, 'x> RootHeaders<'a, 'x> {
    fn take(&mut self, header: &'a mail_parser::Header<'x>) {
        let v = &header.value;
        match &header.name {
            HeaderName::MessageId => self.message_id = Some(header),
            HeaderName::InReplyTo => self.in_reply_to = Some(header),
            HeaderName::References => self.references = Some(header),
            HeaderName::From => self.from = Some(v),
            HeaderName::To => self.to.push(v),
            HeaderName::Cc => self.cc.push(v),
            HeaderName::Bcc => self.bcc.push(v),
            HeaderName::ReturnPath => self.return_path = Some(v),
            HeaderName::Subject => self.subject = Some(v),
            HeaderName::Date => self.date = Some(v),
            HeaderName::ContentType => self.content_type = Some(v),
            HeaderName::AutoSubmitted => self.markers.auto_submitted = v.as_text(),
            HeaderName::Other(name) => self.markers.other(name, v),
            _ => {}
        }
    }
}

/// The non-standard headers that mark automatic mail.
#[derive(Default)]
struct HeaderMarkers<'a> {
    etraq_loop: bool,
    auto_submitted: Option<&'a str>,
    precedence: Option<&'a str>,
    autoreply: bool,
}

impl<'a> HeaderMarkers<'a> {
    fn other(&mut self, name: &str, v: &'a HeaderValue<'_>) {
        let is = |n: &str| name.len() == n.len() && name.eq_ignore_ascii_case(n);
        if is("X-Etraq-Loop") {
            self.etraq_loop = true;
        } else if is("Precedence") {
            self.precedence = v.as_text();
        } else if is("X-Autoreply")
            || is("X-Autorespond")
            || is("X-Autogenerated")
            || is("X-Mail-Autoreply")
        {
            self.autoreply = true;
        }
    }
}

fn auto_marker(
    h: &HeaderMarkers<'_>,
    from: Option<&EmailAddress>,
    non_dsn_report: bool,
) -> Option<AutoMarker> {
    if h.etraq_loop {
        return Some(AutoMarker::EtraqLoop);
    }
    if let Some(v) = h.auto_submitted {
        let v = v.trim().to_ascii_lowercase();
        // "no" may carry comments or parameters: "no (manual)".
        let first = v
            .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
            .next();
        if first != Some("no") {
            return Some(AutoMarker::AutoSubmitted);
        }
    }
    if let Some(v) = h.precedence {
        let v = v.trim().to_ascii_lowercase();
        if matches!(
            v.as_str(),
            "bulk" | "junk" | "list" | "auto_reply" | "auto-reply"
        ) {
            return Some(AutoMarker::Precedence);
        }
    }
    if h.autoreply {
        return Some(AutoMarker::AutoreplyHeader);
    }
    if let Some(f) = from {
        let local = f.local_part();
        if local == "mailer-daemon" || local == "postmaster" {
            return Some(AutoMarker::DaemonSender);
        }
    }
    if non_dsn_report {
        return Some(AutoMarker::Report);
    }
    None
}

/// The addresses of every occurrence of an address header (lists and groups), normalised, in
/// order, without unusable entries and duplicates. Linear in the number of addresses: a header
/// may hold tens of thousands.
fn addresses(values: &[&HeaderValue<'_>]) -> Vec<EmailAddress> {
    let mut out: Vec<EmailAddress> = Vec::new();
    let mut seen: std::collections::HashSet<EmailAddress> = std::collections::HashSet::new();
    for v in values {
        let Some(a): Option<&Address<'_>> = v.as_address() else {
            continue;
        };
        for addr in a.iter() {
            if let Some(parsed) = addr.address().and_then(|s| EmailAddress::parse(s).ok())
                && seen.insert(parsed.clone())
            {
                out.push(parsed);
            }
        }
    }
    out
}

/// The raw text of a header's value, when it is UTF-8.
fn raw_value<'r>(h: &mail_parser::Header<'_>, raw: &'r [u8]) -> Option<&'r str> {
    let (s, e) = (h.offset_start as usize, h.offset_end as usize);
    raw.get(s..e).and_then(|v| std::str::from_utf8(v).ok())
}

/// Message-ID lists from In-Reply-To or References, in order, without duplicates (linear).
fn id_list(value: &str) -> Vec<MessageId> {
    let mut seen: std::collections::HashSet<MessageId> = std::collections::HashSet::new();
    msgid::ids(value)
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// A one-line form of a header text: control characters (including CR/LF) become spaces,
/// runs of whitespace collapse, and the result is cut at [`MAX_SUBJECT_CHARS`].
fn clean_line(s: &str) -> String {
    // Most subjects are already one clean line.
    let trimmed = s.trim();
    let clean = trimmed.len() <= MAX_SUBJECT_CHARS
        && !trimmed.contains("  ")
        && !trimmed
            .chars()
            .any(|c| c.is_control() || (c.is_whitespace() && c != ' '));
    if clean {
        return trimmed.to_string();
    }
    let mut out = String::with_capacity(s.len().min(MAX_SUBJECT_CHARS));
    let mut last_space = true;
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
        if out.len() >= MAX_SUBJECT_CHARS * 4 {
            break;
        }
    }
    let trimmed = out.trim_end();
    trimmed.chars().take(MAX_SUBJECT_CHARS).collect()
}

/// Derives a stable Message-ID for a mail without one: a hash of the headers that identify it
/// (From, To, Cc, Date, Subject) and of its body. Trace headers added in transit (Received,
/// Return-Path) are left out, so a retried delivery of the same mail derives the same id.
fn derive_message_id_from(msg: &Message<'_>, raw: &[u8]) -> MessageId {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for (name, value) in msg.headers_raw() {
        // A Message-ID that did not parse is part of what identifies the mail: two mails with
        // different garbage ids get different synthetic ids, a retried one the same.
        for wanted in ["From", "To", "Cc", "Date", "Subject", "Message-ID"] {
            if name.eq_ignore_ascii_case(wanted) {
                fields.push((wanted, value.trim()));
            }
        }
    }
    let body_start = (msg.root_part().raw_body_offset() as usize).min(raw.len());
    derive_message_id(&fields, &raw[body_start..])
}

fn derive_message_id(fields: &[(&str, &str)], body: &[u8]) -> MessageId {
    let mut h = Sha256::new();
    for (name, value) in fields {
        h.update(name.as_bytes());
        h.update(b":");
        h.update(value.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\n");
    h.update(body);
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    MessageId::derived(&hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rfc2047_subject_and_names_and_normalises_addresses() {
        let raw = b"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <Juergen@B\xc3\xbccher.Example>\r\n\
To: Support <SUPPORT@Example.COM>, bob@example.com\r\n\
Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=\r\n\
Message-ID: <abc@client.example>\r\n\
In-Reply-To: <x1@a>\r\n\
References: <r1@a> <r2@a>\r\n\
\r\n\
body\r\n";
        let p = ParsedMail::parse(raw);
        assert_eq!(p.subject, "Grüße aus München");
        assert_eq!(
            p.from.as_ref().unwrap().as_str(),
            "juergen@xn--bcher-kva.example"
        );
        assert_eq!(p.from_name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(p.to.len(), 2);
        assert_eq!(p.to[0].as_str(), "support@example.com");
        assert_eq!(p.message_id, "abc@client.example");
        assert!(!p.derived_message_id);
        assert_eq!(p.references, vec!["r2@a", "r1@a"]);
        assert_eq!(p.thread_candidates(), vec!["x1@a", "r2@a", "r1@a"]);
    }

    #[test]
    fn derives_a_stable_message_id_ignoring_trace_headers() {
        let a = b"Received: from a\r\nFrom: x@y.example\r\nSubject: hi\r\n\r\nbody\r\n";
        let b = b"Received: from somewhere else\r\nReturn-Path: <x@y.example>\r\nFrom: x@y.example\r\nSubject: hi\r\n\r\nbody\r\n";
        let c = b"From: x@y.example\r\nSubject: hi\r\n\r\nother body\r\n";
        let pa = ParsedMail::parse(a);
        assert!(pa.derived_message_id);
        assert!(pa.message_id.is_derived());
        assert_eq!(pa.message_id, ParsedMail::parse(b).message_id);
        assert_ne!(pa.message_id, ParsedMail::parse(c).message_id);
    }

    #[test]
    fn detects_automatic_mail() {
        let cases: &[(&[u8], Option<AutoMarker>)] = &[
            (
                b"Auto-Submitted: auto-replied\r\nFrom: a@b.example\r\n\r\nx",
                Some(AutoMarker::AutoSubmitted),
            ),
            (b"Auto-Submitted: no\r\nFrom: a@b.example\r\n\r\nx", None),
            (
                b"Precedence: bulk\r\nFrom: a@b.example\r\n\r\nx",
                Some(AutoMarker::Precedence),
            ),
            (
                b"X-Autoreply: yes\r\nFrom: a@b.example\r\n\r\nx",
                Some(AutoMarker::AutoreplyHeader),
            ),
            (
                b"From: MAILER-DAEMON@b.example\r\n\r\nx",
                Some(AutoMarker::DaemonSender),
            ),
            (
                b"X-Etraq-Loop: 1\r\nFrom: a@b.example\r\n\r\nx",
                Some(AutoMarker::EtraqLoop),
            ),
            (b"From: a@b.example\r\nSubject: normal\r\n\r\nx", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                ParsedMail::parse(raw).auto,
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn recognises_a_dsn_and_its_original() {
        let raw = b"From: MAILER-DAEMON@mx.example\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\
\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; x@y.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig@example.com>\r\nSubject: hi\r\n\r\n\
--b--\r\n";
        let p = ParsedMail::parse(raw);
        assert!(p.is_dsn);
        assert_eq!(p.dsn_original_ids, vec!["orig@example.com"]);
    }

    #[test]
    fn malformed_message_ids_never_thread() {
        let bad = b"Message-ID: <<script>alert(1)</script>@x>\r\nReferences: <<script>alert(1)</script>@x> </script> <good@x.test>\r\nIn-Reply-To: <x\r\n\r\nb";
        let p = ParsedMail::parse(bad);
        assert!(p.derived_message_id, "{p:?}");
        assert!(p.message_id.is_derived(), "{}", p.message_id);
        assert_eq!(p.references, vec!["good@x.test"]);
        assert!(p.in_reply_to.is_empty());
        assert_eq!(p.thread_candidates(), vec!["good@x.test"]);
        // Two mails with different garbage get different synthetic ids; the same mail again
        // gets the same one (a retried delivery stays a duplicate).
        let other = b"Message-ID: <<script>other</script>@x>\r\n\r\nb";
        assert_ne!(ParsedMail::parse(other).message_id, p.message_id);
        assert_eq!(ParsedMail::parse(bad).message_id, p.message_id);
    }

    #[test]
    fn survives_garbage() {
        for raw in [
            &b""[..],
            b"\xff\xfe\x00garbage",
            b"From: <<<@@@>>>\r\nTo: ;;;,,,\r\nSubject: \r\n\r\n",
            b"Message-ID: < >\r\n\r\n",
            b"From: undisclosed-recipients:;\r\n\r\n",
        ] {
            let p = ParsedMail::parse(raw);
            assert!(!p.message_id.as_str().is_empty());
        }
    }
}
