//! [`CampaignStore`]: what the campaign area keeps: the audience (lists, subscribers and their
//! memberships, the blocklist), campaigns, and each campaign's frozen recipients.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::campaign::audience::{
    BlockEntry, Blocked, ListSummary, MailingList, MemberStatus, MergeOutcome, Subscriber,
    SubscriberInput,
};
use crate::campaign::event::SubscriberEvent;
use crate::campaign::hits::{Hit, HitOutcome};
use crate::campaign::run::{Campaign, Lease, Recipient, RecipientCounts, RecipientState, Settled};
use crate::campaign::score::Engagement;
use crate::error::Result;
use crate::model::Page;

/// Filters of [`CampaignStore::list_subscribers`]. Subscribers come in the order they were
/// first stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriberQuery {
    /// Only members of this list (by name, any case).
    pub list: Option<String>,
    /// Only members with this status on `list` (on any list when `list` is `None`).
    pub status: Option<MemberStatus>,
    /// Only addresses containing this text (lower-case).
    pub search: Option<String>,
    /// Continue after this cursor.
    pub after: Option<u64>,
    /// Page size (0: the default).
    pub limit: usize,
}

impl SubscriberQuery {
    /// Whether `s` passes the filters (every backend applies the same test).
    pub fn matches(&self, s: &Subscriber) -> bool {
        let on_list = match (&self.list, self.status) {
            (Some(l), st) => s
                .membership(l)
                .is_some_and(|m| st.is_none_or(|st| m.status == st)),
            (None, Some(st)) => s.lists.values().any(|m| m.status == st),
            (None, None) => true,
        };
        on_list
            && self
                .search
                .as_deref()
                .is_none_or(|q| s.email.as_str().contains(&q.to_lowercase()))
    }
}

/// What [`CampaignStore::track_lookup`] answers.
#[derive(Clone, Debug)]
pub struct TrackLookup {
    /// The campaign.
    pub campaign: Campaign,
    /// The recipient, when the token names a stored one.
    pub recipient: Option<Recipient>,
    /// The campaign's link book (for a click).
    pub links: Vec<String>,
    /// The recipient's earlier hits (for a click).
    pub hits: Vec<Hit>,
}

/// The campaign area's part of the [`Store`](crate::store::Store). Object-safe.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates a list. `Conflict` when a list of that name (in any case) exists.
    async fn create_list(&self, list: MailingList) -> Result<()>;

    /// Replaces a list's settings; its key ([`MailingList::key`]) names it. `NotFound` when
    /// there is none.
    async fn update_list(&self, list: MailingList) -> Result<()>;

    /// A list by name, any case.
    async fn get_list(&self, name: &str) -> Result<Option<MailingList>>;

    /// Every list with its member counts, by name.
    async fn list_lists(&self) -> Result<Vec<ListSummary>>;

    /// Deletes a list and every membership of it (the subscribers stay). False when there was
    /// none.
    async fn delete_list(&self, name: &str) -> Result<bool>;

    /// Adds `inputs` to the list named `list` in one transaction, each through
    /// [`Subscriber::merge`] with the blocklist consulted, and answers each input's outcome in
    /// order. `confirmed` vouches for consent (see [`JoinAs`](crate::campaign::JoinAs)).
    /// `NotFound` when the list does not exist. The same address twice in `inputs` merges twice.
    async fn merge_subscribers(
        &self,
        list: &str,
        confirmed: bool,
        inputs: Vec<SubscriberInput>,
        now: Timestamp,
    ) -> Result<Vec<MergeOutcome>>;

    /// A subscriber by address.
    async fn get_subscriber(&self, email: &EmailAddress) -> Result<Option<Subscriber>>;

    /// Subscribers matching `query`, a keyset page.
    async fn list_subscribers(&self, query: &SubscriberQuery) -> Result<Page<Subscriber>>;

    /// Sets a member's status on a list. `NotFound` when the address is no member of it.
    async fn set_member_status(
        &self,
        email: &EmailAddress,
        list: &str,
        status: MemberStatus,
        now: Timestamp,
    ) -> Result<()>;

    /// Adds or replaces a blocklist entry.
    async fn block(&self, entry: BlockEntry) -> Result<()>;

    /// Removes a blocklist entry; false when there was none.
    async fn unblock(&self, blocked: &Blocked) -> Result<bool>;

    /// The blocklist, by address.
    async fn blocklist(&self) -> Result<Vec<BlockEntry>>;

    /// The entry that blocks `email` (its own, else its domain's), if any.
    async fn blocked(&self, email: &EmailAddress) -> Result<Option<BlockEntry>>;

    /// Stores a new campaign and returns it with its id. `Conflict` when a campaign of that
    /// name (in any case) exists.
    async fn create_campaign(&self, campaign: Campaign) -> Result<Campaign>;

    /// A campaign by name, any case.
    async fn get_campaign(&self, name: &str) -> Result<Option<Campaign>>;

    /// Every campaign, oldest first.
    async fn list_campaigns(&self) -> Result<Vec<Campaign>>;

    /// Replaces a campaign's record (its status and times); `NotFound` when its id is unknown.
    async fn save_campaign(&self, campaign: &Campaign) -> Result<()>;

    /// Adds one batch of a campaign's frozen recipients (every one `queued`; ids 1, 2, … over
    /// the batches, in freeze order), so a freeze of 100,000 never holds them all in memory or
    /// the writer in one transaction. With `done`, the same transaction saves `campaign` (now
    /// running): until then the stored record says it is not frozen, and a freeze a crash
    /// interrupted is cleared with [`CampaignStore::discard_recipients`] and done again.
    /// `Conflict` when the stored campaign is frozen already (neither draft nor scheduled) or
    /// a recipient id exists.
    async fn freeze_recipients(
        &self,
        campaign: &Campaign,
        recipients: Vec<Recipient>,
        done: bool,
    ) -> Result<()>;

    /// Deletes the recipients of a campaign whose freeze did not finish (its stored record is
    /// draft or scheduled); returns how many. `Conflict` for a frozen campaign: its rows are
    /// the account of what was sent.
    async fn discard_recipients(&self, campaign: u64) -> Result<u64>;

    /// Durably marks up to `n` `queued` recipients of a campaign `sending` (lowest ids first)
    /// and returns them: the step before their mail goes to the relay.
    async fn take_queued(&self, campaign: u64, n: usize) -> Result<Vec<Recipient>>;

    /// Records a recipient's new state (and Message-ID, time, error, attempts), durably.
    async fn update_recipient(&self, recipient: &Recipient) -> Result<()>;

    /// A sender's step: records `settled`'s outcome (as [`CampaignStore::update_recipient`];
    /// a `sent` row also adds the subscriber's `sent` event, and its mail record is applied as
    /// [`TrackingStore::apply`](crate::tracking::TrackingStore::apply) would, skipped without
    /// error if its Message-ID is indexed already) and marks the next `queued` recipient
    /// `sending` (as [`CampaignStore::take_queued`] with one), in one durable commit, and
    /// answers it with its subscriber's record as stored now (`None` if the subscriber is
    /// gone), read in the same transaction: the sender needs it next, and one trip to the
    /// store instead of two halves the thread hops per mail. `None` when nobody is left queued.
    async fn settle_and_take(
        &self,
        campaign: u64,
        settled: Option<Settled>,
    ) -> Result<Option<(Recipient, Option<Subscriber>)>>;

    /// Records `settled` as [`CampaignStore::settle_and_take`] does, without taking another
    /// recipient (a sender stopping).
    async fn settle(&self, settled: Settled) -> Result<()>;

    /// A campaign's link book: its tracked URLs in number order (a URL's number is its
    /// position).
    async fn campaign_links(&self, campaign: u64) -> Result<Vec<String>>;

    /// Puts `urls` in the campaign's link book in one transaction, the new ones under the next
    /// numbers, and answers each URL's number (`None` for one past
    /// [`MAX_LINKS`](crate::campaign::MAX_LINKS): it stays untracked).
    async fn add_campaign_links(
        &self,
        campaign: u64,
        urls: Vec<String>,
    ) -> Result<Vec<Option<u16>>>;

    /// Records a hit and its subscriber event (kind [`HitKind::event`](crate::campaign::HitKind::event),
    /// detail the hit's) in one durable transaction, and adds its points
    /// ([`crate::campaign::hit_points`]) to the subscriber's engagement
    /// ([`crate::campaign::Engagement::add`]) in the same one. A conversion whose order
    /// (`order_id`) was recorded for the campaign already changes nothing and answers
    /// `DuplicateOrder`.
    async fn record_hit(&self, hit: Hit) -> Result<HitOutcome>;

    /// A subscriber's engagement as stored; `None` when they never engaged.
    async fn subscriber_engagement(&self, subscriber: u64) -> Result<Option<Engagement>>;

    /// A campaign's hits, in the order they were recorded.
    async fn campaign_hits(&self, campaign: u64) -> Result<Vec<Hit>>;

    /// One recipient's hits in a campaign, in the order they were recorded.
    async fn recipient_hits(&self, campaign: u64, recipient: u64) -> Result<Vec<Hit>>;

    /// What a tracking request reads, in one go (one snapshot, and for SQLite one trip to a
    /// read connection instead of four): the campaign with id `campaign`, its recipient
    /// `recipient` (`None` for 0, a test copy, or an unknown one), and with `click` the link
    /// book and the recipient's earlier hits (empty otherwise). `None` when there is no such
    /// campaign. The default composes the other reads.
    async fn track_lookup(
        &self,
        campaign: u64,
        recipient: u64,
        click: bool,
    ) -> Result<Option<TrackLookup>> {
        let Some(c) = self
            .list_campaigns()
            .await?
            .into_iter()
            .find(|c| c.id == campaign)
        else {
            return Ok(None);
        };
        let r = match recipient {
            0 => None,
            n => self
                .list_recipients(campaign, None, Some(n - 1), 1)
                .await?
                .items
                .into_iter()
                .find(|r| r.id == n),
        };
        let (links, hits) = if click {
            let links = self.campaign_links(campaign).await?;
            let hits = match &r {
                Some(r) => self.recipient_hits(campaign, r.id).await?,
                None => Vec::new(),
            };
            (links, hits)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Some(TrackLookup {
            campaign: c,
            recipient: r,
            links,
            hits,
        }))
    }

    /// Records events (a bounce, and with tracking opens and clicks …), durably.
    async fn add_events(&self, events: Vec<SubscriberEvent>) -> Result<()>;

    /// A subscriber's events, newest first, at most `limit`.
    async fn subscriber_events(
        &self,
        subscriber: u64,
        limit: usize,
    ) -> Result<Vec<SubscriberEvent>>;

    /// After a crash: every `sending` recipient of a campaign becomes `in_doubt`, or `queued`
    /// again with `resend`. Returns how many.
    async fn recover_sending(&self, campaign: u64, resend: bool) -> Result<u64>;

    /// A campaign's recipients, optionally in one state, by id; a keyset page.
    async fn list_recipients(
        &self,
        campaign: u64,
        state: Option<RecipientState>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<Recipient>>;

    /// A campaign's recipients counted by state.
    async fn recipient_counts(&self, campaign: u64) -> Result<RecipientCounts>;

    /// Claims (or renews) a campaign for one sender in one transaction, by
    /// [`claim`](crate::campaign::claim): `Ok(None)` when `mine` now holds it, `Ok(Some(lease))`
    /// with the other sender's lease otherwise. `gone` is a holder seen to be dead. `None` as
    /// `mine` releases the claimant's own lease (`release`).
    async fn claim_campaign(
        &self,
        campaign: u64,
        mine: Lease,
        gone: Option<Lease>,
        now: jiff::Timestamp,
    ) -> Result<Option<Lease>>;

    /// Gives up `mine`'s lease, if it holds it.
    async fn release_campaign(&self, campaign: u64, mine: Lease) -> Result<()>;
}
