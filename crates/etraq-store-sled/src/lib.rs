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

mod error;
mod keys;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use etraq_core::model::{Alert, AlertMail, CycleRecord};
use etraq_core::store::{
    AlertQuery, ChangeSet, CycleWrite, DrCounts, DrQuery, DrSort, DrWrite, EscalationStore,
    FactsQuery, KeyValueStore, MailQuery, Page, PendingDelivery, ResponseQuery, Store, StoreStats,
    TrackingStore, VolumeBucket, page_size,
};
use etraq_core::tracking::{MailRef, ThreadFacts};
use etraq_core::{
    Direction, Dr, DrId, DrStatus, EmailAddress, Error, MailRecord, MessageId, Party, ResponseTime,
    Result, User,
};
use jiff::Timestamp;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{IVec, Transactional, Tree};

pub use error::SledError;

use error::{Ctx, from_json, to_json};
use keys::*;

/// The newest schema this build writes.
pub const SCHEMA_VERSION: u64 = 1;

const APPLICATION: &[u8] = b"etraq";

/// The trees, in the fixed order used by transactions.
const TREE_NAMES: [&str; 22] = [
    "meta",
    "counters",
    "users",
    "drs",
    "drs_by_status",
    "drs_by_owner",
    "drs_by_customer",
    "drs_by_domain",
    "mails",
    "message_ids",
    "mails_by_mid",
    "mails_by_tracked",
    "mails_by_dr",
    "party_address",
    "party_domain",
    "raw",
    "pending",
    "drs_due",
    "alerts",
    "alerts_outbox",
    "alerts_by_user",
    "cycles",
];
const RESPONSES: &str = "responses";
/// Trees added after the first layout; opened after `responses`, so earlier indexes keep their
/// positions.
const LATER_TREES: [&str; 2] = ["drs_by_user", "kv"];

const T_USERS: usize = 2;
const T_DRS: usize = 3;
const T_DRS_STATUS: usize = 4;
const T_DRS_OWNER: usize = 5;
const T_DRS_CUSTOMER: usize = 6;
const T_DRS_DOMAIN: usize = 7;
const T_MAILS: usize = 8;
const T_MSGIDS: usize = 9;
const T_MAILS_MID: usize = 10;
const T_MAILS_TRACKED: usize = 11;
const T_MAILS_DR: usize = 12;
const T_PARTY_ADDR: usize = 13;
const T_PARTY_DOMAIN: usize = 14;
const T_RAW: usize = 15;
const T_PENDING: usize = 16;
const T_DRS_DUE: usize = 17;
const T_ALERTS: usize = 18;
const T_OUTBOX: usize = 19;
const T_ALERTS_USER: usize = 20;
const T_CYCLES: usize = 21;
const T_RESPONSES: usize = 22;
const T_DRS_USER: usize = 23;
const T_KV: usize = 24;
const T_COUNTERS: usize = 1;

#[derive(Clone)]
struct Inner {
    db: sled::Db,
    /// `TREE_NAMES` in order, then `responses`, then `LATER_TREES`.
    trees: Arc<Vec<Tree>>,
}

/// The sled store. Open it with [`SledStore::open`] and share it as `Arc<dyn Store>`.
pub struct SledStore {
    path: PathBuf,
    inner: RwLock<Option<Inner>>,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

fn abort<T>(e: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_json<T: serde::Serialize>(tree: &'static str, v: &T) -> TxResult<Vec<u8>> {
    to_json(tree, v).map_err(ConflictableTransactionError::Abort)
}

fn tx_from_json<T: serde::de::DeserializeOwned>(tree: &'static str, b: &[u8]) -> TxResult<T> {
    from_json(tree, b).map_err(ConflictableTransactionError::Abort)
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
            .map_err(|e| SledError::Task(e.to_string()))??;
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
            .map_err(|e| SledError::Task(e.to_string()))?
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

fn open_blocking(path: &Path) -> Result<Inner> {
    if path.is_file() {
        return Err(Error::ForeignStore {
            path: path.to_path_buf(),
            reason: "it is a file; a sled store is a directory (an SQLite store is a file: use sqlite:PATH)".into(),
        });
    }
    if path.is_dir() {
        let entries: Vec<String> = std::fs::read_dir(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !entries.is_empty() && !entries.iter().any(|n| n == "db" || n == "conf") {
            return Err(Error::ForeignStore {
                path: path.to_path_buf(),
                reason: "the directory is not empty and holds no sled database".into(),
            });
        }
    }
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // sled releases its file lock a moment after the last handle is dropped, so a reopen in the
    // same process can briefly see it taken: retry for a short while before calling it in use.
    let mut attempt = 0;
    let opened = loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(io)) if io.to_string().contains("lock") && attempt < 40 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other,
        }
    };
    let db = opened.map_err(|e| match e {
        sled::Error::Io(io) if io.to_string().contains("lock") => Error::Backend {
            backend: "sled",
            message: format!(
                "{} is in use by another process (sled allows one process at a time; stop `etraq serve` or use the SQLite store)",
                path.display()
            ),
            source: None,
        },
        sled::Error::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => Error::ForeignStore {
            path: path.to_path_buf(),
            reason: format!("sled cannot open it: {other}"),
        },
    })?;
    let mut trees = Vec::with_capacity(TREE_NAMES.len() + 1 + LATER_TREES.len());
    for name in TREE_NAMES
        .iter()
        .chain(std::iter::once(&RESPONSES))
        .chain(LATER_TREES.iter())
    {
        trees.push(db.open_tree(name).ctx("opening a tree")?);
    }
    let meta = &trees[0];
    match meta
        .get("application")
        .ctx("reading the store's metadata")?
    {
        Some(app) if app.as_ref() != APPLICATION => {
            return Err(Error::ForeignStore {
                path: path.to_path_buf(),
                reason: "a sled database of another application".into(),
            });
        }
        Some(_) => {}
        None => {
            let has_data = db.tree_names().iter().any(|n| {
                let n = n.as_ref();
                !TREE_NAMES.iter().any(|t| t.as_bytes() == n)
                    && !LATER_TREES.iter().any(|t| t.as_bytes() == n)
                    && n != RESPONSES.as_bytes()
                    && n != b"__sled__default"
            }) || !db.is_empty();
            if has_data {
                return Err(Error::ForeignStore {
                    path: path.to_path_buf(),
                    reason: "a sled database of another application".into(),
                });
            }
            meta.insert("application", APPLICATION)
                .ctx("writing the store's metadata")?;
            meta.insert("schema_version", &be(SCHEMA_VERSION))
                .ctx("writing the schema version")?;
            db.flush().ctx("flushing a new store")?;
        }
    }
    let version = meta
        .get("schema_version")
        .ctx("reading the schema version")?
        .and_then(|v| trailing_number(&v))
        .unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found: version as i64,
            supported: SCHEMA_VERSION as i64,
        });
    }
    Ok(Inner {
        db,
        trees: Arc::new(trees),
    })
}

impl Inner {
    fn tree(&self, i: usize) -> &Tree {
        &self.trees[i]
    }

    /// A transaction over all trees except `responses`' position is kept too.
    fn transaction<T>(&self, f: impl Fn(&[TransactionalTree]) -> TxResult<T>) -> Result<T> {
        let all: Vec<&Tree> = self.trees.iter().collect();
        match all.as_slice().transaction(|t| f(t)) {
            Ok(v) => Ok(v),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(SledError::Sled {
                context: "writing",
                source: e,
            }
            .into()),
        }
    }

    fn get_dr(&self, id: &DrId) -> Result<Option<Dr>> {
        match self.tree(T_DRS).get(be(id.number())).ctx("reading a DR")? {
            Some(v) => {
                let dr: Dr = from_json("drs", &v)?;
                Ok((dr.id == *id).then_some(dr))
            }
            None => Ok(None),
        }
    }

    fn get_dr_by_number(&self, n: u64) -> Result<Option<Dr>> {
        self.tree(T_DRS)
            .get(be(n))
            .ctx("reading a DR")?
            .map(|v| from_json("drs", &v))
            .transpose()
    }

    fn get_mail(&self, seq: u64) -> Result<Option<MailRecord>> {
        match self
            .tree(T_MAILS)
            .get(be(seq))
            .ctx("reading a mail record")?
        {
            Some(v) => {
                let mut m: MailRecord = from_json("mails", &v)?;
                m.seq = seq;
                Ok(Some(m))
            }
            None => Ok(None),
        }
    }

    fn get_user(&self, email: &EmailAddress) -> Result<Option<User>> {
        self.tree(T_USERS)
            .get(email.as_str())
            .ctx("reading a user")?
            .map(|v| from_json("users", &v))
            .transpose()
    }
}

/// Writes a DR and its index entries inside a transaction, after checking its version.
fn tx_write_dr(t: &[TransactionalTree], w: &DrWrite) -> TxResult<()> {
    let key = be(w.dr.id.number());
    let current: Option<Dr> = match t[T_DRS].get(key)? {
        Some(v) => Some(tx_from_json("drs", &v)?),
        None => None,
    };
    match (&current, w.expected_version) {
        (None, 0) => {}
        (Some(_), 0) => {
            return abort(Error::Conflict(format!(
                "DR number {} already exists",
                w.dr.id.number()
            )));
        }
        (None, _) => return abort(Error::Conflict(format!("DR {} does not exist", w.dr.id))),
        (Some(c), expected) => {
            if c.id != w.dr.id {
                return abort(Error::Conflict(format!(
                    "DR number {} is {}, not {}",
                    w.dr.id.number(),
                    c.id,
                    w.dr.id
                )));
            }
            if c.version != expected {
                return abort(Error::Conflict(format!(
                    "DR {} is at version {}, expected {expected}",
                    w.dr.id, c.version
                )));
            }
        }
    }
    if w.dr.version != w.expected_version + 1 {
        return abort(Error::Invalid(format!(
            "DR {} written with version {} over {}",
            w.dr.id, w.dr.version, w.expected_version
        )));
    }
    let n = w.dr.id.number();
    if let Some(c) = &current {
        if let Some(d) = c.due_at {
            t[T_DRS_DUE].remove(with_number(&micros_key(d), n))?;
        }
        t[T_DRS_STATUS].remove(with_number(&[status_code(c.status)], n))?;
        t[T_DRS_OWNER].remove(with_number(&text_prefix(c.owner.as_str()), n))?;
        t[T_DRS_CUSTOMER].remove(with_number(&text_prefix(c.customer.as_str()), n))?;
        t[T_DRS_DOMAIN].remove(with_number(&text_prefix(c.customer.domain()), n))?;
        for u in c.users() {
            t[T_DRS_USER].remove(with_number(&text_prefix(u.as_str()), n))?;
        }
    }
    let d = &w.dr;
    t[T_DRS].insert(&key, tx_json("drs", d)?)?;
    t[T_DRS_STATUS].insert(with_number(&[status_code(d.status)], n), &[])?;
    t[T_DRS_OWNER].insert(with_number(&text_prefix(d.owner.as_str()), n), &[])?;
    t[T_DRS_CUSTOMER].insert(with_number(&text_prefix(d.customer.as_str()), n), &[])?;
    t[T_DRS_DOMAIN].insert(with_number(&text_prefix(d.customer.domain()), n), &[])?;
    for u in d.users() {
        t[T_DRS_USER].insert(with_number(&text_prefix(u.as_str()), n), &[])?;
    }
    if let Some(due) = d.due_at {
        t[T_DRS_DUE].insert(with_number(&micros_key(due), n), &[])?;
    }
    Ok(())
}

/// An instant as an order-preserving 8-byte key (microseconds).
fn micros_key(t: Timestamp) -> [u8; 8] {
    time_key(t.as_microsecond())
}

fn tx_bump(t: &[TransactionalTree], name: &str, by: u64) -> TxResult<()> {
    if by == 0 {
        return Ok(());
    }
    let cur = t[T_COUNTERS]
        .get(name)?
        .and_then(|v| trailing_number(&v))
        .unwrap_or(0);
    t[T_COUNTERS].insert(name, &be(cur.saturating_add(by)))?;
    Ok(())
}

/// Writes an alert and its index entries, replacing `old` (the stored version) if any.
fn tx_put_alert(t: &[TransactionalTree], a: &Alert, old: Option<&Alert>) -> TxResult<()> {
    if let Some(AlertMail::Pending {
        next_attempt_at, ..
    }) = old.map(|o| &o.mail)
    {
        t[T_OUTBOX].remove(with_number(&micros_key(*next_attempt_at), a.id))?;
    }
    t[T_ALERTS].insert(&be(a.id), tx_json("alerts", a)?)?;
    if let AlertMail::Pending {
        next_attempt_at, ..
    } = &a.mail
    {
        t[T_OUTBOX].insert(with_number(&micros_key(*next_attempt_at), a.id), &[])?;
    }
    if old.is_none() {
        t[T_ALERTS_USER].insert(with_number(&text_prefix(a.user.as_str()), a.id), &[])?;
    }
    Ok(())
}

fn tx_apply_cycle(t: &[TransactionalTree], w: &CycleWrite) -> TxResult<CycleRecord> {
    for d in &w.drs {
        tx_write_dr(t, d)?;
    }
    let mut record = w.record.clone();
    record.id = t[T_CYCLES].generate_id()? + 1;
    t[T_CYCLES].insert(&be(record.id), tx_json("cycles", &record)?)?;
    for a in &w.alerts {
        let mut a = a.clone();
        a.cycle = record.id;
        a.id = t[T_ALERTS].generate_id()? + 1;
        tx_put_alert(t, &a, None)?;
    }
    tx_bump(t, "warned", record.warned)?;
    tx_bump(t, "escalated", record.escalated)?;
    Ok(record)
}

/// Applies one change set inside a transaction; returns the mail's seq.
fn tx_apply(t: &[TransactionalTree], cs: &ChangeSet) -> TxResult<u64> {
    let m = &cs.mail;
    let mid_key = message_id_key(m.message_id.as_str(), m.direction);
    if cs.index_message_id && t[T_MSGIDS].get(&mid_key)?.is_some() {
        return abort(Error::Conflict(format!(
            "Message-ID {} is already recorded ({})",
            m.message_id, m.direction
        )));
    }
    if let Some(w) = &cs.dr {
        tx_write_dr(t, w)?;
    }
    let seq = t[T_MAILS].generate_id()? + 1;
    t[T_MAILS].insert(&be(seq), tx_json("mails", m)?)?;
    if cs.index_message_id {
        t[T_MSGIDS].insert(mid_key, &be(seq))?;
    }
    t[T_MAILS_MID].insert(with_number(&text_prefix(m.message_id.as_str()), seq), &[])?;
    t[T_MAILS_TRACKED].insert(with_number(&[m.decision.is_tracked() as u8], seq), &[])?;
    if let Some(dr) = &m.dr {
        t[T_MAILS_DR].insert(with_number(&be(dr.number()), seq), &[])?;
    }
    for p in m.addresses() {
        t[T_PARTY_ADDR].insert(with_number(&text_prefix(p.as_str()), seq), &[])?;
        t[T_PARTY_DOMAIN].insert(with_number(&text_prefix(p.domain()), seq), &[])?;
    }
    t[T_RAW].insert(&be(seq), cs.raw.as_slice())?;
    if let Some(dr) = &m.dr {
        for (mid, dir) in &cs.link {
            let Some(target) = t[T_MSGIDS].get(message_id_key(mid.as_str(), *dir))? else {
                continue;
            };
            let Some(target_seq) = trailing_number(&target) else {
                continue;
            };
            let Some(v) = t[T_MAILS].get(be(target_seq))? else {
                continue;
            };
            let mut rec: MailRecord = tx_from_json("mails", &v)?;
            if rec.dr.is_some() {
                continue;
            }
            rec.dr = Some(dr.clone());
            t[T_MAILS].insert(&be(target_seq), tx_json("mails", &rec)?)?;
            t[T_MAILS_DR].insert(with_number(&be(dr.number()), target_seq), &[])?;
        }
    }
    if let Some(id) = cs.pending {
        t[T_PENDING].remove(&be(id))?;
    }
    if let Some(r) = &cs.response {
        let mut key = time_key(r.responded_at.as_second()).to_vec();
        key.extend_from_slice(&be(seq));
        t[T_RESPONSES].insert(key, tx_json("responses", r)?)?;
    }
    Ok(seq)
}

/// Numbers (trailing 8 bytes) of the keys under `prefix`, newest first or oldest first, strictly
/// after the cursor.
fn keyset(
    tree: &Tree,
    prefix: &[u8],
    after: Option<u64>,
    oldest_first: bool,
) -> Box<dyn Iterator<Item = Result<u64>>> {
    let map = |r: std::result::Result<(IVec, IVec), sled::Error>| -> Result<u64> {
        let (k, _) = r.ctx("scanning an index")?;
        trailing_number(&k).ok_or_else(|| SledError::BadKey("index").into())
    };
    match (after, oldest_first) {
        (None, false) => Box::new(tree.scan_prefix(prefix).rev().map(map)),
        (None, true) => Box::new(tree.scan_prefix(prefix).map(map)),
        (Some(a), false) => Box::new(
            tree.range(prefix.to_vec()..with_number(prefix, a))
                .rev()
                .map(map),
        ),
        (Some(a), true) => {
            let start = with_number(prefix, a.saturating_add(1));
            let mut end = prefix.to_vec();
            end.extend_from_slice(&[0xff; 9]);
            Box::new(tree.range(start..end).map(map))
        }
    }
}

/// Merges ordered key streams (descending, or ascending with `oldest_first`) into one, each key
/// once: a scoped listing walks one index range per user of the scope at the same time.
struct Merged {
    streams: Vec<std::iter::Peekable<KeyStream>>,
    oldest_first: bool,
}

type KeyStream = Box<dyn Iterator<Item = Result<u64>>>;

impl Iterator for Merged {
    type Item = Result<u64>;

    fn next(&mut self) -> Option<Result<u64>> {
        let mut best: Option<u64> = None;
        for s in &mut self.streams {
            match s.peek() {
                Some(Err(_)) => return s.next(),
                Some(Ok(k)) => {
                    let better = match best {
                        None => true,
                        Some(b) if self.oldest_first => *k < b,
                        Some(b) => *k > b,
                    };
                    if better {
                        best = Some(*k);
                    }
                }
                None => {}
            }
        }
        let best = best?;
        for s in &mut self.streams {
            if matches!(s.peek(), Some(Ok(k)) if *k == best) {
                s.next();
            }
        }
        Some(Ok(best))
    }
}

/// The keys of `tree` under one prefix per user (scoped listings), else under `prefix`.
fn scoped_keys(
    inner: &Inner,
    involving: Option<&[EmailAddress]>,
    user_tree: usize,
    (tree, prefix): (usize, Vec<u8>),
    after: Option<u64>,
    oldest_first: bool,
) -> Merged {
    let streams = match involving {
        Some(users) => users
            .iter()
            .map(|u| {
                keyset(
                    inner.tree(user_tree),
                    &text_prefix(u.as_str()),
                    after,
                    oldest_first,
                )
                .peekable()
            })
            .collect(),
        None => vec![keyset(inner.tree(tree), &prefix, after, oldest_first).peekable()],
    };
    Merged {
        streams,
        oldest_first,
    }
}

/// Open DRs, longest wait first: sled has no index on waiting time, so this reads every open DR
/// in scope (the SQLite store answers from an index).
fn longest_waiting(inner: &Inner, q: &DrQuery) -> Result<Page<Dr>> {
    let limit = page_size(q.limit);
    let sub = DrQuery {
        status: Some(DrStatus::Open),
        sort: DrSort::Number,
        longest_waiting_first: false,
        after: None,
        limit: usize::MAX,
        ..q.clone()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = list_drs(
            inner,
            &DrQuery {
                after,
                limit: etraq_core::store::MAX_PAGE_SIZE,
                ..sub.clone()
            },
        )?;
        all.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    // Whole seconds, as the SQLite store keeps them, so both order ties the same way.
    all.sort_by_key(|d| {
        (
            d.awaiting_since.map_or(i64::MAX, |t| t.as_second()),
            d.id.number(),
        )
    });
    all.truncate(limit);
    Ok(Page {
        items: all,
        next: None,
    })
}

/// Whether a DR passes a listing's filters (the scope is applied by the index walked).
fn dr_matches(q: &DrQuery, dr: &Dr) -> bool {
    !(q.status.is_some_and(|s| s != dr.status)
        || q.awaiting_before.is_some_and(|b| {
            dr.status != DrStatus::Open || dr.awaiting_since.is_none_or(|s| s >= b)
        })
        || q.owner.as_ref().is_some_and(|o| *o != dr.owner)
        || q.customer
            .as_ref()
            .is_some_and(|p| !p.matches(&dr.customer)))
}

/// The index key of a sort key: `text` NUL for addresses, the status code for statuses.
fn sort_index_prefix(sort: DrSort, key: &str) -> Vec<u8> {
    match sort {
        DrSort::Status => DrStatus::parse(key)
            .map(|s| vec![status_code(s)])
            .unwrap_or_default(),
        _ => text_prefix(key),
    }
}

/// A listing ordered by a column, then by number. Unscoped, it walks the column's index tree
/// from the cursor; scoped, it reads the scope's DRs and sorts them (sled keeps no per-user
/// index by column).
fn keyed_order(inner: &Inner, q: &DrQuery, sort: DrSort) -> Result<Page<Dr>> {
    use std::ops::Bound;
    let limit = page_size(q.limit);
    let cursor = q
        .after
        .map(|n| (q.after_key.clone().unwrap_or_default(), n));
    let mut items: Vec<Dr> = Vec::new();
    match &q.involving {
        None => {
            let tree = inner.tree(match sort {
                DrSort::Owner => T_DRS_OWNER,
                DrSort::Customer => T_DRS_CUSTOMER,
                _ => T_DRS_STATUS,
            });
            let start = cursor
                .as_ref()
                .map(|(k, n)| with_number(&sort_index_prefix(sort, k), *n));
            let iter: Box<dyn Iterator<Item = sled::Result<(IVec, IVec)>>> =
                match (q.ascending, start) {
                    (true, Some(s)) => {
                        Box::new(tree.range::<Vec<u8>, _>((Bound::Excluded(s), Bound::Unbounded)))
                    }
                    (true, None) => Box::new(tree.iter()),
                    (false, Some(s)) => Box::new(tree.range(..s).rev()),
                    (false, None) => Box::new(tree.iter().rev()),
                };
            for r in iter {
                let (k, _) = r.ctx("scanning a sort index")?;
                let n = trailing_number(&k).ok_or(SledError::BadKey("sort index"))?;
                let Some(dr) = inner.get_dr_by_number(n)? else {
                    continue;
                };
                if dr_matches(q, &dr) {
                    items.push(dr);
                    if items.len() > limit {
                        break;
                    }
                }
            }
        }
        Some(_) => {
            let keys = scoped_keys(
                inner,
                q.involving.as_deref(),
                T_DRS_USER,
                (T_DRS, Vec::new()),
                None,
                true,
            );
            let mut all: Vec<(String, u64, Dr)> = Vec::new();
            for n in keys {
                let n = n?;
                if let Some(dr) = inner.get_dr_by_number(n)?
                    && dr_matches(q, &dr)
                {
                    all.push((sort.key(&dr).unwrap_or_default(), n, dr));
                }
            }
            all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            if !q.ascending {
                all.reverse();
            }
            for (k, n, dr) in all {
                let past = match &cursor {
                    None => true,
                    Some((ck, cn)) if q.ascending => (&k, n) > (ck, *cn),
                    Some((ck, cn)) => (&k, n) < (ck, *cn),
                };
                if past {
                    items.push(dr);
                    if items.len() > limit {
                        break;
                    }
                }
            }
        }
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|d| d.id.number())
    } else {
        None
    };
    Ok(Page { items, next })
}

fn list_drs(inner: &Inner, q: &DrQuery) -> Result<Page<Dr>> {
    if q.longest_waiting_first {
        return longest_waiting(inner, q);
    }
    let sort = DrSort::effective(q);
    if sort != DrSort::Number {
        return keyed_order(inner, q, sort);
    }
    let limit = page_size(q.limit);
    let index = if let Some(o) = &q.owner {
        (T_DRS_OWNER, text_prefix(o.as_str()))
    } else if let Some(Party::Address(a)) = &q.customer {
        (T_DRS_CUSTOMER, text_prefix(a.as_str()))
    } else if let Some(Party::Domain(d)) = &q.customer {
        (T_DRS_DOMAIN, text_prefix(d))
    } else if let Some(s) = q.status {
        (T_DRS_STATUS, vec![status_code(s)])
    } else if q.awaiting_before.is_some() {
        (T_DRS_STATUS, vec![status_code(DrStatus::Open)])
    } else {
        (T_DRS, Vec::new())
    };
    let keys = scoped_keys(
        inner,
        q.involving.as_deref(),
        T_DRS_USER,
        index,
        q.after,
        q.ascending,
    );
    let mut items = Vec::new();
    for n in keys {
        let n = n?;
        let Some(dr) = inner.get_dr_by_number(n)? else {
            continue;
        };
        if !dr_matches(q, &dr) {
            continue;
        }
        items.push(dr);
        if items.len() > limit {
            break;
        }
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|d| d.id.number())
    } else {
        None
    };
    Ok(Page { items, next })
}

fn list_mails(inner: &Inner, q: &MailQuery) -> Result<Page<MailRecord>> {
    let limit = page_size(q.limit);
    let index = if let Some(dr) = &q.dr {
        (T_MAILS_DR, be(dr.number()).to_vec())
    } else if let Some(Party::Address(a)) = &q.party {
        (T_PARTY_ADDR, text_prefix(a.as_str()))
    } else if let Some(Party::Domain(d)) = &q.party {
        (T_PARTY_DOMAIN, text_prefix(d))
    } else if let Some(t) = q.tracked {
        (T_MAILS_TRACKED, vec![t as u8])
    } else {
        (T_MAILS, Vec::new())
    };
    let keys = scoped_keys(
        inner,
        q.involving.as_deref(),
        T_PARTY_ADDR,
        index,
        q.after,
        q.oldest_first,
    );
    let mut items = Vec::new();
    for seq in keys {
        let Some(m) = inner.get_mail(seq?)? else {
            continue;
        };
        if q.tracked.is_some_and(|t| t != m.decision.is_tracked())
            || q.dr.as_ref().is_some_and(|d| m.dr.as_ref() != Some(d))
            || q.party
                .as_ref()
                .is_some_and(|p| !m.addresses().into_iter().any(|a| p.matches(a)))
        {
            continue;
        }
        items.push(m);
        if items.len() > limit {
            break;
        }
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|m| m.seq)
    } else {
        None
    };
    Ok(Page { items, next })
}

fn thread_facts(inner: &Inner, q: &FactsQuery) -> Result<ThreadFacts> {
    let msgids = inner.tree(T_MSGIDS);
    let mut facts = ThreadFacts {
        duplicate: msgids
            .contains_key(message_id_key(q.message_id.as_str(), q.direction))
            .ctx("checking for a duplicate")?,
        ..ThreadFacts::default()
    };
    for id in &q.candidates {
        for entry in msgids.scan_prefix(text_prefix(id.as_str())) {
            let (_, v) = entry.ctx("looking up a referenced Message-ID")?;
            let Some(seq) = trailing_number(&v) else {
                continue;
            };
            if let Some(m) = inner.get_mail(seq)? {
                facts.referenced.push(MailRef {
                    message_id: id.clone(),
                    direction: m.direction,
                    dr: m.dr,
                    sender: m.sender,
                });
            }
        }
    }
    let mut seen = Vec::new();
    let wanted: Vec<DrId> = facts
        .referenced
        .iter()
        .filter_map(|r| r.dr.clone())
        .chain(q.tags.iter().cloned())
        .collect();
    for id in wanted {
        if seen.contains(&id.number()) {
            continue;
        }
        seen.push(id.number());
        if let Some(d) = inner.get_dr(&id)? {
            facts.drs.push(d);
        }
    }
    let mut users = q.users.clone();
    for r in &facts.referenced {
        if let Some(s) = &r.sender
            && !users.contains(s)
        {
            users.push(s.clone());
        }
    }
    for u in &users {
        if let Some(user) = inner.get_user(u)? {
            facts.users.push(user);
        }
    }
    Ok(facts)
}

fn counter(inner: &Inner, name: &str) -> Result<u64> {
    Ok(inner
        .tree(T_COUNTERS)
        .get(name)
        .ctx("reading a counter")?
        .and_then(|v| trailing_number(&v))
        .unwrap_or(0))
}

fn count_prefix(tree: &Tree, prefix: &[u8]) -> u64 {
    tree.scan_prefix(prefix).keys().count() as u64
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
                .tree(1)
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
        self.write(move |inner| inner.transaction(|t| tx_apply(t, &changes)))
            .await
    }

    async fn apply_batch(&self, batch: Vec<ChangeSet>) -> Result<Vec<u64>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |inner| {
            inner.transaction(|t| {
                let mut seqs = Vec::with_capacity(batch.len());
                for cs in &batch {
                    seqs.push(tx_apply(t, cs)?);
                }
                Ok(seqs)
            })
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
            for k in inner.tree(T_MAILS_MID).scan_prefix(text_prefix(&id)).keys() {
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
                .tree(T_RAW)
                .get(be(seq))
                .ctx("reading a raw message")?
                .map(|v| v.to_vec()))
        })
        .await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        let user = user.clone();
        self.write(move |inner| {
            inner
                .tree(T_USERS)
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
            for v in inner.tree(T_USERS).iter().values() {
                out.push(from_json("users", &v.ctx("listing users")?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_responses(&self, query: &ResponseQuery) -> Result<Vec<ResponseTime>> {
        let q = query.clone();
        self.run(move |inner| {
            let tree = inner.tree(T_RESPONSES);
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
            for v in inner.tree(T_MAILS).iter().values() {
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
                let by_status = inner.tree(T_DRS_STATUS);
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
                T_DRS_USER,
                (T_DRS, Vec::new()),
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
                .tree(T_PENDING)
                .insert(be(id), to_json("pending", &pending)?)
                .ctx("journaling a delivery")?;
            Ok(id)
        })
        .await
    }

    async fn drop_pending(&self, id: u64) -> Result<()> {
        self.write(move |inner| {
            inner
                .tree(T_PENDING)
                .remove(be(id))
                .ctx("clearing a journal entry")?;
            Ok(())
        })
        .await
    }

    async fn list_pending(&self) -> Result<Vec<PendingDelivery>> {
        self.run(|inner| {
            let mut out = Vec::new();
            for entry in inner.tree(T_PENDING).iter() {
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
            for k in inner.tree(T_DRS_DUE).range(..=upper).keys() {
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
            let mut items = Vec::new();
            for n in keyset(inner.tree(T_CYCLES), &[], after, false) {
                let n = n?;
                if let Some(v) = inner.tree(T_CYCLES).get(be(n)).ctx("reading a cycle")? {
                    let mut c: CycleRecord = from_json("cycles", &v)?;
                    c.id = n;
                    items.push(c);
                }
                if items.len() > limit {
                    break;
                }
            }
            let next = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|c| c.id)
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<Page<Alert>> {
        let q = query.clone();
        let limit = page_size(q.limit);
        self.run(move |inner| {
            let index = match &q.user {
                Some(u) => (T_ALERTS_USER, text_prefix(u.as_str())),
                None => (T_ALERTS, Vec::new()),
            };
            let keys = scoped_keys(
                inner,
                q.involving.as_deref(),
                T_ALERTS_USER,
                index,
                q.after,
                false,
            );
            let mut items = Vec::new();
            for id in keys {
                let id = id?;
                let Some(v) = inner.tree(T_ALERTS).get(be(id)).ctx("reading an alert")? else {
                    continue;
                };
                let mut a: Alert = from_json("alerts", &v)?;
                a.id = id;
                if q.dr.as_ref().is_some_and(|d| *d != a.source_dr)
                    || q.user.as_ref().is_some_and(|u| *u != a.user)
                {
                    continue;
                }
                items.push(a);
                if items.len() > limit {
                    break;
                }
            }
            let next = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|a| a.id)
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn outbox(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        self.run(move |inner| {
            let mut upper = micros_key(now).to_vec();
            upper.extend_from_slice(&[0xff; 8]);
            let mut out = Vec::new();
            for k in inner.tree(T_OUTBOX).range(..=upper).keys() {
                if out.len() >= limit {
                    break;
                }
                let k = k.ctx("scanning the outbox")?;
                let Some(id) = trailing_number(&k) else {
                    continue;
                };
                if let Some(v) = inner.tree(T_ALERTS).get(be(id)).ctx("reading an alert")? {
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
                let Some(v) = t[T_ALERTS].get(be(id))? else {
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
impl KeyValueStore for SledStore {
    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.run(move |inner| {
            inner
                .tree(T_KV)
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
            let tree = inner.tree(T_KV);
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
            for r in inner.tree(T_KV).scan_prefix(prefix.as_bytes()) {
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

#[async_trait]
impl Store for SledStore {
    fn backend(&self) -> &'static str {
        "sled"
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.run(|inner| {
            let tracked = inner.tree(T_MAILS_TRACKED);
            let by_status = inner.tree(T_DRS_STATUS);
            Ok(StoreStats {
                tracked: count_prefix(tracked, &[1]),
                untracked: count_prefix(tracked, &[0]),
                open: count_prefix(by_status, &[status_code(DrStatus::Open)]),
                replied: count_prefix(by_status, &[status_code(DrStatus::Replied)]),
                closed: count_prefix(by_status, &[status_code(DrStatus::Closed)]),
                users: inner.tree(T_USERS).len() as u64,
                warned: counter(inner, "warned")?,
                escalated: counter(inner, "escalated")?,
                outbox: inner.tree(T_OUTBOX).len() as u64,
            })
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        let inner = self.inner.write().ok().and_then(|mut g| g.take());
        if let Some(inner) = inner {
            let lock_file = self.path.join("db");
            tokio::task::spawn_blocking(move || {
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
            .map_err(|e| SledError::Task(e.to_string()))??;
        }
        Ok(())
    }
}
