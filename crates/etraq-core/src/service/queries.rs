//! The unreplied report's walk over the store, which takes more than one store call. It takes
//! `now` and the viewer's scope as arguments; [`crate::service::App::unreplied`] is its use case.

use jiff::Timestamp;

use crate::access::Scope;
use crate::address::EmailAddress;
use crate::error::{Error, Result};
use crate::escalation::Directory;
use crate::model::{Dr, DrStatus};
use crate::store::{DrQuery, Store};
use crate::views::{DrRow, UnrepliedRow};

/// Filters of [`unreplied`].
#[derive(Clone, Debug, Default)]
pub struct UnrepliedQuery {
    /// Only DRs whose customer has waited at least this many seconds.
    pub older_than_secs: i64,
    /// Only this owner's DRs.
    pub owner: Option<EmailAddress>,
    /// Only DRs whose owner is in this department.
    pub department: Option<String>,
    /// At most this many rows (0: no limit).
    pub limit: usize,
}

/// Open DRs whose customer has waited longer than `older_than_secs` at `now`, longest wait
/// first, within `scope`. Fails when the department names no user's department (a typo would
/// otherwise look like "nothing unreplied").
pub async fn unreplied(
    store: &dyn Store,
    q: &UnrepliedQuery,
    scope: &Scope,
    now: Timestamp,
) -> Result<Vec<UnrepliedRow>> {
    let users: Directory = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.email.clone(), u))
        .collect();
    if let Some(d) = &q.department
        && !users
            .values()
            .any(|u| u.department.as_deref() == Some(d.as_str()))
    {
        return Err(Error::NotFound {
            what: "department",
            key: d.clone(),
        });
    }
    let before = Timestamp::from_second(now.as_second() - q.older_than_secs.max(0)).unwrap_or(now);
    let mut rows: Vec<(Dr, Option<String>)> = Vec::new();
    let straight = q.limit > 0 && q.department.is_none();
    if straight {
        // The first `limit` straight from the store's waiting order, without reading every open
        // DR (a department filter is checked per row, so it takes the full scan below).
        let page = store
            .list_drs(&DrQuery {
                owner: q.owner.clone(),
                awaiting_before: (q.older_than_secs > 0).then_some(before),
                involving: scope.involving(),
                longest_waiting_first: true,
                limit: q.limit,
                ..DrQuery::default()
            })
            .await?;
        rows = page
            .items
            .into_iter()
            .map(|d| {
                let dept = users.get(&d.owner).and_then(|u| u.department.clone());
                (d, dept)
            })
            .collect();
    }
    if !straight {
        let mut after = None;
        loop {
            let page = store
                .list_drs(&DrQuery {
                    status: Some(DrStatus::Open),
                    owner: q.owner.clone(),
                    // "Older than nothing" is every open DR, including one opened this second.
                    awaiting_before: (q.older_than_secs > 0).then_some(before),
                    involving: scope.involving(),
                    after,
                    limit: 1000,
                    ..DrQuery::default()
                })
                .await?;
            for d in page.items {
                let dept = users.get(&d.owner).and_then(|u| u.department.clone());
                if q.department.is_some() && dept != q.department {
                    continue;
                }
                rows.push((d, dept));
            }
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
    }
    // Longest wait first (whole seconds, as stores keep it); ties by DR number.
    rows.sort_by_key(|(d, _)| {
        (
            d.awaiting_since.map_or(i64::MAX, |t| t.as_second()),
            d.id.number(),
        )
    });
    if q.limit > 0 {
        rows.truncate(q.limit);
    }
    Ok(rows
        .into_iter()
        .map(|(d, department)| UnrepliedRow {
            waiting_secs: d
                .awaiting_since
                .map_or(0, |s| (now.as_second() - s.as_second()).max(0)),
            dr: DrRow::from(&d),
            department,
        })
        .collect())
}
