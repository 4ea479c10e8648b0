//! Opening a database file safely, and its versioned schema.
//!
//! The schema version lives in `PRAGMA user_version`, the file's owner in `PRAGMA
//! application_id`. Opening refuses, with a message naming the path, a file that is not SQLite, an
//! SQLite database of another application, and a store written by a newer etraq (its schema would
//! be misread). Migrations run in order, each in its own transaction.

use std::path::Path;
use std::time::Duration;

use etraq_core::Error;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::Ctx;

/// `application_id` of etraq stores: "ETRQ".
pub const APPLICATION_ID: i32 = 0x4554_5251;

/// The newest schema this build writes.
pub const SCHEMA_VERSION: i64 = 8;

/// How long a connection waits for a lock held by another connection or process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Schema migrations; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    r#"
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE users (
        email TEXT PRIMARY KEY,
        data  TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE drs (
        number          INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        status          TEXT NOT NULL,
        owner           TEXT NOT NULL,
        customer        TEXT NOT NULL,
        customer_domain TEXT NOT NULL,
        version         INTEGER NOT NULL,
        due_at          INTEGER,
        awaiting_since  INTEGER,
        users           TEXT NOT NULL,
        data            TEXT NOT NULL
    );
    CREATE INDEX drs_status ON drs(status, number);
    CREATE INDEX drs_due ON drs(due_at) WHERE due_at IS NOT NULL;
    CREATE INDEX drs_waiting ON drs(awaiting_since, number) WHERE status = 'open';
    CREATE INDEX drs_owner ON drs(owner, number);
    CREATE INDEX drs_customer ON drs(customer, number);
    CREATE INDEX drs_customer_domain ON drs(customer_domain, number);

    -- Owner and CC users of each DR: a console user's view is a range of this index.
    CREATE TABLE dr_users (
        user   TEXT NOT NULL,
        number INTEGER NOT NULL,
        PRIMARY KEY (user, number)
    ) WITHOUT ROWID;

    CREATE TABLE mails (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id  TEXT NOT NULL,
        direction   TEXT NOT NULL,
        tracked     INTEGER NOT NULL,
        dr_number   INTEGER,
        dr_id       TEXT,
        sender      TEXT,
        received_at INTEGER NOT NULL,
        data        TEXT NOT NULL
    );
    CREATE INDEX mails_message_id ON mails(message_id);
    CREATE INDEX mails_tracked ON mails(tracked, seq);
    CREATE INDEX mails_dr ON mails(dr_number, seq) WHERE dr_number IS NOT NULL;
    CREATE INDEX mails_received ON mails(received_at);

    CREATE TABLE message_ids (
        message_id TEXT NOT NULL,
        direction  TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        PRIMARY KEY (message_id, direction)
    ) WITHOUT ROWID;

    CREATE TABLE mail_parties (
        address TEXT NOT NULL,
        domain  TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        PRIMARY KEY (address, seq)
    ) WITHOUT ROWID;
    CREATE INDEX mail_parties_domain ON mail_parties(domain, seq);

    CREATE TABLE raw_messages (
        seq INTEGER PRIMARY KEY,
        raw BLOB NOT NULL
    );

    CREATE TABLE responses (
        id           INTEGER PRIMARY KEY,
        dr_number    INTEGER NOT NULL,
        user         TEXT NOT NULL,
        responded_at INTEGER NOT NULL,
        data         TEXT NOT NULL
    );
    CREATE INDEX responses_time ON responses(responded_at);

    CREATE TABLE alerts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        dr_number       INTEGER NOT NULL,
        user            TEXT NOT NULL,
        pending         INTEGER NOT NULL,
        next_attempt_at INTEGER,
        data            TEXT NOT NULL
    );
    CREATE INDEX alerts_outbox ON alerts(next_attempt_at) WHERE pending = 1;
    CREATE INDEX alerts_user ON alerts(user, id);
    CREATE INDEX alerts_dr ON alerts(dr_number, id);

    CREATE TABLE cycles (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        at   INTEGER NOT NULL,
        data TEXT NOT NULL
    );

    -- The console's credentials and settings.
    CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE pending (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        data TEXT NOT NULL
    );
    "#,
    // 1 → 2: campaign audiences. A subscriber's record holds its memberships; `members` repeats
    // them for counts and listings by list.
    r#"
    CREATE TABLE lists (
        key  TEXT PRIMARY KEY,
        data TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE subscribers (
        id    INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        data  TEXT NOT NULL
    );

    CREATE TABLE members (
        list       TEXT NOT NULL,
        subscriber INTEGER NOT NULL,
        status     TEXT NOT NULL,
        PRIMARY KEY (list, subscriber)
    ) WITHOUT ROWID;

    CREATE TABLE blocklist (
        address TEXT PRIMARY KEY,
        data    TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2 → 3: campaigns and their frozen recipients, indexed by state for the sender.
    r#"
    CREATE TABLE campaigns (
        id   INTEGER PRIMARY KEY,
        key  TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );

    CREATE TABLE recipients (
        campaign INTEGER NOT NULL,
        id       INTEGER NOT NULL,
        state    INTEGER NOT NULL,
        data     TEXT NOT NULL,
        PRIMARY KEY (campaign, id)
    ) WITHOUT ROWID;
    CREATE INDEX recipients_state ON recipients(campaign, state, id);
    "#,
    // 3 → 4: the outbox of etraq's own messages (confirmations, acknowledgements …) and
    // subscriber events.
    r#"
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        kind            TEXT NOT NULL,
        pending         INTEGER NOT NULL,
        next_attempt_at INTEGER,
        data            TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE pending = 1;
    CREATE INDEX outbox_kind ON outbox(kind, id);

    -- What happened between subscribers and campaigns (sent, bounce, open, click …), kept
    -- by subscriber: one B-tree, so the sender's commit per mail touches one page for it.
    CREATE TABLE events (
        subscriber INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        data       TEXT NOT NULL,
        PRIMARY KEY (subscriber, n)
    ) WITHOUT ROWID;
    "#,
    // 4 → 5: campaign tracking: each campaign's link book and what happened to its mail.
    r#"
    CREATE TABLE campaign_links (
        campaign INTEGER NOT NULL,
        n        INTEGER NOT NULL,
        url      TEXT NOT NULL,
        PRIMARY KEY (campaign, n)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX campaign_links_url ON campaign_links(campaign, url);

    CREATE TABLE hits (
        campaign  INTEGER NOT NULL,
        n         INTEGER NOT NULL,
        recipient INTEGER NOT NULL,
        order_id  TEXT,
        data      TEXT NOT NULL,
        PRIMARY KEY (campaign, n)
    ) WITHOUT ROWID;
    CREATE INDEX hits_recipient ON hits(campaign, recipient, n);
    CREATE UNIQUE INDEX hits_order ON hits(campaign, order_id) WHERE order_id IS NOT NULL;
    "#,
    // 5 → 6: each subscriber's engagement score (a decaying sum: thousandths of a point as of
    // `at`, Unix seconds), updated with every hit.
    r#"
    CREATE TABLE engagement (
        subscriber INTEGER PRIMARY KEY,
        millis     INTEGER NOT NULL,
        at         INTEGER NOT NULL
    );
    "#,
    // 6 → 7: full-text search. A contentless FTS5 index (the text is in the raw messages
    // already; snippets are cut from them) whose rowid is the mail's seq, written in the same
    // transaction as the mail; diacritics folded. Mail recorded before this version is indexed
    // after the migration, in batches, resuming where a stop left it (`search_backfill`).
    r#"
    CREATE VIRTUAL TABLE mail_fts USING fts5(
        subject, sender, recipients, body, attachments,
        content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    ALTER TABLE mails ADD COLUMN has_attachment INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE search_backfill (target INTEGER NOT NULL, upto INTEGER NOT NULL);
    INSERT INTO search_backfill SELECT COALESCE(MAX(seq), 0), 0 FROM mails;
    "#,
    // 7 → 8: the knowledge base: articles, every version of each, and an FTS5 index over title,
    // tags and body with the Porter stemmer, rowid = the article's id.
    r#"
    CREATE TABLE kb_articles (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        title  TEXT NOT NULL,
        public INTEGER NOT NULL,
        data   TEXT NOT NULL
    );
    CREATE TABLE kb_history (
        article INTEGER NOT NULL,
        version INTEGER NOT NULL,
        data    TEXT NOT NULL,
        PRIMARY KEY (article, version)
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE kb_fts USING fts5(
        title, tags, body,
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    "#,
];

/// Opens (creating if needed) the database at `path` for writing, checks it is an etraq store
/// this build understands, and migrates it to [`SCHEMA_VERSION`].
pub fn open_writer(path: &Path, cache_mib: u32) -> Result<Connection, Error> {
    check_file(path)?;
    let mut conn = open_with(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| open_error(path, e))?;
    configure(&conn, cache_mib).map_err(|e| open_error(path, e))?;
    check_owner(&conn, path)?;
    migrate(&mut conn, path)?;
    crate::search::backfill(&mut conn)?;
    Ok(conn)
}

/// Opens the checkpointer's connection to an already-opened store.
pub fn open_checkpointer(path: &Path) -> Result<Connection, Error> {
    let conn = open_with(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting busy_timeout")?;
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx("setting synchronous")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .ctx("turning auto-checkpoint off")?;
    Ok(conn)
}

/// How much of the database file each reader maps (SQLite maps lazily; this is address space,
/// not memory).
const READER_MMAP_BYTES: i64 = 1 << 30;

/// Opens a read-only connection to an already-opened store.
pub fn open_reader(path: &Path) -> Result<Connection, Error> {
    let conn = open_with(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting busy_timeout")?;
    conn.pragma_update(None, "query_only", true)
        .ctx("setting query_only")?;
    // Pages of the database file come from a shared mapping instead of a `pread` each: a
    // reader's own page cache is dropped whenever another connection commits, so under a
    // steady write load (tracking hits) every query otherwise re-reads its B-tree path.
    conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)
        .ctx("setting mmap_size")?;
    Ok(conn)
}

/// Opens `path` through the WAL-coalescing VFS ([`crate::vfs`]) when it could be registered, else
/// through SQLite's default.
fn open_with(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    match crate::vfs::name() {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs),
        None => Connection::open_with_flags(path, flags),
    }
}

fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            Error::ForeignStore {
                path: path.to_path_buf(),
                reason: "the file is not an SQLite database".into(),
            }
        }
        _ => Error::Backend {
            backend: "sqlite",
            message: format!("cannot open {}: {e}", path.display()),
            source: None,
        },
    }
}

/// Refuses paths that cannot hold a database, before SQLite creates anything.
fn check_file(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::ForeignStore {
            path: path.to_path_buf(),
            reason: "it is a directory; an SQLite store is a file (a sled store is a directory: use sled:PATH)".into(),
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    if let Ok(meta) = std::fs::metadata(path)
        && meta.len() > 0
    {
        use std::io::Read;
        let mut header = [0u8; 16];
        let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let n = f.read(&mut header).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if n < 16 || &header != b"SQLite format 3\0" {
            return Err(Error::ForeignStore {
                path: path.to_path_buf(),
                reason: "the file is not an SQLite database".into(),
            });
        }
    }
    Ok(())
}

/// WAL with `synchronous=FULL`: a commit is on disk when it returns, even on power loss.
fn configure(conn: &Connection, cache_mib: u32) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode stayed {mode}"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Checkpoints run on the checkpointer thread, not inside commits.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // When the WAL starts over, a file that grew under load is cut back to this.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // The writer's page cache (negative: KiB); readers keep SQLite's small default.
    conn.pragma_update(None, "cache_size", -(i64::from(cache_mib.max(1)) * 1024))?;
    // Pages of the database file not in that cache come from the shared mapping the readers
    // use too, instead of a `pread` each (writes still go to the WAL with `pwrite`). With it a
    // small cache costs nothing on a large store, and a small cache is cheaper at every commit:
    // SQLite scans its whole page hash when a B-tree rebalance has parked a page under the
    // lock-byte page's number (page 262,145: beyond the file of any store under 1 GiB). 16 MiB
    // → 4 MiB with the mapping: −6% and −7% CPU per mail at 20 sessions (`benches/smtp-ab.sh`).
    conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    // Each job of a group commit runs in a savepoint; its undo log (the statement journal)
    // stays in memory instead of a temporary file written page by page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

fn check_owner(conn: &Connection, path: &Path) -> Result<(), Error> {
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .ctx("reading application_id")?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("reading user_version")?;
    if app != 0 && app != APPLICATION_ID {
        return Err(Error::ForeignStore {
            path: path.to_path_buf(),
            reason: format!("an SQLite database of another application (application_id {app:#x})"),
        });
    }
    if app == 0 {
        let has_tables: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the schema")?;
        if let Some(table) = has_tables {
            return Err(Error::ForeignStore {
                path: path.to_path_buf(),
                reason: format!(
                    "an SQLite database of another application (it has a table {table:?})"
                ),
            });
        }
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    loop {
        // The version is read inside the exclusive transaction, so two processes opening a new
        // store at once migrate it once.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .ctx("starting a migration")?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx("reading user_version")?;
        if version >= SCHEMA_VERSION {
            return Ok(());
        }
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Err(Error::SchemaTooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        };
        tx.execute_batch(sql).ctx("migrating the schema")?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .ctx("setting application_id")?;
        tx.pragma_update(None, "user_version", version + 1)
            .ctx("setting user_version")?;
        tx.commit().ctx("committing a migration")?;
        tracing::info!(path = %path.display(), from = version, to = version + 1, "migrated store schema");
    }
}
