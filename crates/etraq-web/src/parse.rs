//! Parsing the console's and the API's input into the use cases' arguments: listing filters,
//! ids, times, page sizes. Shared by the pages and the API, so both read input the same way and
//! neither imports the other; every bad value is reported against its field.

use etraq_core::service::DrFilter;
use etraq_core::store::DrSort;
use etraq_core::{DrId, DrStatus, EmailAddress, Party};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::WebError;

/// Largest page a listing shows.
pub const MAX_LIMIT: usize = 500;

/// Default page size of listings.
pub const DEFAULT_LIMIT: usize = 100;

/// Field errors of a listing's filters: (field, message).
pub type FieldErrors = Vec<(&'static str, String)>;

/// The query of a DR listing, as the Tracked Mails page and `GET /api/v1/drs` take it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DrListParams {
    /// `open`, `replied`, `closed` or `all`.
    pub status: Option<String>,
    /// An owner's address.
    pub owner: Option<String>,
    /// A customer's address or `@domain`.
    pub customer: Option<String>,
    /// `assigned`, `owner`, `customer` or `status`.
    pub sort: Option<String>,
    /// `newest`/`desc` or `oldest`/`asc`.
    pub order: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<u64>,
    /// With a sort, the sort key of that cursor.
    pub after_key: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// The page's flash message after an action (`closed`, `assigned`); the API ignores it.
    pub done: Option<String>,
}

impl DrListParams {
    /// The filter, and the problems of each bad field.
    pub fn filter(&self) -> (DrFilter, FieldErrors) {
        parse_dr_filter(
            self.status.as_deref(),
            self.owner.as_deref(),
            self.customer.as_deref(),
            self.sort.as_deref(),
            self.order.as_deref(),
        )
    }

    /// Where the page starts and how long it is.
    pub fn page(&self) -> etraq_core::service::PageRequest {
        etraq_core::service::PageRequest {
            after: self.after,
            after_key: self.after_key.clone(),
            limit: limit_of(self.limit),
        }
    }
}

/// Parses the filters of a DR listing; every bad value is reported against its field.
pub fn parse_dr_filter(
    status: Option<&str>,
    owner: Option<&str>,
    customer: Option<&str>,
    sort: Option<&str>,
    order: Option<&str>,
) -> (DrFilter, FieldErrors) {
    let mut errors = Vec::new();
    let mut f = DrFilter::default();
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("all") => {}
        Some(s) => match DrStatus::parse(s) {
            Some(st) => f.status = Some(st),
            None => errors.push((
                "status",
                format!("{s:?} is not open, replied, closed or all"),
            )),
        },
    }
    if let Some(o) = owner.map(str::trim).filter(|s| !s.is_empty()) {
        match EmailAddress::parse(o) {
            Ok(a) => f.owner = Some(a),
            Err(e) => errors.push(("owner", e.to_string())),
        }
    }
    if let Some(c) = customer.map(str::trim).filter(|s| !s.is_empty()) {
        match Party::parse(c) {
            Ok(p) => f.customer = Some(p),
            Err(e) => errors.push(("customer", e.to_string())),
        }
    }
    if let Some(so) = sort.map(str::trim).filter(|s| !s.is_empty()) {
        match DrSort::parse(so) {
            Some(x) => f.sort = x,
            None => errors.push((
                "sort",
                format!("{so:?} is not assigned, owner, customer or status"),
            )),
        }
    }
    // Dates read newest first by default, names and statuses A to Z.
    f.ascending = f.sort != DrSort::Number;
    match order.map(str::trim).filter(|s| !s.is_empty()) {
        None => {}
        Some("newest") | Some("desc") => f.ascending = false,
        Some("oldest") | Some("asc") => f.ascending = true,
        Some(o) => errors.push(("order", format!("{o:?} is not newest, oldest, asc or desc"))),
    }
    (f, errors)
}

/// The page size asked for, bounded.
pub fn limit_of(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// The page a listing asks for: after a cursor, a bounded size.
pub fn page_at(after: Option<u64>, limit: Option<usize>) -> etraq_core::service::PageRequest {
    etraq_core::service::PageRequest {
        after,
        after_key: None,
        limit: limit_of(limit),
    }
}

/// Parses a DR id from a path; 400 when it is not one.
pub fn parse_dr_id(text: &str) -> Result<DrId, WebError> {
    DrId::parse(text).map_err(|e| WebError::BadRequest(e.to_string()))
}

/// Parses a reminder time: RFC 3339, or a `datetime-local` value in the configured zone.
pub fn parse_local_time(s: &str, tz: &TimeZone) -> Result<Timestamp, WebError> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = s.parse().map_err(|_| {
        WebError::BadRequest(format!(
            "at: {s:?} is not a time such as 2026-11-28T09:00 or 2026-11-28T09:00:00Z"
        ))
    })?;
    civil
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| WebError::BadRequest(format!("at: {e}")))
}

/// Parses a `since` value: RFC 3339, or a date (midnight in the configured zone).
pub fn parse_since(s: &str, tz: &jiff::tz::TimeZone) -> Result<Timestamp, WebError> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|e| WebError::BadRequest(e.to_string()));
    }
    parse_local_time(s, tz)
}
