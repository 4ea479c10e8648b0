//! The schema: versioned migrations, applied in order at open, each in its own transaction
//! under a transaction-level advisory lock, so several etraq nodes starting at once against
//! one empty database migrate it once. The version lives in `etraq_meta`.
//!
//! Version 1 holds what every node needs before any area's tables: the key-value space, the
//! counters and the DR number sequence (one sequence, so two nodes never hand out one number),
//! and the leases of the jobs one node runs at a time. Version 2 is the outbox, 3 tracking,
//! escalation and the archive's search index, 4 campaigns, 5 the knowledge base.
//!
//! Records are JSON documents in `data` columns (the same documents the embedded stores keep),
//! with the columns that queries filter and sort on beside them. Times that order or filter are
//! integers as in the other stores (seconds or microseconds since the epoch), so a store moves
//! between backends without a conversion.

use tokio_postgres::Client;

use crate::error::{Ctx, PgError, Target};

/// The newest schema this build writes.
pub const SCHEMA_VERSION: i64 = 5;

/// An arbitrary constant: the advisory lock key of migrations ("etraq" in ASCII).
const MIGRATION_LOCK: i64 = 0x65_74_72_61_71;

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the key-value space, counters, DR numbers, leases.
    r#"
    CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    CREATE SEQUENCE dr_numbers START 1;
    CREATE TABLE leases (
        name   TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until  TIMESTAMPTZ NOT NULL
    );
    "#,
    // 1 → 2: the outbox of etraq's own messages, indexed by when each pending one is due
    // (microseconds since the epoch, as the other stores keep it) and by kind.
    r#"
    CREATE TABLE outbox (
        id              BIGSERIAL PRIMARY KEY,
        kind            TEXT NOT NULL,
        pending         BOOLEAN NOT NULL,
        next_attempt_at BIGINT,
        data            TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at, id) WHERE pending;
    CREATE INDEX outbox_kind ON outbox(kind, id);
    "#,
    // 2 → 3: tracking (DRs, mails with their raw message, Message-ID and party indexes,
    // users, response times, the gateway's delivery journal), escalation (alerts, cycles) and
    // the archive's full-text index (one `tsvector` over everything with a GIN index, and one
    // per field that `from:`/`to:`/`subject:` and the ranking read).
    r#"
    CREATE TABLE users (
        email TEXT PRIMARY KEY,
        data  TEXT NOT NULL
    );

    CREATE TABLE drs (
        number          BIGINT PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        status          TEXT NOT NULL,
        owner           TEXT NOT NULL,
        customer        TEXT NOT NULL,
        customer_domain TEXT NOT NULL,
        version         BIGINT NOT NULL,
        due_at          BIGINT,
        awaiting_since  BIGINT,
        users           TEXT NOT NULL,
        data            TEXT NOT NULL
    );
    CREATE INDEX drs_status ON drs(status, number);
    CREATE INDEX drs_due ON drs(due_at) WHERE due_at IS NOT NULL;
    CREATE INDEX drs_waiting ON drs(awaiting_since, number) WHERE status = 'open';
    CREATE INDEX drs_owner ON drs(owner, number);
    CREATE INDEX drs_customer ON drs(customer, number);
    CREATE INDEX drs_customer_domain ON drs(customer_domain, number);

    CREATE TABLE dr_users (
        "user" TEXT NOT NULL,
        number BIGINT NOT NULL,
        PRIMARY KEY ("user", number)
    );

    CREATE TABLE mails (
        seq            BIGSERIAL PRIMARY KEY,
        message_id     TEXT NOT NULL,
        direction      TEXT NOT NULL,
        tracked        BOOLEAN NOT NULL,
        dr_number      BIGINT,
        dr_id          TEXT,
        sender         TEXT,
        received_at    BIGINT NOT NULL,
        has_attachment BOOLEAN NOT NULL DEFAULT FALSE,
        data           TEXT NOT NULL
    );
    CREATE INDEX mails_message_id ON mails(message_id);
    CREATE INDEX mails_tracked ON mails(tracked, seq);
    CREATE INDEX mails_dr ON mails(dr_number, seq) WHERE dr_number IS NOT NULL;
    CREATE INDEX mails_received ON mails(received_at);

    CREATE TABLE message_ids (
        message_id TEXT NOT NULL,
        direction  TEXT NOT NULL,
        seq        BIGINT NOT NULL,
        PRIMARY KEY (message_id, direction)
    );

    CREATE TABLE mail_parties (
        address TEXT NOT NULL,
        domain  TEXT NOT NULL,
        seq     BIGINT NOT NULL,
        PRIMARY KEY (address, seq)
    );
    CREATE INDEX mail_parties_domain ON mail_parties(domain, seq);

    -- Stored as they came, not compressed: compressing every message costs the database
    -- server's CPU on the hot path (the other stores keep them uncompressed too).
    CREATE TABLE raw_messages (
        seq BIGINT PRIMARY KEY,
        raw BYTEA NOT NULL
    );
    ALTER TABLE raw_messages ALTER COLUMN raw SET STORAGE EXTERNAL;

    CREATE TABLE mail_search (
        seq         BIGINT PRIMARY KEY,
        everything  TSVECTOR NOT NULL,
        subject     TSVECTOR NOT NULL,
        sender      TSVECTOR NOT NULL,
        recipients  TSVECTOR NOT NULL,
        attachments TSVECTOR NOT NULL
    );
    CREATE INDEX mail_search_everything ON mail_search USING GIN (everything);

    CREATE TABLE responses (
        id           BIGSERIAL PRIMARY KEY,
        dr_number    BIGINT NOT NULL,
        "user"       TEXT NOT NULL,
        responded_at BIGINT NOT NULL,
        data         TEXT NOT NULL
    );
    CREATE INDEX responses_time ON responses(responded_at);

    CREATE TABLE alerts (
        id              BIGSERIAL PRIMARY KEY,
        dr_number       BIGINT NOT NULL,
        "user"          TEXT NOT NULL,
        pending         BOOLEAN NOT NULL,
        next_attempt_at BIGINT,
        data            TEXT NOT NULL
    );
    CREATE INDEX alerts_outbox ON alerts(next_attempt_at, id) WHERE pending;
    CREATE INDEX alerts_user ON alerts("user", id);
    CREATE INDEX alerts_dr ON alerts(dr_number, id);

    CREATE TABLE cycles (
        id   BIGSERIAL PRIMARY KEY,
        at   BIGINT NOT NULL,
        data TEXT NOT NULL
    );

    CREATE TABLE pending (
        id   BIGSERIAL PRIMARY KEY,
        data TEXT NOT NULL
    );
    "#,
    // 3 → 4: campaigns: audiences (lists, subscribers, memberships, the blocklist), campaigns
    // with their frozen recipients (indexed by state for the senders' claims), subscriber
    // events, link books, hits and engagement.
    r#"
    CREATE TABLE lists (
        key  TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    CREATE TABLE subscribers (
        id    BIGSERIAL PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        data  TEXT NOT NULL
    );
    CREATE TABLE members (
        list       TEXT NOT NULL,
        subscriber BIGINT NOT NULL,
        status     TEXT NOT NULL,
        PRIMARY KEY (list, subscriber)
    );
    CREATE TABLE blocklist (
        address TEXT PRIMARY KEY,
        data    TEXT NOT NULL
    );
    CREATE TABLE campaigns (
        id   BIGSERIAL PRIMARY KEY,
        key  TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );
    CREATE TABLE recipients (
        campaign BIGINT NOT NULL,
        id       BIGINT NOT NULL,
        state    INTEGER NOT NULL,
        data     TEXT NOT NULL,
        PRIMARY KEY (campaign, id)
    );
    CREATE INDEX recipients_state ON recipients(campaign, state, id);
    -- `n` orders a subscriber's events and a campaign's hits: from a sequence, so two nodes
    -- recording at once never take the same number.
    CREATE TABLE events (
        subscriber BIGINT NOT NULL,
        n          BIGSERIAL,
        data       TEXT NOT NULL,
        PRIMARY KEY (subscriber, n)
    );
    CREATE TABLE campaign_links (
        campaign BIGINT NOT NULL,
        n        INTEGER NOT NULL,
        url      TEXT NOT NULL,
        PRIMARY KEY (campaign, n)
    );
    CREATE UNIQUE INDEX campaign_links_url ON campaign_links(campaign, url);
    CREATE TABLE hits (
        campaign  BIGINT NOT NULL,
        n         BIGSERIAL,
        recipient BIGINT NOT NULL,
        order_id  TEXT,
        data      TEXT NOT NULL,
        PRIMARY KEY (campaign, n)
    );
    CREATE INDEX hits_recipient ON hits(campaign, recipient, n);
    CREATE UNIQUE INDEX hits_order ON hits(campaign, order_id) WHERE order_id IS NOT NULL;
    CREATE TABLE engagement (
        subscriber BIGINT PRIMARY KEY,
        millis     BIGINT NOT NULL,
        at         BIGINT NOT NULL
    );
    "#,
    // 4 → 5: the knowledge base: articles, every version of each, and a weighted `tsvector`
    // (title A, tags B, body D) with English stemming and a GIN index.
    r#"
    CREATE TABLE kb_articles (
        id     BIGSERIAL PRIMARY KEY,
        title  TEXT NOT NULL,
        public BOOLEAN NOT NULL,
        tsv    TSVECTOR NOT NULL,
        data   TEXT NOT NULL
    );
    CREATE INDEX kb_articles_tsv ON kb_articles USING GIN (tsv);
    CREATE TABLE kb_history (
        article BIGINT NOT NULL,
        version BIGINT NOT NULL,
        data    TEXT NOT NULL,
        PRIMARY KEY (article, version)
    );
    "#,
];

/// Brings the database to [`SCHEMA_VERSION`], or refuses one a newer etraq migrated.
pub(crate) async fn migrate(client: &mut Client, target: &Target) -> Result<i64, PgError> {
    loop {
        let tx = client.transaction().await.ctx("starting a migration")?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .ctx("waiting for the migration lock")?;
        // Under the lock: creating it is not safe against a concurrent creator otherwise (two
        // nodes opening an empty database at once collide in the catalogue).
        let exists = tx
            .query_one("SELECT to_regclass('etraq_meta') IS NOT NULL", &[])
            .await
            .ctx("looking for etraq_meta")?
            .get::<_, bool>(0);
        if !exists {
            tx.batch_execute("CREATE TABLE etraq_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                .await
                .ctx("creating etraq_meta")?;
        }
        let version: i64 = tx
            .query_opt(
                "SELECT value FROM etraq_meta WHERE key = 'schema_version'",
                &[],
            )
            .await
            .ctx("reading the schema version")?
            .map(|r| r.get::<_, String>(0))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(PgError::SchemaTooNew {
                target: target.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(version);
        };
        tx.batch_execute(sql).await.ctx("migrating the schema")?;
        tx.execute(
            "INSERT INTO etraq_meta(key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&(version + 1).to_string()],
        )
        .await
        .ctx("recording the schema version")?;
        tx.commit().await.ctx("committing a migration")?;
        tracing::info!(from = version, to = version + 1, %target, "migrated the PostgreSQL schema");
    }
}
