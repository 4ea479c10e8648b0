//! The Support tab: the knowledge base (articles rendered from Markdown and sanitised, their
//! history, a search, forms to write and change them) and the acknowledgement rules. The DR
//! page's reply form and suggestions are in `pages/mail.rs`; they call the same use cases.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::support::kb::ArticleInput;
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, PathText, Query, non_empty};
use crate::html::{Cell, Chrome, Column, Field, Table};
use crate::pages::area::{Action, FormBox, Section, path, supervisor};
use crate::pages::{back, done_message, render, render_status};
use crate::state::AppState;

/// The Support tab's page layout.
#[derive(Template)]
#[template(path = "support.html")]
pub(crate) struct SupportPage {
    chrome: Chrome,
    sub: Vec<(&'static str, &'static str, bool)>,
    intro: String,
    problem: Option<String>,
    /// The search box, with the query.
    search: Option<String>,
    facts: Vec<(String, String)>,
    actions: Vec<Action>,
    /// An article's body, rendered and sanitised ([`crate::markdown::article_html`]).
    article: Option<String>,
    sections: Vec<Section>,
    forms: Vec<FormBox>,
}

impl SupportPage {
    fn new(state: &AppState, signed: &Signed, here: &'static str, title: &str) -> SupportPage {
        SupportPage {
            chrome: Chrome::new(state, signed, "/kb", title),
            sub: [
                ("/kb", "Knowledge base"),
                ("/autoreplies", "Acknowledgements"),
            ]
            .into_iter()
            .map(|(h, l)| (h, l, h == here))
            .collect(),
            intro: String::new(),
            problem: None,
            search: None,
            facts: Vec::new(),
            actions: Vec::new(),
            article: None,
            sections: Vec::new(),
            forms: Vec::new(),
        }
    }
}

/// `?q=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct KbQuery {
    q: Option<String>,
    done: Option<String>,
}

/// The article form (new or change).
#[derive(Debug, Default, Deserialize)]
pub struct ArticleForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    public: Option<String>,
}

impl ArticleForm {
    fn input(&self) -> ArticleInput {
        ArticleInput {
            title: Some(self.title.clone()),
            body: Some(self.body.clone()),
            tags: Some(
                self.tags
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect(),
            ),
            public: Some(self.public.is_some()),
        }
    }
}

fn article_form(action: String, title: &str, button: &str, id: &str, f: &ArticleForm) -> FormBox {
    FormBox {
        method: "post",
        title: title.into(),
        help: "Markdown. Public articles may be suggested to customers in acknowledgements; \
               private ones only to agents."
            .into(),
        action,
        fields: vec![
            Field::text("title", "Title", &f.title)
                .placeholder("what a customer would ask, in a line"),
            Field::text("body", "Body (Markdown)", &f.body).kind("textarea"),
            Field::text("tags", "Tags", &f.tags).help("comma-separated"),
            Field::checkbox(
                "public",
                "Public (may be mailed to customers)",
                f.public.is_some(),
            ),
        ],
        button: button.into(),
        id: id.into(),
        multipart: false,
    }
}

/// `GET /kb`: every article, or the best matches for `q`, and the form for a new one.
pub async fn kb_index(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<KbQuery>,
) -> Result<Response, WebError> {
    let mut page = SupportPage::new(&state, &signed, "/kb", "Knowledge base");
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.search = Some(q.q.clone().unwrap_or_default());
    if let Some(query) = non_empty(&q.q) {
        let hits = state.app.kb_search(&signed.actor, query, 20).await?;
        page.sections.push(Section {
            title: format!("Best matches for “{query}”"),
            id: "kb-results".into(),
            table: Table {
                columns: vec![Column::new("Title"), Column::new("Score")],
                rows: hits
                    .iter()
                    .map(|h| {
                        vec![
                            Cell::link(h.title.clone(), format!("/kb/{}", h.id)),
                            Cell::text(format!("{:.3}", h.score)),
                        ]
                    })
                    .collect(),
                empty: "No article matches.".into(),
                ..Table::default()
            },
        });
    } else {
        let all = state.app.kb_list(&signed.actor).await?;
        let tz = state.time_zone();
        page.intro = format!(
            "{} article(s). Agents insert them into replies from a DR's page, where the best \
             matches for the customer's message are suggested.",
            all.len()
        );
        page.sections.push(Section {
            title: "Articles".into(),
            id: "kb-articles".into(),
            table: Table {
                columns: ["Title", "Tags", "Public", "Version", "Updated", "Author"]
                    .iter()
                    .map(|c| Column::new(c))
                    .collect(),
                rows: all
                    .iter()
                    .map(|a| {
                        vec![
                            Cell::link(a.title.clone(), format!("/kb/{}", a.id)),
                            Cell::text(a.tags.join(", ")),
                            Cell::text(if a.public { "yes" } else { "no" }),
                            Cell::text(a.version.to_string()),
                            Cell::text(crate::html::time(a.updated_at, &tz)),
                            Cell::text(a.author.clone()),
                        ]
                    })
                    .collect(),
                empty: "No articles yet: write the first one below.".into(),
                ..Table::default()
            },
        });
    }
    page.forms.push(article_form(
        "/kb".into(),
        "Write an article",
        "Add article",
        "add-article",
        &ArticleForm::default(),
    ));
    render(&page)
}

/// `POST /kb`.
pub async fn kb_create(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<ArticleForm>,
) -> Result<Response, WebError> {
    match state
        .app
        .kb_add(&signed.actor, &f.input(), Timestamp::now())
        .await
    {
        Ok(a) => Ok(back(&format!("/kb/{}", a.id), "article-saved")),
        Err(e) => match WebError::from(e) {
            WebError::BadRequest(why) => {
                let mut page = SupportPage::new(&state, &signed, "/kb", "Write an article");
                page.problem = Some(why);
                page.forms.push(article_form(
                    "/kb".into(),
                    "Write an article",
                    "Add article",
                    "add-article",
                    &f,
                ));
                render_status(StatusCode::BAD_REQUEST, &page)
            }
            e => Err(e),
        },
    }
}

fn parse_id(s: &str) -> Result<u64, WebError> {
    s.parse()
        .map_err(|_| WebError::BadRequest(format!("{s:?} is not an article number")))
}

/// `GET /kb/{id}`: the article rendered, its history, and the form to change it.
pub async fn kb_article(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Query(q): Query<KbQuery>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let d = state.app.kb_show(&signed.actor, id).await?;
    let a = &d.article;
    let tz = state.time_zone();
    let mut page = SupportPage::new(&state, &signed, "/kb", &a.title);
    page.chrome = page.chrome.flash(done_message(q.done.as_deref()));
    page.facts = vec![
        ("Article".into(), a.id.to_string()),
        (
            "Tags".into(),
            if a.tags.is_empty() {
                "none".into()
            } else {
                a.tags.join(", ")
            },
        ),
        (
            "Public".into(),
            if a.public {
                "yes: may be mailed to customers"
            } else {
                "no: for agents"
            }
            .into(),
        ),
        (
            "Version".into(),
            format!(
                "{} by {}, {}",
                a.version,
                a.author,
                crate::html::time(a.updated_at, &tz)
            ),
        ),
    ];
    if supervisor(&signed) {
        page.actions.push(Action::new(
            format!("/kb/{}/delete", a.id),
            "Delete the article",
            "delete-article",
        ));
    }
    page.article = Some(crate::markdown::article_html(&a.body));
    page.sections.push(Section {
        title: "History".into(),
        id: "history".into(),
        table: Table {
            columns: ["Version", "When", "Author", "Title"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows: d
                .history
                .iter()
                .rev()
                .map(|v| {
                    vec![
                        Cell::text(v.version.to_string()),
                        Cell::text(crate::html::time(v.updated_at, &tz)),
                        Cell::text(v.author.clone()),
                        Cell::text(v.title.clone()),
                    ]
                })
                .collect(),
            empty: String::new(),
            ..Table::default()
        },
    });
    let form = ArticleForm {
        title: a.title.clone(),
        body: a.body.clone(),
        tags: a.tags.join(", "),
        public: a.public.then(|| "on".to_string()),
    };
    page.forms.push(article_form(
        format!("/kb/{}", a.id),
        "Change it",
        "Save a new version",
        "save-article",
        &form,
    ));
    render(&page)
}

/// `POST /kb/{id}`: a new version.
pub async fn kb_update(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
    Form(f): Form<ArticleForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    match state
        .app
        .kb_set(&signed.actor, id, &f.input(), Timestamp::now())
        .await
    {
        Ok(a) => Ok(back(&format!("/kb/{}", a.id), "article-saved")),
        Err(e) => match WebError::from(e) {
            WebError::BadRequest(why) => {
                let mut page = SupportPage::new(&state, &signed, "/kb", "Change an article");
                page.problem = Some(why);
                page.forms.push(article_form(
                    format!("/kb/{id}"),
                    "Change it",
                    "Save a new version",
                    "save-article",
                    &f,
                ));
                render_status(StatusCode::BAD_REQUEST, &page)
            }
            e => Err(e),
        },
    }
}

/// `POST /kb/{id}/delete` (supervisors).
pub async fn kb_delete(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> Result<Response, WebError> {
    state.app.kb_delete(&signed.actor, parse_id(&id)?).await?;
    Ok(back("/kb", "deleted"))
}

/// The rule form.
#[derive(Debug, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    subject_matches: String,
    #[serde(default)]
    window: String,
}

fn rule_form(f: &RuleForm) -> FormBox {
    FormBox {
        method: "post",
        title: "Add a rule".into(),
        help: "A customer's first mail of a new DR is acknowledged by the first rule that \
               matches. Never answered: automatic mail, mailing lists, X-Loop, \
               X-Auto-Response-Suppress, noreply-like or blocklisted senders, a sender answered \
               within the window, and more than support.autoreply_per_sender_per_day a day."
            .into(),
        action: "/autoreplies".into(),
        fields: vec![
            Field::text("name", "Name", &f.name),
            Field::text("template", "Template", if f.template.is_empty() { "acknowledgement" } else { &f.template })
                .help("acknowledgement (built in), or a template of kind acknowledgement from Campaigns → Templates; fields dr.id, dr.subject, customer, owner.name, department, business_hours, suggestions"),
            Field::text("to", "Only mail to", &f.to).help("comma-separated addresses; empty: any"),
            Field::text("department", "Only the department", &f.department),
            Field::text("subject_matches", "Only subjects matching", &f.subject_matches).help("a regular expression, case-insensitive"),
            Field::text("window", "Window", if f.window.is_empty() { "1d" } else { &f.window }).help("a sender answered within this long is not answered again"),
        ],
        button: "Add rule".into(),
        id: "add-rule".into(),
        multipart: false,
    }
}

async fn rules_page(
    state: &AppState,
    signed: &Signed,
    done: Option<&str>,
    problem: Option<String>,
    form: &RuleForm,
) -> Result<SupportPage, WebError> {
    let rules = state.app.autoreplies(&signed.actor).await?;
    let mut page = SupportPage::new(state, signed, "/autoreplies", "Acknowledgements");
    page.chrome = page.chrome.flash(done_message(done));
    page.problem = problem;
    page.intro = "Automatic acknowledgements of a customer's first mail: sent through the \
                  outbox, recorded on the DR as Auto Reply, never counted as a response."
        .into();
    let boss = supervisor(signed);
    if !boss {
        page.intro
            .push_str(" Supervisors add, enable and delete rules.");
    }
    page.sections.push(Section {
        title: "Rules, in the order they are tried".into(),
        id: "rules".into(),
        table: Table {
            columns: [
                "Name",
                "Template",
                "To",
                "Department",
                "Subject",
                "Window",
                "State",
            ]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
            rows: rules
                .iter()
                .map(|r| {
                    vec![
                        Cell::text(r.name.clone()),
                        Cell::text(r.template.clone()),
                        Cell::text(
                            r.to.iter()
                                .map(|a| a.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        Cell::text(r.department.clone().unwrap_or_default()),
                        Cell::text(r.subject_matches.clone().unwrap_or_default()),
                        Cell::text(etraq_core::format_seconds(r.window_secs)),
                        Cell::text(match &r.error {
                            Some(e) => format!("disabled: {e}"),
                            None => "active".into(),
                        }),
                    ]
                })
                .collect(),
            empty: "No rules: no mail is acknowledged automatically.".into(),
            ..Table::default()
        },
    });
    if boss {
        for r in &rules {
            if r.error.is_some() {
                page.actions.push(Action::new(
                    path("/autoreplies", &r.name) + "/enable",
                    &format!("Enable {}", r.name),
                    &format!("enable-{}", r.name),
                ));
            }
            page.actions.push(Action::new(
                path("/autoreplies", &r.name) + "/delete",
                &format!("Delete {}", r.name),
                &format!("delete-{}", r.name),
            ));
        }
        if !page.actions.is_empty() {
            page.facts.push(("Rules".into(), rules.len().to_string()));
        }
        page.forms.push(rule_form(form));
    }
    Ok(page)
}

/// `GET /autoreplies`.
pub async fn autoreplies(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<KbQuery>,
) -> Result<Response, WebError> {
    let page = rules_page(
        &state,
        &signed,
        q.done.as_deref(),
        None,
        &RuleForm::default(),
    )
    .await?;
    render(&page)
}

/// `POST /autoreplies` (supervisors).
pub async fn add_rule(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<RuleForm>,
) -> Result<Response, WebError> {
    let to: Vec<String> = f.to.split(',').map(|s| s.trim().to_string()).collect();
    let input = crate::api::support::rule_input(
        f.name.trim().to_string(),
        Some(f.template.clone()),
        &to,
        Some(f.department.trim().to_string()).filter(|d| !d.is_empty()),
        Some(f.subject_matches.clone()).filter(|p| !p.is_empty()),
        Some(f.window.as_str()),
    );
    let result = match input {
        Ok(input) => state
            .app
            .add_autoreply(&signed.actor, &input, Timestamp::now())
            .await
            .map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(back("/autoreplies", "rule-added")),
        Err(WebError::BadRequest(why)) => {
            let page = rules_page(&state, &signed, None, Some(why), &f).await?;
            render_status(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e),
    }
}

/// `POST /autoreplies/{name}/delete` (supervisors).
pub async fn delete_rule(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> Result<Response, WebError> {
    state.app.delete_autoreply(&signed.actor, &name).await?;
    Ok(back("/autoreplies", "deleted"))
}

/// `POST /autoreplies/{name}/enable` (supervisors).
pub async fn enable_rule(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(name): PathText,
) -> Result<Response, WebError> {
    state.app.enable_autoreply(&signed.actor, &name).await?;
    Ok(back("/autoreplies", "rule-enabled"))
}
