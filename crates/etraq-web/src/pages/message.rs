//! Reading one recorded message: `GET /mail/{seq}` shows its headers, its body (the text part
//! with quoted history folded, or the HTML part sanitised, remote images held back until
//! `?images=1`) and its attachments; `/mail/{seq}/part/{n}` downloads an attachment and
//! `/mail/{seq}/cid/{id}` serves an inline raster image. The scope check is the service's
//! (`mail_with_raw`): a mail the viewer may not see is 404 on every route. The DR page shows
//! each message of its thread with [`MessageView`] too.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use etraq_core::MailRecord;
use etraq_core::archive::{self, Attachment, Block, MessageBody};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::html::{self, Chrome};
use crate::pages::mail::{addrs, parse_seq};
use crate::pages::render;
use crate::sanitize::sanitize;
use crate::state::AppState;

/// A message as the console shows it.
#[derive(Clone, Debug)]
pub(crate) struct MessageView {
    pub(crate) seq: u64,
    pub(crate) href: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) cc: String,
    pub(crate) subject: String,
    pub(crate) date: String,
    pub(crate) direction: String,
    /// Sanitised HTML, when the message has an HTML part and the text is not preferred.
    pub(crate) html: Option<String>,
    /// The text, as new and quoted blocks.
    pub(crate) blocks: Vec<Block>,
    pub(crate) blocked_images: usize,
    pub(crate) undecodable: bool,
    /// (name, type, size for people, download path)
    pub(crate) attachments: Vec<(String, String, String, String)>,
}

impl MessageView {
    /// `prefer_text`: show the text part even when there is HTML (the DR page, where many
    /// messages stand one under the other).
    pub(crate) fn new(
        m: &MailRecord,
        raw: &[u8],
        tz: &TimeZone,
        prefer_text: bool,
        show_images: bool,
    ) -> MessageView {
        let body: MessageBody = archive::read_message(raw);
        let base = format!("/mail/{}", m.seq);
        let (html, blocked) = match (&body.html, prefer_text && body.text.is_some()) {
            (Some(h), false) => {
                let safe = sanitize(h, &format!("{base}/cid/"), show_images);
                (Some(safe.html), safe.blocked_images)
            }
            _ => (None, 0),
        };
        let blocks = if html.is_none() {
            archive::quoted_blocks(body.text.as_deref().unwrap_or(""))
        } else {
            Vec::new()
        };
        let from = match (&m.sender_name, &m.sender) {
            (Some(n), Some(a)) if !n.is_empty() => format!("{n} <{a}>"),
            (_, Some(a)) => a.to_string(),
            _ => String::new(),
        };
        MessageView {
            seq: m.seq,
            href: base.clone(),
            from,
            to: addrs(&m.to),
            cc: addrs(&m.cc),
            subject: m.subject.clone(),
            date: html::time(m.sent_at.unwrap_or(m.received_at), tz),
            direction: m.direction.as_str().to_string(),
            html,
            blocks,
            blocked_images: blocked,
            undecodable: body.undecodable,
            attachments: body
                .attachments
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        a.content_type.clone(),
                        human_size(a.size),
                        format!("{base}/part/{}", a.index),
                    )
                })
                .collect(),
        }
    }
}

fn human_size(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

#[derive(Template)]
#[template(path = "mail.html")]
struct MailPage {
    chrome: Chrome,
    m: MessageView,
    dr: Option<(String, String)>,
    decision: String,
    images: bool,
}

/// `?images=1` shows remote images.
#[derive(Debug, Default, Deserialize)]
pub struct MailQuery {
    images: Option<String>,
}

/// `GET /mail/{seq}`.
pub async fn mail_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(seq): Path<String>,
    crate::extract::Query(q): crate::extract::Query<MailQuery>,
) -> Result<Response, WebError> {
    let (mail, raw) = state
        .app
        .mail_with_raw(&signed.actor, parse_seq(&seq)?)
        .await?;
    let images = q.images.as_deref() == Some("1");
    let tz = state.time_zone();
    let m = MessageView::new(&mail, &raw, &tz, false, images);
    let page = MailPage {
        chrome: Chrome::new(
            &state,
            &signed,
            if mail.dr.is_some() {
                "/tracked"
            } else {
                "/untracked"
            },
            &html::short(&format!("Mail: {}", mail.subject), 80),
        ),
        dr: mail.dr.as_ref().map(|d| {
            (
                d.to_string(),
                format!("/dr/{}", html::segment(&d.to_string())),
            )
        }),
        decision: match mail.decision.reason() {
            Some(r) => format!("untracked: {}", r.as_str()),
            None => format!(
                "tracked: {}",
                mail.decision.mail_type().map_or("", |t| t.as_str())
            ),
        },
        images,
        m,
    };
    let mut resp = render(&page)?;
    if images {
        // The reader asked for the remote images: this page alone may load them.
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: https: http:; style-src 'self'; \
                 script-src 'self'; frame-ancestors 'none'; form-action 'self'; \
                 base-uri 'none'; object-src 'none'",
            ),
        );
    }
    Ok(resp)
}

/// `attachment; filename="ascii"; filename*=UTF-8''…` for a name [`archive::safe_file_name`]
/// made.
fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let enc = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{enc}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

fn part_response(a: &Attachment, bytes: Vec<u8>, inline: bool) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    // A download is never rendered: its declared type is not trusted (an attachment that says
    // text/html would run in the console's origin).
    let ct = if inline {
        HeaderValue::from_str(&a.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    } else {
        HeaderValue::from_static("application/octet-stream")
    };
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(
        header::CONTENT_DISPOSITION,
        if inline {
            HeaderValue::from_static("inline")
        } else {
            disposition(&a.name)
        },
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    r
}

/// `GET /mail/{seq}/part/{n}`: attachment `n`, always as a download.
pub async fn part(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path((seq, n)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (_, raw) = state
        .app
        .mail_with_raw(&signed.actor, parse_seq(&seq)?)
        .await?;
    let n: usize = n
        .parse()
        .map_err(|_| WebError::BadRequest(format!("{n:?} is not an attachment number")))?;
    let (a, bytes) = archive::attachment_bytes(&raw, n)
        .ok_or_else(|| WebError::NotFound("no such attachment".into()))?;
    Ok(part_response(&a, bytes, false))
}

/// `GET /mail/{seq}/cid/{id}`: an inline PNG, JPEG, GIF or WebP image by its `Content-ID`.
pub async fn inline(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path((seq, cid)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (_, raw) = state
        .app
        .mail_with_raw(&signed.actor, parse_seq(&seq)?)
        .await?;
    let (a, bytes) = archive::inline_image(&raw, &cid)
        .ok_or_else(|| WebError::NotFound("no such inline image".into()))?;
    Ok(part_response(&a, bytes, true))
}
