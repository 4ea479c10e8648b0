//! # etraq-store-sqlite
//!
//! The default etraq [`Store`]: one SQLite file in WAL mode with `synchronous=FULL`, so a write is
//! on disk when it is acknowledged, even across a power loss.
//!
//! - **Writes** go to one writer thread that groups whatever is queued into one transaction (group
//!   commit); each change set gets its own savepoint, so one
//!   conflicting write does not fail its neighbours.
//! - **Reads** run on a small pool of read-only connections in blocking tasks, never on an async
//!   worker thread.
//! - **Schema** versions live in `PRAGMA user_version`; opening a store written by a newer etraq,
//!   or a file that is not an etraq store, fails with a message naming the path.
//!
//! Several processes may open one store (the server and the CLI): SQLite's locks serialise their
//! writes, and every conditional check runs inside the write transaction.

#![warn(missing_docs)]

mod campaign;
mod copy;
mod error;
mod group;
mod outbox;
mod read;
mod schema;
mod search;
mod support;
pub mod vfs;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use etraq_core::campaign::{
    BlockEntry, Blocked, Campaign, CampaignStore, Hit, HitOutcome, ListSummary, MailingList,
    MemberStatus, MergeOutcome, Recipient, RecipientCounts, RecipientState, Settled, Subscriber,
    SubscriberEvent, SubscriberInput, SubscriberQuery,
};
use etraq_core::model::{Alert, AlertMail, CycleRecord};
use etraq_core::outbox::{Delivery, OutboxStore, QueuedMail};
use etraq_core::store::{
    AlertQuery, ChangeSet, CycleWrite, DrCounts, DrQuery, DrWrite, EscalationStore, FactsQuery,
    KeyValueStore, MailQuery, Page, PendingDelivery, ResponseQuery, Store, StoreStats,
    TrackingStore, VolumeBucket,
};
use etraq_core::support::{Article, KbHit, SupportStore};
use etraq_core::tracking::ThreadFacts;
use etraq_core::{
    Dr, DrId, EmailAddress, Error, MailRecord, MessageId, ResponseTime, Result, User,
};
use jiff::Timestamp;

pub use error::SqliteError;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

/// Opens a connection configured exactly like the store's writer (WAL, `synchronous=FULL`,
/// schema checked and migrated). For inspection tools and tests; the store itself is
/// [`SqliteStore`].
pub fn open_connection(path: impl AsRef<Path>) -> Result<rusqlite::Connection> {
    schema::open_writer(path.as_ref(), DEFAULT_CACHE_MIB)
}

use writer::{Job, WriteOp, WriteOut};

/// The writer's page cache unless configured (`store.cache_mb`): 4 MiB (pages beyond it come
/// from the mapped database file; see `schema::configure`).
pub const DEFAULT_CACHE_MIB: u32 = 4;

/// The SQLite store. Open it with [`SqliteStore::open`] and share it as `Arc<dyn Store>`.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<read::Readers>,
}

impl SqliteStore {
    /// Opens or creates the store at `path` (its parent directories are created). Fails with
    /// [`Error::ForeignStore`] for a file that is not an etraq store and
    /// [`Error::SchemaTooNew`] for one written by a newer etraq.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_cache(path, DEFAULT_CACHE_MIB).await
    }

    /// Opens the store with a writer page cache of `cache_mib` MiB (`store.cache_mb`). The
    /// cache fills up to its size as the archive grows, so it is most of the process's memory
    /// beyond the baseline; a larger one helps only when the hot parts of the indexes (recent
    /// Message-IDs, the DRs being worked on) outgrow it.
    pub async fn open_with_cache(path: impl AsRef<Path>, cache_mib: u32) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let (conn, ckpt_conn) = tokio::task::spawn_blocking(move || {
            let w = schema::open_writer(&p, cache_mib)?;
            let c = schema::open_checkpointer(&p)?;
            Ok::<_, Error>((w, c))
        })
        .await
        .map_err(|e| SqliteError::Internal(e.to_string()))??;
        let spawn_err = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let (nudge_tx, nudge_rx) = mpsc::sync_channel(1);
        let truncate = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let truncate_wanted = truncate.clone();
        let checkpointer = std::thread::Builder::new()
            .name("etraq-sqlite-ckpt".into())
            .spawn(move || writer::checkpointer(ckpt_conn, nudge_rx, truncate_wanted))
            .map_err(spawn_err)?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("etraq-sqlite-writer".into())
            .spawn(move || {
                writer::run(conn, rx, nudge_tx, truncate);
                // The checkpointer ends when the writer drops its sender; the writer's final
                // TRUNCATE checkpoint then runs without it.
                let _ = checkpointer.join();
            })
            .map_err(spawn_err)?;
        Ok(SqliteStore {
            readers: Arc::new(read::Readers::new(path.clone())),
            path,
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>> {
        self.writer
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .ok_or(Error::Closed)
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOut> {
        writer::submit(&self.sender()?, op).await
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        self.check_open()?;
        self.readers.run(f).await
    }

    /// `Closed` once the store is closed (its writer gone): reads stop with writes.
    fn check_open(&self) -> Result<()> {
        if self.writer.lock().map(|g| g.is_none()).unwrap_or(true) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

fn unexpected() -> Error {
    Error::Invalid("internal: unexpected writer reply".into())
}

#[async_trait]
impl TrackingStore for SqliteStore {
    async fn reserve_dr_numbers(&self, count: u64) -> Result<u64> {
        match self.write(WriteOp::Reserve(count)).await? {
            WriteOut::First(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn search_mails(
        &self,
        query: &etraq_core::archive::SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(u64, f64)>> {
        let q = query.clone();
        self.read(move |c| search::search(c, &q, offset, limit))
            .await
    }

    async fn apply(&self, changes: ChangeSet) -> Result<u64> {
        let doc = etraq_core::archive::index_doc(&changes.mail, &changes.raw);
        match self.write(WriteOp::Apply(vec![changes], vec![doc])).await? {
            WriteOut::Seqs(v) => v.first().copied().ok_or_else(unexpected),
            _ => Err(unexpected()),
        }
    }

    async fn apply_batch(&self, batch: Vec<ChangeSet>) -> Result<Vec<u64>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let docs = batch
            .iter()
            .map(|cs| etraq_core::archive::index_doc(&cs.mail, &cs.raw))
            .collect();
        match self.write(WriteOp::Apply(batch, docs)).await? {
            WriteOut::Seqs(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    async fn save_dr(&self, write: DrWrite) -> Result<()> {
        self.write(WriteOp::SaveDr(Box::new(write)))
            .await
            .map(|_| ())
    }

    async fn thread_facts(&self, query: &FactsQuery) -> Result<ThreadFacts> {
        let q = query.clone();
        self.read(move |c| read::thread_facts(c, &q)).await
    }

    async fn thread_facts_batch(&self, queries: &[FactsQuery]) -> Result<Vec<ThreadFacts>> {
        let qs = queries.to_vec();
        if qs.len() == 1 {
            // One mail (the gateway): a few index probes, run without a thread hop.
            self.check_open()?;
            return self
                .readers
                .run_small(move |c| read::thread_facts_batch(c, &qs))
                .await;
        }
        self.read(move |c| read::thread_facts_batch(c, &qs)).await
    }

    async fn get_dr(&self, id: &DrId) -> Result<Option<Dr>> {
        let id = id.clone();
        self.read(move |c| read::get_dr(c, &id)).await
    }

    async fn list_drs(&self, query: &DrQuery) -> Result<Page<Dr>> {
        let q = query.clone();
        self.read(move |c| read::list_drs(c, &q)).await
    }

    async fn get_mail(&self, seq: u64) -> Result<Option<MailRecord>> {
        self.read(move |c| read::get_mail(c, seq)).await
    }

    async fn mails_by_message_id(&self, message_id: &MessageId) -> Result<Vec<MailRecord>> {
        let id = message_id.as_str().to_string();
        self.read(move |c| read::mails_by_message_id(c, &id)).await
    }

    async fn list_mails(&self, query: &MailQuery) -> Result<Page<MailRecord>> {
        let q = query.clone();
        self.read(move |c| read::list_mails(c, &q)).await
    }

    async fn raw_message(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        self.read(move |c| read::raw_message(c, seq)).await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        self.write(WriteOp::PutUser(Box::new(user.clone())))
            .await
            .map(|_| ())
    }

    async fn get_user(&self, email: &EmailAddress) -> Result<Option<User>> {
        let e = email.clone();
        self.read(move |c| read::get_user(c, &e)).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(read::list_users).await
    }

    async fn list_responses(&self, query: &ResponseQuery) -> Result<Vec<ResponseTime>> {
        let q = query.clone();
        self.read(move |c| read::list_responses(c, &q)).await
    }

    async fn volume(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_secs: i64,
        involving: Option<&[EmailAddress]>,
    ) -> Result<Vec<VolumeBucket>> {
        let involving = involving.map(<[EmailAddress]>::to_vec);
        self.read(move |c| read::volume(c, since, until, bucket_secs, involving.as_deref()))
            .await
    }

    async fn dr_counts(&self, involving: Option<&[EmailAddress]>) -> Result<DrCounts> {
        let involving = involving.map(<[EmailAddress]>::to_vec);
        self.read(move |c| read::dr_counts(c, involving.as_deref()))
            .await
    }

    async fn put_pending(&self, pending: &PendingDelivery) -> Result<u64> {
        match self
            .write(WriteOp::PutPending(Box::new(pending.clone())))
            .await?
        {
            WriteOut::First(id) => Ok(id),
            _ => Err(unexpected()),
        }
    }

    async fn drop_pending(&self, id: u64) -> Result<()> {
        self.write(WriteOp::DropPending(id)).await.map(|_| ())
    }

    async fn list_pending(&self) -> Result<Vec<PendingDelivery>> {
        self.read(read::list_pending).await
    }
}

#[async_trait]
impl EscalationStore for SqliteStore {
    async fn due_drs(&self, now: Timestamp, limit: usize) -> Result<Vec<Dr>> {
        self.read(move |c| read::due_drs(c, now, limit)).await
    }

    async fn apply_cycle(&self, write: CycleWrite) -> Result<CycleRecord> {
        match self.write(WriteOp::ApplyCycle(Box::new(write))).await? {
            WriteOut::Cycle(r) => Ok(*r),
            _ => Err(unexpected()),
        }
    }

    async fn list_cycles(&self, after: Option<u64>, limit: usize) -> Result<Page<CycleRecord>> {
        self.read(move |c| read::list_cycles(c, after, limit)).await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<Page<Alert>> {
        let q = query.clone();
        self.read(move |c| read::list_alerts(c, &q)).await
    }

    async fn outbox(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        self.read(move |c| read::outbox(c, now, limit)).await
    }

    async fn update_alert_mail(&self, id: u64, mail: AlertMail) -> Result<()> {
        self.write(WriteOp::UpdateAlertMail(id, Box::new(mail)))
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl KeyValueStore for SqliteStore {
    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(move |c| read::kv_get(c, &key)).await
    }

    async fn kv_put(&self, key: &str, value: Option<&str>) -> Result<()> {
        match self
            .write(WriteOp::KvPut(key.to_string(), value.map(String::from)))
            .await?
        {
            WriteOut::Unit => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn kv_scan(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let prefix = prefix.to_string();
        self.read(move |c| read::kv_scan(c, &prefix)).await
    }
}

impl SqliteStore {
    async fn campaign(&self, op: campaign::Op) -> Result<campaign::Out> {
        match self.write(WriteOp::Campaign(Box::new(op))).await? {
            WriteOut::Campaign(out) => Ok(out),
            _ => Err(unexpected()),
        }
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn queue_mails(&self, mails: Vec<QueuedMail>) -> Result<Vec<u64>> {
        match self
            .write(WriteOp::Outbox(Box::new(outbox::Op::Queue(mails))))
            .await?
        {
            WriteOut::Seqs(ids) => Ok(ids),
            _ => Err(unexpected()),
        }
    }

    async fn due_mail(&self, now: Timestamp, limit: usize) -> Result<Vec<QueuedMail>> {
        self.read(move |c| outbox::due_mail(c, now, limit)).await
    }

    async fn set_delivery(&self, id: u64, delivery: Delivery) -> Result<()> {
        self.write(WriteOp::Outbox(Box::new(outbox::Op::SetDelivery(
            id, delivery,
        ))))
        .await
        .map(|_| ())
    }

    async fn queued_mail(&self, kind: &str, limit: usize) -> Result<Vec<QueuedMail>> {
        let kind = kind.to_string();
        self.read(move |c| outbox::by_kind(c, &kind, limit)).await
    }
}

#[async_trait]
impl SupportStore for SqliteStore {
    async fn kb_put(&self, article: Article) -> Result<Article> {
        match self
            .write(WriteOp::Support(Box::new(support::Op::Put(Box::new(
                article,
            )))))
            .await?
        {
            WriteOut::Article(Some(a)) => Ok(*a),
            _ => Err(unexpected()),
        }
    }

    async fn kb_get(&self, id: u64) -> Result<Option<Article>> {
        self.read(move |c| support::get(c, id)).await
    }

    async fn kb_list(&self) -> Result<Vec<Article>> {
        self.read(support::list).await
    }

    async fn kb_history(&self, id: u64) -> Result<Vec<Article>> {
        self.read(move |c| support::history(c, id)).await
    }

    async fn kb_delete(&self, id: u64) -> Result<()> {
        self.write(WriteOp::Support(Box::new(support::Op::Delete(id))))
            .await
            .map(|_| ())
    }

    async fn kb_search(
        &self,
        terms: &[String],
        public_only: bool,
        limit: usize,
    ) -> Result<Vec<KbHit>> {
        let terms = terms.to_vec();
        self.read(move |c| support::search(c, &terms, public_only, limit))
            .await
    }
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn create_list(&self, list: MailingList) -> Result<()> {
        self.campaign(campaign::Op::CreateList(list))
            .await
            .map(|_| ())
    }

    async fn update_list(&self, list: MailingList) -> Result<()> {
        self.campaign(campaign::Op::UpdateList(list))
            .await
            .map(|_| ())
    }

    async fn get_list(&self, name: &str) -> Result<Option<MailingList>> {
        let name = name.to_string();
        self.read(move |c| campaign::get_list(c, &name)).await
    }

    async fn list_lists(&self) -> Result<Vec<ListSummary>> {
        self.read(campaign::list_lists).await
    }

    async fn delete_list(&self, name: &str) -> Result<bool> {
        match self
            .campaign(campaign::Op::DeleteList(name.to_string()))
            .await?
        {
            campaign::Out::Flag(f) => Ok(f),
            _ => Err(unexpected()),
        }
    }

    async fn merge_subscribers(
        &self,
        list: &str,
        confirmed: bool,
        inputs: Vec<SubscriberInput>,
        now: Timestamp,
    ) -> Result<Vec<MergeOutcome>> {
        let op = campaign::Op::Merge {
            list: list.to_string(),
            confirmed,
            inputs,
            now,
        };
        match self.campaign(op).await? {
            campaign::Out::Outcomes(o) => Ok(o),
            _ => Err(unexpected()),
        }
    }

    async fn get_subscriber(&self, email: &EmailAddress) -> Result<Option<Subscriber>> {
        let email = email.clone();
        self.read(move |c| campaign::subscriber_by_email(c, &email))
            .await
    }

    async fn list_subscribers(&self, query: &SubscriberQuery) -> Result<Page<Subscriber>> {
        let q = query.clone();
        self.read(move |c| campaign::list_subscribers(c, &q)).await
    }

    async fn set_member_status(
        &self,
        email: &EmailAddress,
        list: &str,
        status: MemberStatus,
        now: Timestamp,
    ) -> Result<()> {
        let op = campaign::Op::SetStatus {
            email: email.clone(),
            list: list.to_string(),
            status,
            now,
        };
        self.campaign(op).await.map(|_| ())
    }

    async fn block(&self, entry: BlockEntry) -> Result<()> {
        self.campaign(campaign::Op::Block(entry)).await.map(|_| ())
    }

    async fn unblock(&self, blocked: &Blocked) -> Result<bool> {
        match self.campaign(campaign::Op::Unblock(blocked.key())).await? {
            campaign::Out::Flag(f) => Ok(f),
            _ => Err(unexpected()),
        }
    }

    async fn blocklist(&self) -> Result<Vec<BlockEntry>> {
        self.read(campaign::blocklist).await
    }

    async fn blocked(&self, email: &EmailAddress) -> Result<Option<BlockEntry>> {
        let email = email.clone();
        self.read(move |c| campaign::blocked(c, &email)).await
    }

    async fn create_campaign(&self, c: Campaign) -> Result<Campaign> {
        match self.campaign(campaign::Op::CreateCampaign(c)).await? {
            campaign::Out::Campaign(c) => Ok(*c),
            _ => Err(unexpected()),
        }
    }

    async fn get_campaign(&self, name: &str) -> Result<Option<Campaign>> {
        let name = name.to_string();
        self.read(move |c| campaign::get_campaign(c, &name)).await
    }

    async fn list_campaigns(&self) -> Result<Vec<Campaign>> {
        self.read(campaign::list_campaigns).await
    }

    async fn save_campaign(&self, c: &Campaign) -> Result<()> {
        self.campaign(campaign::Op::SaveCampaign(c.clone()))
            .await
            .map(|_| ())
    }

    async fn freeze_recipients(
        &self,
        c: &Campaign,
        recipients: Vec<Recipient>,
        done: bool,
    ) -> Result<()> {
        self.campaign(campaign::Op::Freeze(c.clone(), recipients, done))
            .await
            .map(|_| ())
    }

    async fn discard_recipients(&self, id: u64) -> Result<u64> {
        match self.campaign(campaign::Op::Discard(id)).await? {
            campaign::Out::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn take_queued(&self, campaign: u64, n: usize) -> Result<Vec<Recipient>> {
        match self.campaign(campaign::Op::TakeQueued(campaign, n)).await? {
            campaign::Out::Recipients(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn settle_and_take(
        &self,
        campaign: u64,
        settled: Option<Settled>,
    ) -> Result<Option<(Recipient, Option<Subscriber>)>> {
        match self
            .campaign(campaign::Op::SettleAndTake(campaign, settled))
            .await?
        {
            campaign::Out::Taken(t) => Ok(t.map(|b| *b)),
            _ => Err(unexpected()),
        }
    }

    async fn settle(&self, settled: Settled) -> Result<()> {
        self.campaign(campaign::Op::Settle(settled))
            .await
            .map(|_| ())
    }

    async fn campaign_links(&self, id: u64) -> Result<Vec<String>> {
        self.read(move |c| campaign::campaign_links(c, id)).await
    }

    async fn add_campaign_links(&self, id: u64, urls: Vec<String>) -> Result<Vec<Option<u16>>> {
        match self.campaign(campaign::Op::AddLinks(id, urls)).await? {
            campaign::Out::Links(l) => Ok(l),
            _ => Err(unexpected()),
        }
    }

    async fn record_hit(&self, hit: Hit) -> Result<HitOutcome> {
        match self
            .campaign(campaign::Op::RecordHit(Box::new(hit)))
            .await?
        {
            campaign::Out::Hit(o) => Ok(o),
            _ => Err(unexpected()),
        }
    }

    async fn subscriber_engagement(
        &self,
        subscriber: u64,
    ) -> Result<Option<etraq_core::campaign::Engagement>> {
        self.read(move |c| campaign::engagement(c, subscriber))
            .await
    }

    async fn track_lookup(
        &self,
        campaign: u64,
        recipient: u64,
        click: bool,
    ) -> Result<Option<etraq_core::campaign::TrackLookup>> {
        self.read(move |c| campaign::track_lookup(c, campaign, recipient, click))
            .await
    }

    async fn campaign_hits(&self, id: u64) -> Result<Vec<Hit>> {
        self.read(move |c| campaign::hits(c, id, None)).await
    }

    async fn recipient_hits(&self, id: u64, recipient: u64) -> Result<Vec<Hit>> {
        self.read(move |c| campaign::hits(c, id, Some(recipient)))
            .await
    }

    async fn add_events(&self, events: Vec<SubscriberEvent>) -> Result<()> {
        self.campaign(campaign::Op::AddEvents(events))
            .await
            .map(|_| ())
    }

    async fn subscriber_events(
        &self,
        subscriber: u64,
        limit: usize,
    ) -> Result<Vec<SubscriberEvent>> {
        self.read(move |c| campaign::subscriber_events(c, subscriber, limit))
            .await
    }

    async fn update_recipient(&self, r: &Recipient) -> Result<()> {
        self.campaign(campaign::Op::UpdateRecipient(r.clone()))
            .await
            .map(|_| ())
    }

    async fn recover_sending(&self, campaign: u64, resend: bool) -> Result<u64> {
        match self
            .campaign(campaign::Op::RecoverSending(campaign, resend))
            .await?
        {
            campaign::Out::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn list_recipients(
        &self,
        campaign: u64,
        state: Option<RecipientState>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<Recipient>> {
        self.read(move |c| campaign::list_recipients(c, campaign, state, after, limit))
            .await
    }

    async fn recipient_counts(&self, campaign: u64) -> Result<RecipientCounts> {
        self.read(move |c| campaign::recipient_counts(c, campaign))
            .await
    }

    async fn claim_campaign(
        &self,
        id: u64,
        mine: etraq_core::campaign::Lease,
        gone: Option<etraq_core::campaign::Lease>,
        now: Timestamp,
    ) -> Result<Option<etraq_core::campaign::Lease>> {
        match self
            .campaign(campaign::Op::Claim(id, mine, gone, now))
            .await?
        {
            campaign::Out::Lease(l) => Ok(l),
            _ => Err(unexpected()),
        }
    }

    async fn release_campaign(&self, id: u64, mine: etraq_core::campaign::Lease) -> Result<()> {
        self.campaign(campaign::Op::Release(id, mine))
            .await
            .map(|_| ())
    }
}

/// One node: its process always leads (the defaults).
impl etraq_core::store::LeaseStore for SqliteStore {}

#[async_trait]
impl etraq_core::copy::CopyStore for SqliteStore {
    async fn export(
        &self,
        table: etraq_core::copy::Table,
        after: Option<etraq_core::copy::Key>,
        limit: usize,
    ) -> Result<Vec<etraq_core::copy::Row>> {
        self.read(move |c| copy::export(c, table, after, limit))
            .await
    }

    async fn import(
        &self,
        table: etraq_core::copy::Table,
        rows: Vec<etraq_core::copy::Row>,
    ) -> Result<()> {
        let bytes = rows.iter().map(etraq_core::copy::Row::size).sum();
        let f = move |tx: &rusqlite::Connection| {
            copy::import(tx, table, &rows).map(|()| WriteOut::Unit)
        };
        self.write(WriteOp::Run {
            bytes,
            f: Box::new(f),
        })
        .await
        .map(|_| ())
    }

    async fn finish_import(&self) -> Result<()> {
        // Every page committed durably (`synchronous=FULL`) and `AUTOINCREMENT` tables moved
        // their sequences past the ids inserted; nothing is left to do.
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.read(read::stats).await
    }

    async fn close(&self) -> Result<()> {
        let sender = self.writer.lock().ok().and_then(|mut g| g.take());
        drop(sender);
        let thread = self.thread.lock().ok().and_then(|mut g| g.take());
        if let Some(t) = thread {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|e| SqliteError::Internal(e.to_string()))?
                .map_err(|_| SqliteError::Internal("the writer thread panicked".into()))?;
        }
        self.readers.clear();
        Ok(())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Stop the writer; it finishes the jobs already queued (each caller awaited its own).
        if let Ok(mut g) = self.writer.lock() {
            g.take();
        }
    }
}
