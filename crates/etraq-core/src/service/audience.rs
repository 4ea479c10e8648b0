//! Campaign audiences: lists, subscribers, imports and the blocklist. Anyone signed in may look;
//! supervisors and admins change them (a campaign audience is a company decision, and an import
//! speaks for the consent of everyone in the file).

use jiff::Timestamp;
use serde::Serialize;

use crate::access::Actor;
use crate::address::EmailAddress;
use crate::campaign::{
    BlockEntry, BlockReason, Blocked, ListSummary, MailingList, MemberStatus, MergeOutcome, OptIn,
    Row, RowError, Subscriber, SubscriberInput, SubscriberQuery, check_list_name,
};
use crate::error::{Error, Result};
use crate::model::Page;
use crate::service::App;

/// Rows merged per store transaction by an import: large enough that a 100,000-row file costs a
/// hundred commits, small enough that one transaction stays short beside the gateway's.
pub const IMPORT_BATCH: usize = 1000;

/// The most errors an import report lists (the count goes on).
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// A list's settings as a create or set command gives them (`None`: unchanged, or the default
/// for a new list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListSettings {
    /// What the list is for.
    pub description: Option<String>,
    /// Double opt-in (true) or single (false).
    pub double_opt_in: Option<bool>,
    /// Whether the public subscribe form serves it.
    pub public: Option<bool>,
}

impl ListSettings {
    fn apply(&self, l: &mut MailingList) -> Result<()> {
        if let Some(d) = &self.description {
            let d = d.trim();
            if d.chars().count() > 1000 {
                return Err(Error::InvalidField {
                    field: "description",
                    reason: "longer than 1000 characters".into(),
                });
            }
            l.description = d.to_string();
        }
        if let Some(double) = self.double_opt_in {
            l.opt_in = if double { OptIn::Double } else { OptIn::Single };
        }
        if let Some(p) = self.public {
            l.public = p;
        }
        Ok(())
    }
}

/// What `subscriber import` reports (contract: `imported, updated, skipped, errors`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Addresses that joined the list.
    pub imported: u64,
    /// Addresses already on it, brought up to date.
    pub updated: u64,
    /// Addresses not added: unsubscribed from the list or blocklisted.
    pub skipped: u64,
    /// Rows refused, with their file line (at most [`MAX_REPORTED_ERRORS`]).
    pub errors: Vec<RowError>,
    /// All refused rows, including those beyond the listed ones.
    pub error_count: u64,
    /// Confirmation mails queued (new members of a double opt-in list imported without
    /// `--confirmed`).
    pub confirmations: u64,
}

impl ImportReport {
    fn count(&mut self, o: MergeOutcome) {
        match o {
            MergeOutcome::Imported => self.imported += 1,
            MergeOutcome::Updated => self.updated += 1,
            MergeOutcome::Skipped => self.skipped += 1,
        }
    }

    fn error(&mut self, e: RowError) {
        self.error_count += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }

    /// Rows read so far, good and bad.
    pub fn rows(&self) -> u64 {
        self.imported + self.updated + self.skipped + self.error_count
    }
}

/// A subscriber as `subscriber show` prints it: the record and whether the blocklist holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriberDetail {
    /// The record.
    pub subscriber: Subscriber,
    /// The entry blocking the address, if any.
    pub blocklisted: Option<BlockEntry>,
    /// What happened between them and campaigns, newest first (at most
    /// [`SUBSCRIBER_EVENTS`]).
    pub events: Vec<crate::views::EventRow>,
    /// The engagement score when read.
    pub score: f64,
}

impl SubscriberDetail {
    /// The listing row, events included.
    pub fn row(&self) -> crate::views::SubscriberRow {
        crate::views::SubscriberRow::new(&self.subscriber, self.blocklisted.clone())
            .with_events(self.events.clone())
            .with_score(self.score)
    }
}

/// The most events a subscriber's page shows.
pub const SUBSCRIBER_EVENTS: usize = 200;

/// Who a campaign to some lists, narrowed by a segment, would go to now.
#[derive(Clone, Debug, Default)]
pub struct Audience {
    /// Each address once, with the list it receives the campaign through, in list order.
    pub recipients: Vec<(Subscriber, String)>,
    /// Members left out because the blocklist holds them.
    pub blocked: u64,
    /// Members left out by the segment.
    pub outside_segment: u64,
}

/// Subscribers read per page of an audience walk: a decoded subscriber with its maps takes a
/// kilobyte or two, so a page of 10,000 would cost more memory than a whole campaign's sending.
const AUDIENCE_PAGE: usize = 500;

/// Where a walk over a campaign's audience is (see [`App::audience_cursor`]).
pub struct AudienceCursor {
    who: Actor,
    records: Vec<MailingList>,
    segment: Option<crate::campaign::Segment>,
    blocklist: Vec<BlockEntry>,
    campaign: String,
    seen: std::collections::HashSet<u64>,
    list: usize,
    after: Option<u64>,
    /// The counts so far (`blocked`, `outside_segment`); `recipients` stays empty.
    pub counts: Audience,
}

impl AudienceCursor {
    /// The next page of recipients (each with the list it receives the campaign through), or
    /// `None` when every list has been walked. A page may be empty.
    pub async fn next_page(&mut self, app: &App) -> Result<Option<Vec<(Subscriber, String)>>> {
        let Some(l) = self.records.get(self.list) else {
            return Ok(None);
        };
        let q = SubscriberQuery {
            list: Some(l.name.clone()),
            after: self.after,
            limit: AUDIENCE_PAGE,
            ..SubscriberQuery::default()
        };
        let page = app.subscribers(&self.who, &q).await?;
        match page.next {
            Some(n) => self.after = Some(n),
            None => {
                self.list += 1;
                self.after = None;
            }
        }
        let mut out = Vec::with_capacity(page.items.len());
        for s in page.items {
            if !self.seen.insert(s.id) {
                continue;
            }
            let Some(via) = crate::campaign::receiving_list(&s, &self.records) else {
                continue;
            };
            let via = via.name.clone();
            if crate::campaign::is_blocked(&s.email, &self.blocklist) {
                self.counts.blocked += 1;
                continue;
            }
            if let Some(seg) = &self.segment {
                let mut data = crate::campaign::MergeData {
                    subscriber: crate::campaign::SubscriberFields {
                        email: s.email.to_string(),
                        name: s.name.clone(),
                        attribs: s.attribs.clone(),
                        score: 0.0,
                    },
                    campaign: crate::campaign::Named {
                        name: self.campaign.clone(),
                    },
                    list: crate::campaign::Named { name: via.clone() },
                    ..Default::default()
                };
                if seg.needs_customer() {
                    data.customer = app.customer_facts(&s.email).await?;
                }
                if seg.needs_score() {
                    data.subscriber.score = app.score_of(s.id, Timestamp::now()).await?;
                }
                if !seg.matches(&data)? {
                    self.counts.outside_segment += 1;
                    continue;
                }
            }
            out.push((s, via));
        }
        Ok(Some(out))
    }
}

impl App {
    /// The recipients of a campaign to `lists` narrowed by `segment` (`--where`): the members
    /// who receive mail from at least one of the lists (confirmed ones; on single opt-in lists
    /// every member who has not unsubscribed), each address once, minus the blocklist, matching
    /// the segment. The segment is compiled once; the CRM facts are read only when it names
    /// `customer.*`.
    pub async fn audience(
        &self,
        who: &Actor,
        lists: &[String],
        segment: Option<&str>,
        campaign: &str,
    ) -> Result<Audience> {
        let mut recipients = Vec::new();
        let mut out = self
            .audience_each(who, lists, segment, campaign, |s, list| {
                recipients.push((s, list))
            })
            .await?;
        out.recipients = recipients;
        Ok(out)
    }

    /// [`App::audience`], handing each recipient to `f` as it is found instead of keeping them
    /// all. The returned [`Audience`] has the counts and no recipients.
    pub async fn audience_each(
        &self,
        who: &Actor,
        lists: &[String],
        segment: Option<&str>,
        campaign: &str,
        mut f: impl FnMut(Subscriber, String) + Send,
    ) -> Result<Audience> {
        let mut cursor = self.audience_cursor(who, lists, segment, campaign).await?;
        while let Some(page) = cursor.next_page(self).await? {
            for (s, via) in page {
                f(s, via);
            }
        }
        Ok(cursor.counts)
    }

    /// A cursor over the recipients of [`App::audience`], a page at a time, so a caller can
    /// store each page before reading the next (a campaign freezing 100,000 recipients keeps
    /// one page in memory).
    pub async fn audience_cursor(
        &self,
        who: &Actor,
        lists: &[String],
        segment: Option<&str>,
        campaign: &str,
    ) -> Result<AudienceCursor> {
        let mut records = Vec::with_capacity(lists.len());
        for l in lists {
            records.push(self.list_record(l).await?);
        }
        let segment = segment.map(crate::campaign::Segment::new).transpose()?;
        Ok(AudienceCursor {
            who: who.clone(),
            records,
            segment,
            blocklist: self.store.blocklist().await?,
            campaign: campaign.to_string(),
            seen: std::collections::HashSet::new(),
            list: 0,
            after: None,
            counts: Audience::default(),
        })
    }

    /// Creates a list (supervisors).
    pub async fn create_list(
        &self,
        who: &Actor,
        name: &str,
        settings: &ListSettings,
        now: Timestamp,
    ) -> Result<MailingList> {
        who.require_supervisor()?;
        let mut list = MailingList::new(check_list_name(name)?, now)?;
        settings.apply(&mut list)?;
        self.store
            .create_list(list.clone())
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => Error::InvalidField {
                    field: "name",
                    reason: format!("a list named {:?} exists already", list.name),
                },
                e => e,
            })?;
        Ok(list)
    }

    /// Changes a list's settings (supervisors).
    pub async fn update_list(
        &self,
        who: &Actor,
        name: &str,
        settings: &ListSettings,
    ) -> Result<MailingList> {
        who.require_supervisor()?;
        let mut list = self.list_record(name).await?;
        settings.apply(&mut list)?;
        self.store.update_list(list.clone()).await?;
        Ok(list)
    }

    /// Every list with its counts.
    pub async fn lists(&self, _who: &Actor) -> Result<Vec<ListSummary>> {
        self.store.list_lists().await
    }

    /// One list with its counts.
    pub async fn list(&self, _who: &Actor, name: &str) -> Result<ListSummary> {
        let key = crate::campaign::list_key(name);
        self.store
            .list_lists()
            .await?
            .into_iter()
            .find(|l| l.list.key() == key)
            .ok_or_else(|| list_not_found(name))
    }

    /// A list's growth, day by day, for the chart on its page (see
    /// [`crate::campaign::growth`] for how the history is rebuilt from today's memberships).
    /// Reads every member once, a page at a time.
    pub async fn list_growth(
        &self,
        who: &Actor,
        name: &str,
        now: Timestamp,
    ) -> Result<Vec<crate::campaign::GrowthDay>> {
        let list = self.list_record(name).await?;
        let blocked: std::collections::HashMap<String, Timestamp> = self
            .store
            .blocklist()
            .await?
            .into_iter()
            .map(|b| (b.address.key(), b.created_at))
            .collect();
        let mut facts = Vec::new();
        let mut query = SubscriberQuery {
            list: Some(list.name.clone()),
            limit: 1000,
            ..SubscriberQuery::default()
        };
        loop {
            let page = self.subscribers(who, &query).await?;
            for s in &page.items {
                let Some(m) = s.membership(&list.name) else {
                    continue;
                };
                let blocked_at = Blocked::keys_for(&s.email)
                    .iter()
                    .filter_map(|k| blocked.get(k).copied())
                    .min();
                facts.push(crate::campaign::MemberFact {
                    status: m.status,
                    since: m.updated_at,
                    blocked_at,
                });
            }
            match page.next {
                Some(n) => query.after = Some(n),
                None => break,
            }
        }
        Ok(crate::campaign::growth(&facts, now, &self.time_zone()))
    }

    /// Deletes a list and its memberships; the subscribers stay (admins: it cannot be undone).
    pub async fn delete_list(&self, who: &Actor, name: &str) -> Result<()> {
        who.require_admin()?;
        if self.store.delete_list(name).await? {
            Ok(())
        } else {
            Err(list_not_found(name))
        }
    }

    async fn list_record(&self, name: &str) -> Result<MailingList> {
        self.store
            .get_list(name)
            .await?
            .ok_or_else(|| list_not_found(name))
    }

    /// Adds one address to a list (supervisors). `confirmed` vouches for consent on a double
    /// opt-in list; without it a new member of such a list is `unconfirmed` and is sent a
    /// confirmation mail (through the outbox). Returns the outcome and whether a confirmation
    /// mail was queued.
    pub async fn add_subscriber(
        &self,
        who: &Actor,
        list: &str,
        input: SubscriberInput,
        confirmed: bool,
        now: Timestamp,
    ) -> Result<(MergeOutcome, bool)> {
        who.require_supervisor()?;
        check_attribs(&input)?;
        let email = input.email.clone();
        let out = self
            .store
            .merge_subscribers(list, confirmed, vec![input], now)
            .await
            .map_err(|e| list_missing(e, list))?;
        let outcome = out
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("no outcome for a merge".into()))?;
        let queued = if outcome == MergeOutcome::Imported && !confirmed {
            self.confirm_new_members(list, &[email], now).await? > 0
        } else {
            false
        };
        Ok((outcome, queued))
    }

    /// Merges one batch of import rows into a list (supervisors), adding to `report`. The
    /// frontend reads the file (see [`crate::campaign::CsvRows`]) and calls this per batch of at
    /// most [`IMPORT_BATCH`] rows; bad rows only go into the report.
    pub async fn import_batch(
        &self,
        who: &Actor,
        list: &str,
        rows: Vec<Row>,
        confirmed: bool,
        now: Timestamp,
        report: &mut ImportReport,
    ) -> Result<()> {
        who.require_supervisor()?;
        let mut inputs = Vec::with_capacity(rows.len());
        for row in rows {
            match row {
                Row::Ok { line, input } => match check_attribs(&input) {
                    Ok(()) => inputs.push(input),
                    Err(e) => report.error(RowError {
                        line,
                        reason: e.to_string(),
                    }),
                },
                Row::Bad(e) => report.error(e),
            }
        }
        if inputs.is_empty() {
            // Still check the list, so a file of bad rows into a missing list says so.
            self.list_record(list).await?;
            return Ok(());
        }
        let emails: Vec<EmailAddress> = inputs.iter().map(|i| i.email.clone()).collect();
        let outcomes = self
            .store
            .merge_subscribers(list, confirmed, inputs, now)
            .await
            .map_err(|e| list_missing(e, list))?;
        let mut joined = Vec::new();
        for (o, e) in outcomes.into_iter().zip(emails) {
            report.count(o);
            if o == MergeOutcome::Imported {
                joined.push(e);
            }
        }
        if !confirmed {
            report.confirmations += self.confirm_new_members(list, &joined, now).await?;
        }
        Ok(())
    }

    /// Imports a whole CSV held in memory (an upload to the console or the API) into a list
    /// (supervisors), batch by batch as `subscriber import` does; bad rows only go into the
    /// report. `Invalid` when the header has no `email` column.
    pub async fn import_csv(
        &self,
        who: &Actor,
        list: &str,
        csv: &[u8],
        confirmed: bool,
        now: Timestamp,
    ) -> Result<ImportReport> {
        who.require_supervisor()?;
        self.list_record(list).await?;
        let mut rows = crate::campaign::CsvRows::new(csv)?;
        let mut report = ImportReport::default();
        loop {
            let batch: Vec<Row> = rows.by_ref().take(IMPORT_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            self.import_batch(who, list, batch, confirmed, now, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Subscribers, a keyset page.
    pub async fn subscribers(
        &self,
        _who: &Actor,
        query: &SubscriberQuery,
    ) -> Result<Page<Subscriber>> {
        if let Some(l) = &query.list {
            self.list_record(l).await?;
        }
        self.store.list_subscribers(query).await
    }

    /// Subscribers as listing rows (blocklist entries filled in), a keyset page.
    pub async fn subscriber_rows(
        &self,
        who: &Actor,
        query: &SubscriberQuery,
    ) -> Result<(Vec<crate::views::SubscriberRow>, Option<u64>)> {
        let page = self.subscribers(who, query).await?;
        let blocklist = self.store.blocklist().await?;
        let find = |e: &EmailAddress| {
            let keys = Blocked::keys_for(e);
            blocklist
                .iter()
                .find(|b| keys.contains(&b.address.key()))
                .cloned()
        };
        let rows = page
            .items
            .iter()
            .map(|s| crate::views::SubscriberRow::new(s, find(&s.email)))
            .collect();
        Ok((rows, page.next))
    }

    /// One subscriber with its blocklist entry.
    pub async fn subscriber(&self, _who: &Actor, email: &EmailAddress) -> Result<SubscriberDetail> {
        let subscriber =
            self.store
                .get_subscriber(email)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "subscriber",
                    key: email.to_string(),
                })?;
        let blocklisted = self.store.blocked(email).await?;
        let raw = self
            .store
            .subscriber_events(subscriber.id, SUBSCRIBER_EVENTS)
            .await?;
        let names: std::collections::HashMap<u64, String> = if raw.is_empty() {
            Default::default()
        } else {
            self.store
                .list_campaigns()
                .await?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect()
        };
        let events = raw
            .into_iter()
            .map(|e| crate::views::EventRow {
                kind: e.kind.as_str(),
                campaign: names
                    .get(&e.campaign)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", e.campaign)),
                at: e.at,
                detail: e.detail,
            })
            .collect();
        let score = self.score_of(subscriber.id, Timestamp::now()).await?;
        Ok(SubscriberDetail {
            subscriber,
            blocklisted,
            events,
            score,
        })
    }

    /// A subscriber's engagement score at `now` (0 for one who never engaged).
    pub async fn score_of(&self, subscriber: u64, now: Timestamp) -> Result<f64> {
        Ok(self
            .store
            .subscriber_engagement(subscriber)
            .await?
            .map_or(0.0, |e| e.score(now)))
    }

    /// Unsubscribes an address from one list, or from every list it is on (supervisors; the
    /// public unsubscribe link does the same for the person themself). Returns the lists it
    /// left.
    pub async fn unsubscribe(
        &self,
        who: &Actor,
        email: &EmailAddress,
        list: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        who.require_supervisor()?;
        let detail = self.subscriber(who, email).await?;
        let targets: Vec<String> = match list {
            Some(l) => {
                let m = detail
                    .subscriber
                    .membership(l)
                    .ok_or_else(|| Error::NotFound {
                        what: "membership",
                        key: format!("{email} on {l}"),
                    })?;
                vec![m.list.clone()]
            }
            None => detail
                .subscriber
                .lists
                .values()
                .filter(|m| m.status != MemberStatus::Unsubscribed)
                .map(|m| m.list.clone())
                .collect(),
        };
        for l in &targets {
            self.store
                .set_member_status(email, l, MemberStatus::Unsubscribed, now)
                .await?;
        }
        Ok(targets)
    }

    /// Adds an address or `@domain` to the blocklist (supervisors).
    pub async fn block(
        &self,
        who: &Actor,
        address: &str,
        reason: BlockReason,
        now: Timestamp,
    ) -> Result<BlockEntry> {
        who.require_supervisor()?;
        let entry = BlockEntry {
            address: Blocked::parse(address).map_err(|e| Error::InvalidField {
                field: "address",
                reason: e.to_string(),
            })?,
            reason,
            created_at: now,
        };
        self.store.block(entry.clone()).await?;
        Ok(entry)
    }

    /// Removes a blocklist entry (admins: it lets mail go to someone who bounced or complained).
    pub async fn unblock(&self, who: &Actor, address: &str) -> Result<()> {
        who.require_admin()?;
        let b = Blocked::parse(address).map_err(|e| Error::InvalidField {
            field: "address",
            reason: e.to_string(),
        })?;
        if self.store.unblock(&b).await? {
            Ok(())
        } else {
            Err(Error::NotFound {
                what: "blocklist entry",
                key: b.key(),
            })
        }
    }

    /// The blocklist.
    pub async fn blocklist(&self, _who: &Actor) -> Result<Vec<BlockEntry>> {
        self.store.blocklist().await
    }
}

fn list_not_found(name: &str) -> Error {
    Error::NotFound {
        what: "list",
        key: name.to_string(),
    }
}

fn list_missing(e: Error, name: &str) -> Error {
    match e {
        Error::NotFound { what: "list", .. } => list_not_found(name),
        e => e,
    }
}

/// Attribute names and values a template can use: bounded, and no name that would shadow the
/// record's own fields.
fn check_attribs(input: &SubscriberInput) -> Result<()> {
    for (k, v) in &input.attribs {
        if k.is_empty() || k.chars().count() > 100 || k.chars().any(char::is_control) {
            return Err(Error::InvalidField {
                field: "attr",
                reason: format!("{k:?}: an attribute name has 1 to 100 characters"),
            });
        }
        if v.as_str()
            .is_some_and(|s| s.len() > crate::campaign::MAX_FIELD_BYTES)
        {
            return Err(Error::InvalidField {
                field: "attr",
                reason: format!(
                    "{k}: longer than {} bytes",
                    crate::campaign::MAX_FIELD_BYTES
                ),
            });
        }
    }
    Ok(())
}
