//! The public unsubscribe endpoints, served without login (the token is the authority):
//! `GET /u/{token}` shows a page with one button and changes nothing (link scanners follow
//! GETs); `POST /u/{token}` unsubscribes, either from that button or as the RFC 8058 one-click
//! POST a mail provider sends (body `List-Unsubscribe=One-Click`), which gets a plain `200`.
//! A token that does not verify is a 404 and changes nothing. `GET /v/{token}` shows the mail
//! itself, for its view-in-browser link.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use crate::error::WebError;
use crate::pages::render_status;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    email: String,
    list: String,
    action: String,
    already: bool,
    done: bool,
}

fn refused(e: etraq_core::Error) -> WebError {
    match e {
        etraq_core::Error::NotFound { .. } => {
            WebError::NotFound("this unsubscribe link is not valid".into())
        }
        e => WebError::from(e),
    }
}

/// `GET /u/{token}`: the page with the button; nothing changes.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let t = state
        .app
        .unsubscribe_target(&token)
        .await
        .map_err(refused)?;
    render_status(
        StatusCode::OK,
        &UnsubscribePage {
            email: t.email.to_string(),
            list: t.list,
            action: format!("/u/{token}"),
            already: t.already,
            done: false,
        },
    )
}

/// `POST /u/{token}`: unsubscribes. The one-click POST gets text, the button a page.
pub async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let one_click = String::from_utf8_lossy(&body)
        .split('&')
        .any(|kv| kv.trim() == "List-Unsubscribe=One-Click");
    let t = state
        .app
        .unsubscribe_by_token(&token, Timestamp::now())
        .await
        .map_err(refused)?;
    if one_click {
        return Ok((StatusCode::OK, "unsubscribed\n").into_response());
    }
    render_status(
        StatusCode::OK,
        &UnsubscribePage {
            email: t.email.to_string(),
            list: t.list,
            action: format!("/u/{token}"),
            already: true,
            done: true,
        },
    )
}

/// The Content-Security-Policy of a campaign mail shown in the browser: it is mail, not the
/// console, so its inline styles and remote images show, and nothing in it runs or submits.
pub const MAIL_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
                            frame-ancestors 'self'; form-action 'none'; sandbox allow-popups \
                            allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation";

/// `GET /v/{token}`: a campaign mail as its recipient got it (the view-in-browser link). A
/// token that does not verify is a 404.
pub async fn view(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let html = state
        .app
        .view_in_browser(&token)
        .await
        .map_err(|e| match e {
            etraq_core::Error::NotFound { .. } => {
                WebError::NotFound("this link is not valid".into())
            }
            e => WebError::from(e),
        })?;
    let mut r = axum::response::Html(html).into_response();
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(MAIL_CSP),
    );
    h.insert(
        axum::http::header::X_FRAME_OPTIONS,
        axum::http::HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(r)
}
