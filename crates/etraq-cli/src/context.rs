//! What every command needs: the configuration (from `--config` or `./etraq.toml`) and the store
//! (from `--store` or the config).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use etraq_core::{Config, Store, StoreUrl};
use etraq_store_sled::SledStore;
use etraq_store_sqlite::SqliteStore;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "etraq.toml";

/// Loaded configuration and the chosen store.
pub struct Context {
    /// The configuration (defaults when there is no file).
    pub config: Config,
    /// True when the configuration came from a file.
    pub config_found: bool,
    /// The store to open.
    pub store_url: StoreUrl,
}

impl Context {
    /// Loads the configuration. A missing `./etraq.toml` means the defaults (evaluation mode); a
    /// missing file named with `--config` is an error.
    pub fn load(config: Option<&Path>, store: Option<&str>) -> Result<Context> {
        let (config_path, explicit) = match config {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        let (config, config_found) = if config_path.exists() {
            (Config::load(&config_path)?, true)
        } else if explicit {
            bail!("configuration file {} not found", config_path.display());
        } else {
            (evaluation_defaults(), false)
        };
        let store_url = match store {
            // A --store path is relative to the current directory, like any command-line path.
            Some(url) => StoreUrl::parse(url, Path::new("."))?,
            None => config.store_url()?,
        };
        Ok(Context {
            config,
            config_found,
            store_url,
        })
    }

    /// Opens the store.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>> {
        open_store(&self.store_url).await
    }

    /// The time zone for displayed times and DR ids.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone> {
        Ok(self.config.time_zone()?)
    }
}

/// The configuration without any file: the defaults plus the local domain `example.com`, so a
/// newcomer's first test mail (`swaks --to support@example.com`) is tracked.
pub fn evaluation_defaults() -> Config {
    Config {
        local_domains: vec![EVALUATION_DOMAIN.to_string()],
        ..Config::default()
    }
}

/// The local domain of evaluation mode without a configuration file.
pub const EVALUATION_DOMAIN: &str = "example.com";

/// Opens a store by URL. The backends' errors already name the path.
pub async fn open_store(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    Ok(match url {
        StoreUrl::Sqlite(p) => Arc::new(SqliteStore::open(p).await?),
        StoreUrl::Sled(p) => Arc::new(SledStore::open(p).await?),
    })
}

/// The URL form of a store location, for messages.
pub fn describe(url: &StoreUrl) -> String {
    match url {
        StoreUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
        StoreUrl::Sled(p) => format!("sled:{}", p.display()),
    }
}
