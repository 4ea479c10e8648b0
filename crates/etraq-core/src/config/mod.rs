//! `etraq.toml`: the configuration file (the eTraq "Configuration" dialog), one file per
//! section. The keys are a contract, listed with their defaults in `docs/configuration.md`.
//!
//! Every key has a default, so a file holding only `local_domains` is valid, and no file at all
//! gives the evaluation defaults. Unknown keys are errors: a typo such as `max_recipents` would
//! otherwise silently keep the default. Every error names the dotted key and the line.

mod campaigns;
mod escalation;
mod extractor;
mod logs;
mod smtp;
mod store;
mod support;
mod template;
mod tracking;
mod validator;
mod web;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::address::normalize_domain;
use crate::error::Error;

pub use campaigns::{CampaignsConfig, OnRestart};
pub use escalation::{BusinessHoursConfig, DepartmentConfig, EscalationConfig};
pub use extractor::{DEFAULT_EXCLUDED_EXTENSIONS, ExtractorConfig};
pub use logs::LogsConfig;
pub use smtp::{SmtpConfig, UpstreamConfig, parse_network};
pub use store::{StoreConfig, StoreUrl, redact_password};
pub use support::SupportConfig;
pub use template::default_config_toml;
pub use tracking::{TrackingConfig, TrackingRules};
pub use validator::ValidatorConfig;
pub use web::WebConfig;

/// The whole configuration. Field names are contract keys (`docs/configuration.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The company's own mail domains; every other domain is a customer's.
    pub local_domains: Vec<String>,
    /// Worker threads for the server (the original eTraq Server's "Thread"); 0 means one per CPU.
    pub threads: usize,
    /// General network timeout in seconds (the original eTraq Server's "Timeout").
    pub timeout_secs: u64,
    /// IANA time zone for DR id dates and displayed times; empty means the system's zone.
    pub timezone: String,
    /// The SMTP gateway.
    pub smtp: SmtpConfig,
    /// The company's mail server that accepted mail is relayed to. Absent: evaluation mode.
    pub upstream: Option<UpstreamConfig>,
    /// The web console.
    pub web: WebConfig,
    /// The escalation server.
    pub escalation: EscalationConfig,
    /// Tracking rules.
    pub tracking: TrackingConfig,
    /// Per-department settings, keyed by department name.
    pub departments: BTreeMap<String, DepartmentConfig>,
    /// Where the data lives.
    pub store: StoreConfig,
    /// The email validator utility.
    pub validator: ValidatorConfig,
    /// The email extractor utility.
    pub extractor: ExtractorConfig,
    /// Log files.
    pub logs: LogsConfig,
    /// Campaign sending.
    pub campaigns: CampaignsConfig,
    /// Customer service.
    pub support: SupportConfig,
    /// The directory relative paths in this config are resolved against (the config file's
    /// directory). Not a key in the file.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            local_domains: Vec::new(),
            threads: 0,
            timeout_secs: 60,
            timezone: String::new(),
            smtp: SmtpConfig::default(),
            upstream: None,
            web: WebConfig::default(),
            escalation: EscalationConfig::default(),
            tracking: TrackingConfig::default(),
            departments: BTreeMap::new(),
            store: StoreConfig::default(),
            validator: ValidatorConfig::default(),
            extractor: ExtractorConfig::default(),
            logs: LogsConfig::default(),
            campaigns: CampaignsConfig::default(),
            support: SupportConfig::default(),
            base_dir: PathBuf::from("."),
        }
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml(&text, path)?;
        config.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }

    /// Parses and validates TOML text; `path` is used in error messages only.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, Error> {
        let err = |key: String, message: String| Error::Config {
            path: path.to_path_buf(),
            key,
            message,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| err(String::new(), with_line(text, e.span(), e.message())))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut key = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().to_string();
            // For an unknown key the path names its table; name the key itself.
            if let Some(field) = message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
            {
                let named = key == field || key.ends_with(&format!(".{field}"));
                if key == "." || key.is_empty() {
                    key = field.to_string();
                } else if !named {
                    key = format!("{key}.{field}");
                }
            }
            if key == "." {
                key.clear();
            }
            err(key, with_line(text, inner.span(), &message))
        })?;
        config
            .validate()
            .map_err(|(key, message)| err(key, message))?;
        Ok(config)
    }

    /// Checks values serde cannot, section by section; the error names the key.
    fn validate(&self) -> Result<(), (String, String)> {
        if self.threads > 1024 {
            return Err((
                "threads".to_string(),
                "must be between 0 (one per CPU) and 1024".to_string(),
            ));
        }
        for (i, d) in self.local_domains.iter().enumerate() {
            normalize_domain(d).map_err(|e| (format!("local_domains[{i}]"), e.to_string()))?;
        }
        self.time_zone()
            .map_err(|e| ("timezone".to_string(), e.to_string()))?;
        self.tracking.check(&self.departments)?;
        self.extractor
            .check()
            .map_err(|(key, e)| (format!("extractor.{key}"), e))?;
        self.validator
            .check()
            .map_err(|(key, e)| (format!("validator.{key}"), e))?;
        StoreUrl::parse(&self.store.url, Path::new("."))
            .map_err(|e| ("store.url".to_string(), e.to_string()))?;
        self.check_escalation()?;
        self.smtp.check()?;
        if let Some(u) = &self.upstream {
            u.check()?;
        }
        self.web.check()?;
        self.campaigns
            .check()
            .map_err(|(key, e)| (format!("campaigns.{key}"), e))?;
        self.support
            .check()
            .map_err(|(key, e)| (format!("support.{key}"), e))?;
        Ok(())
    }

    /// The configured time zone, or the system's when `timezone` is empty.
    pub fn time_zone(&self) -> Result<TimeZone, Error> {
        if self.timezone.trim().is_empty() {
            return Ok(TimeZone::system());
        }
        TimeZone::get(self.timezone.trim()).map_err(|e| Error::InvalidTimeZone {
            name: self.timezone.clone(),
            reason: e.to_string(),
        })
    }

    /// The store location, resolved against the config file's directory.
    pub fn store_url(&self) -> Result<StoreUrl, Error> {
        StoreUrl::parse(&self.store.url, &self.base_dir)
    }

    /// The data directory: where the default store, logs and the evaluation Maildir live. It is
    /// the store's directory (for SQLite, the database file's parent); with PostgreSQL,
    /// `etraq-data` beside the config file (each node keeps its own logs there).
    pub fn data_dir(&self) -> Result<PathBuf, Error> {
        Ok(match self.store_url()? {
            StoreUrl::Sqlite(p) => p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.base_dir.clone()),
            StoreUrl::Sled(p) => p,
            StoreUrl::Postgres(_) => self.base_dir.join("etraq-data"),
        })
    }
}

fn with_line(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let message = message.trim();
    match span {
        Some(span) if span.start <= text.len() => {
            let line = text[..span.start].bytes().filter(|&b| b == b'\n').count() + 1;
            format!("{message} (line {line})")
        }
        _ => message.to_string(),
    }
}

/// The configuration in effect, shared by the parts of a running server (escalation scheduler,
/// console, tracker) so the console can change it without a restart. Readers take a snapshot
/// with [`LiveConfig::get`]; a change replaces the whole value at once.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    inner: std::sync::Arc<std::sync::RwLock<std::sync::Arc<Config>>>,
}

impl LiveConfig {
    /// Shares `config`.
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig {
            inner: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(config))),
        }
    }

    /// The configuration now.
    pub fn get(&self) -> std::sync::Arc<Config> {
        match self.inner.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the configuration.
    pub fn set(&self, config: Config) {
        let config = std::sync::Arc::new(config);
        match self.inner.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::from_toml(text, Path::new("etraq.toml"))
    }

    #[test]
    fn only_local_domains_is_valid() {
        let c = parse("local_domains = [\"Example.COM\"]").unwrap();
        assert_eq!(c.smtp, SmtpConfig::default());
        let rules = c.tracking_rules().unwrap();
        assert_eq!(rules.local_domains, vec!["example.com"]);
    }

    #[test]
    fn the_init_template_parses_to_the_defaults() {
        let text = default_config_toml(&["example.com".into()], None);
        let c = parse(&text).unwrap();
        let expected = Config {
            local_domains: vec!["example.com".into()],
            ..Config::default()
        };
        assert_eq!(c, expected);
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = parse("local_domains = []\n[smtp]\nmax_recipients = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("smtp.max_recipients"), "{e}");
        assert!(e.contains("line 3"), "{e}");

        let e = parse("[smtp]\nmax_recipents = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `smtp.max_recipents`:"), "{e}");

        let e = parse("bogus = 1\n").unwrap_err().to_string();
        assert!(e.contains("key `bogus`"), "{e}");

        let e = parse("[web]\npublic_listen = \"everywhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("web.public_listen"), "{e}");
        assert!(parse("[web]\npublic_listen = \"0.0.0.0:8081\"\n").is_ok());

        let e = parse("[escalation]\nwarn_after = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("escalation.warn_after"), "{e}");

        let e = parse("timezone = \"Mars/Olympus\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timezone"), "{e}");

        let e = parse("[store]\nurl = \"postgres:x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("store.url") && e.contains("postgres"), "{e}");

        let e = parse("local_domains = [\"ex ample.com\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("local_domains[0]"), "{e}");

        let e = parse("threads = 100000\n").unwrap_err().to_string();
        assert!(e.contains("key `threads`") && e.contains("1024"), "{e}");

        let e = parse("local_domains = [").unwrap_err().to_string();
        assert!(e.contains("etraq.toml"), "{e}");
    }

    #[test]
    fn store_urls() {
        let base = Path::new("/etc/etraq");
        assert_eq!(
            StoreUrl::parse("sqlite:data/e.db", base).unwrap(),
            StoreUrl::Sqlite("/etc/etraq/data/e.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sled:/var/lib/etraq", base).unwrap(),
            StoreUrl::Sled("/var/lib/etraq".into())
        );
        assert!(StoreUrl::parse("mysql:x", base).is_err());
        let pg = StoreUrl::parse("postgres://etraq:s3cr@t@db.example:5432/etraq", base).unwrap();
        assert_eq!(pg.path(), None);
        assert_eq!(pg.redacted(), "postgres://etraq:***@db.example:5432/etraq");
        assert!(!format!("{pg:?}").contains("s3cr"));
        assert!(StoreUrl::parse("postgres:", base).is_err());
        assert!(StoreUrl::parse("postgresql://", base).is_err());
        assert!(StoreUrl::parse("sqlite:", base).is_err());
        assert!(StoreUrl::parse("nocolon", base).is_err());
    }
}
