//! Who is asking: the session cookie or bearer token of a request, resolved to an [`Actor`]
//! (a [`Viewer`] and their [`Scope`]). Every route but the sign-in page sits in a group with an
//! [`Access`] level whose guard resolves the request first, so no route can forget to check.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use etraq_core::access::{ADMIN_LOGIN, Actor, Scope, Viewer};
use etraq_core::{EmailAddress, Role};
use jiff::Timestamp;

use crate::credentials;
use crate::error::WebError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "etraq_session";

/// A signed-in request: who acts (with what they see) and, for browser sessions, the digest of
/// the session token.
#[derive(Clone, Debug)]
pub struct Signed {
    /// Who, and their scope: what every use case is given.
    pub actor: Actor,
    /// The digest of their session token (browser sessions only).
    pub session: Option<String>,
}

/// Who may use a group of routes. Declared once per group (see [`crate::routes::Routes`]); a
/// guard refuses everyone else before any handler runs. The use cases check again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the sign-in page).
    Public,
    /// Anyone signed in.
    Signed,
    /// Supervisors and admins.
    Supervisor,
    /// Admins.
    Admin,
}

impl Access {
    /// Whether `actor` may use routes of this group.
    pub fn allows(self, actor: &Actor) -> bool {
        match self {
            Access::Public | Access::Signed => true,
            Access::Supervisor => actor.viewer.is_supervisor(),
            Access::Admin => actor.viewer.is_admin(),
        }
    }

    /// Why someone else is refused.
    pub fn refusal(self) -> &'static str {
        match self {
            Access::Supervisor => "only supervisors and administrators may open this page",
            _ => "only administrators may open this page",
        }
    }
}

/// The value of a cookie of the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    for h in headers.get_all(header::COOKIE) {
        let Ok(text) = h.to_str() else { continue };
        for c in Cookie::split_parse(text).flatten() {
            if c.name() == name {
                return Some(c.value().to_string());
            }
        }
    }
    None
}

/// The bearer token of the request.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The `Set-Cookie` value that starts a session: HttpOnly, SameSite=Strict, Secure under TLS,
/// and persistent only with "remember me".
pub fn session_cookie(token: &str, max_age_secs: Option<i64>, secure: bool) -> HeaderValue {
    let mut c = Cookie::build((COOKIE, token.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure);
    if let Some(secs) = max_age_secs {
        c = c.max_age(cookie::time::Duration::seconds(secs));
    }
    HeaderValue::from_str(&c.build().to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let c = Cookie::build((COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::ZERO);
    HeaderValue::from_str(&c.build().to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The viewer behind a login, and their scope; `None` when the login no longer exists.
pub async fn viewer_for(
    state: &AppState,
    login: &str,
) -> Result<Option<(Viewer, Scope)>, WebError> {
    if login.eq_ignore_ascii_case(ADMIN_LOGIN) {
        return Ok(Some((Viewer::admin(), Scope::All)));
    }
    let Ok(email) = EmailAddress::parse(login) else {
        return Ok(None);
    };
    let Some(user) = state.store().get_user(&email).await? else {
        return Ok(None);
    };
    let viewer = Viewer::user(user);
    let scope = match viewer.role {
        Role::Supervisor => Scope::of(&viewer, &state.store().list_users().await?),
        _ => Scope::of(&viewer, &[]),
    };
    Ok(Some((viewer, scope)))
}

/// Why a request is not signed in: pages redirect to the sign-in page, the API answers 401.
pub struct NotSignedIn {
    api: bool,
    next: String,
    error: Option<WebError>,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        if let Some(e) = self.error {
            return e.into_response();
        }
        if self.api {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                axum::Json(
                    serde_json::json!({"error": "sign in or send Authorization: Bearer TOKEN"}),
                ),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"etraq\""),
            );
            return r;
        }
        let next: String =
            serde_urlencoded::to_string([("next", self.next.as_str())]).unwrap_or_default();
        Redirect::to(&format!("/login?{next}")).into_response()
    }
}

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // A route group's guard already signed this request in.
        if let Some(s) = parts.extensions.get::<Signed>() {
            return Ok(s.clone());
        }
        let api = parts.uri.path().starts_with("/api/");
        let refuse = |error: Option<WebError>| NotSignedIn {
            api,
            next: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            error,
        };
        if let Some(token) = bearer(&parts.headers) {
            let record = credentials::token(state.store().as_ref(), &token)
                .await
                .map_err(|e| refuse(Some(e)))?;
            let Some(record) = record else {
                return Err(refuse(None));
            };
            return match viewer_for(state, &record.login)
                .await
                .map_err(|e| refuse(Some(e)))?
            {
                Some((viewer, scope)) => Ok(Signed {
                    actor: Actor { viewer, scope },
                    session: None,
                }),
                None => Err(refuse(None)),
            };
        }
        let Some(token) = cookie_value(&parts.headers, COOKIE) else {
            return Err(refuse(None));
        };
        let session = credentials::session(state.store().as_ref(), &token, Timestamp::now())
            .await
            .map_err(|e| refuse(Some(e)))?;
        let Some(session) = session else {
            return Err(refuse(None));
        };
        match viewer_for(state, &session.login)
            .await
            .map_err(|e| refuse(Some(e)))?
        {
            Some((viewer, scope)) => Ok(Signed {
                actor: Actor { viewer, scope },
                session: Some(credentials::digest(&token)),
            }),
            None => Err(refuse(None)),
        }
    }
}

/// The guard of a route group: signs the request in (or answers as a page or the API would for
/// the anonymous), refuses those the group's [`Access`] does not allow, and hands the [`Signed`]
/// to the handler through the request's extensions.
pub async fn guard(
    axum::extract::State((access, state)): axum::extract::State<(Access, Arc<AppState>)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let signed = match Signed::from_request_parts(&mut parts, &state).await {
        Ok(s) => s,
        Err(rejection) => return rejection.into_response(),
    };
    if !access.allows(&signed.actor) {
        return WebError::Forbidden(access.refusal().into()).into_response();
    }
    parts.extensions.insert(signed);
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}
