//! Request extractors whose rejections are 400s with a readable message.
//!
//! axum's own `Form` and `Json` answer 415 or 422 for some malformed bodies; the console and the
//! API promise 400 with a message naming the problem for every malformed form, query string and
//! JSON body, so these wrappers translate every rejection.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::WebError;

/// A query string, deserialised into `T`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| WebError::BadRequest(format!("bad query string: {}", e.body_text())))
    }
}

/// A URL-encoded form body, deserialised into `T`.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        axum::extract::Form::<T>::from_request(req, state)
            .await
            .map(|f| Form(f.0))
            .map_err(|e| body_error("form", e.status(), e.body_text()))
    }
}

/// A JSON body, deserialised into `T`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        axum::extract::Json::<T>::from_request(req, state)
            .await
            .map(|j| Json(j.0))
            .map_err(|e| body_error("JSON body", e.status(), e.body_text()))
    }
}

/// A body rejection: 413 when the body is over the limit, else 400.
fn body_error(what: &str, status: axum::http::StatusCode, text: String) -> WebError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge(format!(
            "the {what} is larger than {} bytes",
            crate::http::MAX_BODY_BYTES
        ))
    } else {
        WebError::BadRequest(format!("bad {what}: {text}"))
    }
}

/// A path parameter, as text (each handler parses and names it in its error).
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathText(p.0))
            .map_err(|e| WebError::BadRequest(format!("bad path: {}", e.body_text())))
    }
}

/// Parses an optional, possibly empty form or query value.
pub fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses an optional form or query value with `parse`; a bad value is recorded against its
/// field in `errors` (shown next to the field) and read as absent.
pub fn parse_field<T, E: std::fmt::Display>(
    value: &Option<String>,
    field: &'static str,
    errors: &mut Vec<(&'static str, String)>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    match parse(non_empty(value)?) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push((field, e.to_string()));
            None
        }
    }
}
