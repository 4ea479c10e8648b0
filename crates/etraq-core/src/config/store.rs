//! `[store]`: where the data lives, as a URL (`sqlite:PATH`, `sled:PATH`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// `[store]`: the data store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:PATH` or `sled:PATH`, relative to the config file's directory.
    pub url: String,
    /// SQLite: the writer's page cache in MiB (most of the process's memory beyond its
    /// baseline, once the archive is larger than it).
    pub cache_mb: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite:etraq-data/etraq.db".into(),
            cache_mb: 16,
        }
    }
}

/// Where a store lives, parsed from `sqlite:PATH` or `sled:PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A sled database directory.
    Sled(PathBuf),
}

impl StoreUrl {
    /// Parses a store URL; a relative path is resolved against `base_dir`.
    pub fn parse(url: &str, base_dir: &Path) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidStoreUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, path)) = url.split_once(':') else {
            return Err(invalid("expected sqlite:PATH or sled:PATH"));
        };
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(invalid("the path is empty"));
        }
        let path = base_dir.join(path);
        match scheme {
            "sqlite" => Ok(StoreUrl::Sqlite(path)),
            "sled" => Ok(StoreUrl::Sled(path)),
            other => Err(invalid(&format!(
                "unknown scheme `{other}`: expected sqlite: or sled:"
            ))),
        }
    }

    /// The file or directory of the store.
    pub fn path(&self) -> &Path {
        match self {
            StoreUrl::Sqlite(p) | StoreUrl::Sled(p) => p,
        }
    }
}
