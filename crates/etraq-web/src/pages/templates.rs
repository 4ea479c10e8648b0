//! The Campaigns tab's template pages: the templates, adding one (an error shown with the form
//! and its line), and each one previewed for any subscriber in a sandboxed frame.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use etraq_core::EmailAddress;
use etraq_core::campaign::TemplateKind;
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, PathText, Query, non_empty};
use crate::html::{Cell, Column, Field, Table, url};
use crate::pages::area::{AreaPage, Done, FormBox, Section, path, supervisor};
use crate::pages::{back, done_message, render, render_status};
use crate::state::AppState;

/// `GET /templates`.
pub async fn templates(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let all = state.app.templates(&signed.actor).await?;
    let mut page = AreaPage::new(&state, &signed, "/templates", "Templates");
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.intro = "Built-in templates are read-only; add your own from a copy.".into();
    page.sections.push(Section {
        title: "Templates".into(),
        id: "templates".into(),
        table: Table {
            columns: ["Name", "Kind", "Subject", "Built-in"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: all
                .iter()
                .map(|t| {
                    vec![
                        Cell::link(t.name.clone(), path("/templates", &t.name)),
                        Cell::text(t.kind.as_str()),
                        Cell::text(t.subject.clone()),
                        Cell::text(if t.builtin { "yes" } else { "no" }),
                    ]
                })
                .collect(),
            empty: String::new(),
            ..Table::default()
        },
    });
    if supervisor(&signed) {
        page.forms.push(template_form(&TemplateForm::default()));
    }
    render(&page)
}

/// The template form.
#[derive(Debug, Default, Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
}

fn template_form(f: &TemplateForm) -> FormBox {
    FormBox {
        method: "post",
        title: "Add a template".into(),
        help: "minijinja (Jinja2) with the merge fields subscriber.email, subscriber.name, \
               subscriber.attribs.NAME, campaign.name, list.name, unsubscribe_url, \
               view_in_browser_url and customer.*. An error names its line. A template of kind \
               acknowledgement (for automatic acknowledgements) has the DR's fields instead: \
               dr.id, dr.subject, customer, owner.name, department, business_hours, suggestions."
            .into(),
        action: "/templates".into(),
        fields: vec![
            Field::text("name", "Name", &f.name),
            Field::select(
                "kind",
                "Kind",
                if f.kind.is_empty() { "custom" } else { &f.kind },
                TemplateKind::ALL
                    .iter()
                    .map(|k| (k.as_str().to_string(), k.as_str().to_string())),
            ),
            Field::text("subject", "Subject", &f.subject),
            Field::text("html", "HTML body", &f.html).kind("textarea"),
            Field::text("text", "Text body", &f.text)
                .kind("textarea")
                .help("Optional: without it the text part is made from the HTML."),
        ],
        button: "Add template".into(),
        id: "add-template".into(),
        multipart: false,
    }
}

/// `POST /templates`: adds it, or shows the form again with the error (naming its line).
pub async fn add_template(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<TemplateForm>,
) -> Result<Response, WebError> {
    let result = match TemplateKind::parse(&f.kind) {
        Ok(kind) => state
            .app
            .save_template(
                &signed.actor,
                etraq_core::campaign::Template {
                    name: f.name.clone(),
                    kind,
                    subject: f.subject.clone(),
                    html: f.html.clone(),
                    text: Some(f.text.clone()).filter(|t| !t.trim().is_empty()),
                    builtin: false,
                    created_at: Timestamp::now(),
                },
                Timestamp::now(),
            )
            .await
            .map_err(WebError::from),
        Err(e) => Err(WebError::from(e)),
    };
    match result {
        Ok(t) => Ok(back(&path("/templates", &t.name), "saved")),
        Err(WebError::BadRequest(why)) => {
            let mut page = AreaPage::new(&state, &signed, "/templates", "Add a template");
            page.problem = Some(why);
            page.forms.push(template_form(&f));
            render_status(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e),
    }
}

/// Query of a template's page: whom to preview it for.
#[derive(Debug, Default, Deserialize)]
pub struct PreviewQuery {
    subscriber: Option<String>,
    campaign: Option<String>,
    done: Option<String>,
}

/// `GET /templates/{name}`: its subject and a preview, for any subscriber.
pub async fn template(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, WebError> {
    let t = state.app.template(&signed.actor, &name).await?;
    let who = non_empty(&q.subscriber)
        .map(|s| {
            EmailAddress::parse(s).map_err(|e| WebError::BadRequest(format!("subscriber: {e}")))
        })
        .transpose()?;
    let preview = state
        .app
        .preview_template(&signed.actor, &t.name, who.as_ref(), non_empty(&q.campaign))
        .await?;
    let mut page = AreaPage::new(
        &state,
        &signed,
        "/templates",
        &format!("Template {}", t.name),
    );
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.facts = vec![
        ("Kind".into(), t.kind.as_str().into()),
        ("Subject".into(), preview.rendered.subject.clone()),
        (
            "Built-in".into(),
            if t.builtin { "yes" } else { "no" }.into(),
        ),
        (
            "Shown for".into(),
            if preview.to_name.is_empty() {
                preview.to.clone()
            } else {
                format!("{} <{}>", preview.to_name, preview.to)
            },
        ),
    ];
    let subscriber_text = q.subscriber.clone().unwrap_or_default();
    page.forms.push(FormBox {
        method: "post",
        title: "Preview for".into(),
        help: String::new(),
        action: path("/templates", &t.name),
        fields: vec![
            Field::text("subscriber", "Subscriber", &subscriber_text)
                .kind("email")
                .placeholder("ann@example.org"),
        ],
        button: "Preview".into(),
        id: "preview-for".into(),
        multipart: false,
    });
    if let Some(f) = page.forms.last_mut() {
        f.method = "get";
    }
    page.preview = Some(url(
        &(path("/templates", &t.name) + "/preview"),
        &[("subscriber", &subscriber_text)],
    ));
    page.source = Some(preview.rendered.text.clone());
    render(&page)
}

/// `GET /templates/{name}/preview`: the rendered HTML part alone, for the preview frame. It
/// is mail, not the console: its own Content-Security-Policy lets its inline styles and remote
/// images show and runs no script, and only the console may frame it.
pub async fn template_preview(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, WebError> {
    let who = non_empty(&q.subscriber)
        .map(|s| {
            EmailAddress::parse(s).map_err(|e| WebError::BadRequest(format!("subscriber: {e}")))
        })
        .transpose()?;
    let preview = state
        .app
        .preview_template(&signed.actor, &name, who.as_ref(), non_empty(&q.campaign))
        .await?;
    let mut r = axum::response::Html(preview.rendered.html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::pages::unsubscribe::MAIL_CSP),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(r)
}
