//! # etraq-store-sled
//!
//! An etraq [`Store`] on sled 0.34.7, for deployments that want a pure-Rust embedded store.
//!
//! - Each write is one multi-tree sled transaction (records and all their secondary indexes), and
//!   the database is **flushed to disk before the write is acknowledged**: sled's background flush
//!   runs only every 500 ms, so without this an acknowledged write could vanish with the process.
//! - Conditional writes (Message-ID not yet indexed, DR at the expected version) are checked
//!   inside the transaction and abort it with [`Error::Conflict`].
//! - All sled calls run in blocking tasks, never on an async worker thread.
//! - sled holds a file lock: one process at a time. The SQLite store is the default and the one to
//!   use when the server and CLI commands run side by side.

#![warn(missing_docs)]

mod campaign;
mod copy;
mod error;
mod keys;
mod outbox;
mod read;
mod schema;
mod search;
mod support;
mod write;

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use async_trait::async_trait;
use etraq_core::campaign::{
    BlockEntry, Blocked, Campaign, CampaignStore, EventKind, Hit, HitOutcome, ListSummary,
    MailingList, MemberStatus, MergeOutcome, Recipient, RecipientCounts, RecipientState, Settled,
    Subscriber, SubscriberEvent, SubscriberInput, SubscriberQuery,
};
use etraq_core::model::{Alert, AlertMail, CycleRecord};
use etraq_core::outbox::{Delivery, OutboxStore, QueuedMail};
use etraq_core::store::{
    AlertQuery, ChangeSet, CycleWrite, DrCounts, DrQuery, DrWrite, EscalationStore, FactsQuery,
    KeyValueStore, MailQuery, Page, PendingDelivery, ResponseQuery, Store, StoreStats,
    TrackingStore, VolumeBucket, page_size,
};
use etraq_core::support::{Article, KbHit, SupportStore};
use etraq_core::tracking::ThreadFacts;
use etraq_core::{
    Direction, Dr, DrId, DrStatus, EmailAddress, Error, MailRecord, MessageId, ResponseTime,
    Result, User,
};
use jiff::Timestamp;

pub use error::SledError;
pub use schema::SCHEMA_VERSION;

use error::{Ctx, from_json, to_json};
use keys::*;
use read::*;
use schema::{Inner, T, open_blocking};
use write::*;

/// The sled store. Open it with [`SledStore::open`] and share it as `Arc<dyn Store>`.
pub struct SledStore {
    path: PathBuf,
    inner: RwLock<Option<Inner>>,
}

impl SledStore {
    /// Opens or creates the store in the directory `path`. Fails with [`Error::ForeignStore`] for
    /// a path that is not an etraq sled store, [`Error::SchemaTooNew`] for one written by a newer
    /// etraq, and a clear message when another process has it open.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let inner = tokio::task::spawn_blocking(move || open_blocking(&p))
            .await
            .map_err(|e| SledError::Internal(e.to_string()))??;
        Ok(SledStore {
            path,
            inner: RwLock::new(Some(inner)),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn inner(&self) -> Result<Inner> {
        self.inner
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or(Error::Closed)
    }

    /// Runs `f` in a blocking task.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = self.inner()?;
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| SledError::Internal(e.to_string()))?
    }

    /// Runs a write that records mail: flushes, then hands the mails' entries to the search
    /// index. An index failure is logged, not returned: the mail is recorded, and its pending
    /// entry gets it indexed when the store is next opened.
    async fn write_mail<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<(T, Vec<search::Entry>)> + Send + 'static,
    {
        self.run(move |inner| {
            let (out, entries) = f(inner)?;
            inner.db.flush().ctx("flushing to disk")?;
            if let Some(s) = &inner.search
                && let Err(e) = s.add(inner, &entries)
            {
                tracing::warn!(error = %e, "mail recorded but not yet searchable");
            }
            Ok(out)
        })
        .await
    }

    /// Runs a write in a blocking task and flushes before returning.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        self.run(move |inner| {
            let out = f(inner)?;
            inner.db.flush().ctx("flushing to disk")?;
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl TrackingStore for SledStore {
    async fn reserve_dr_numbers(&self, count: u64) -> Result<u64> {
        let count = count.max(1);
        // No flush needed: any DR using these numbers is flushed later, and sled persists writes
        // in order, so a persisted DR implies a persisted counter. Numbers reserved but unused
        // before a crash may be handed out again, which is harmless.
        self.run(move |inner| {
            let last = inner
                .tree(T::Counters)
                .update_and_fetch("dr", |old| {
                    let cur = old.and_then(trailing_number).unwrap_or(0);
                    Some(be(cur.saturating_add(count)).to_vec())
                })
                .ctx("reserving DR numbers")?
                .and_then(|v| trailing_number(&v))
                .unwrap_or(count);
            Ok(last - count + 1)
        })
        .await
    }

    async fn apply(&self, changes: ChangeSet) -> Result<u64> {
        self.write_mail(move |inner| {
            let entry = search::Entry::new(0, &changes.mail, &changes.raw);
            let seq = inner.transaction(|t| tx_apply(t, &changes))?;
            Ok((seq, vec![entry.with_seq(seq)]))
        })
        .await
    }

    async fn apply_batch(&self, batch: Vec<ChangeSet>) -> Result<Vec<u64>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write_mail(move |inner| {
            let entries: Vec<search::Entry> = batch
                .iter()
                .map(|cs| search::Entry::new(0, &cs.mail, &cs.raw))
                .collect();
            let seqs = inner.transaction(|t| {
                let mut seqs = Vec::with_capacity(batch.len());
                for cs in &batch {
                    seqs.push(tx_apply(t, cs)?);
                }
                Ok(seqs)
            })?;
            let entries = entries
                .into_iter()
                .zip(&seqs)
                .map(|(e, s)| e.with_seq(*s))
                .collect();
            Ok((seqs, entries))
        })
        .await
    }

    async fn save_dr(&self, write: DrWrite) -> Result<()> {
        self.write(move |inner| inner.transaction(|t| tx_write_dr(t, &write)))
            .await
    }

    async fn thread_facts(&self, query: &FactsQuery) -> Result<ThreadFacts> {
        let q = query.clone();
        self.run(move |inner| thread_facts(inner, &q)).await
    }

    async fn thread_facts_batch(&self, queries: &[FactsQuery]) -> Result<Vec<ThreadFacts>> {
        let qs = queries.to_vec();
        self.run(move |inner| qs.iter().map(|q| thread_facts(inner, q)).collect())
            .await
    }

    async fn get_dr(&self, id: &DrId) -> Result<Option<Dr>> {
        let id = id.clone();
        self.run(move |inner| inner.get_dr(&id)).await
    }

    async fn list_drs(&self, query: &DrQuery) -> Result<Page<Dr>> {
        let q = query.clone();
        self.run(move |inner| list_drs(inner, &q)).await
    }

    async fn get_mail(&self, seq: u64) -> Result<Option<MailRecord>> {
        self.run(move |inner| inner.get_mail(seq)).await
    }

    async fn mails_by_message_id(&self, message_id: &MessageId) -> Result<Vec<MailRecord>> {
        let id = message_id.as_str().to_string();
        self.run(move |inner| {
            let mut out = Vec::new();
            for k in inner.tree(T::MailsMid).scan_prefix(text_prefix(&id)).keys() {
                let k = k.ctx("scanning the Message-ID index")?;
                if let Some(m) = trailing_number(&k)
                    .map(|s| inner.get_mail(s))
                    .transpose()?
                    .flatten()
                {
                    out.push(m);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn list_mails(&self, query: &MailQuery) -> Result<Page<MailRecord>> {
        let q = query.clone();
        self.run(move |inner| list_mails(inner, &q)).await
    }

    async fn raw_message(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        self.run(move |inner| {
            Ok(inner
                .tree(T::Raw)
                .get(be(seq))
                .ctx("reading a raw message")?
                .map(|v| v.to_vec()))
        })
        .await
    }

    async fn search_mails(
        &self,
        query: &etraq_core::archive::SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(u64, f64)>> {
        let q = query.clone();
        self.run(move |inner| match &inner.search {
            Some(s) => s.search(inner, &q, offset, limit),
            None => Err(Error::Closed),
        })
        .await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        let user = user.clone();
        self.write(move |inner| {
            inner
                .tree(T::Users)
                .insert(user.email.as_str(), to_json("users", &user)?)
                .ctx("writing a user")?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, email: &EmailAddress) -> Result<Option<User>> {
        let e = email.clone();
        self.run(move |inner| inner.get_user(&e)).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.run(|inner| {
            let mut out = Vec::new();
            for v in inner.tree(T::Users).iter().values() {
                out.push(from_json("users", &v.ctx("listing users")?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_responses(&self, query: &ResponseQuery) -> Result<Vec<ResponseTime>> {
        let q = query.clone();
        self.run(move |inner| {
            let tree = inner.tree(T::Responses);
            let iter = match q.since {
                Some(s) => tree.range(time_key(s.as_second()).to_vec()..),
                None => tree.iter(),
            };
            let mut out = Vec::new();
            for v in iter.values() {
                let r: ResponseTime = from_json("responses", &v.ctx("listing responses")?)?;
                if q.since.is_some_and(|s| r.responded_at < s)
                    || q.user.as_ref().is_some_and(|u| *u != r.user)
                {
                    continue;
                }
                out.push(r);
            }
            Ok(out)
        })
        .await
    }

    async fn volume(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_secs: i64,
        involving: Option<&[EmailAddress]>,
    ) -> Result<Vec<VolumeBucket>> {
        let bucket = bucket_secs.max(1);
        let scope: Option<std::collections::HashSet<EmailAddress>> =
            involving.map(|u| u.iter().cloned().collect());
        self.run(move |inner| {
            let mut counts: std::collections::BTreeMap<(i64, u8, bool), (Direction, u64)> =
                std::collections::BTreeMap::new();
            if scope.as_ref().is_some_and(|s| s.is_empty()) {
                return Ok(Vec::new());
            }
            for v in inner.tree(T::Mails).iter().values() {
                let m: MailRecord = from_json("mails", &v.ctx("scanning mails")?)?;
                if m.received_at < since || m.received_at >= until {
                    continue;
                }
                if let Some(scope) = &scope
                    && !m.addresses().iter().any(|a| scope.contains(*a))
                {
                    continue;
                }
                let secs = m.received_at.as_second();
                let start = secs - secs.rem_euclid(bucket);
                let e = counts
                    .entry((
                        start,
                        keys::direction_code(m.direction),
                        m.decision.is_tracked(),
                    ))
                    .or_insert((m.direction, 0));
                e.1 += 1;
            }
            Ok(counts
                .into_iter()
                .map(|((start, _, tracked), (direction, count))| VolumeBucket {
                    start,
                    direction,
                    tracked,
                    count,
                })
                .collect())
        })
        .await
    }

    async fn dr_counts(&self, involving: Option<&[EmailAddress]>) -> Result<DrCounts> {
        let involving = involving.map(<[EmailAddress]>::to_vec);
        self.run(move |inner| {
            let Some(users) = involving else {
                let by_status = inner.tree(T::DrsStatus);
                return Ok(DrCounts {
                    open: count_prefix(by_status, &[status_code(DrStatus::Open)]),
                    replied: count_prefix(by_status, &[status_code(DrStatus::Replied)]),
                    closed: count_prefix(by_status, &[status_code(DrStatus::Closed)]),
                });
            };
            // The scope's DRs through the per-user index, each counted once.
            let mut counts = DrCounts::default();
            for n in scoped_keys(
                inner,
                Some(&users),
                T::DrsUser,
                (T::Drs, Vec::new()),
                None,
                true,
            ) {
                if let Some(dr) = inner.get_dr_by_number(n?)? {
                    match dr.status {
                        DrStatus::Open => counts.open += 1,
                        DrStatus::Replied => counts.replied += 1,
                        DrStatus::Closed => counts.closed += 1,
                    }
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn put_pending(&self, pending: &PendingDelivery) -> Result<u64> {
        let pending = pending.clone();
        self.write(move |inner| {
            let id = inner.db.generate_id().ctx("numbering a journal entry")? + 1;
            inner
                .tree(T::Pending)
                .insert(be(id), to_json("pending", &pending)?)
                .ctx("journaling a delivery")?;
            Ok(id)
        })
        .await
    }

    async fn drop_pending(&self, id: u64) -> Result<()> {
        self.write(move |inner| {
            inner
                .tree(T::Pending)
                .remove(be(id))
                .ctx("clearing a journal entry")?;
            Ok(())
        })
        .await
    }

    async fn list_pending(&self) -> Result<Vec<PendingDelivery>> {
        self.run(|inner| {
            let mut out = Vec::new();
            for entry in inner.tree(T::Pending).iter() {
                let (k, v) = entry.ctx("listing the journal")?;
                let mut p: PendingDelivery = from_json("pending", &v)?;
                p.id = trailing_number(&k).unwrap_or(0);
                out.push(p);
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl EscalationStore for SledStore {
    async fn due_drs(&self, now: Timestamp, limit: usize) -> Result<Vec<Dr>> {
        self.run(move |inner| {
            let mut upper = micros_key(now).to_vec();
            upper.extend_from_slice(&[0xff; 8]);
            let mut out = Vec::new();
            for k in inner.tree(T::DrsDue).range(..=upper).keys() {
                if out.len() >= limit {
                    break;
                }
                let k = k.ctx("scanning the due index")?;
                if let Some(dr) = trailing_number(&k)
                    .map(|n| inner.get_dr_by_number(n))
                    .transpose()?
                    .flatten()
                {
                    out.push(dr);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn apply_cycle(&self, write: CycleWrite) -> Result<CycleRecord> {
        self.write(move |inner| inner.transaction(|t| tx_apply_cycle(t, &write)))
            .await
    }

    async fn list_cycles(&self, after: Option<u64>, limit: usize) -> Result<Page<CycleRecord>> {
        let limit = page_size(limit);
        self.run(move |inner| {
            let keys = keyset(inner.tree(T::Cycles), &[], after, false);
            page_from_keys(
                keys,
                limit,
                |n| {
                    let Some(v) = inner.tree(T::Cycles).get(be(n)).ctx("reading a cycle")? else {
                        return Ok(None);
                    };
                    let mut c: CycleRecord = from_json("cycles", &v)?;
                    c.id = n;
                    Ok(Some(c))
                },
                |c| c.id,
            )
        })
        .await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<Page<Alert>> {
        let q = query.clone();
        let limit = page_size(q.limit);
        self.run(move |inner| {
            let index = match &q.user {
                Some(u) => (T::AlertsUser, text_prefix(u.as_str())),
                None => (T::Alerts, Vec::new()),
            };
            let keys = scoped_keys(
                inner,
                q.involving.as_deref(),
                T::AlertsUser,
                index,
                q.after,
                false,
            );
            page_from_keys(
                keys,
                limit,
                |id| {
                    let Some(v) = inner.tree(T::Alerts).get(be(id)).ctx("reading an alert")? else {
                        return Ok(None);
                    };
                    let mut a: Alert = from_json("alerts", &v)?;
                    a.id = id;
                    let keep = q.dr.as_ref().is_none_or(|d| *d == a.source_dr)
                        && q.user.as_ref().is_none_or(|u| *u == a.user);
                    Ok(keep.then_some(a))
                },
                |a| a.id,
            )
        })
        .await
    }

    async fn outbox(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        self.run(move |inner| {
            let mut upper = micros_key(now).to_vec();
            upper.extend_from_slice(&[0xff; 8]);
            let mut out = Vec::new();
            for k in inner.tree(T::Outbox).range(..=upper).keys() {
                if out.len() >= limit {
                    break;
                }
                let k = k.ctx("scanning the outbox")?;
                let Some(id) = trailing_number(&k) else {
                    continue;
                };
                if let Some(v) = inner.tree(T::Alerts).get(be(id)).ctx("reading an alert")? {
                    let mut a: Alert = from_json("alerts", &v)?;
                    a.id = id;
                    out.push(a);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn update_alert_mail(&self, id: u64, mail: AlertMail) -> Result<()> {
        self.write(move |inner| {
            inner.transaction(|t| {
                let Some(v) = t[T::Alerts].get(be(id))? else {
                    return abort(Error::NotFound {
                        what: "alert",
                        key: id.to_string(),
                    });
                };
                let mut old: Alert = tx_from_json("alerts", &v)?;
                old.id = id;
                let mut new = old.clone();
                new.mail = mail.clone();
                tx_put_alert(t, &new, Some(&old))
            })
        })
        .await
    }
}

#[async_trait]
impl OutboxStore for SledStore {
    async fn queue_mails(&self, mails: Vec<QueuedMail>) -> Result<Vec<u64>> {
        self.write(move |inner| inner.transaction(|t| outbox::tx_queue(t, &mails)))
            .await
    }

    async fn due_mail(&self, now: Timestamp, limit: usize) -> Result<Vec<QueuedMail>> {
        self.run(move |inner| outbox::due(inner, now, limit)).await
    }

    async fn set_delivery(&self, id: u64, delivery: Delivery) -> Result<()> {
        self.write(move |inner| inner.transaction(|t| outbox::tx_set_delivery(t, id, &delivery)))
            .await
    }

    async fn queued_mail(&self, kind: &str, limit: usize) -> Result<Vec<QueuedMail>> {
        let kind = kind.to_string();
        self.run(move |inner| outbox::by_kind(inner, &kind, limit))
            .await
    }
}

#[async_trait]
impl SupportStore for SledStore {
    async fn kb_put(&self, article: Article) -> Result<Article> {
        self.write(move |inner| {
            let a = inner.transaction(|t| support::tx_put(t, &article))?;
            inner.kb.refresh(inner, a.id);
            Ok(a)
        })
        .await
    }

    async fn kb_get(&self, id: u64) -> Result<Option<Article>> {
        self.run(move |inner| support::get(inner, id)).await
    }

    async fn kb_list(&self) -> Result<Vec<Article>> {
        self.run(support::list).await
    }

    async fn kb_history(&self, id: u64) -> Result<Vec<Article>> {
        self.run(move |inner| support::history(inner, id)).await
    }

    async fn kb_delete(&self, id: u64) -> Result<()> {
        self.write(move |inner| {
            let versions: Vec<u32> = support::history(inner, id)?
                .iter()
                .map(|a| a.version)
                .collect();
            inner.transaction(|t| support::tx_delete(t, id, &versions))?;
            inner.kb.refresh(inner, id);
            Ok(())
        })
        .await
    }

    async fn kb_search(
        &self,
        terms: &[String],
        public_only: bool,
        limit: usize,
    ) -> Result<Vec<KbHit>> {
        let terms = terms.to_vec();
        self.run(move |inner| inner.kb.search(inner, &terms, public_only, limit))
            .await
    }
}

#[async_trait]
impl CampaignStore for SledStore {
    async fn create_list(&self, list: MailingList) -> Result<()> {
        self.write(move |inner| inner.transaction(|t| campaign::tx_create_list(t, &list)))
            .await
    }

    async fn update_list(&self, list: MailingList) -> Result<()> {
        self.write(move |inner| inner.transaction(|t| campaign::tx_update_list(t, &list)))
            .await
    }

    async fn get_list(&self, name: &str) -> Result<Option<MailingList>> {
        let name = name.to_string();
        self.run(move |inner| campaign::get_list(inner, &name))
            .await
    }

    async fn list_lists(&self) -> Result<Vec<ListSummary>> {
        self.run(campaign::list_lists).await
    }

    async fn delete_list(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |inner| {
            // sled transactions cannot scan, so the members are read first. A member added
            // between the scan and the transaction would keep its row; lists are deleted by an
            // admin, not by the gateway, so the window is accepted.
            let ids = campaign::member_ids(inner, &name)?;
            inner.transaction(|t| campaign::tx_delete_list(t, &name, &ids))
        })
        .await
    }

    async fn merge_subscribers(
        &self,
        list: &str,
        confirmed: bool,
        inputs: Vec<SubscriberInput>,
        now: Timestamp,
    ) -> Result<Vec<MergeOutcome>> {
        let list = list.to_string();
        self.write(move |inner| {
            inner.transaction(|t| campaign::tx_merge(t, &list, confirmed, &inputs, now))
        })
        .await
    }

    async fn get_subscriber(&self, email: &EmailAddress) -> Result<Option<Subscriber>> {
        let email = email.clone();
        self.run(move |inner| campaign::get_subscriber(inner, &email))
            .await
    }

    async fn list_subscribers(&self, query: &SubscriberQuery) -> Result<Page<Subscriber>> {
        let q = query.clone();
        self.run(move |inner| campaign::list_subscribers(inner, &q))
            .await
    }

    async fn set_member_status(
        &self,
        email: &EmailAddress,
        list: &str,
        status: MemberStatus,
        now: Timestamp,
    ) -> Result<()> {
        let (email, list) = (email.clone(), list.to_string());
        self.write(move |inner| {
            inner.transaction(|t| campaign::tx_set_status(t, &email, &list, status, now))
        })
        .await
    }

    async fn block(&self, entry: BlockEntry) -> Result<()> {
        self.write(move |inner| {
            let data = to_json("blocklist", &entry)?;
            inner
                .tree(T::Blocklist)
                .insert(entry.address.key().as_bytes(), data)
                .ctx("writing a blocklist entry")
                .map(|_| ())
        })
        .await
    }

    async fn unblock(&self, blocked: &Blocked) -> Result<bool> {
        let key = blocked.key();
        self.write(move |inner| {
            inner
                .tree(T::Blocklist)
                .remove(key.as_bytes())
                .ctx("removing a blocklist entry")
                .map(|old| old.is_some())
        })
        .await
    }

    async fn blocklist(&self) -> Result<Vec<BlockEntry>> {
        self.run(campaign::blocklist).await
    }

    async fn blocked(&self, email: &EmailAddress) -> Result<Option<BlockEntry>> {
        let email = email.clone();
        self.run(move |inner| campaign::blocked(inner, &email))
            .await
    }

    async fn create_campaign(&self, c: Campaign) -> Result<Campaign> {
        self.write(move |inner| inner.transaction(|t| campaign::tx_create_campaign(t, &c)))
            .await
    }

    async fn get_campaign(&self, name: &str) -> Result<Option<Campaign>> {
        let name = name.to_string();
        self.run(move |inner| campaign::get_campaign(inner, &name))
            .await
    }

    async fn list_campaigns(&self) -> Result<Vec<Campaign>> {
        self.run(campaign::list_campaigns).await
    }

    async fn save_campaign(&self, c: &Campaign) -> Result<()> {
        let c = c.clone();
        self.write(move |inner| inner.transaction(|t| campaign::tx_save_campaign(t, &c)))
            .await
    }

    async fn freeze_recipients(
        &self,
        c: &Campaign,
        recipients: Vec<Recipient>,
        done: bool,
    ) -> Result<()> {
        let c = c.clone();
        self.write(move |inner| {
            inner.transaction(|t| {
                campaign::tx_not_frozen(t, c.id)?;
                for r in &recipients {
                    if campaign::tx_recipient(t, r.campaign, r.id)?.is_some() {
                        return write::abort(Error::Conflict(format!(
                            "recipient {} of {:?} is frozen already",
                            r.id, c.name
                        )));
                    }
                    campaign::tx_write_recipient(t, r, None)?;
                }
                if done {
                    campaign::tx_save_campaign(t, &c)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn discard_recipients(&self, id: u64) -> Result<u64> {
        self.write(move |inner| {
            let keys = campaign::recipient_keys(inner, id)?;
            inner.transaction(|t| {
                campaign::tx_not_frozen(t, id)?;
                let mut n = 0;
                for (rk, sk) in &keys {
                    if t[schema::T::Recipients].remove(rk.as_slice())?.is_some() {
                        n += 1;
                    }
                    t[schema::T::RecipientsState].remove(sk.as_slice())?;
                }
                Ok(n)
            })
        })
        .await
    }

    async fn take_queued(&self, id: u64, n: usize) -> Result<Vec<Recipient>> {
        self.write(move |inner| {
            let ids = campaign::ids_in_state(inner, id, RecipientState::Queued, n)?;
            inner.transaction(|t| {
                let mut out = Vec::with_capacity(ids.len());
                for rid in &ids {
                    let Some(mut r) = campaign::tx_recipient(t, id, *rid)? else {
                        continue;
                    };
                    if r.state != RecipientState::Queued {
                        continue;
                    }
                    r.state = RecipientState::Sending;
                    campaign::tx_write_recipient(t, &r, Some(RecipientState::Queued))?;
                    out.push(r);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn settle_and_take(
        &self,
        id: u64,
        settled: Option<Settled>,
    ) -> Result<Option<(Recipient, Option<Subscriber>)>> {
        self.write_mail(move |inner| {
            let mut entries = Vec::new();
            if let Some(s) = &settled
                && let Some(seq) = inner.transaction(|t| tx_settle(t, s))?
                && let Some(cs) = &s.mail
            {
                entries.push(search::Entry::new(seq, &cs.mail, &cs.raw));
            }
            // The next queued one. Another worker may take a candidate between the scan and
            // the transaction, so scan again until one is ours or none is left.
            loop {
                let ids = campaign::ids_in_state(inner, id, RecipientState::Queued, 8)?;
                if ids.is_empty() {
                    return Ok((None, entries));
                }
                for rid in ids {
                    let taken = inner.transaction(|t| {
                        let Some(mut r) = campaign::tx_recipient(t, id, rid)? else {
                            return Ok(None);
                        };
                        if r.state != RecipientState::Queued {
                            return Ok(None);
                        }
                        r.state = RecipientState::Sending;
                        campaign::tx_write_recipient(t, &r, Some(RecipientState::Queued))?;
                        let s = match t[schema::T::Subscribers].get(keys::be(r.subscriber))? {
                            Some(v) => {
                                let mut s: Subscriber = write::tx_from_json("subscribers", &v)?;
                                s.id = r.subscriber;
                                Some(s)
                            }
                            None => None,
                        };
                        Ok(Some((r, s)))
                    })?;
                    if taken.is_some() {
                        return Ok((taken, entries));
                    }
                }
            }
        })
        .await
    }

    async fn settle(&self, settled: Settled) -> Result<()> {
        self.write_mail(move |inner| {
            let seq = inner.transaction(|t| tx_settle(t, &settled))?;
            let entries = match (seq, &settled.mail) {
                (Some(seq), Some(cs)) => vec![search::Entry::new(seq, &cs.mail, &cs.raw)],
                _ => Vec::new(),
            };
            Ok(((), entries))
        })
        .await
    }

    async fn campaign_links(&self, id: u64) -> Result<Vec<String>> {
        self.run(move |inner| campaign::links(inner, id)).await
    }

    async fn add_campaign_links(&self, id: u64, urls: Vec<String>) -> Result<Vec<Option<u16>>> {
        self.write(move |inner| {
            let next = campaign::link_count(inner, id)?;
            inner.transaction(|t| campaign::tx_add_links(t, id, &urls, next))
        })
        .await
    }

    async fn record_hit(&self, hit: Hit) -> Result<HitOutcome> {
        self.write(move |inner| inner.transaction(|t| campaign::tx_record_hit(t, &hit)))
            .await
    }

    async fn subscriber_engagement(
        &self,
        subscriber: u64,
    ) -> Result<Option<etraq_core::campaign::Engagement>> {
        self.run(move |inner| campaign::engagement(inner, subscriber))
            .await
    }

    async fn campaign_hits(&self, id: u64) -> Result<Vec<Hit>> {
        self.run(move |inner| campaign::hits(inner, id, None)).await
    }

    async fn recipient_hits(&self, id: u64, recipient: u64) -> Result<Vec<Hit>> {
        self.run(move |inner| campaign::hits(inner, id, Some(recipient)))
            .await
    }

    async fn add_events(&self, events: Vec<SubscriberEvent>) -> Result<()> {
        self.write(move |inner| {
            inner.transaction(|t| {
                for e in &events {
                    campaign::tx_add_event(t, e)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn subscriber_events(
        &self,
        subscriber: u64,
        limit: usize,
    ) -> Result<Vec<SubscriberEvent>> {
        self.run(move |inner| campaign::subscriber_events(inner, subscriber, limit))
            .await
    }

    async fn update_recipient(&self, r: &Recipient) -> Result<()> {
        let r = r.clone();
        self.write(move |inner| {
            inner.transaction(|t| {
                let Some(old) = campaign::tx_recipient(t, r.campaign, r.id)? else {
                    return write::abort(Error::NotFound {
                        what: "recipient",
                        key: format!("{} of campaign {}", r.id, r.campaign),
                    });
                };
                campaign::tx_write_recipient(t, &r, Some(old.state))
            })
        })
        .await
    }

    async fn recover_sending(&self, id: u64, resend: bool) -> Result<u64> {
        self.write(move |inner| {
            let ids = campaign::ids_in_state(inner, id, RecipientState::Sending, usize::MAX)?;
            inner.transaction(|t| {
                let mut n = 0;
                for rid in &ids {
                    let Some(mut r) = campaign::tx_recipient(t, id, *rid)? else {
                        continue;
                    };
                    if r.state != RecipientState::Sending {
                        continue;
                    }
                    r.state = if resend {
                        RecipientState::Queued
                    } else {
                        RecipientState::InDoubt
                    };
                    campaign::tx_write_recipient(t, &r, Some(RecipientState::Sending))?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .await
    }

    async fn list_recipients(
        &self,
        id: u64,
        state: Option<RecipientState>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<Recipient>> {
        self.run(move |inner| campaign::list_recipients(inner, id, state, after, limit))
            .await
    }

    async fn recipient_counts(&self, id: u64) -> Result<RecipientCounts> {
        self.run(move |inner| campaign::recipient_counts(inner, id))
            .await
    }

    async fn claim_campaign(
        &self,
        id: u64,
        mine: etraq_core::campaign::Lease,
        gone: Option<etraq_core::campaign::Lease>,
        now: Timestamp,
    ) -> Result<Option<etraq_core::campaign::Lease>> {
        self.write(move |inner| {
            inner.transaction(|t| {
                let Some(v) = t[T::Campaigns].get(keys::be(id))? else {
                    return write::abort(Error::NotFound {
                        what: "campaign",
                        key: id.to_string(),
                    });
                };
                let mut c: Campaign = write::tx_from_json("campaigns", &v)?;
                if let Some(other) =
                    etraq_core::campaign::claim(c.lease.as_ref(), &mine, gone.as_ref(), now)
                {
                    return Ok(Some(other));
                }
                c.lease = Some(mine.clone());
                t[T::Campaigns].insert(&keys::be(id), write::tx_json("campaigns", &c)?)?;
                Ok(None)
            })
        })
        .await
    }

    async fn release_campaign(&self, id: u64, mine: etraq_core::campaign::Lease) -> Result<()> {
        self.write(move |inner| {
            inner.transaction(|t| {
                let Some(v) = t[T::Campaigns].get(keys::be(id))? else {
                    return Ok(());
                };
                let mut c: Campaign = write::tx_from_json("campaigns", &v)?;
                if c.lease.as_ref().is_some_and(|l| l.same_holder(&mine)) {
                    c.lease = None;
                    t[T::Campaigns].insert(&keys::be(id), write::tx_json("campaigns", &c)?)?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[async_trait]
impl KeyValueStore for SledStore {
    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.run(move |inner| {
            inner
                .tree(T::Kv)
                .get(key.as_bytes())
                .ctx("reading a key-value entry")?
                .map(|v| String::from_utf8(v.to_vec()).map_err(|_| SledError::BadKey("kv").into()))
                .transpose()
        })
        .await
    }

    async fn kv_put(&self, key: &str, value: Option<&str>) -> Result<()> {
        let key = key.to_string();
        let value = value.map(String::from);
        self.write(move |inner| {
            let tree = inner.tree(T::Kv);
            match value {
                Some(v) => tree.insert(key.as_bytes(), v.as_bytes()).map(|_| ()),
                None => tree.remove(key.as_bytes()).map(|_| ()),
            }
            .ctx("writing a key-value entry")
        })
        .await
    }

    async fn kv_scan(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let prefix = prefix.to_string();
        self.run(move |inner| {
            let mut out = Vec::new();
            for r in inner.tree(T::Kv).scan_prefix(prefix.as_bytes()) {
                let (k, v) = r.ctx("scanning key-value entries")?;
                let k = String::from_utf8(k.to_vec()).map_err(|_| SledError::BadKey("kv"))?;
                let v = String::from_utf8(v.to_vec()).map_err(|_| SledError::BadKey("kv"))?;
                out.push((k, v));
            }
            Ok(out)
        })
        .await
    }
}

/// One node: its process always leads (the defaults).
impl etraq_core::store::LeaseStore for SledStore {}

#[async_trait]
impl etraq_core::copy::CopyStore for SledStore {
    async fn export(
        &self,
        table: etraq_core::copy::Table,
        after: Option<etraq_core::copy::Key>,
        limit: usize,
    ) -> Result<Vec<etraq_core::copy::Row>> {
        self.run(move |inner| copy::export(inner, table, after, limit))
            .await
    }

    async fn import(
        &self,
        table: etraq_core::copy::Table,
        rows: Vec<etraq_core::copy::Row>,
    ) -> Result<()> {
        self.write_mail(move |inner| Ok(((), copy::import(inner, table, &rows)?)))
            .await
    }

    async fn finish_import(&self) -> Result<()> {
        self.write(|inner| {
            copy::finish(inner)?;
            if let Some(s) = &inner.search {
                s.sync_pending(inner)?;
                s.commit(inner)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Store for SledStore {
    fn backend(&self) -> &'static str {
        "sled"
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.run(|inner| {
            let tracked = inner.tree(T::MailsTracked);
            let by_status = inner.tree(T::DrsStatus);
            Ok(StoreStats {
                tracked: count_prefix(tracked, &[1]),
                untracked: count_prefix(tracked, &[0]),
                open: count_prefix(by_status, &[status_code(DrStatus::Open)]),
                replied: count_prefix(by_status, &[status_code(DrStatus::Replied)]),
                closed: count_prefix(by_status, &[status_code(DrStatus::Closed)]),
                users: inner.tree(T::Users).len() as u64,
                warned: counter(inner, "warned")?,
                escalated: counter(inner, "escalated")?,
                outbox: inner.tree(T::Outbox).len() as u64,
            })
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        let inner = self.inner.write().ok().and_then(|mut g| g.take());
        if let Some(inner) = inner {
            let lock_file = self.path.join("db");
            tokio::task::spawn_blocking(move || {
                if let Some(s) = &inner.search {
                    s.close(&inner)?;
                }
                inner.db.flush().ctx("flushing at close")?;
                drop(inner);
                // sled's background threads let go of the database (and its file lock) a moment
                // after the last handle; wait for that, so a closed store can be reopened at once.
                for _ in 0..200 {
                    match std::fs::File::open(&lock_file).map(|f| f.try_lock()) {
                        Ok(Ok(())) | Err(_) => break,
                        Ok(Err(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
                    }
                }
                Ok::<(), Error>(())
            })
            .await
            .map_err(|e| SledError::Internal(e.to_string()))??;
        }
        Ok(())
    }
}

/// Records a settled recipient in a transaction: its row, its `sent` event, its mail record
/// (whose seq it returns).
fn tx_settle(t: &schema::Tx<'_>, s: &Settled) -> schema::TxResult<Option<u64>> {
    let r = &s.recipient;
    let Some(old) = campaign::tx_recipient(t, r.campaign, r.id)? else {
        return write::abort(Error::NotFound {
            what: "recipient",
            key: format!("{} of campaign {}", r.id, r.campaign),
        });
    };
    campaign::tx_write_recipient(t, r, Some(old.state))?;
    if r.state == RecipientState::Sent {
        campaign::tx_add_event(
            t,
            &SubscriberEvent {
                subscriber: r.subscriber,
                campaign: r.campaign,
                kind: EventKind::Sent,
                at: r.sent_at.unwrap_or_else(Timestamp::now),
                detail: None,
            },
        )?;
    }
    if let Some(cs) = &s.mail
        && !write::tx_message_id_known(t, cs)?
    {
        return Ok(Some(write::tx_apply(t, cs)?));
    }
    Ok(None)
}
