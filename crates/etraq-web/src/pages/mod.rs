//! The console's HTML pages, rendered on the server. Each page parses its input, calls one use
//! case of `etraq_core::service` with the signed-in actor, and renders the answer; who may open
//! it is declared once per group in [`router`]. The anonymous are sent to the sign-in page. The main views work without JavaScript; `app.js` only adds auto-refresh.

pub(crate) mod area;
pub(crate) mod campaign_report;
pub(crate) mod campaigns;
pub(crate) mod config;
pub(crate) mod escalations;
pub(crate) mod lists;
pub(crate) mod login;
pub(crate) mod logs;
pub(crate) mod mail;
pub(crate) mod message;
pub(crate) mod reports;
pub(crate) mod search;
pub(crate) mod status;
pub(crate) mod subscribe;
pub(crate) mod support;
pub(crate) mod templates;
pub(crate) mod track;
pub(crate) mod unsubscribe;
pub(crate) mod users;
pub(crate) mod utilities;

use askama::Template;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::Access;
use crate::error::WebError;
use crate::html::{Chrome, Field, Table};
use crate::routes::{Group, Routes};

/// The page routes, in groups by who may use them.
pub fn router() -> Vec<Group> {
    vec![
        Routes::new(Access::Public)
            .get("/", get(|| async { Redirect::to("/status") }))
            .get_post("/login", get(login::login_page).post(login::login))
            .get_post(
                "/u/{token}",
                get(unsubscribe::page).post(unsubscribe::unsubscribe),
            )
            .get("/v/{token}", get(unsubscribe::view))
            .get("/t/o/{token}", get(track::open))
            .get("/t/c/{token}", get(track::click))
            .get("/t/v/{token}", get(track::conversion))
            .get("/s", get(subscribe::index))
            .get_post("/s/{list}", get(subscribe::form).post(subscribe::subscribe))
            .get_post(
                "/s/confirm/{token}",
                get(subscribe::confirm_page).post(subscribe::confirm),
            )
            .finish(),
        Routes::new(Access::Signed)
            .post("/logout", post(login::logout))
            .get("/status", get(status::page))
            .get("/tracked", get(mail::tracked))
            .get("/untracked", get(mail::untracked))
            .get("/history", get(mail::history))
            .get("/dr/{id}", get(mail::dr_page))
            .post("/dr/{id}/assign", post(mail::assign))
            .post("/dr/{id}/close", post(mail::close))
            .post("/dr/{id}/reopen", post(mail::reopen))
            .post("/dr/{id}/remind", post(mail::remind))
            .post("/dr/{id}/reply", post(mail::reply))
            .get_post("/kb", get(support::kb_index).post(support::kb_create))
            .get_post(
                "/kb/{id}",
                get(support::kb_article).post(support::kb_update),
            )
            .get("/autoreplies", get(support::autoreplies))
            .get("/search", get(search::search))
            .get("/mail/{seq}", get(message::mail_page))
            .get("/mail/{seq}/part/{n}", get(message::part))
            .get("/mail/{seq}/cid/{cid}", get(message::inline))
            .get("/mail/{seq}/raw", get(mail::raw_view))
            .get("/mail/{seq}/eml", get(mail::raw_download))
            .get("/alerts", get(escalations::alerts))
            .get(
                "/reports",
                get(|| async { Redirect::to("/reports/unreplied") }),
            )
            .get("/reports/unreplied", get(reports::unreplied))
            .get("/reports/response-times", get(reports::response_times))
            .get("/reports/volume", get(reports::volume))
            .get_post(
                "/password",
                get(users::password_page).post(users::change_password),
            )
            .post("/password/tokens", post(users::create_token))
            .post("/password/tokens/{id}/revoke", post(users::revoke_token))
            .get("/campaigns", get(campaigns::campaigns))
            .get("/campaigns/{name}", get(campaigns::campaign))
            .get("/lists", get(lists::lists))
            .get("/lists/{name}", get(lists::list))
            .get("/subscribers", get(lists::subscribers))
            .get("/subscribers/{email}", get(lists::subscriber))
            .get("/templates", get(templates::templates))
            .get("/templates/{name}", get(templates::template))
            .get(
                "/templates/{name}/preview",
                get(templates::template_preview),
            )
            .get("/blocklist", get(lists::blocklist))
            .finish(),
        Routes::new(Access::Supervisor)
            .get("/escalations", get(escalations::cycles))
            .get("/escalations/{id}", get(escalations::cycle))
            .post("/campaigns", post(campaigns::create_campaign))
            .post("/campaigns/{name}/control", post(campaigns::control))
            .post("/lists", post(lists::create_list))
            .post("/lists/{name}", post(lists::update_list))
            .post(
                "/lists/{name}/import",
                post(lists::import).layer(axum::extract::DefaultBodyLimit::max(
                    crate::api::MAX_IMPORT_BYTES,
                )),
            )
            .post("/lists/{name}/add", post(lists::add))
            .post("/subscribers/{email}/unsubscribe", post(lists::unsubscribe))
            .post("/blocklist", post(lists::block))
            .post("/templates", post(templates::add_template))
            .post("/kb/{id}/delete", post(support::kb_delete))
            .post("/autoreplies", post(support::add_rule))
            .post("/autoreplies/{name}/delete", post(support::delete_rule))
            .post("/autoreplies/{name}/enable", post(support::enable_rule))
            .get("/utilities", get(utilities::index))
            .get_post(
                "/utilities/validate",
                get(utilities::validate_page)
                    .post(utilities::start_validation)
                    .layer(axum::extract::DefaultBodyLimit::max(
                        utilities::MAX_REQUEST_BYTES,
                    )),
            )
            .get_post(
                "/utilities/extract",
                get(utilities::extract_page).post(utilities::start_extraction),
            )
            .get("/jobs/{id}", get(utilities::job_page))
            .get("/jobs/{id}/results.csv", get(utilities::results_csv))
            .get("/jobs/{id}/results.json", get(utilities::results_json))
            .post("/jobs/{id}/cancel", post(utilities::cancel))
            .post("/jobs/{id}/validate", post(utilities::validate_results))
            .post("/jobs/{id}/import", post(utilities::import))
            .finish(),
        Routes::new(Access::Admin)
            .post("/services", post(status::services))
            .get("/logs", get(logs::list))
            .get("/logs/{name}", get(logs::view))
            .get("/logs/{name}/download", get(logs::download))
            .get_post("/config", get(config::page).post(config::save))
            .get_post("/users", get(users::list).post(users::create))
            .get("/users/new", get(users::new_page))
            .get_post("/users/{email}", get(users::edit_page).post(users::update))
            .post("/lists/{name}/delete", post(lists::delete_list))
            .post("/blocklist/remove", post(lists::unblock))
            .finish(),
    ]
}

/// Renders a template as an HTML response.
pub fn render(t: &impl Template) -> Result<Response, WebError> {
    Ok(Html(t.render()?).into_response())
}

/// Renders a template with a status (a form shown again with its errors gets 400).
pub fn render_status(status: StatusCode, t: &impl Template) -> Result<Response, WebError> {
    let mut r = render(t)?;
    *r.status_mut() = status;
    Ok(r)
}

/// A generic listing page: filters, a table, paging.
#[derive(Template)]
#[template(path = "listing.html")]
pub struct ListingPage {
    /// The frame.
    pub chrome: Chrome,
    /// A sentence under the title.
    pub intro: String,
    /// Where the filter form goes.
    pub action: &'static str,
    /// The filters.
    pub fields: Vec<Field>,
    /// The rows.
    pub table: Table,
}

#[derive(Template)]
#[template(
    source = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ status }} — etraq</title><link rel="stylesheet" href="/assets/style.css"></head>
<body class="login"><main><h1>{{ status }}</h1><p class="problem" id="problem">{{ message }}</p><p><a href="/status">Back to the console</a></p></main></body></html>"#,
    ext = "html"
)]
struct ErrorPage {
    status: String,
    message: String,
}

/// Turns plain-text error answers (from extractors, limits and the CSRF check) into small HTML
/// pages on page routes and into `{"error": message}` on API routes; the message stays the same.
pub async fn error_bodies(req: Request<Body>, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    if api {
        let json = serde_json::json!({ "error": String::from_utf8_lossy(&bytes) });
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Response::from_parts(parts, Body::from(json.to_string()));
    }
    let page = ErrorPage {
        status: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        message: String::from_utf8_lossy(&bytes).into_owned(),
    };
    match page.render() {
        Ok(html) => {
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Response::from_parts(parts, Body::from(html))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// After a state change, back to a page with a message (Post/Redirect/Get).
pub fn back(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let q = serde_urlencoded::to_string([("done", done)]).unwrap_or_default();
    Redirect::to(&format!("{to}{sep}{q}")).into_response()
}

/// The message of a `?done=` parameter, if it is one of ours (nothing else is echoed).
pub fn done_message(done: Option<&str>) -> Option<String> {
    let msg = match done? {
        "closed" => "The DR is closed.",
        "closed-transcript" => "The DR is closed; its transcript is on its way to the customer.",
        "replied" => "Your reply is sent and recorded on the DR.",
        "article-saved" => "The article is saved (a new version).",
        "rule-added" => "The rule is added.",
        "rule-enabled" => "The rule is enabled again.",
        "reopened" => "The DR is open again.",
        "assigned" => "The DR has a new owner.",
        "reminder" => "The reminder is set.",
        "saved" => "Saved.",
        "saved-restart" => "Saved. Some changes take effect when etraq restarts (see below).",
        "password" => "Your password is changed; your other sessions were signed out.",
        "password-tokens-revoked" => {
            "Your password is changed; your other sessions were signed out and your API tokens \
             revoked (create new ones below)."
        }
        "user-added" => "User added.",
        "user-saved" => "User saved.",
        "user-saved-tokens-revoked" => {
            "User saved. The new password signed the user out everywhere and revoked their API \
             tokens."
        }
        "token-revoked" => "The token is revoked.",
        "paused" => "Paused.",
        "deleted" => "Deleted.",
        "unsubscribed" => "Unsubscribed.",
        "subscriber-added" => "Added to the list.",
        "subscriber-confirm" => {
            "Added as unconfirmed: a confirmation mail is on its way, and they receive the list's \
             mail once they follow it."
        }
        "subscriber-skipped" => {
            "Not added: the address unsubscribed from this list or is blocklisted, and only the \
             person can subscribe again."
        }
        "resumed" => "Resumed.",
        _ => return None,
    };
    Some(msg.to_string())
}
