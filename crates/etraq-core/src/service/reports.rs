//! The reports: unreplied DRs, response times per user, mail volume per day, and the DR
//! counts of the status page — each counting only what the actor sees.

use jiff::Timestamp;

use crate::access::Actor;
use crate::address::EmailAddress;
use crate::error::{Error, Result};
use crate::escalation;
use crate::service::stats::{UserResponses, VolumeDay, response_times, volume_by_day};
use crate::service::{App, UnrepliedQuery, queries};
use crate::store::{DrCounts, ResponseQuery};
use crate::views::UnrepliedRow;

impl App {
    /// Open DRs in the actor's view whose customer has waited longer than the query says,
    /// longest wait first. A department no user is in is refused (a typo would otherwise look
    /// like "nothing unreplied").
    pub async fn unreplied(
        &self,
        who: &Actor,
        q: &UnrepliedQuery,
        now: Timestamp,
    ) -> Result<Vec<UnrepliedRow>> {
        match queries::unreplied(self.store.as_ref(), q, &who.scope, now).await {
            Err(Error::NotFound {
                what: "department",
                key,
            }) => Err(Error::InvalidField {
                field: "department",
                reason: format!("no user is in department {key:?}"),
            }),
            other => other,
        }
    }

    /// Response times per user in the actor's view since `since`, in wall-clock time or, with
    /// `business`, in business time (which needs business hours in the configuration).
    pub async fn response_times(
        &self,
        who: &Actor,
        since: Option<Timestamp>,
        owner: Option<EmailAddress>,
        business: bool,
    ) -> Result<Vec<UserResponses>> {
        let cfg = self.config();
        let policies = cfg
            .policies()
            .map_err(|(k, e)| Error::Invalid(format!("{k}: {e}")))?;
        if business
            && policies.default.calendar.is_none()
            && policies.departments.values().all(|p| p.calendar.is_none())
        {
            return Err(Error::InvalidField {
                field: "business",
                reason: "business time needs [escalation.business_hours] in etraq.toml".into(),
            });
        }
        let responses: Vec<_> = self
            .store
            .list_responses(&ResponseQuery { since, user: owner })
            .await?
            .into_iter()
            .filter(|r| who.scope.includes(&r.user))
            .collect();
        let users = escalation::directory(self.store.list_users().await?);
        Ok(response_times(
            &responses,
            business.then_some((&policies, &users)),
        ))
    }

    /// Mail per local day and direction, tracked and not, received in `[since, until)`, that
    /// has someone of the actor's view on it (admins: all mail).
    pub async fn volume(
        &self,
        who: &Actor,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<VolumeDay>> {
        if until <= since {
            return Err(Error::InvalidField {
                field: "until",
                reason: "must be later than since".into(),
            });
        }
        let involving = who.scope.involving();
        // Quarter-hour buckets fold exactly into local days in every time zone in use.
        let buckets = self
            .store
            .volume(since, until, 900, involving.as_deref())
            .await?;
        Ok(volume_by_day(&buckets, &self.time_zone()))
    }

    /// The volume of the last `days` days up to now (1 to 366), including this second.
    pub async fn volume_days(
        &self,
        who: &Actor,
        days: i64,
        now: Timestamp,
    ) -> Result<Vec<VolumeDay>> {
        if !(1..=366).contains(&days) {
            return Err(Error::InvalidField {
                field: "days",
                reason: format!("{days} is not a number of days from 1 to 366"),
            });
        }
        // The range is half-open and counted in whole seconds: reach past this second, so mail
        // received a moment ago is counted.
        let until = now
            .checked_add(jiff::SignedDuration::from_secs(60))
            .unwrap_or(now);
        let since = now
            .checked_sub(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(until);
        self.volume(who, since, until).await
    }

    /// DRs by status in the actor's view (admins: all), exactly.
    pub async fn dr_counts(&self, who: &Actor) -> Result<DrCounts> {
        let involving = who.scope.involving();
        self.store.dr_counts(involving.as_deref()).await
    }
}
