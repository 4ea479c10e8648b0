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
    /// Where the configuration is (or would be) read from; the console saves it there.
    pub config_path: PathBuf,
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
            config_path,
            store_url,
        })
    }

    /// Opens the store.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>> {
        open_store_with(&self.store_url, self.config.store.cache_mb).await
    }

    /// The time zone for displayed times and DR ids.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone> {
        Ok(self.config.time_zone()?)
    }

    /// The use cases over a freshly opened store. The CLI acts as the built-in administrator
    /// ([`etraq_core::access::Actor::admin`]): whoever runs it has the store's files anyway.
    /// Close `app.store()` when done.
    pub async fn app(&self) -> Result<etraq_core::service::App> {
        let store = self.open_store().await?;
        let rules = match self.config.tracking_rules() {
            Ok(r) => r,
            Err(e) => {
                store.close().await?;
                return Err(e.into());
            }
        };
        let tracker = Arc::new(etraq_core::Tracker::new(store.clone(), rules));
        Ok(etraq_core::service::App::new(
            store,
            tracker,
            etraq_core::LiveConfig::new(self.config.clone()),
            self.logs_dir()?,
        )
        .with_mailer(self.outbound()?))
    }
}

impl Context {
    /// A copy for background tasks.
    pub fn clone_for_tasks(&self) -> Context {
        Context {
            config: self.config.clone(),
            config_found: self.config_found,
            config_path: self.config_path.clone(),
            store_url: self.store_url.clone(),
        }
    }

    /// The escalation policies of the configuration.
    pub fn policies(&self) -> Result<etraq_core::escalation::Policies> {
        (self.config)
            .policies()
            .map_err(|(key, e)| anyhow::anyhow!("{}: key `{key}`: {e}", self.config_label()))
    }

    fn config_label(&self) -> String {
        if self.config_found {
            "etraq.toml".into()
        } else {
            "the defaults".into()
        }
    }

    /// The name etraq gives itself (greeting, alert Message-IDs, loop header).
    pub fn host_name(&self) -> String {
        let h = self.config.smtp.hostname.trim();
        if h.is_empty() {
            etraq_smtp::host_name()
        } else {
            h.to_string()
        }
    }

    /// The sender of alert mail.
    pub fn alerts_from(&self) -> Result<etraq_core::EmailAddress> {
        let configured = self.config.escalation.alerts_from.trim();
        let text = if configured.is_empty() {
            format!(
                "etraq@{}",
                self.config
                    .local_domains
                    .first()
                    .map(String::as_str)
                    .unwrap_or("localhost")
            )
        } else {
            configured.to_string()
        };
        etraq_core::EmailAddress::parse(&text)
            .map_err(|e| anyhow::anyhow!("key `escalation.alerts_from`: {e}"))
    }

    /// The console's base URL for links in alert mail: `web.public_url`, else `serving` (the
    /// address `serve` actually bound, scheme included), else `http://` + `web.listen`.
    pub fn console_url(&self, serving: Option<&str>) -> String {
        let u = self.config.web.public_url.trim();
        match (u.is_empty(), serving) {
            (false, _) => u.to_string(),
            (true, Some(s)) => s.to_string(),
            (true, None) => format!("http://{}", self.config.web.listen),
        }
    }

    /// Where etraq's own mail goes: the upstream, or the evaluation Maildir.
    pub fn outbound(&self) -> Result<std::sync::Arc<dyn etraq_core::escalation::Outbound>> {
        Ok(match &self.config.upstream {
            Some(u) => {
                let helo = if u.helo.trim().is_empty() {
                    self.host_name()
                } else {
                    u.helo.trim().to_string()
                };
                std::sync::Arc::new(
                    etraq_smtp::LettreOutbound::new(
                        &u.host,
                        u.port,
                        &helo,
                        u.starttls,
                        std::time::Duration::from_secs(self.config.timeout_secs.max(1)),
                    )
                    .map_err(|e| anyhow::anyhow!("upstream {}:{}: {e}", u.host, u.port))?,
                )
            }
            None => std::sync::Arc::new(etraq_smtp::MaildirOutbound::new(std::sync::Arc::new(
                self.config.data_dir()?.join("maildir"),
            ))),
        })
    }

    /// A notifier mailing alerts from `store`'s outbox.
    pub fn notifier(
        &self,
        store: Arc<dyn Store>,
        serving: Option<&str>,
    ) -> Result<etraq_core::service::Notifier> {
        Ok(etraq_core::service::Notifier::new(
            store,
            self.outbound()?,
            self.alerts_from()?,
            self.console_url(serving),
            self.host_name(),
        ))
    }

    /// The log directory.
    /// Where this installation's campaign mail goes: `campaigns.relay`, else the upstream, else
    /// (evaluation mode) the Maildir.
    pub fn campaign_relay(&self, concurrency: u32) -> Result<Arc<dyn etraq_smtp::CampaignRelay>> {
        let ctx = self;
        let cfg = &ctx.config;
        let timeout = std::time::Duration::from_secs(cfg.timeout_secs.max(10));
        let helo = cfg
            .local_domains
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".into());
        let relay = cfg.campaigns.relay.trim();
        if let Some((host, port)) = relay.rsplit_once(':') {
            let port: u16 = port
                .parse()
                .map_err(|_| anyhow::anyhow!("campaigns.relay {relay:?} is not host:port"))?;
            return Ok(Arc::new(etraq_smtp::UpstreamRelay::new(
                host,
                port,
                &helo,
                concurrency,
                timeout,
            )));
        }
        if let Some(u) = &cfg.upstream {
            return Ok(Arc::new(etraq_smtp::UpstreamRelay::new(
                &u.host,
                u.port,
                &helo,
                concurrency,
                timeout,
            )));
        }
        Ok(Arc::new(etraq_smtp::MaildirRelay::new(
            cfg.data_dir()?.join("maildir"),
        )))
    }

    pub fn logs_dir(&self) -> Result<PathBuf> {
        Ok(crate::logfiles::dir(&self.config.data_dir()?))
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
    open_store_with(url, etraq_store_sqlite::DEFAULT_CACHE_MIB).await
}

/// [`open_store`] with the SQLite writer's page cache of `cache_mib` MiB (`store.cache_mb`).
pub async fn open_store_with(url: &StoreUrl, cache_mib: u32) -> Result<Arc<dyn Store>> {
    Ok(match url {
        StoreUrl::Sqlite(p) => Arc::new(SqliteStore::open_with_cache(p, cache_mib).await?),
        StoreUrl::Sled(p) => Arc::new(SledStore::open(p).await?),
        StoreUrl::Postgres(url) => Arc::new(etraq_store_postgres::PgStore::open(url).await?),
    })
}

/// The URL form of a store location, for messages.
pub fn describe(url: &StoreUrl) -> String {
    url.redacted()
}
