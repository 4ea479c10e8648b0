//! The DR use cases: list, show (with its thread), close, reopen, reassign, remind.
//!
//! Every one is scoped: a DR outside the actor's view answers "not found", exactly as a DR
//! that does not exist, so a URL cannot tell them apart.

use jiff::Timestamp;

use crate::access::Actor;
use crate::address::{EmailAddress, Party};
use crate::error::{Error, Result};
use crate::model::{Dr, DrId, DrStatus, MailRecord, Page};
use crate::service::App;
use crate::store::{DrQuery, DrSort, MailQuery};
use crate::views::{DrDetail, DrRow, MailRow};

/// The most mails shown of one DR's thread, on every frontend: a thread that long is a loop
/// or an attack, and the page, the API and the CLI must all stay answerable.
pub const MAX_THREAD: usize = 10_000;

/// Filters of [`App::list_drs`], as the frontends parse them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrFilter {
    /// Only this status.
    pub status: Option<DrStatus>,
    /// Only this owner.
    pub owner: Option<EmailAddress>,
    /// Only this customer or `@domain`.
    pub customer: Option<Party>,
    /// The column to order by.
    pub sort: DrSort,
    /// Ascending instead of descending.
    pub ascending: bool,
}

/// Where a page starts and how long it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The cursor of the previous page.
    pub after: Option<u64>,
    /// With a sorted listing, the sort key of that cursor.
    pub after_key: Option<String>,
    /// Page size (0: the default; at most [`crate::model::MAX_PAGE_SIZE`]).
    pub limit: usize,
}

/// A page of DRs with the sort key of its cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrPage {
    /// The DRs.
    pub page: Page<Dr>,
    /// With a sorted listing, the sort key of `page.next` (the `after_key` of the next page).
    pub next_key: Option<String>,
}

impl App {
    /// The DRs the actor sees, filtered and sorted.
    pub async fn list_drs(&self, who: &Actor, f: &DrFilter, at: &PageRequest) -> Result<DrPage> {
        let page = self
            .store
            .list_drs(&DrQuery {
                status: f.status,
                owner: f.owner.clone(),
                customer: f.customer.clone(),
                involving: who.scope.involving(),
                sort: f.sort,
                ascending: f.ascending,
                after: at.after,
                after_key: at.after_key.clone(),
                limit: at.limit,
                ..DrQuery::default()
            })
            .await?;
        let next_key = page.next.and(page.items.last()).and_then(|d| f.sort.key(d));
        Ok(DrPage { page, next_key })
    }

    /// A DR the actor sees, else [`Error::NotFound`] (whether it exists or not).
    pub async fn visible_dr(&self, who: &Actor, id: &DrId) -> Result<Dr> {
        match self.store.get_dr(id).await? {
            Some(d) if who.scope.sees_dr(&d) => Ok(d),
            _ => Err(Error::NotFound {
                what: "DR",
                key: id.to_string(),
            }),
        }
    }

    /// A DR with its thread, oldest first, at most [`MAX_THREAD`] mails (`truncated` says when
    /// more exist).
    pub async fn dr_detail(&self, who: &Actor, id: &DrId) -> Result<(DrDetail, Vec<MailRecord>)> {
        let dr = self.visible_dr(who, id).await?;
        let mut mails = Vec::new();
        let mut after = None;
        let mut truncated = false;
        loop {
            let page = self
                .store
                .list_mails(&MailQuery {
                    dr: Some(dr.id.clone()),
                    oldest_first: true,
                    after,
                    limit: 1000,
                    ..MailQuery::default()
                })
                .await?;
            mails.extend(page.items);
            match page.next {
                Some(_) if mails.len() >= MAX_THREAD => {
                    truncated = true;
                    break;
                }
                Some(n) => after = Some(n),
                None => break,
            }
        }
        if mails.len() > MAX_THREAD {
            mails.truncate(MAX_THREAD);
            truncated = true;
        }
        let detail = DrDetail {
            participants: dr.participants.iter().map(|p| p.to_string()).collect(),
            version: dr.version,
            dr: DrRow::from(&dr),
            messages: mails.iter().map(MailRow::from).collect(),
            truncated,
            campaign: self.lead_of(&mails).await?,
        };
        Ok((detail, mails))
    }

    /// The campaign whose mail is in this thread (a reply to it opened the DR), by name.
    async fn lead_of(&self, mails: &[MailRecord]) -> Result<Option<String>> {
        let Some((id, _)) = mails
            .iter()
            .filter(|m| m.decision.reason() == Some(crate::model::UntrackedReason::CampaignMail))
            .find_map(|m| crate::tracking::campaign_of_message_id(&m.message_id))
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .list_campaigns()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.name))
    }

    /// Closes a DR the actor sees.
    pub async fn close_dr(&self, who: &Actor, id: &DrId, now: Timestamp) -> Result<Dr> {
        self.visible_dr(who, id).await?;
        let dr = self.tracker.close_dr(id, now).await?;
        tracing::info!(dr = %id, by = %who.viewer.login, "DR closed");
        Ok(dr)
    }

    /// Reopens a DR the actor sees.
    pub async fn reopen_dr(&self, who: &Actor, id: &DrId, now: Timestamp) -> Result<Dr> {
        self.visible_dr(who, id).await?;
        let dr = self.tracker.reopen_dr(id, now).await?;
        tracing::info!(dr = %id, by = %who.viewer.login, "DR reopened");
        Ok(dr)
    }

    /// Gives a DR the actor sees to `owner`, who must be a registered user; the previous owner
    /// stays on it as a CC user.
    pub async fn assign_dr(
        &self,
        who: &Actor,
        id: &DrId,
        owner: &EmailAddress,
        now: Timestamp,
    ) -> Result<Dr> {
        self.visible_dr(who, id).await?;
        if self.store.get_user(owner).await?.is_none() {
            return Err(Error::InvalidField {
                field: "owner",
                reason: format!("{owner} is not a registered user"),
            });
        }
        let dr = self.tracker.assign_dr(id, owner, now).await?;
        tracing::info!(dr = %id, owner = %owner, by = %who.viewer.login, "DR reassigned");
        Ok(dr)
    }

    /// Sets a reminder on a DR the actor sees.
    pub async fn remind_dr(&self, who: &Actor, id: &DrId, at: Timestamp) -> Result<Dr> {
        self.visible_dr(who, id).await?;
        let dr = self.tracker.remind_dr(id, at).await?;
        tracing::info!(dr = %id, %at, by = %who.viewer.login, "DR reminder set");
        Ok(dr)
    }
}
