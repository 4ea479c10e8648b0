//! The campaign area on PostgreSQL: the same tables as the SQLite store (lists, subscribers
//! with their memberships, the blocklist, campaigns, frozen recipients, events, link books,
//! hits, engagement), made safe for several nodes:
//!
//! - a sender takes its next recipients with `FOR UPDATE SKIP LOCKED`, so two nodes sending one
//!   campaign never take the same recipient, and neither waits for the other;
//! - a campaign's lease, its link book and a subscriber's engagement are changed under a lock on
//!   their row (`FOR UPDATE`), so a read-modify-write never loses another node's change;
//! - events and hits are numbered from sequences, and a conversion's order id is unique by
//!   index, so a duplicate order is answered `DuplicateOrder` even when two arrive at once.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use etraq_core::campaign::{
    BlockEntry, Blocked, Campaign, CampaignStatus, CampaignStore, Engagement, EventKind, Hit,
    HitOutcome, JoinAs, Lease, ListSummary, MailingList, MemberStatus, MergeOutcome, Recipient,
    RecipientCounts, RecipientState, Settled, Subscriber, SubscriberEvent, SubscriberInput,
    SubscriberQuery, TrackLookup, campaign_key, list_key,
};
use etraq_core::store::{Page, page_size};
use etraq_core::{EmailAddress, Error, Result};
use jiff::Timestamp;

use crate::PgStore;
use crate::rows::{
    begin, big, commit, dec, docs, enc, execute, limit as lim, query, query_one, query_opt,
    unsigned,
};

/// The first key of the advisory locks that serialise engagement updates ("enga").
const ENGAGEMENT_LOCK: i32 = 0x656e_6761;

fn not_found(what: &'static str, key: &str) -> Error {
    Error::NotFound {
        what,
        key: key.to_string(),
    }
}

fn state_code(s: RecipientState) -> i32 {
    i32::from(s.code())
}

async fn insert_event<C: GenericClient>(c: &C, e: &SubscriberEvent) -> Result<()> {
    execute(
        c,
        "INSERT INTO events(subscriber, data) VALUES ($1, $2)",
        &[&big(e.subscriber)?, &enc("events", e)?],
        "recording an event",
    )
    .await?;
    Ok(())
}

fn subscriber_of(r: &tokio_postgres::Row) -> Result<Subscriber> {
    let mut s: Subscriber = dec("subscribers", r.get::<_, &str>(1))?;
    s.id = unsigned(r.get(0));
    Ok(s)
}

async fn subscriber_by_id<C: GenericClient>(c: &C, id: u64) -> Result<Option<Subscriber>> {
    query_opt(
        c,
        "SELECT id, data FROM subscribers WHERE id = $1",
        &[&big(id)?],
        "reading a subscriber",
    )
    .await?
    .map(|r| subscriber_of(&r))
    .transpose()
}

async fn subscriber_by_email<C: GenericClient>(
    c: &C,
    email: &EmailAddress,
    lock: bool,
) -> Result<Option<Subscriber>> {
    let sql = if lock {
        "SELECT id, data FROM subscribers WHERE email = $1 FOR UPDATE"
    } else {
        "SELECT id, data FROM subscribers WHERE email = $1"
    };
    query_opt(c, sql, &[&email.as_str()], "reading a subscriber")
        .await?
        .map(|r| subscriber_of(&r))
        .transpose()
}

async fn write_subscriber_data<C: GenericClient>(c: &C, s: &Subscriber) -> Result<()> {
    execute(
        c,
        "UPDATE subscribers SET data = $2 WHERE id = $1",
        &[&big(s.id)?, &enc("subscribers", s)?],
        "writing a subscriber",
    )
    .await?;
    Ok(())
}

/// Writes a subscriber (assigning its id when new) and its membership row of `list`.
async fn write_subscriber<C: GenericClient>(c: &C, mut s: Subscriber, list: &str) -> Result<()> {
    if s.id == 0 {
        let id: i64 = query_one(
            c,
            "INSERT INTO subscribers(email, data) VALUES ($1, '{}') RETURNING id",
            &[&s.email.as_str()],
            "adding a subscriber",
        )
        .await?
        .get(0);
        s.id = unsigned(id);
    }
    write_subscriber_data(c, &s).await?;
    let id = big(s.id)?;
    match s.lists.get(list) {
        Some(m) => {
            execute(
                c,
                "INSERT INTO members(list, subscriber, status) VALUES ($1, $2, $3)
                 ON CONFLICT (list, subscriber) DO UPDATE SET status = excluded.status",
                &[&list, &id, &m.status.as_str()],
                "writing a membership",
            )
            .await?
        }
        None => {
            execute(
                c,
                "DELETE FROM members WHERE list = $1 AND subscriber = $2",
                &[&list, &id],
                "writing a membership",
            )
            .await?
        }
    };
    Ok(())
}

async fn get_list<C: GenericClient>(c: &C, name: &str) -> Result<Option<MailingList>> {
    query_opt(
        c,
        "SELECT data FROM lists WHERE key = $1",
        &[&list_key(name)],
        "reading a list",
    )
    .await?
    .map(|r| dec("lists", r.get::<_, &str>(0)))
    .transpose()
}

async fn blocked<C: GenericClient>(c: &C, email: &EmailAddress) -> Result<Option<BlockEntry>> {
    for key in Blocked::keys_for(email) {
        if let Some(r) = query_opt(
            c,
            "SELECT data FROM blocklist WHERE address = $1",
            &[&key],
            "reading the blocklist",
        )
        .await?
        {
            return dec("blocklist", r.get::<_, &str>(0)).map(Some);
        }
    }
    Ok(None)
}

async fn campaign_by_id<C: GenericClient>(c: &C, id: u64, lock: bool) -> Result<Campaign> {
    let sql = if lock {
        "SELECT data FROM campaigns WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT data FROM campaigns WHERE id = $1"
    };
    match query_opt(c, sql, &[&big(id)?], "reading a campaign").await? {
        Some(r) => dec("campaigns", r.get::<_, &str>(0)),
        None => Err(not_found("campaign", &id.to_string())),
    }
}

async fn write_campaign<C: GenericClient>(c: &C, camp: &Campaign) -> Result<()> {
    let n = execute(
        c,
        "UPDATE campaigns SET data = $2 WHERE id = $1",
        &[&big(camp.id)?, &enc("campaigns", camp)?],
        "writing a campaign",
    )
    .await?;
    if n == 0 {
        return Err(not_found("campaign", &camp.name));
    }
    Ok(())
}

async fn write_recipient<C: GenericClient>(c: &C, r: &Recipient) -> Result<()> {
    let n = execute(
        c,
        "UPDATE recipients SET state = $3, data = $4 WHERE campaign = $1 AND id = $2",
        &[
            &big(r.campaign)?,
            &big(r.id)?,
            &state_code(r.state),
            &enc("recipients", r)?,
        ],
        "writing a recipient",
    )
    .await?;
    if n == 0 {
        return Err(not_found(
            "recipient",
            &format!("{} of campaign {}", r.id, r.campaign),
        ));
    }
    Ok(())
}

/// `Conflict` unless the stored campaign is still to be frozen (draft or scheduled).
fn not_frozen(c: &Campaign) -> Result<()> {
    match c.status {
        CampaignStatus::Draft | CampaignStatus::Scheduled => Ok(()),
        _ => Err(Error::Conflict(format!(
            "the recipients of {:?} are frozen already",
            c.name
        ))),
    }
}

/// Marks up to `n` queued recipients `sending` and answers them. `SKIP LOCKED`: recipients
/// another node is taking right now are left to it, not waited for.
async fn take_queued<C: GenericClient>(c: &C, campaign: u64, n: usize) -> Result<Vec<Recipient>> {
    let rows = query(
        c,
        "SELECT data FROM recipients WHERE campaign = $1 AND state = $2
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED",
        &[
            &big(campaign)?,
            &state_code(RecipientState::Queued),
            &lim(n),
        ],
        "taking queued recipients",
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in docs::<Recipient>("recipients", &rows)? {
        let mut r = r;
        r.state = RecipientState::Sending;
        write_recipient(c, &r).await?;
        out.push(r);
    }
    Ok(out)
}

/// Records a settled recipient: its row, its `sent` event, its mail record.
async fn settle<C: GenericClient>(c: &C, s: &Settled) -> Result<()> {
    let r = &s.recipient;
    write_recipient(c, r).await?;
    if r.state == RecipientState::Sent {
        insert_event(
            c,
            &SubscriberEvent {
                subscriber: r.subscriber,
                campaign: r.campaign,
                kind: EventKind::Sent,
                at: r.sent_at.unwrap_or_else(Timestamp::now),
                detail: None,
            },
        )
        .await?;
    }
    if let Some(cs) = &s.mail {
        let indexed = cs.index_message_id
            && query_opt(
                c,
                "SELECT 1 FROM message_ids WHERE message_id = $1 AND direction = $2",
                &[&cs.mail.message_id.as_str(), &cs.mail.direction.as_str()],
                "checking the Message-ID index",
            )
            .await?
            .is_some();
        if indexed {
            tracing::warn!(message_id = %cs.mail.message_id, "a campaign mail's Message-ID is recorded already; not recorded again");
        } else {
            let doc = etraq_core::archive::index_doc(&cs.mail, &cs.raw);
            crate::write::apply_batch(c, std::slice::from_ref(cs), std::slice::from_ref(&doc))
                .await?;
        }
    }
    Ok(())
}

async fn campaign_links_of<C: GenericClient>(c: &C, campaign: u64) -> Result<Vec<String>> {
    Ok(query(
        c,
        "SELECT url FROM campaign_links WHERE campaign = $1 ORDER BY n",
        &[&big(campaign)?],
        "reading the link book",
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

async fn hits_of<C: GenericClient>(
    c: &C,
    campaign: u64,
    recipient: Option<u64>,
) -> Result<Vec<Hit>> {
    let rows = match recipient {
        None => {
            query(
                c,
                "SELECT data FROM hits WHERE campaign = $1 ORDER BY n",
                &[&big(campaign)?],
                "reading hits",
            )
            .await?
        }
        Some(r) => {
            query(
                c,
                "SELECT data FROM hits WHERE campaign = $1 AND recipient = $2 ORDER BY n",
                &[&big(campaign)?, &big(r)?],
                "reading hits",
            )
            .await?
        }
    };
    docs("hits", &rows)
}

async fn engagement_of<C: GenericClient>(c: &C, subscriber: u64) -> Result<Option<Engagement>> {
    let row = query_opt(
        c,
        "SELECT millis, at FROM engagement WHERE subscriber = $1",
        &[&big(subscriber)?],
        "reading an engagement score",
    )
    .await?;
    Ok(row.and_then(|r| {
        Some(Engagement {
            millis: u64::try_from(r.get::<_, i64>(0)).ok()?,
            at: Timestamp::from_second(r.get(1)).ok()?,
        })
    }))
}

#[async_trait]
impl CampaignStore for PgStore {
    async fn create_list(&self, list: MailingList) -> Result<()> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "INSERT INTO lists(key, data) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&list.key(), &enc("lists", &list)?],
            "creating a list",
        )
        .await?;
        if n == 0 {
            return Err(Error::Conflict(format!(
                "a list named {:?} exists",
                list.name
            )));
        }
        Ok(())
    }

    async fn update_list(&self, list: MailingList) -> Result<()> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "UPDATE lists SET data = $2 WHERE key = $1",
            &[&list.key(), &enc("lists", &list)?],
            "updating a list",
        )
        .await?;
        if n == 0 {
            return Err(not_found("list", &list.name));
        }
        Ok(())
    }

    async fn get_list(&self, name: &str) -> Result<Option<MailingList>> {
        get_list(&self.client().await?, name).await
    }

    async fn list_lists(&self) -> Result<Vec<ListSummary>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT l.data,
                    COUNT(*) FILTER (WHERE m.status = 'confirmed'),
                    COUNT(*) FILTER (WHERE m.status = 'unconfirmed'),
                    COUNT(*) FILTER (WHERE m.status IS NOT NULL
                                       AND m.status NOT IN ('confirmed', 'unconfirmed'))
             FROM lists l LEFT JOIN members m ON m.list = l.key
             GROUP BY l.key, l.data ORDER BY l.key COLLATE \"C\"",
            &[],
            "reading the lists",
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ListSummary {
                    list: dec("lists", r.get::<_, &str>(0))?,
                    confirmed: unsigned(r.get(1)),
                    unconfirmed: unsigned(r.get(2)),
                    unsubscribed: unsigned(r.get(3)),
                })
            })
            .collect()
    }

    async fn delete_list(&self, name: &str) -> Result<bool> {
        let key = list_key(name);
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let rows = query(
            &tx,
            "SELECT s.id, s.data FROM members m JOIN subscribers s ON s.id = m.subscriber
             WHERE m.list = $1 FOR UPDATE OF s",
            &[&key],
            "reading a list's members",
        )
        .await?;
        for r in &rows {
            let mut s = subscriber_of(r)?;
            s.lists.remove(&key);
            write_subscriber_data(&tx, &s).await?;
        }
        execute(
            &tx,
            "DELETE FROM members WHERE list = $1",
            &[&key],
            "deleting a list's members",
        )
        .await?;
        let n = execute(
            &tx,
            "DELETE FROM lists WHERE key = $1",
            &[&key],
            "deleting a list",
        )
        .await?;
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn merge_subscribers(
        &self,
        list: &str,
        confirmed: bool,
        inputs: Vec<SubscriberInput>,
        now: Timestamp,
    ) -> Result<Vec<MergeOutcome>> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let l = get_list(&tx, list)
            .await?
            .ok_or_else(|| not_found("list", list))?;
        let join = JoinAs {
            opt_in: l.opt_in,
            confirmed,
        };
        let mut outcomes = Vec::with_capacity(inputs.len());
        for input in &inputs {
            let existing = subscriber_by_email(&tx, &input.email, true).await?;
            let is_blocked = blocked(&tx, &input.email).await?.is_some();
            let (next, outcome) = Subscriber::merge(existing, input, &l, join, is_blocked, now);
            if let Some(s) = next {
                write_subscriber(&tx, s, &l.key()).await?;
            }
            outcomes.push(outcome);
        }
        commit(tx).await?;
        Ok(outcomes)
    }

    async fn get_subscriber(&self, email: &EmailAddress) -> Result<Option<Subscriber>> {
        subscriber_by_email(&self.client().await?, email, false).await
    }

    async fn list_subscribers(&self, q: &SubscriberQuery) -> Result<Page<Subscriber>> {
        let limit = page_size(q.limit);
        let c = self.client().await?;
        let mut items = Vec::with_capacity(limit + 1);
        let mut cursor = big(q.after.unwrap_or(0))?;
        // Read in chunks so a filter that keeps few rows still stops at a page.
        loop {
            let rows = match &q.list {
                Some(l) => query(
                    &c,
                    "SELECT s.id, s.data FROM members m JOIN subscribers s ON s.id = m.subscriber
                         WHERE m.list = $1 AND m.subscriber > $2
                           AND ($3::text IS NULL OR m.status = $3)
                         ORDER BY m.subscriber LIMIT $4",
                    &[
                        &list_key(l),
                        &cursor,
                        &q.status.map(|st| st.as_str()),
                        &lim(limit + 1),
                    ],
                    "listing subscribers",
                )
                .await?,
                None => {
                    query(
                        &c,
                        "SELECT id, data FROM subscribers WHERE id > $1 ORDER BY id LIMIT $2",
                        &[&cursor, &lim(limit + 1)],
                        "listing subscribers",
                    )
                    .await?
                }
            };
            let exhausted = rows.len() <= limit;
            for r in &rows {
                cursor = r.get(0);
                let s = subscriber_of(r)?;
                if q.matches(&s) {
                    items.push(s);
                    if items.len() > limit {
                        break;
                    }
                }
            }
            if items.len() > limit || exhausted {
                break;
            }
        }
        Ok(Page::from_overfetch(items, limit, |s: &Subscriber| s.id))
    }

    async fn set_member_status(
        &self,
        email: &EmailAddress,
        list: &str,
        status: MemberStatus,
        now: Timestamp,
    ) -> Result<()> {
        let key = list_key(list);
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let mut s = subscriber_by_email(&tx, email, true)
            .await?
            .ok_or_else(|| not_found("subscriber", email.as_str()))?;
        let Some(m) = s.lists.get_mut(&key) else {
            return Err(not_found("membership", &format!("{email} on {list}")));
        };
        if m.status != status {
            m.status = status;
            m.updated_at = now;
            write_subscriber(&tx, s, &key).await?;
        }
        commit(tx).await
    }

    async fn block(&self, entry: BlockEntry) -> Result<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO blocklist(address, data) VALUES ($1, $2)
             ON CONFLICT (address) DO UPDATE SET data = excluded.data",
            &[&entry.address.key(), &enc("blocklist", &entry)?],
            "writing a blocklist entry",
        )
        .await?;
        Ok(())
    }

    async fn unblock(&self, b: &Blocked) -> Result<bool> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "DELETE FROM blocklist WHERE address = $1",
            &[&b.key()],
            "removing a blocklist entry",
        )
        .await?;
        Ok(n > 0)
    }

    async fn blocklist(&self) -> Result<Vec<BlockEntry>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM blocklist ORDER BY address COLLATE \"C\"",
            &[],
            "reading the blocklist",
        )
        .await?;
        docs("blocklist", &rows)
    }

    async fn blocked(&self, email: &EmailAddress) -> Result<Option<BlockEntry>> {
        blocked(&self.client().await?, email).await
    }

    async fn create_campaign(&self, camp: Campaign) -> Result<Campaign> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let id = query_opt(
            &tx,
            "INSERT INTO campaigns(key, data) VALUES ($1, '{}') ON CONFLICT (key) DO NOTHING
             RETURNING id",
            &[&campaign_key(&camp.name)],
            "creating a campaign",
        )
        .await?;
        let Some(id) = id else {
            return Err(Error::Conflict(format!(
                "a campaign named {:?} exists",
                camp.name
            )));
        };
        let mut camp = camp;
        camp.id = unsigned(id.get(0));
        write_campaign(&tx, &camp).await?;
        commit(tx).await?;
        Ok(camp)
    }

    async fn get_campaign(&self, name: &str) -> Result<Option<Campaign>> {
        let c = self.client().await?;
        query_opt(
            &c,
            "SELECT data FROM campaigns WHERE key = $1",
            &[&campaign_key(name)],
            "reading a campaign",
        )
        .await?
        .map(|r| dec("campaigns", r.get::<_, &str>(0)))
        .transpose()
    }

    async fn list_campaigns(&self) -> Result<Vec<Campaign>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM campaigns ORDER BY id",
            &[],
            "reading the campaigns",
        )
        .await?;
        docs("campaigns", &rows)
    }

    async fn save_campaign(&self, camp: &Campaign) -> Result<()> {
        write_campaign(&self.client().await?, camp).await
    }

    async fn freeze_recipients(
        &self,
        camp: &Campaign,
        recipients: Vec<Recipient>,
        done: bool,
    ) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        not_frozen(&campaign_by_id(&tx, camp.id, true).await?)?;
        for r in &recipients {
            let n = execute(
                &tx,
                "INSERT INTO recipients(campaign, id, state, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &big(r.campaign)?,
                    &big(r.id)?,
                    &state_code(r.state),
                    &enc("recipients", r)?,
                ],
                "freezing a recipient",
            )
            .await?;
            if n == 0 {
                return Err(Error::Conflict(format!(
                    "recipient {} of {:?} is frozen already",
                    r.id, camp.name
                )));
            }
        }
        if done {
            write_campaign(&tx, camp).await?;
        }
        commit(tx).await
    }

    async fn discard_recipients(&self, campaign: u64) -> Result<u64> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        not_frozen(&campaign_by_id(&tx, campaign, true).await?)?;
        let n = execute(
            &tx,
            "DELETE FROM recipients WHERE campaign = $1",
            &[&big(campaign)?],
            "discarding recipients",
        )
        .await?;
        commit(tx).await?;
        Ok(n)
    }

    async fn take_queued(&self, campaign: u64, n: usize) -> Result<Vec<Recipient>> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let out = take_queued(&tx, campaign, n).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn update_recipient(&self, r: &Recipient) -> Result<()> {
        write_recipient(&self.client().await?, r).await
    }

    async fn settle_and_take(
        &self,
        campaign: u64,
        settled: Option<Settled>,
    ) -> Result<Option<(Recipient, Option<Subscriber>)>> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        if let Some(s) = &settled {
            settle(&tx, s).await?;
        }
        let next = match take_queued(&tx, campaign, 1).await?.pop() {
            Some(r) => {
                let s = subscriber_by_id(&tx, r.subscriber).await?;
                Some((r, s))
            }
            None => None,
        };
        commit(tx).await?;
        Ok(next)
    }

    async fn settle(&self, settled: Settled) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        settle(&tx, &settled).await?;
        commit(tx).await
    }

    async fn campaign_links(&self, campaign: u64) -> Result<Vec<String>> {
        campaign_links_of(&self.client().await?, campaign).await
    }

    async fn add_campaign_links(
        &self,
        campaign: u64,
        urls: Vec<String>,
    ) -> Result<Vec<Option<u16>>> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        // The campaign's row lock numbers its links one writer at a time.
        campaign_by_id(&tx, campaign, true).await?;
        let id = big(campaign)?;
        let mut out = Vec::with_capacity(urls.len());
        for url in &urls {
            if let Some(r) = query_opt(
                &tx,
                "SELECT n FROM campaign_links WHERE campaign = $1 AND url = $2",
                &[&id, url],
                "reading the link book",
            )
            .await?
            {
                out.push(u16::try_from(r.get::<_, i32>(0)).ok());
                continue;
            }
            let next: i32 = query_one(
                &tx,
                "SELECT COALESCE(MAX(n) + 1, 0) FROM campaign_links WHERE campaign = $1",
                &[&id],
                "numbering a link",
            )
            .await?
            .get(0);
            if usize::try_from(next).unwrap_or(usize::MAX) >= etraq_core::campaign::MAX_LINKS {
                out.push(None);
                continue;
            }
            execute(
                &tx,
                "INSERT INTO campaign_links(campaign, n, url) VALUES ($1, $2, $3)",
                &[&id, &next, url],
                "adding a link",
            )
            .await?;
            out.push(u16::try_from(next).ok());
        }
        commit(tx).await?;
        Ok(out)
    }

    async fn record_hit(&self, hit: Hit) -> Result<HitOutcome> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let inserted = execute(
            &tx,
            "INSERT INTO hits(campaign, recipient, order_id, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (campaign, order_id) WHERE order_id IS NOT NULL DO NOTHING",
            &[
                &big(hit.campaign)?,
                &big(hit.recipient)?,
                &hit.order_id,
                &enc("hits", &hit)?,
            ],
            "recording a hit",
        )
        .await?;
        if inserted == 0 {
            return Ok(HitOutcome::DuplicateOrder);
        }
        insert_event(
            &tx,
            &SubscriberEvent {
                subscriber: hit.subscriber,
                campaign: hit.campaign,
                kind: hit.kind.event(),
                at: hit.at,
                detail: hit.detail.clone(),
            },
        )
        .await?;
        let points = etraq_core::campaign::hit_points(&hit);
        if points > 0.0 {
            // A lock per subscriber (an advisory one: the engagement row may not exist yet)
            // makes the score's read-modify-write one at a time across sessions and nodes.
            execute(
                &tx,
                "SELECT pg_advisory_xact_lock($1::int4, ($2::int8 % 2147483647)::int4)",
                &[&ENGAGEMENT_LOCK, &big(hit.subscriber)?],
                "locking a subscriber's score",
            )
            .await?;
            let before = engagement_of(&tx, hit.subscriber).await?;
            let after = Engagement::add(before, points, hit.at);
            execute(
                &tx,
                "INSERT INTO engagement(subscriber, millis, at) VALUES ($1, $2, $3)
                 ON CONFLICT (subscriber) DO UPDATE SET millis = excluded.millis, at = excluded.at",
                &[
                    &big(hit.subscriber)?,
                    &big(after.millis)?,
                    &after.at.as_second(),
                ],
                "updating an engagement score",
            )
            .await?;
        }
        commit(tx).await?;
        Ok(HitOutcome::Recorded)
    }

    async fn subscriber_engagement(&self, subscriber: u64) -> Result<Option<Engagement>> {
        engagement_of(&self.client().await?, subscriber).await
    }

    async fn campaign_hits(&self, campaign: u64) -> Result<Vec<Hit>> {
        hits_of(&self.client().await?, campaign, None).await
    }

    async fn recipient_hits(&self, campaign: u64, recipient: u64) -> Result<Vec<Hit>> {
        hits_of(&self.client().await?, campaign, Some(recipient)).await
    }

    async fn track_lookup(
        &self,
        campaign: u64,
        recipient: u64,
        click: bool,
    ) -> Result<Option<TrackLookup>> {
        let c = self.client().await?;
        let found = match campaign_by_id(&c, campaign, false).await {
            Ok(found) => found,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let r: Option<Recipient> = match recipient {
            0 => None,
            n => query_opt(
                &c,
                "SELECT data FROM recipients WHERE campaign = $1 AND id = $2",
                &[&big(campaign)?, &big(n)?],
                "reading a recipient",
            )
            .await?
            .map(|row| dec("recipients", row.get::<_, &str>(0)))
            .transpose()?,
        };
        let (links, hits) = match (click, &r) {
            (false, _) => (Vec::new(), Vec::new()),
            (true, None) => (campaign_links_of(&c, campaign).await?, Vec::new()),
            (true, Some(r)) => (
                campaign_links_of(&c, campaign).await?,
                hits_of(&c, campaign, Some(r.id)).await?,
            ),
        };
        Ok(Some(TrackLookup {
            campaign: found,
            recipient: r,
            links,
            hits,
        }))
    }

    async fn add_events(&self, events: Vec<SubscriberEvent>) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        for e in &events {
            insert_event(&tx, e).await?;
        }
        commit(tx).await
    }

    async fn subscriber_events(
        &self,
        subscriber: u64,
        limit: usize,
    ) -> Result<Vec<SubscriberEvent>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM events WHERE subscriber = $1 ORDER BY n DESC LIMIT $2",
            &[&big(subscriber)?, &lim(limit)],
            "reading events",
        )
        .await?;
        docs("events", &rows)
    }

    async fn recover_sending(&self, campaign: u64, resend: bool) -> Result<u64> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let rows = query(
            &tx,
            "SELECT data FROM recipients WHERE campaign = $1 AND state = $2 FOR UPDATE",
            &[&big(campaign)?, &state_code(RecipientState::Sending)],
            "reading sending recipients",
        )
        .await?;
        let all: Vec<Recipient> = docs("recipients", &rows)?;
        for mut r in all.iter().cloned() {
            r.state = if resend {
                RecipientState::Queued
            } else {
                RecipientState::InDoubt
            };
            write_recipient(&tx, &r).await?;
        }
        commit(tx).await?;
        Ok(all.len() as u64)
    }

    async fn list_recipients(
        &self,
        campaign: u64,
        state: Option<RecipientState>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<Recipient>> {
        let limit = page_size(limit);
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM recipients WHERE campaign = $1 AND id > $2
               AND ($3::int IS NULL OR state = $3) ORDER BY id LIMIT $4",
            &[
                &big(campaign)?,
                &big(after.unwrap_or(0))?,
                &state.map(state_code),
                &lim(limit + 1),
            ],
            "listing recipients",
        )
        .await?;
        let items: Vec<Recipient> = docs("recipients", &rows)?;
        Ok(Page::from_overfetch(items, limit, |r: &Recipient| r.id))
    }

    async fn recipient_counts(&self, campaign: u64) -> Result<RecipientCounts> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT state, COUNT(*) FROM recipients WHERE campaign = $1 GROUP BY state",
            &[&big(campaign)?],
            "counting recipients",
        )
        .await?;
        let mut counts = RecipientCounts::default();
        for r in rows {
            let code: i32 = r.get(0);
            if let Some(state) = RecipientState::ALL
                .into_iter()
                .find(|s| i32::from(s.code()) == code)
            {
                counts.add(state, unsigned(r.get(1)));
            }
        }
        Ok(counts)
    }

    async fn claim_campaign(
        &self,
        campaign: u64,
        mine: Lease,
        gone: Option<Lease>,
        now: Timestamp,
    ) -> Result<Option<Lease>> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let mut camp = campaign_by_id(&tx, campaign, true).await?;
        if let Some(other) =
            etraq_core::campaign::claim(camp.lease.as_ref(), &mine, gone.as_ref(), now)
        {
            return Ok(Some(other));
        }
        camp.lease = Some(mine);
        write_campaign(&tx, &camp).await?;
        commit(tx).await?;
        Ok(None)
    }

    async fn release_campaign(&self, campaign: u64, mine: Lease) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let mut camp = campaign_by_id(&tx, campaign, true).await?;
        if camp.lease.as_ref().is_some_and(|l| l.same_holder(&mine)) {
            camp.lease = None;
            write_campaign(&tx, &camp).await?;
        }
        commit(tx).await
    }
}
