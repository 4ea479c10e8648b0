//! `[store]`: where the data lives, as a URL (`sqlite:PATH`, `sled:PATH`,
//! `postgres://USER:PASSWORD@HOST:PORT/DATABASE`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// `[store]`: the data store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:PATH` or `sled:PATH` (relative to the config file's directory), or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` for a store several nodes share.
    pub url: String,
    /// SQLite: the writer's page cache in MiB. Pages beyond it are read from the mapped
    /// database file (the operating system's cache), so a small one costs little.
    pub cache_mb: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite:etraq-data/etraq.db".into(),
            cache_mb: 4,
        }
    }
}

/// Where a store lives, parsed from `sqlite:PATH`, `sled:PATH` or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A sled database directory.
    Sled(PathBuf),
    /// A PostgreSQL database: the URL as given (`postgres://` or `postgresql://`), password
    /// included. Never print it: [`StoreUrl::redacted`] hides the password.
    Postgres(String),
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            StoreUrl::Sled(p) => f.debug_tuple("Sled").field(p).finish(),
            StoreUrl::Postgres(_) => f.debug_tuple("Postgres").field(&self.redacted()).finish(),
        }
    }
}

impl StoreUrl {
    /// Parses a store URL; a relative path is resolved against `base_dir`.
    pub fn parse(url: &str, base_dir: &Path) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidStoreUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, path)) = url.split_once(':') else {
            return Err(invalid(
                "expected sqlite:PATH, sled:PATH or postgres://USER:PASSWORD@HOST/DATABASE",
            ));
        };
        if matches!(scheme, "postgres" | "postgresql") {
            if !path.starts_with("//") || path.len() <= 2 {
                return Err(invalid(
                    "expected postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                ));
            }
            return Ok(StoreUrl::Postgres(url.to_string()));
        }
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(invalid("the path is empty"));
        }
        let path = base_dir.join(path);
        match scheme {
            "sqlite" => Ok(StoreUrl::Sqlite(path)),
            "sled" => Ok(StoreUrl::Sled(path)),
            other => Err(invalid(&format!(
                "unknown scheme `{other}`: expected sqlite:, sled: or postgres://"
            ))),
        }
    }

    /// The file or directory of an embedded store; `None` for a database server.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreUrl::Sqlite(p) | StoreUrl::Sled(p) => Some(p),
            StoreUrl::Postgres(_) => None,
        }
    }

    /// The URL for messages and logs, a PostgreSQL password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreUrl::Sled(p) => format!("sled:{}", p.display()),
            StoreUrl::Postgres(url) => redact_password(url),
        }
    }
}

/// `scheme://user:password@host…` with the password replaced by `***`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The userinfo ends at the last `@` before the path (a password may hold `@`).
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{}", &rest[at + 1..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}
