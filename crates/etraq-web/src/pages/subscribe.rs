//! The public subscribe endpoints, served without login: `GET /s` lists the public lists,
//! `GET /s/{list}` shows a public list's form and `POST /s/{list}` subscribes (double opt-in
//! lists mail a confirmation link). `GET /s/confirm/{token}` shows a page with one button and
//! changes nothing (link scanners follow GETs); its `POST` confirms. A private or missing list,
//! and a token that does not verify, are a 404 that changes nothing.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::EmailAddress;
use etraq_core::campaign::OptIn;
use etraq_core::service::Subscribed;
use jiff::Timestamp;
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::Form;
use crate::pages::render_status;
use crate::state::AppState;

/// What the page shows.
pub(crate) enum SubscribeState {
    Form,
    Done,
    CheckInbox,
    Confirm,
    Confirmed,
    Index,
}

#[derive(Template)]
#[template(path = "subscribe.html")]
struct SubscribePage {
    title: String,
    state: SubscribeState,
    list: String,
    description: String,
    double: bool,
    action: String,
    email: String,
    name: String,
    problem: Option<String>,
    lists: Vec<(String, String, String)>,
}

impl SubscribePage {
    fn new(state: SubscribeState, list: &str) -> SubscribePage {
        SubscribePage {
            title: format!("Subscribe to {list}"),
            state,
            list: list.to_string(),
            description: String::new(),
            double: false,
            action: String::new(),
            email: String::new(),
            name: String::new(),
            problem: None,
            lists: Vec::new(),
        }
    }
}

fn list_href(name: &str) -> String {
    format!(
        "/s/{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    )
}

fn no_list(e: etraq_core::Error) -> WebError {
    match e {
        etraq_core::Error::NotFound { .. } => {
            WebError::NotFound("there is no such public list".into())
        }
        e => WebError::from(e),
    }
}

fn bad_link(e: etraq_core::Error) -> WebError {
    match e {
        etraq_core::Error::NotFound { .. } => {
            WebError::NotFound("this confirmation link is not valid".into())
        }
        e => WebError::from(e),
    }
}

/// `GET /s`: the public lists.
pub async fn index(State(state): State<Arc<AppState>>) -> Result<Response, WebError> {
    let lists = state.app.public_lists().await?;
    let mut page = SubscribePage::new(SubscribeState::Index, "");
    page.title = "Mailing lists".into();
    page.lists = lists
        .iter()
        .map(|l| (list_href(&l.name), l.name.clone(), l.description.clone()))
        .collect();
    render_status(StatusCode::OK, &page)
}

/// `GET /s/{list}`: the form.
pub async fn form(
    State(state): State<Arc<AppState>>,
    Path(list): Path<String>,
) -> Result<Response, WebError> {
    let l = state.app.public_list(&list).await.map_err(no_list)?;
    let mut page = SubscribePage::new(SubscribeState::Form, &l.name);
    page.description = l.description;
    page.double = l.opt_in == OptIn::Double;
    page.action = list_href(&l.name);
    render_status(StatusCode::OK, &page)
}

/// The form's fields.
#[derive(Deserialize)]
pub struct SubscribeForm {
    email: String,
    #[serde(default)]
    name: String,
}

/// `POST /s/{list}`: subscribes, or shows the form again with what is wrong.
pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    Path(list): Path<String>,
    Form(f): Form<SubscribeForm>,
) -> Result<Response, WebError> {
    let l = state.app.public_list(&list).await.map_err(no_list)?;
    let email = match EmailAddress::parse(f.email.trim()) {
        Ok(e) => e,
        Err(e) => {
            let mut page = SubscribePage::new(SubscribeState::Form, &l.name);
            page.description = l.description;
            page.double = l.opt_in == OptIn::Double;
            page.action = list_href(&l.name);
            page.email = f.email.chars().take(254).collect();
            page.name = f.name.chars().take(200).collect();
            page.problem = Some(format!("That is not an email address: {e}"));
            return render_status(StatusCode::BAD_REQUEST, &page);
        }
    };
    let name: String = f.name.trim().chars().take(200).collect();
    let outcome = state
        .app
        .subscribe_form(
            &l.name,
            &email,
            Some(name).filter(|n| !n.is_empty()),
            Timestamp::now(),
        )
        .await
        .map_err(no_list)?;
    let mut page = SubscribePage::new(
        match outcome {
            Subscribed::Done => SubscribeState::Done,
            Subscribed::CheckInbox => SubscribeState::CheckInbox,
        },
        &l.name,
    );
    page.email = email.to_string();
    render_status(StatusCode::OK, &page)
}

/// `GET /s/confirm/{token}`: the page with the button; nothing changes.
pub async fn confirm_page(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let t = state.app.confirm_target(&token).await.map_err(bad_link)?;
    let mut page = SubscribePage::new(
        if t.already {
            SubscribeState::Confirmed
        } else {
            SubscribeState::Confirm
        },
        &t.list,
    );
    page.email = t.email.to_string();
    page.action = format!("/s/confirm/{token}");
    render_status(StatusCode::OK, &page)
}

/// `POST /s/confirm/{token}`: confirms.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let t = state
        .app
        .confirm_by_token(&token, Timestamp::now())
        .await
        .map_err(bad_link)?;
    let mut page = SubscribePage::new(SubscribeState::Confirmed, &t.list);
    page.email = t.email.to_string();
    render_status(StatusCode::OK, &page)
}
