//! The crate's errors, and how they become the core's: a bad URL, a database that cannot be
//! reached and refused credentials each say so plainly, naming the target without its
//! password.

use std::fmt;

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The store URL does not parse.
    #[error("the store URL {url} is not a PostgreSQL URL: {reason}")]
    BadUrl {
        /// The URL, its password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server did not answer (down, wrong host or port, a firewall).
    #[error("cannot reach PostgreSQL at {target}: {reason}")]
    Unreachable {
        /// Host, port and database.
        target: Target,
        /// The client's words.
        reason: String,
    },
    /// The server refused the user or its password.
    #[error("PostgreSQL at {target} refused the credentials: {reason}")]
    Credentials {
        /// Host, port, database and user.
        target: Target,
        /// The server's words.
        reason: String,
    },
    /// A statement failed.
    #[error("PostgreSQL: {context}: {reason}")]
    Query {
        /// What etraq was doing.
        context: &'static str,
        /// The server's or the client's words.
        reason: String,
    },
    /// The database was migrated by a newer etraq.
    #[error(
        "the database at {target} has etraq schema {found}; this etraq knows up to {supported}"
    )]
    SchemaTooNew {
        /// Where.
        target: Target,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
}

/// Where a store lives, for messages: never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port` (or the socket directory).
    pub address: String,
    /// The database.
    pub database: String,
    /// The user.
    pub user: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (database {}, user {})",
            self.address, self.database, self.user
        )
    }
}

impl From<PgError> for etraq_core::Error {
    fn from(e: PgError) -> Self {
        match &e {
            PgError::BadUrl { url, .. } => etraq_core::Error::InvalidStoreUrl {
                url: url.clone(),
                reason: e.to_string(),
            },
            PgError::Unreachable { target, .. } => etraq_core::Error::Unavailable {
                what: format!("PostgreSQL at {target}"),
                reason: e.to_string(),
            },
            PgError::SchemaTooNew {
                target,
                found,
                supported,
            } => etraq_core::Error::SchemaTooNew {
                path: std::path::PathBuf::from(format!("postgres {target}")),
                found: *found,
                supported: *supported,
            },
            _ => etraq_core::Error::Backend {
                backend: "postgres",
                message: e.to_string(),
                source: None,
            },
        }
    }
}

/// A statement's error in words, with the server's detail when there is one.
pub(crate) fn words(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Attaches what etraq was doing to a failed statement.
pub(crate) trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, PgError>;
}

impl<T> Ctx<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, context: &'static str) -> Result<T, PgError> {
        self.map_err(|e| PgError::Query {
            context,
            reason: words(&e),
        })
    }
}

/// A failed statement as the core's error. A write that lost a race to another node or
/// session (a unique key taken meanwhile, a serialisation failure, a deadlock the server broke)
/// is a [`Conflict`](etraq_core::Error::Conflict): the caller re-reads and decides again, as
/// with the embedded stores. A connection that went away is
/// [`Unavailable`](etraq_core::Error::Unavailable): the gateway answers 4xx and the client
/// retries. Anything else is a backend failure naming what etraq was doing.
pub(crate) fn db_error(context: &'static str, e: &tokio_postgres::Error) -> etraq_core::Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if matches!(code, "23505" | "40001" | "40P01") {
            return etraq_core::Error::Conflict(format!("{context}: {}", db.message()));
        }
        // Class 08 (connection exception) and 57P (the server shutting down).
        if code.starts_with("08") || code.starts_with("57P") {
            return etraq_core::Error::Unavailable {
                what: "PostgreSQL".into(),
                reason: format!("{context}: {}", db.message()),
            };
        }
    } else if e.is_closed()
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
    {
        return etraq_core::Error::Unavailable {
            what: "PostgreSQL".into(),
            reason: format!("{context}: {e}"),
        };
    }
    etraq_core::Error::Backend {
        backend: "postgres",
        message: format!("{context}: {}", words(e)),
        source: None,
    }
}

/// [`db_error`] on a statement's result.
pub(crate) trait Db<T> {
    fn db(self, context: &'static str) -> Result<T, etraq_core::Error>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self, context: &'static str) -> Result<T, etraq_core::Error> {
        self.map_err(|e| db_error(context, &e))
    }
}
