//! The schema: versioned migrations, applied in order at open, each in its own transaction
//! under a transaction-level advisory lock, so several etraq nodes starting at once against
//! one empty database migrate it once. The version lives in `etraq_meta`.
//!
//! Version 1 holds what every node needs before any area's tables: the key-value space, the
//! counters and the DR number sequence (one sequence, so two nodes never hand out one number),
//! and the leases of the jobs one node runs at a time. Version 2 is the outbox. The other
//! areas' tables follow in the next versions as their sub-traits are written.

use tokio_postgres::Client;

use crate::error::{Ctx, PgError, Target};

/// The newest schema this build writes.
pub const SCHEMA_VERSION: i64 = 2;

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
];

/// Brings the database to [`SCHEMA_VERSION`], or refuses one a newer etraq migrated.
pub(crate) async fn migrate(client: &mut Client, target: &Target) -> Result<i64, PgError> {
    loop {
        let tx = client.transaction().await.ctx("starting a migration")?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .ctx("waiting for the migration lock")?;
        // Under the lock: `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent
        // creator (two nodes opening an empty database at once collide in the catalogue).
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS etraq_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .await
        .ctx("creating etraq_meta")?;
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
