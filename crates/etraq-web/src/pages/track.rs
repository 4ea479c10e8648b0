//! The tracking endpoints campaign mail points at, served without login (the signed token is
//! the authority) and rate-limited per address: `GET /t/o/{token}` the open pixel,
//! `GET /t/c/{token}` a click's `302` to the link's stored URL (never anywhere else),
//! `GET /t/v/{token}` the conversion pixel a shop's thank-you page shows. `HEAD` records
//! nothing but a bot signal. A token that does not verify is a 404 with no `Location`, and
//! changes nothing. Nothing here may be cached: each fetch is an event.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use etraq_core::service::{Purchase, Visit};
use jiff::Timestamp;
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::Query;
use crate::http::ConnInfo;
use crate::state::AppState;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Who asked: the method, the `User-Agent` and the client's address.
pub fn visit(method: &Method, headers: &HeaderMap, conn: Option<&ConnInfo>) -> Visit {
    Visit {
        head: method == Method::HEAD,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(500).collect()),
        ip: conn.map(|c| c.peer.ip().to_string()),
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn pixel() -> Response {
    let mut r = PIXEL.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    no_store(r)
}

fn refused(e: etraq_core::Error) -> WebError {
    match e {
        etraq_core::Error::NotFound { .. } => WebError::NotFound("this link is not valid".into()),
        e => WebError::from(e),
    }
}

/// `GET /t/o/{token}`: the open pixel.
pub async fn open(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    conn: Option<axum::extract::Extension<ConnInfo>>,
) -> Result<Response, WebError> {
    let v = visit(&method, &headers, conn.as_deref());
    state
        .app
        .track_open(&token, &v, Timestamp::now())
        .await
        .map_err(refused)?;
    Ok(pixel())
}

/// `GET /t/c/{token}`: records the click and redirects to the link.
pub async fn click(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    conn: Option<axum::extract::Extension<ConnInfo>>,
) -> Result<Response, WebError> {
    let v = visit(&method, &headers, conn.as_deref());
    let to = state
        .app
        .track_click(&token, &v, Timestamp::now())
        .await
        .map_err(refused)?;
    let location = HeaderValue::from_str(&to)
        .map_err(|_| WebError::NotFound("this link is not valid".into()))?;
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(header::LOCATION, location);
    Ok(no_store(r))
}

/// Query of the conversion pixel.
#[derive(Debug, Default, Deserialize)]
pub struct ConversionQuery {
    value: Option<String>,
    currency: Option<String>,
    order_id: Option<String>,
}

/// `GET /t/v/{token}?value=49.90&currency=EUR&order_id=…`: records a purchase (an order once).
pub async fn conversion(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    conn: Option<axum::extract::Extension<ConnInfo>>,
    Query(q): Query<ConversionQuery>,
) -> Result<Response, WebError> {
    let v = visit(&method, &headers, conn.as_deref());
    if v.head {
        return Ok(pixel());
    }
    let value = match q.value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<f64>()
                .map_err(|_| WebError::BadRequest(format!("value: {s:?} is not a number")))?,
        ),
        None => None,
    };
    state
        .app
        .track_conversion(
            &token,
            &Purchase {
                value,
                currency: q.currency,
                order_id: q.order_id,
            },
            &v,
            Timestamp::now(),
        )
        .await
        .map_err(refused)?;
    Ok(pixel())
}
