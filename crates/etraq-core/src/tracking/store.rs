//! [`TrackingStore`]: what the tracking area keeps — DRs, mail records with their raw messages
//! and indexes, users, response times, the gateway's delivery journal — and the query types of
//! its listings.
//!
//! Writes are conditional: a [`ChangeSet`] says what it expects (this Message-ID not yet recorded
//! in this direction, this DR still at version `v`) and the store refuses it with
//! [`Error::Conflict`](crate::error::Error::Conflict) when another writer got there first. The tracker then
//! re-reads and decides again, so concurrent sessions never double-create a DR or lose an update.
//! A change set is applied atomically: the DR, the mail record, the Message-ID index and the raw
//! message are written in one transaction, and are durable when the call returns.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::address::{EmailAddress, Party};
use crate::error::{Error, Result};
use crate::mail::MessageId;
use crate::model::{Direction, Dr, DrId, DrStatus, MailRecord, Page, ResponseTime, User};
use crate::tracking::facts::{FactsQuery, ThreadFacts};

/// A DR to write, with the version it must replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrWrite {
    /// The new state; `dr.version` must be `expected_version + 1`.
    pub dr: Dr,
    /// 0: the DR must not exist yet (its number must be unused). Otherwise the stored version.
    pub expected_version: u64,
}

impl DrWrite {
    /// A DR that must not exist yet. It is stored as version 1, whatever `dr.version` says, so
    /// no caller has to know the numbering.
    pub fn create(mut dr: Dr) -> Self {
        dr.version = 1;
        Self {
            dr,
            expected_version: 0,
        }
    }

    /// `next` replacing `current`, conditionally on `current` still being the stored version.
    /// The one place a DR's version is bumped: transitions only change state, and a write that
    /// lost a race is refused by the store instead of overwriting the winner.
    pub fn replace(current: &Dr, mut next: Dr) -> Self {
        next.version = current.version + 1;
        Self {
            dr: next,
            expected_version: current.version,
        }
    }

    /// Whether this write may replace what the store holds under its DR number: `stored` is
    /// the id (as text) and version found there, `None` when the number is unused. Every store
    /// calls this inside the transaction that writes, so what makes a write conflict is said
    /// once: a number in use for a new DR, a DR gone or renamed, a version moved on (another
    /// writer won the race; retry from a fresh read), or a version not bumped by one (a bug).
    pub fn check(&self, stored: Option<(&str, u64)>) -> Result<()> {
        let id = &self.dr.id;
        match (stored, self.expected_version) {
            (None, 0) => {}
            (Some(_), 0) => {
                return Err(Error::Conflict(format!(
                    "DR number {} already exists",
                    id.number()
                )));
            }
            (None, _) => return Err(Error::Conflict(format!("DR {id} does not exist"))),
            (Some((stored_id, version)), expected) => {
                if stored_id != id.to_string() {
                    return Err(Error::Conflict(format!(
                        "DR number {} is {stored_id}, not {id}",
                        id.number()
                    )));
                }
                if version != expected {
                    return Err(Error::Conflict(format!(
                        "DR {id} is at version {version}, expected {expected}"
                    )));
                }
            }
        }
        if self.dr.version != self.expected_version + 1 {
            return Err(Error::Invalid(format!(
                "DR {id} written with version {} over {}",
                self.dr.version, self.expected_version
            )));
        }
        Ok(())
    }
}

/// One mail's worth of writes, applied atomically by [`TrackingStore::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSet {
    /// The mail record to insert (its `seq` is assigned by the store).
    pub mail: MailRecord,
    /// The raw message, archived with it. Shared, so a retried write or a relay never copies
    /// a large message.
    pub raw: std::sync::Arc<Vec<u8>>,
    /// Index the Message-ID (in the mail's direction). Must be absent from the index, else
    /// the change set conflicts. False for duplicates, which are recorded but not indexed.
    pub index_message_id: bool,
    /// The DR created or updated by this mail.
    pub dr: Option<DrWrite>,
    /// Earlier recorded mails (Message-ID, direction) that join `mail.dr`: an employee's first
    /// mail when the customer's answer opens a DR.
    pub link: Vec<(MessageId, Direction)>,
    /// A response time recorded by this mail.
    pub response: Option<ResponseTime>,
    /// The gateway's journal entry for this delivery, removed in the same transaction.
    pub pending: Option<u64>,
    /// Messages queued in the outbox in the same transaction (an acknowledgement: queued
    /// exactly when the DR it answers is recorded).
    pub queue: Vec<crate::outbox::QueuedMail>,
}

/// A delivery in flight at the gateway, journaled before the mail is relayed and removed when it
/// is recorded or refused. An entry that survives a restart is a delivery a crash interrupted
/// before the client got an answer: the client retries it, and the journal says what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// Store-assigned id; 0 before insertion.
    pub id: u64,
    /// The mail's Message-ID.
    pub message_id: MessageId,
    /// Envelope sender (`None` for `<>`).
    pub mail_from: Option<EmailAddress>,
    /// Envelope recipients.
    pub rcpt_to: Vec<EmailAddress>,
    /// Size in bytes.
    pub size: u64,
    /// The client's address.
    pub client: String,
    /// When the gateway received it.
    pub started_at: Timestamp,
}

/// Filters of [`TrackingStore::list_drs`]. DRs come newest first (by number), `after` a cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrQuery {
    /// Only this status.
    pub status: Option<DrStatus>,
    /// Only this owner.
    pub owner: Option<EmailAddress>,
    /// Only DRs whose customer is this address or at this domain.
    pub customer: Option<Party>,
    /// Only DRs whose customer has been waiting since before this instant.
    pub awaiting_before: Option<Timestamp>,
    /// Only DRs owned by or CC'ing one of these users: what a console user may see (see
    /// [`crate::access`]). `Some(vec![])` matches nothing.
    pub involving: Option<Vec<EmailAddress>>,
    /// The column to order by (then by number, so the order is total).
    pub sort: DrSort,
    /// Ascending (oldest first, A to Z) instead of descending.
    pub ascending: bool,
    /// Only open DRs, the customer who has waited longest first (then by number): the
    /// unreplied report. `after` is ignored and [`Page::next`] is `None`: it answers the first
    /// `limit` only, without reading every open DR.
    pub longest_waiting_first: bool,
    /// Continue after this cursor (from [`Page::next`]).
    pub after: Option<u64>,
    /// With a `sort` other than [`DrSort::Number`]: the sort key of the cursor's DR
    /// ([`DrSort::key`] of the page's last item), which `after` alone cannot tell.
    pub after_key: Option<String>,
    /// Page size (0: [`DEFAULT_PAGE_SIZE`]).
    pub limit: usize,
}

/// The columns a DR listing can be ordered by: each has an index, so every page of a sorted
/// listing is a range read, first page or deep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DrSort {
    /// DR number, which is the order of assignment (the default).
    #[default]
    Number,
    /// Owner's address.
    Owner,
    /// Customer's address.
    Customer,
    /// Status (`closed`, `open`, `replied` in text order).
    Status,
}

impl DrSort {
    /// The name used in URLs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DrSort::Number => "assigned",
            DrSort::Owner => "owner",
            DrSort::Customer => "customer",
            DrSort::Status => "status",
        }
    }

    /// Parses [`DrSort::as_str`] (`number` is accepted for `assigned`).
    pub fn parse(s: &str) -> Option<DrSort> {
        match s.trim().to_ascii_lowercase().as_str() {
            "assigned" | "number" | "dr" => Some(DrSort::Number),
            "owner" => Some(DrSort::Owner),
            "customer" => Some(DrSort::Customer),
            "status" => Some(DrSort::Status),
            _ => None,
        }
    }

    /// A DR's sort key (`None` for [`DrSort::Number`], whose key is the number itself).
    pub fn key(self, dr: &Dr) -> Option<String> {
        match self {
            DrSort::Number => None,
            DrSort::Owner => Some(dr.owner.to_string()),
            DrSort::Customer => Some(dr.customer.to_string()),
            DrSort::Status => Some(dr.status.as_str().to_string()),
        }
    }

    /// The sort that orders `q` the same way more cheaply: a sort key fixed by a filter
    /// (sorting one owner's DRs by owner) orders by number alone.
    pub fn effective(q: &DrQuery) -> DrSort {
        match q.sort {
            DrSort::Owner if q.owner.is_some() => DrSort::Number,
            DrSort::Customer if matches!(q.customer, Some(Party::Address(_))) => DrSort::Number,
            DrSort::Status if q.status.is_some() => DrSort::Number,
            s => s,
        }
    }
}

/// Mail counted per time bucket, direction and decision ([`TrackingStore::volume`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeBucket {
    /// Start of the bucket, Unix seconds.
    pub start: i64,
    /// Direction.
    pub direction: Direction,
    /// Tracked or not.
    pub tracked: bool,
    /// Mails.
    pub count: u64,
}

/// Filters of [`TrackingStore::list_mails`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailQuery {
    /// Only tracked (`Some(true)`) or untracked (`Some(false)`) mail.
    pub tracked: Option<bool>,
    /// Only mail of this DR.
    pub dr: Option<DrId>,
    /// Only mail with this address or domain on it (any of [`MailRecord::addresses`]).
    pub party: Option<Party>,
    /// Only mail with one of these addresses on it: what a console user may see.
    /// `Some(vec![])` matches nothing.
    pub involving: Option<Vec<EmailAddress>>,
    /// Continue after this cursor (from [`Page::next`]).
    pub after: Option<u64>,
    /// Page size (0: [`DEFAULT_PAGE_SIZE`]).
    pub limit: usize,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

/// Filters of [`TrackingStore::list_responses`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseQuery {
    /// Only responses at or after this time.
    pub since: Option<Timestamp>,
    /// Only this user's.
    pub user: Option<EmailAddress>,
}

/// DRs by status ([`TrackingStore::dr_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrCounts {
    /// Customers waiting for us.
    pub open: u64,
    /// Waiting for the customer.
    pub replied: u64,
    /// Closed.
    pub closed: u64,
}

/// The tracking area's part of the [`Store`](crate::store::Store). Object-safe.
#[async_trait]
pub trait TrackingStore: Send + Sync {
    /// Reserves `count` consecutive DR numbers, never handed out before by this store (even
    /// across restarts and concurrent callers). Returns the first.
    async fn reserve_dr_numbers(&self, count: u64) -> Result<u64>;

    /// Applies one change set atomically and durably; returns the new mail's `seq`.
    async fn apply(&self, changes: ChangeSet) -> Result<u64>;

    /// Applies several change sets in order, all or none, in one durable commit. If any one
    /// conflicts, nothing is written and [`Error::Conflict`](crate::error::Error::Conflict) is returned.
    async fn apply_batch(&self, batch: Vec<ChangeSet>) -> Result<Vec<u64>>;

    /// Writes a DR changed by a user (close, assign …), conditionally on its version.
    async fn save_dr(&self, write: DrWrite) -> Result<()>;

    /// The facts classification needs about one mail.
    async fn thread_facts(&self, query: &FactsQuery) -> Result<ThreadFacts>;

    /// [`TrackingStore::thread_facts`] for many mails at once, answers in the same order. The tracker
    /// asks for a whole batch in one call; embedded backends answer it in one blocking task
    /// instead of one hop per mail.
    async fn thread_facts_batch(&self, queries: &[FactsQuery]) -> Result<Vec<ThreadFacts>> {
        let mut out = Vec::with_capacity(queries.len());
        for q in queries {
            out.push(self.thread_facts(q).await?);
        }
        Ok(out)
    }

    /// A DR by id (the whole id must match, not just its number).
    async fn get_dr(&self, id: &DrId) -> Result<Option<Dr>>;

    /// DRs, newest first.
    async fn list_drs(&self, query: &DrQuery) -> Result<Page<Dr>>;

    /// A mail record by `seq`.
    async fn get_mail(&self, seq: u64) -> Result<Option<MailRecord>>;

    /// The mail records with this Message-ID (one per direction, plus recorded duplicates).
    async fn mails_by_message_id(&self, message_id: &MessageId) -> Result<Vec<MailRecord>>;

    /// Mail records, newest first unless `oldest_first`.
    async fn list_mails(&self, query: &MailQuery) -> Result<Page<MailRecord>>;

    /// The archived raw message of a mail record.
    async fn raw_message(&self, seq: u64) -> Result<Option<Vec<u8>>>;

    /// Full-text search over every recorded mail (see [`crate::archive`]): the mails matching
    /// `query`, best first (relevance, then the newest), skipping `offset`, at most `limit`,
    /// as `(seq, score)` (higher is better). Scoping is the caller's: the store answers
    /// everything that matches. A backend without an index answers `Unavailable`.
    async fn search_mails(
        &self,
        query: &crate::archive::SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(u64, f64)>> {
        let _ = (query, offset, limit);
        Err(Error::Unavailable {
            what: "full-text search".into(),
            reason: "this store has no search index".into(),
        })
    }

    /// Creates or replaces a user.
    async fn put_user(&self, user: &User) -> Result<()>;

    /// A user by address.
    async fn get_user(&self, email: &EmailAddress) -> Result<Option<User>>;

    /// All users, ordered by address.
    async fn list_users(&self) -> Result<Vec<User>>;

    /// Recorded response times, oldest first.
    async fn list_responses(&self, query: &ResponseQuery) -> Result<Vec<ResponseTime>>;

    /// Mail counts per `bucket_secs` bucket (aligned to the Unix epoch), direction and decision,
    /// for mail received in `[since, until)`. With `involving`, only mail with one of these
    /// addresses on it (a viewer's scope, as in [`MailQuery::involving`]); `Some(&[])` counts
    /// nothing.
    async fn volume(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_secs: i64,
        involving: Option<&[EmailAddress]>,
    ) -> Result<Vec<VolumeBucket>>;

    /// DRs by status, exactly. With `involving`, only DRs one of these users owns or is CC'd on
    /// (a viewer's scope); `Some(&[])` counts nothing.
    async fn dr_counts(&self, involving: Option<&[EmailAddress]>) -> Result<DrCounts>;

    /// Journals a delivery before it is relayed; returns its id.
    async fn put_pending(&self, pending: &PendingDelivery) -> Result<u64>;

    /// Removes a journal entry (the delivery was refused, or reconciled after a restart).
    async fn drop_pending(&self, id: u64) -> Result<()>;

    /// The journal entries, oldest first.
    async fn list_pending(&self) -> Result<Vec<PendingDelivery>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::Parties;
    use crate::tracking::transition::{self, MailSummary};

    fn addr(s: &str) -> EmailAddress {
        s.parse().unwrap()
    }

    fn new_dr() -> Dr {
        let parties = Parties {
            sender: Some(addr("ann@customer.test")),
            direction: Direction::Inbound,
            local_recipients: vec![addr("support@example.com")],
            external_recipients: vec![],
            external: vec![addr("ann@customer.test")],
        };
        let summary = MailSummary {
            parties: &parties,
            subject: "help",
            recipient: None,
            mail_type: crate::model::MailType::Normal,
        };
        let now: jiff::Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        let id = DrId::new(
            "DR",
            now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date(),
            1,
        )
        .unwrap();
        transition::new_dr(
            id,
            addr("support@example.com"),
            vec![],
            addr("ann@customer.test"),
            &summary,
            now,
        )
    }

    #[test]
    fn writes_number_versions_themselves_and_transitions_leave_them_alone() {
        let mut created = new_dr();
        created.version = 42;
        let first = DrWrite::create(created);
        assert_eq!((first.dr.version, first.expected_version), (1, 0));

        let stored = first.dr;
        let later: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let closed = transition::close(&stored, later);
        assert_eq!(
            closed.version, stored.version,
            "a transition changes state only"
        );
        let second = DrWrite::replace(&stored, closed);
        assert_eq!((second.dr.version, second.expected_version), (2, 1));
    }
}
