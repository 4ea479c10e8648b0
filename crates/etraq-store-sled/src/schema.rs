//! The on-disk layout of the sled store: its trees by name, its schema version, opening, and
//! the migrations from older layouts.
//!
//! Each kind of record has a tree, and each secondary index a tree whose keys end in the number
//! they point to (see `keys`). Trees are addressed by [`T`], never by position. The schema
//! version in the `meta` tree says which layout the store has; opening a store of an older
//! layout migrates it, and a newer one is refused.

use std::ops::Index;
use std::path::Path;
use std::sync::Arc;

use etraq_core::{Dr, Error, Result};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use crate::error::{Ctx, SledError, from_json};
use crate::keys::*;

/// The newest schema this build writes.
///
/// - 1: the first layout (without `drs_by_user` and `kv`, which 0.1 stores created unversioned).
/// - 2: `drs_by_user` (scoped listings) and `kv` (console credentials), the index rebuilt from
///   `drs` when an older store is opened.
/// - 3: `search_pending` (mail recorded but not yet in the full-text index of `search/`); the
///   index is built from the archive when a store without one is opened.
pub const SCHEMA_VERSION: u64 = 3;

const APPLICATION: &[u8] = b"etraq";

/// The trees of the store. A transaction spans all of them, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum T {
    /// `meta`.
    Meta,
    /// `counters`.
    Counters,
    /// `users`.
    Users,
    /// `drs`.
    Drs,
    /// `drs_by_status`.
    DrsStatus,
    /// `drs_by_owner`.
    DrsOwner,
    /// `drs_by_customer`.
    DrsCustomer,
    /// `drs_by_domain`.
    DrsDomain,
    /// `mails`.
    Mails,
    /// `message_ids`.
    Msgids,
    /// `mails_by_mid`.
    MailsMid,
    /// `mails_by_tracked`.
    MailsTracked,
    /// `mails_by_dr`.
    MailsDr,
    /// `party_address`.
    PartyAddr,
    /// `party_domain`.
    PartyDomain,
    /// `raw`.
    Raw,
    /// `pending`.
    Pending,
    /// `drs_due`.
    DrsDue,
    /// `alerts`.
    Alerts,
    /// `alerts_outbox`.
    Outbox,
    /// `alerts_by_user`.
    AlertsUser,
    /// `cycles`.
    Cycles,
    /// `responses`.
    Responses,
    /// `drs_by_user`.
    DrsUser,
    /// `kv`.
    Kv,
    /// `lists`: list key → list.
    Lists,
    /// `subscribers`: id → subscriber (memberships included).
    Subscribers,
    /// `subscribers_by_email`: address → id.
    SubscribersEmail,
    /// `members`: list key, NUL, id → status.
    Members,
    /// `blocklist`: address or `@domain` → entry.
    Blocklist,
    /// `campaigns`: id → campaign.
    Campaigns,
    /// `campaigns_by_name`: name key → id.
    CampaignNames,
    /// `recipients`: campaign id, recipient id → recipient.
    Recipients,
    /// `recipients_by_state`: campaign id, state code, recipient id → ().
    RecipientsState,
    /// `outbox`: id → queued message.
    Mailq,
    /// `outbox_due`: due time (µs), id → () for pending messages.
    MailqDue,
    /// `events`: subscriber id, event id → subscriber event.
    Events,
    /// `campaign_links`: campaign id, link number → URL.
    Links,
    /// `campaign_links_by_url`: campaign id, URL → link number.
    LinksUrl,
    /// `hits`: campaign id, hit id → hit.
    Hits,
    /// `hits_by_recipient`: campaign id, recipient id, hit id → ().
    HitsRecipient,
    /// `hits_by_order`: campaign id, order id → ().
    HitsOrder,
    /// `engagement`: subscriber id → thousandths of a point (u64) and Unix seconds (i64), both
    /// big-endian.
    Engagement,
    /// `search_pending`: seq → () for mail not yet committed to the search index.
    SearchPending,
    /// `kb`: article id → article.
    Kb,
    /// `kb_history`: article id, version (big-endian) → that version.
    KbHistory,
}

impl T {
    /// Every tree, in transaction order (the order of the variants).
    pub(crate) const ALL: [T; 46] = [
        T::Meta,
        T::Counters,
        T::Users,
        T::Drs,
        T::DrsStatus,
        T::DrsOwner,
        T::DrsCustomer,
        T::DrsDomain,
        T::Mails,
        T::Msgids,
        T::MailsMid,
        T::MailsTracked,
        T::MailsDr,
        T::PartyAddr,
        T::PartyDomain,
        T::Raw,
        T::Pending,
        T::DrsDue,
        T::Alerts,
        T::Outbox,
        T::AlertsUser,
        T::Cycles,
        T::Responses,
        T::DrsUser,
        T::Kv,
        T::Lists,
        T::Subscribers,
        T::SubscribersEmail,
        T::Members,
        T::Blocklist,
        T::Campaigns,
        T::CampaignNames,
        T::Recipients,
        T::RecipientsState,
        T::Mailq,
        T::MailqDue,
        T::Events,
        T::Links,
        T::LinksUrl,
        T::Hits,
        T::HitsRecipient,
        T::HitsOrder,
        T::Engagement,
        T::SearchPending,
        T::Kb,
        T::KbHistory,
    ];

    /// The tree's name on disk.
    pub(crate) fn name(self) -> &'static str {
        match self {
            T::Meta => "meta",
            T::Counters => "counters",
            T::Users => "users",
            T::Drs => "drs",
            T::DrsStatus => "drs_by_status",
            T::DrsOwner => "drs_by_owner",
            T::DrsCustomer => "drs_by_customer",
            T::DrsDomain => "drs_by_domain",
            T::Mails => "mails",
            T::Msgids => "message_ids",
            T::MailsMid => "mails_by_mid",
            T::MailsTracked => "mails_by_tracked",
            T::MailsDr => "mails_by_dr",
            T::PartyAddr => "party_address",
            T::PartyDomain => "party_domain",
            T::Raw => "raw",
            T::Pending => "pending",
            T::DrsDue => "drs_due",
            T::Alerts => "alerts",
            T::Outbox => "alerts_outbox",
            T::AlertsUser => "alerts_by_user",
            T::Cycles => "cycles",
            T::Responses => "responses",
            T::DrsUser => "drs_by_user",
            T::Kv => "kv",
            T::Lists => "lists",
            T::Subscribers => "subscribers",
            T::SubscribersEmail => "subscribers_by_email",
            T::Members => "members",
            T::Blocklist => "blocklist",
            T::Campaigns => "campaigns",
            T::CampaignNames => "campaigns_by_name",
            T::Recipients => "recipients",
            T::RecipientsState => "recipients_by_state",
            T::Mailq => "outbox",
            T::MailqDue => "outbox_due",
            T::Events => "events",
            T::Links => "campaign_links",
            T::LinksUrl => "campaign_links_by_url",
            T::Hits => "hits",
            T::HitsRecipient => "hits_by_recipient",
            T::HitsOrder => "hits_by_order",
            T::Engagement => "engagement",
            T::SearchPending => "search_pending",
            T::Kb => "kb",
            T::KbHistory => "kb_history",
        }
    }
}

/// An open store: the database and its trees in [`T::ALL`] order.
#[derive(Clone)]
pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    trees: Arc<Vec<Tree>>,
    /// The full-text index (opened once the trees are migrated).
    pub(crate) search: Option<Arc<crate::search::SearchIndex>>,
    /// The knowledge base's search index, built in memory from `kb` when first needed.
    pub(crate) kb: Arc<crate::support::KbIndex>,
}

impl Inner {
    /// A tree by name.
    pub(crate) fn tree(&self, t: T) -> &Tree {
        &self.trees[t as usize]
    }

    /// Runs `f` as one transaction over every tree.
    pub(crate) fn transaction<V>(&self, f: impl Fn(&Tx<'_>) -> TxResult<V>) -> Result<V> {
        let all: Vec<&Tree> = self.trees.iter().collect();
        match all.as_slice().transaction(|t| f(&Tx(t))) {
            Ok(v) => Ok(v),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(SledError::Sled {
                context: "writing",
                source: e,
            }
            .into()),
        }
    }
}

/// The trees inside a transaction, addressed by name: `t[T::Drs]`.
pub(crate) struct Tx<'a>(&'a [TransactionalTree]);

impl Index<T> for Tx<'_> {
    type Output = TransactionalTree;
    fn index(&self, t: T) -> &TransactionalTree {
        &self.0[t as usize]
    }
}

/// The result of a transaction step.
pub(crate) type TxResult<V> = std::result::Result<V, ConflictableTransactionError<Error>>;

/// Opens (or creates) the store at `path`, refusing what is not an etraq sled store, and
/// migrates an older layout.
pub(crate) fn open_blocking(path: &Path) -> Result<Inner> {
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
    let mut trees = Vec::with_capacity(T::ALL.len());
    for t in T::ALL {
        trees.push(db.open_tree(t.name()).ctx("opening a tree")?);
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
                !T::ALL.iter().any(|t| t.name().as_bytes() == n) && n != b"__sled__default"
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
            found: i64::try_from(version).unwrap_or(i64::MAX),
            supported: SCHEMA_VERSION as i64,
        });
    }
    let mut inner = Inner {
        db,
        trees: Arc::new(trees),
        search: None,
        kb: Arc::default(),
    };
    if version < SCHEMA_VERSION {
        migrate(&inner, version)?;
    }
    let search = crate::search::SearchIndex::open(&crate::search::dir_of(path), &inner)?;
    inner.search = Some(Arc::new(search));
    Ok(inner)
}

/// Brings a store of schema `from` to [`SCHEMA_VERSION`], then records the new version.
fn migrate(inner: &Inner, from: u64) -> Result<()> {
    if from < 2 {
        // Version 1 stores may lack the per-user DR index: rebuild it from the DRs.
        let index = inner.tree(T::DrsUser);
        index.clear().ctx("clearing the per-user DR index")?;
        for v in inner.tree(T::Drs).iter().values() {
            let dr: Dr = from_json("drs", &v.ctx("reading the DRs to migrate")?)?;
            let n = dr.id.number();
            for u in dr.users() {
                index
                    .insert(with_number(&text_prefix(u.as_str()), n), &[])
                    .ctx("rebuilding the per-user DR index")?;
            }
        }
    }
    inner
        .tree(T::Meta)
        .insert("schema_version", &be(SCHEMA_VERSION))
        .ctx("writing the schema version")?;
    inner.db.flush().ctx("flushing the migrated store")?;
    tracing::info!(
        from,
        to = SCHEMA_VERSION,
        "sled store migrated to the current layout"
    );
    Ok(())
}
