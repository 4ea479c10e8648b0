//! # etraq-store-postgres
//!
//! etraq on PostgreSQL, so several etraq nodes can share one database (work in progress).
//!
//! This is the start of the PostgreSQL store: opening a store URL (`postgres://…`) with a clear
//! error for a URL that does not parse, a server that cannot be reached and credentials that
//! are refused; a connection pool (deadpool-postgres over tokio-postgres: no compile-time
//! database, a small tree, and the pooling the gateway's many sessions need); versioned
//! migrations that several nodes may run at once; and the first sub-traits, the key-value
//! space and the outbox. The other sub-traits of `Store` (tracking, escalation, campaigns, outbox, support,
//! jobs through the key-value space) come next, each with its tables in a new schema version
//! and the conformance suite run against a throwaway cluster ([`testing::Cluster`]).

#![warn(missing_docs)]

mod campaign;
mod copy;
mod error;
mod outbox;
mod read;
mod rows;
mod schema;
mod search;
mod store;
mod support;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use etraq_core::store::KeyValueStore;
use tokio_postgres::NoTls;

pub use error::{PgError, Target};
pub use schema::SCHEMA_VERSION;

use error::Ctx;

/// The most connections one node keeps.
const POOL_SIZE: usize = 16;

/// How long a connection attempt may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A store in a PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    target: Target,
    version: i64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("version", &self.version)
            .finish()
    }
}

/// The URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    etraq_core::config::redact_password(url)
}

fn target_of(config: &tokio_postgres::Config) -> Target {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            Host::Tcp(name) => format!("{name}:{p}"),
            Host::Unix(dir) => format!("{}:{p}", dir.display()),
        })
        .collect();
    Target {
        address: if hosts.is_empty() {
            "localhost:5432".into()
        } else {
            hosts.join(",")
        },
        database: config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres")
            .to_string(),
        user: config.get_user().unwrap_or("postgres").to_string(),
    }
}

/// A failed connection in words: refused credentials (SQLSTATE class 28) or unreachable.
fn connect_error(target: &Target, e: &tokio_postgres::Error) -> PgError {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("28") => PgError::Credentials {
            target: target.clone(),
            reason: db.message().to_string(),
        },
        Some(db) => PgError::Unreachable {
            target: target.clone(),
            reason: db.message().to_string(),
        },
        None => PgError::Unreachable {
            target: target.clone(),
            reason: e.to_string(),
        },
    }
}

impl PgStore {
    /// Opens the store at `url` (`postgres://user:password@host:port/database`, or the
    /// `key=value` form), migrating its schema. Fails with a plain error for a URL that does
    /// not parse, a server that cannot be reached, refused credentials and a schema written by
    /// a newer etraq.
    pub async fn open(url: &str) -> Result<PgStore, etraq_core::Error> {
        Ok(Self::open_pg(url).await?)
    }

    /// [`PgStore::open`] with the crate's own error.
    pub async fn open_pg(url: &str) -> Result<PgStore, PgError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| PgError::BadUrl {
            url: redact(url),
            reason: format!("{e}"),
        })?;
        if config.get_hosts().is_empty() {
            return Err(PgError::BadUrl {
                url: redact(url),
                reason: "it names no host (postgres://USER:PASSWORD@HOST:PORT/DATABASE)".into(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("etraq");
        let target = target_of(&config);
        // Migrations run on a connection of their own, before the pool opens.
        let (mut client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| connect_error(&target, &e))?;
        let conn = tokio::spawn(async move {
            let _ = connection.await;
        });
        let version = schema::migrate(&mut client, &target).await;
        drop(client);
        let _ = conn.await;
        let version = version?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| PgError::Query {
                context: "building the connection pool",
                reason: e.to_string(),
            })?;
        Ok(PgStore {
            pool,
            target,
            version,
        })
    }

    /// Where it lives.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The schema version it was migrated to.
    pub fn schema_version(&self) -> i64 {
        self.version
    }

    /// A pooled connection; [`Error::Closed`](etraq_core::Error::Closed) once the store is
    /// closed.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, etraq_core::Error> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Closed => etraq_core::Error::Closed,
            deadpool_postgres::PoolError::Backend(e) => connect_error(&self.target, &e).into(),
            other => PgError::Unreachable {
                target: self.target.clone(),
                reason: other.to_string(),
            }
            .into(),
        })
    }

    /// Closes the pool; later calls fail.
    pub fn close(&self) {
        self.pool.close();
    }
}

#[async_trait]
impl KeyValueStore for PgStore {
    async fn kv_get(&self, key: &str) -> etraq_core::Result<Option<String>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT value FROM kv WHERE key = $1", &[&key])
            .await
            .ctx("reading a key-value entry")?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn kv_put(&self, key: &str, value: Option<&str>) -> etraq_core::Result<()> {
        let c = self.client().await?;
        match value {
            Some(v) => c
                .execute(
                    "INSERT INTO kv(key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &v],
                )
                .await
                .ctx("writing a key-value entry")?,
            None => c
                .execute("DELETE FROM kv WHERE key = $1", &[&key])
                .await
                .ctx("deleting a key-value entry")?,
        };
        Ok(())
    }

    async fn kv_scan(&self, prefix: &str) -> etraq_core::Result<Vec<(String, String)>> {
        let c = self.client().await?;
        // starts_with, not LIKE: the prefix may hold `%` or `_`. Ordered bytewise, as the
        // other stores order keys.
        let rows = c
            .query(
                "SELECT key, value FROM kv WHERE starts_with(key, $1) ORDER BY key COLLATE \"C\"",
                &[&prefix],
            )
            .await
            .ctx("scanning the key-value space")?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://etraq:s3cret@db.example:5432/etraq"),
            "postgres://etraq:***@db.example:5432/etraq"
        );
        assert_eq!(
            redact("postgres://db.example/etraq"),
            "postgres://db.example/etraq"
        );
        assert_eq!(redact("host=x user=y"), "host=x user=y");
    }
}
