//! Users (admins add and edit them: name, department, supervisor, role, tracking, alert mail,
//! password) and Password (everyone changes their own, and manages their API tokens).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::access::ADMIN_LOGIN;
use etraq_core::{EmailAddress, Role, User};
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Signed;
use crate::credentials;
use crate::error::WebError;
use crate::extract::{Form, PathText, Query};
use crate::html::{self, Cell, Chrome, Column, Field, Table, segment};
use crate::pages::{ListingPage, back, done_message, render, render_status};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "user_form.html")]
struct UserFormPage {
    chrome: Chrome,
    action: String,
    button: &'static str,
    problem: Option<String>,
    fields: Vec<Field>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /users` (admins).
pub async fn list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let users = state.app.users(&signed.actor).await?;
    let mut rows = Vec::with_capacity(users.len());
    for u in &users {
        let has_pw = credentials::has_password(state.store().as_ref(), u.email.as_str()).await?;
        rows.push(vec![
            Cell::link(
                u.email.as_str(),
                format!("/users/{}", segment(u.email.as_str())),
            ),
            Cell::text(u.name.clone()),
            Cell::text(u.department.clone().unwrap_or_default()),
            Cell::text(u.supervisor.as_ref().map_or("", |s| s.as_str())),
            Cell::text(u.role.as_str()),
            Cell::text(if u.tracking { "on" } else { "off" }),
            Cell::text(if u.alerts { "on" } else { "off" }),
            Cell::text(if has_pw {
                "set"
            } else {
                "none (cannot sign in)"
            }),
        ]);
    }
    let table = Table {
        columns: Column::all(etraq_core::views::columns::USERS, &["Password"]),
        rows,
        empty: "No users yet.".into(),
        ..Table::default()
    };
    render(&ListingPage {
        chrome: Chrome::new(&state, &signed, "/users", "Users")
            .flash(done_message(q.done.as_deref())),
        intro: "Employees etraq knows. Add one with the form at /users/new.".into(),
        action: "/users",
        fields: vec![],
        table,
    })
}

/// The user form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    supervisor: String,
    #[serde(default)]
    role: String,
    tracking: Option<String>,
    alerts: Option<String>,
    #[serde(default)]
    password: String,
}

impl UserForm {
    fn of(u: &User) -> UserForm {
        UserForm {
            email: u.email.to_string(),
            name: u.name.clone(),
            department: u.department.clone().unwrap_or_default(),
            supervisor: u
                .supervisor
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            role: u.role.to_string(),
            tracking: u.tracking.then(|| "on".into()),
            alerts: u.alerts.then(|| "on".into()),
            password: String::new(),
        }
    }

    fn fields(&self, new: bool, errors: &BTreeMap<&'static str, String>) -> Vec<Field> {
        let e = |k: &str| errors.get(k).cloned();
        let mut f = Vec::new();
        if new {
            f.push(
                Field::text("email", "Email", &self.email)
                    .kind("email")
                    .placeholder("ann@example.com")
                    .error(e("email")),
            );
        }
        f.extend([
            Field::text("name", "Name", &self.name).error(e("name")),
            Field::text("department", "Department", &self.department)
                .help("Its prefix, if configured, starts the ids of this user's DRs.")
                .error(e("department")),
            Field::text("supervisor", "Supervisor", &self.supervisor)
                .placeholder("boss@example.com")
                .help("Escalations go to the supervisor.")
                .error(e("supervisor")),
            Field::select(
                "role",
                "Role",
                if self.role.is_empty() {
                    "agent"
                } else {
                    &self.role
                },
                ["agent", "supervisor", "admin"]
                    .iter()
                    .map(|r| (r.to_string(), r.to_string())),
            )
            .error(e("role")),
            Field::checkbox(
                "tracking",
                "Track mail to this user",
                self.tracking.is_some(),
            ),
            Field::checkbox("alerts", "Mail alerts to this user", self.alerts.is_some()),
            Field::text(
                "password",
                if new {
                    "Password (optional)"
                } else {
                    "New password (leave empty to keep)"
                },
                "",
            )
            .kind("password")
            .help("At least 8 characters. Without a password the user cannot sign in.")
            .error(e("password")),
        ]);
        f
    }

    /// Parses the form into `user` (all but the address); errors by field. Only parsing: the
    /// rules of a user record are the service's (`App::check_user`).
    fn apply(&self, user: &mut User) -> BTreeMap<&'static str, String> {
        let mut errors = BTreeMap::new();
        user.name = self.name.trim().to_string();
        let dept = self.department.trim();
        user.department = (!dept.is_empty()).then(|| dept.to_string());
        user.supervisor = match self.supervisor.trim() {
            "" => None,
            s => match EmailAddress::parse(s) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.insert("supervisor", e.to_string());
                    None
                }
            },
        };
        match Role::parse(&self.role) {
            Some(r) => user.role = r,
            None => {
                errors.insert(
                    "role",
                    format!("{:?} is not agent, supervisor or admin", self.role),
                );
            }
        }
        user.tracking = self.tracking.is_some();
        user.alerts = self.alerts.is_some();
        if !self.password.is_empty()
            && let Err(m) = credentials::check_new_password(&self.password)
        {
            errors.insert("password", m);
        }
        errors
    }
}

fn form_page(
    state: &AppState,
    signed: &Signed,
    form: &UserForm,
    new: bool,
    errors: &BTreeMap<&'static str, String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (action, title) = if new {
        ("/users".to_string(), "Add a user".to_string())
    } else {
        (
            format!("/users/{}", segment(&form.email)),
            format!("User {}", form.email),
        )
    };
    render_status(
        status,
        &UserFormPage {
            chrome: Chrome::new(state, signed, "/users", &title),
            action,
            button: if new { "Add user" } else { "Save" },
            problem: (!errors.is_empty()).then(|| "Please correct the fields marked below.".into()),
            fields: form.fields(new, errors),
        },
    )
}

/// `GET /users/new`.
pub async fn new_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
) -> Result<Response, WebError> {
    let form = UserForm {
        role: "agent".into(),
        tracking: Some("on".into()),
        alerts: Some("on".into()),
        ..UserForm::default()
    };
    form_page(
        &state,
        &signed,
        &form,
        true,
        &BTreeMap::new(),
        StatusCode::OK,
    )
}

/// `POST /users`: adds a user.
pub async fn create(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(form): Form<UserForm>,
) -> Result<Response, WebError> {
    let mut errors = BTreeMap::new();
    let email = match EmailAddress::parse(form.email.trim()) {
        Ok(e) => Some(e),
        Err(e) => {
            errors.insert("email", e.to_string());
            None
        }
    };
    // Check the other fields too, so every mistake is shown at once.
    let check_address = email
        .clone()
        .or_else(|| EmailAddress::parse("nobody@invalid.invalid").ok());
    let Some(address) = check_address else {
        return Err(WebError::Internal(
            "cannot build a placeholder address".into(),
        ));
    };
    let mut user = User::new(address, "");
    errors.extend(form.apply(&mut user));
    for (field, reason) in state.app.check_new_user(&user).await? {
        if email.is_some() || field != "email" {
            errors.entry(field).or_insert(reason);
        }
    }
    if !errors.is_empty() || email.is_none() {
        return form_page(
            &state,
            &signed,
            &form,
            true,
            &errors,
            StatusCode::BAD_REQUEST,
        );
    }
    let user = state.app.add_user(&signed.actor, user).await?;
    if !form.password.is_empty() {
        credentials::set_password(state.store().as_ref(), user.email.as_str(), &form.password)
            .await?;
    }
    Ok(back("/users", "user-added"))
}

async fn user_of(state: &AppState, signed: &Signed, email: &str) -> Result<User, WebError> {
    let addr =
        EmailAddress::parse(email).map_err(|e| WebError::BadRequest(format!("{email:?}: {e}")))?;
    Ok(state.app.user(&signed.actor, &addr).await?)
}

/// `GET /users/{email}`.
pub async fn edit_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(email): PathText,
) -> Result<Response, WebError> {
    let user = user_of(&state, &signed, &email).await?;
    form_page(
        &state,
        &signed,
        &UserForm::of(&user),
        false,
        &BTreeMap::new(),
        StatusCode::OK,
    )
}

/// `POST /users/{email}`: saves a user.
pub async fn update(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(email): PathText,
    Form(mut form): Form<UserForm>,
) -> Result<Response, WebError> {
    let mut user = user_of(&state, &signed, &email).await?;
    form.email = user.email.to_string();
    let mut errors = form.apply(&mut user);
    for (field, reason) in state.app.check_user(&user)? {
        errors.entry(field).or_insert(reason);
    }
    if !errors.is_empty() {
        return form_page(
            &state,
            &signed,
            &form,
            false,
            &errors,
            StatusCode::BAD_REQUEST,
        );
    }
    let user = state.app.update_user(&signed.actor, user).await?;
    if !form.password.is_empty() {
        let changed = credentials::change_password(
            state.store().as_ref(),
            user.email.as_str(),
            &form.password,
            None,
        )
        .await?;
        tracing::warn!(
            user = %user.email,
            by = %signed.actor.viewer.login,
            sessions_ended = changed.sessions_ended,
            tokens_revoked = changed.tokens_revoked,
            "password changed from the console; the user's sessions and API tokens were ended"
        );
        if changed.tokens_revoked > 0 {
            return Ok(back("/users", "user-saved-tokens-revoked"));
        }
    }
    tracing::info!(user = %user.email, by = %signed.actor.viewer.login, "user changed from the console");
    Ok(back("/users", "user-saved"))
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    login: String,
    problem: Option<String>,
    fields: Vec<Field>,
    new_token: Option<String>,
    tokens: Vec<(String, String, String)>,
}

fn password_fields(errors: &BTreeMap<&'static str, String>) -> Vec<Field> {
    let e = |k: &str| errors.get(k).cloned();
    vec![
        Field::text("current", "Current password", "")
            .kind("password")
            .error(e("current")),
        Field::text("new", "New password", "")
            .kind("password")
            .help("At least 8 characters.")
            .error(e("new")),
        Field::text("confirm", "New password again", "")
            .kind("password")
            .error(e("confirm")),
    ]
}

async fn password_view(
    state: &AppState,
    signed: &Signed,
    errors: &BTreeMap<&'static str, String>,
    new_token: Option<String>,
    flash: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let tz = state.time_zone();
    let tokens = credentials::list_tokens(state.store().as_ref(), Some(&signed.actor.viewer.login))
        .await?
        .into_iter()
        .map(|t| (t.record.name, t.id, html::time(t.record.created, &tz)))
        .collect();
    render_status(
        status,
        &PasswordPage {
            chrome: Chrome::new(state, signed, "/password", "Password").flash(flash),
            login: signed.actor.viewer.login.clone(),
            problem: (!errors.is_empty()).then(|| "The password was not changed.".into()),
            fields: password_fields(errors),
            new_token,
            tokens,
        },
    )
}

/// `GET /password`.
pub async fn password_page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    password_view(
        &state,
        &signed,
        &BTreeMap::new(),
        None,
        done_message(q.done.as_deref()),
        StatusCode::OK,
    )
    .await
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// `POST /password`: checks the current password, sets the new one, signs out other sessions.
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let login = signed.actor.viewer.login.clone();
    let mut errors = BTreeMap::new();
    if !credentials::verify_password(state.store().as_ref(), &login, &f.current).await? {
        errors.insert("current", "this is not your current password".to_string());
    }
    if let Err(m) = credentials::check_new_password(&f.new) {
        errors.insert("new", m);
    } else if f.new != f.confirm {
        errors.insert("confirm", "the two new passwords differ".to_string());
    }
    if !errors.is_empty() {
        return password_view(
            &state,
            &signed,
            &errors,
            None,
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let changed = credentials::change_password(
        state.store().as_ref(),
        &login,
        &f.new,
        signed.session.as_deref(),
    )
    .await?;
    tracing::warn!(
        login = %login,
        other_sessions_ended = changed.sessions_ended,
        tokens_revoked = changed.tokens_revoked,
        "password changed from the console"
    );
    if changed.tokens_revoked > 0 {
        return Ok(back("/password", "password-tokens-revoked"));
    }
    Ok(back("/password", "password"))
}

/// The new-token form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    name: String,
}

/// `POST /password/tokens`: creates an API token and shows it once.
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    let token = credentials::create_token(
        state.store().as_ref(),
        &signed.actor.viewer.login,
        &f.name,
        Timestamp::now(),
    )
    .await?;
    tracing::info!(login = %signed.actor.viewer.login, name = %f.name.trim(), "API token created");
    password_view(
        &state,
        &signed,
        &BTreeMap::new(),
        Some(token),
        None,
        StatusCode::OK,
    )
    .await
}

/// `POST /password/tokens/{id}/revoke`: revokes one of the viewer's tokens (admins: anyone's).
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    PathText(id): PathText,
) -> Result<Response, WebError> {
    let owner =
        (signed.actor.viewer.login != ADMIN_LOGIN).then_some(signed.actor.viewer.login.as_str());
    if !credentials::revoke_token(state.store().as_ref(), &id, owner).await? {
        return Err(WebError::NotFound(format!("no token {id}")));
    }
    Ok(back("/password", "token-revoked"))
}
