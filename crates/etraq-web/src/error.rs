//! The one error type of `etraq-web`, and how each becomes an HTTP answer.
//!
//! Every failure a user can cause gets a 4xx with a readable message (bad input 400, not signed
//! in 401, not allowed 403, unknown id 404, too many sign-ins 429); only a failing store or disk
//! gives a 500, and its details go to the log, not to the browser.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Errors of the console and the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The request is malformed: a form, query string, JSON body or path value. The message says
    /// which field and why.
    #[error("{0}")]
    BadRequest(String),
    /// Not signed in (API requests; pages redirect to the sign-in page instead).
    #[error("sign in first")]
    Unauthorized,
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing, or not one the viewer may see.
    #[error("{0}")]
    NotFound(String),
    /// Too many failed sign-ins; try again after this many seconds.
    #[error("too many failed sign-ins; try again in {0} seconds")]
    TooManyAttempts(i64),
    /// The request body is larger than the console accepts.
    #[error("{0}")]
    TooLarge(String),
    /// A cross-site state change was refused.
    #[error("cross-site request refused: {0}")]
    CrossSite(&'static str),
    /// The server is at a bound it keeps on purpose (concurrent password hashing); try again
    /// after this many seconds.
    #[error("the server is busy; try again in {retry_after} seconds")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A peer etraq needs (the relay a reply goes through) cannot be reached now; nothing was
    /// recorded, and the same request may be tried again.
    #[error("{0}")]
    Unavailable(String),
    /// A store, disk or template failure.
    #[error("{0}")]
    Internal(String),
}

impl From<etraq_core::Error> for WebError {
    fn from(e: etraq_core::Error) -> Self {
        use etraq_core::Error as E;
        match e {
            E::NotFound { what, key } => WebError::NotFound(format!("{what} not found: {key}")),
            E::Forbidden(m) => WebError::Forbidden(m),
            E::InvalidField { .. } => WebError::BadRequest(e.to_string()),
            E::InvalidAddress { .. }
            | E::InvalidDrId { .. }
            | E::InvalidDuration { .. }
            | E::InvalidTimeZone { .. }
            | E::Invalid(_)
            | E::Config { .. } => WebError::BadRequest(e.to_string()),
            E::Unavailable { .. } => WebError::Unavailable(e.to_string()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("rendering a page: {e}"))
    }
}

impl WebError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) | WebError::CrossSite(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` value of a 429 or 503.
    pub fn retry_after(&self) -> Option<HeaderValue> {
        let secs = match self {
            WebError::TooManyAttempts(s) => (*s).max(1) as u64,
            WebError::Busy { retry_after } => (*retry_after).max(1),
            _ => return None,
        };
        HeaderValue::from_str(&secs.to_string()).ok()
    }

    /// The message shown to the user (internal details stay in the log).
    pub fn public_message(&self) -> String {
        match self {
            WebError::Internal(_) => {
                "etraq could not complete this request; the server log has the details".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for WebError {
    /// A plain-text answer. Pages that want HTML errors render them themselves
    /// ([`crate::pages::error_page`]); the API answers JSON ([`crate::api::ApiError`]).
    fn into_response(self) -> Response {
        if let WebError::Internal(detail) = &self {
            tracing::error!(error = %detail, "web request failed");
        }
        let mut r = (self.status(), self.public_message()).into_response();
        if let Some(v) = self.retry_after() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}
