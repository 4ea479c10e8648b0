//! `etraq.toml`: the configuration file (the eTraq "Configuration" dialog), DESIGN §11.
//!
//! Every key has a default, so a file holding only `local_domains` is valid, and no file at all
//! gives the evaluation defaults. Unknown keys are errors: a typo such as `max_recipents` would
//! otherwise silently keep the default. Every error names the dotted key and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::address::{EmailAddress, normalize_domain};
use crate::duration::HumanDuration;
use crate::{Error, dr_id};

/// The whole configuration. Field names are the contract keys of DESIGN §11.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The company's own mail domains; every other domain is a customer's.
    pub local_domains: Vec<String>,
    /// Worker threads for the server (the seed's "Thread"); 0 means one per CPU.
    pub threads: usize,
    /// General network timeout in seconds (the seed's "Timeout").
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
    /// The directory relative paths in this config are resolved against (the config file's
    /// directory). Not a key in the file.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[smtp]`: the gateway listener and its limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Address the gateway listens on.
    pub listen: String,
    /// Largest message accepted, in bytes (552 5.3.4 above it).
    pub max_message_bytes: u64,
    /// Most recipients per transaction (452 4.5.3 above it).
    pub max_recipients: usize,
    /// Client networks (CIDR) allowed to relay to non-local domains.
    pub relay_networks: Vec<String>,
    /// PEM certificate chain for STARTTLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for STARTTLS.
    pub tls_key: Option<PathBuf>,
    /// Name the gateway gives in its greeting and EHLO reply (default: the host name).
    pub hostname: String,
    /// Longest command line accepted (500 5.5.2 above it); at most 4096.
    pub max_line_length: usize,
    /// How long a client may take to send each command, counted from etraq's previous reply
    /// (a deadline for the whole line, however slowly its bytes arrive).
    pub command_timeout: HumanDuration,
    /// How long a client may stay silent while sending a message.
    pub data_timeout: HumanDuration,
    /// Longest a session may last in all (421 4.4.2 past it).
    pub session_timeout: HumanDuration,
    /// Largest header section of a message, in bytes (552 5.3.4 above it).
    pub max_header_bytes: u64,
    /// Longest physical header line, in bytes (552 5.3.4 above it).
    pub max_header_line: usize,
    /// Most simultaneous client connections (421 past it).
    pub max_connections: usize,
    /// Most simultaneous connections from one client address outside `relay_networks`
    /// (421 past it), so one stranger cannot take every slot.
    pub max_connections_per_ip: usize,
    /// Protocol errors a session may make before it is closed (421).
    pub max_errors: u32,
    /// How long `etraq serve` lets sessions in flight finish after SIGINT/SIGTERM.
    pub shutdown_grace: HumanDuration,
}

/// `[upstream]`: the company's mail server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Host name or IP address.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// The EHLO name etraq gives the upstream (default: `smtp.hostname`).
    pub helo: String,
    /// How long to wait for the upstream's verdict after the message data (RFC 5321 suggests
    /// 10 minutes).
    pub data_timeout: HumanDuration,
    /// Require STARTTLS (with a publicly trusted certificate) when etraq sends its own mail
    /// (alerts) to the upstream.
    pub starttls: bool,
}

/// `[web]`: the console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address the console listens on.
    pub listen: String,
    /// The console's address as users reach it, for links in alert mail (default:
    /// `http://` + `listen`).
    pub public_url: String,
    /// PEM certificate chain: with `tls_key`, the console speaks HTTPS only, and its session
    /// cookies are `Secure`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long a sign-in lasts without "remember me" (the cookie also ends with the browser).
    pub session_lifetime: HumanDuration,
    /// How long a sign-in with "remember me" lasts.
    pub remember_lifetime: HumanDuration,
    /// Failed sign-ins per account (and ten times as many per client address) within
    /// `login_window` before further attempts get 429.
    pub login_attempts: u32,
    /// The window of `login_attempts`.
    pub login_window: HumanDuration,
}

/// `[escalation]`: when a waiting customer produces a warning and an escalation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationConfig {
    /// Minutes between escalation cycles.
    pub interval_minutes: u64,
    /// Waiting time after which the owner is warned.
    pub warn_after: HumanDuration,
    /// Waiting time after which the DR is escalated to the owner's supervisor.
    pub escalate_after: HumanDuration,
    /// Optional interval after which a further level goes one step up the supervisor chain.
    pub reescalate_every: Option<HumanDuration>,
    /// Count only business time; absent: wall-clock time.
    pub business_hours: Option<BusinessHoursConfig>,
    /// Sender address of alert mail (default `etraq@` the first local domain).
    pub alerts_from: String,
}

/// `[escalation.business_hours]` (and per department): the time that counts while a customer
/// waits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHoursConfig {
    /// Working days: `mon` … `sun`.
    pub weekdays: Vec<String>,
    /// Opening time, local (`09:00`).
    pub start: String,
    /// Closing time, local (`17:00`).
    pub end: String,
    /// IANA time zone; empty: the global `timezone`.
    pub timezone: String,
    /// Days off (`2026-12-25`).
    pub holidays: Vec<String>,
}

impl Default for BusinessHoursConfig {
    fn default() -> Self {
        BusinessHoursConfig {
            weekdays: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            start: "09:00".into(),
            end: "17:00".into(),
            timezone: String::new(),
            holidays: Vec::new(),
        }
    }
}

/// `[logs]`: log files in the data directory's `logs/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Days log files are kept; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig { retention_days: 30 }
    }
}

/// `[tracking]`: DR ids, subject tags and who is tracked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    /// DR id prefix for owners without a department prefix.
    pub dr_prefix: String,
    /// Whether the gateway adds `[DR-ID]` to the subject of tracked mail it relays.
    pub subject_tag: bool,
    /// Whether the subject tag is also added to inbound (customer) mail. Changing the subject
    /// breaks the sender's DKIM signature; turn this off if the mail server behind etraq
    /// enforces DMARC on inbound mail (the `X-Etraq-DR` header is still added).
    pub subject_tag_inbound: bool,
    /// Senders never tracked: full addresses, or domains as `@example.com` or `example.com`.
    pub exclude_senders: Vec<String>,
    /// Whether a local address that is not a registered user is tracked (as an implicit agent
    /// with tracking on). Off: mail to unregistered addresses is `Tracking Disabled For Recipient`.
    pub track_unregistered_users: bool,
}

/// `[departments.NAME]`: settings of one department.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DepartmentConfig {
    /// DR id prefix for DRs owned by members of this department (default: `tracking.dr_prefix`).
    pub prefix: Option<String>,
    /// Escalation overrides for this department.
    pub warn_after: Option<HumanDuration>,
    /// See [`EscalationConfig::escalate_after`].
    pub escalate_after: Option<HumanDuration>,
    /// See [`EscalationConfig::reescalate_every`].
    pub reescalate_every: Option<HumanDuration>,
    /// See [`EscalationConfig::business_hours`].
    pub business_hours: Option<BusinessHoursConfig>,
}

/// `[store]`: the data store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:PATH` or `sled:PATH`, relative to the config file's directory.
    pub url: String,
}

/// `[validator]`: defaults for `etraq validate` (same names as its flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidatorConfig {
    /// DNS servers as `IP[:PORT]`: primary first, then secondary.
    pub dns: Vec<String>,
    /// The EHLO name of probes.
    pub helo: String,
    /// The MAIL FROM address of probes.
    pub mail_from: String,
    /// The SMTP port probed.
    pub smtp_port: u16,
    /// Parallel probes.
    pub threads: usize,
    /// Timeout per network step, in seconds.
    pub timeout: u64,
    /// Addresses checked per SMTP session.
    pub per_domain: usize,
    /// Probe only the most preferred MX.
    pub top_mx_only: bool,
    /// Local parts never checked.
    #[serde(alias = "exclude-user")]
    pub exclude_user: Vec<String>,
    /// Keywords: addresses containing one are never checked.
    #[serde(alias = "exclude-keyword")]
    pub exclude_keyword: Vec<String>,
    /// Addresses never checked.
    pub exclude: Vec<String>,
    /// Retry greylisted addresses after this long, in the same run.
    #[serde(alias = "recheck-after")]
    pub recheck_after: Option<HumanDuration>,
    /// SMTP sessions in flight to one mail exchanger at once.
    #[serde(alias = "per-mx")]
    pub per_mx: usize,
    /// Accept quoted local parts (`"john doe"@example.com`).
    #[serde(alias = "allow-quoted")]
    pub allow_quoted: bool,
}

impl ValidatorConfig {
    /// Checks the values a run cannot use; the error names the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: String| Err((key.to_string(), why));
        if !(1..=1024).contains(&self.threads) {
            return bad("threads", "must be between 1 and 1024".into());
        }
        if self.timeout == 0 {
            return bad("timeout", "must be at least 1 second".into());
        }
        if self.per_domain == 0 {
            return bad("per_domain", "must be at least 1".into());
        }
        if self.per_mx == 0 {
            return bad("per_mx", "must be at least 1".into());
        }
        if self.helo.trim().is_empty() || self.helo.contains(char::is_whitespace) {
            return bad("helo", format!("{:?} is not a host name", self.helo));
        }
        if !self.mail_from.is_empty() && EmailAddress::parse(&self.mail_from).is_err() {
            return bad(
                "mail_from",
                format!(
                    "{:?} is not an address (\"\" is the null sender)",
                    self.mail_from
                ),
            );
        }
        for (i, d) in self.dns.iter().enumerate() {
            let d = d.trim();
            if d.parse::<std::net::SocketAddr>().is_err() && d.parse::<std::net::IpAddr>().is_err()
            {
                return bad(&format!("dns[{i}]"), format!("{d:?} is not IP or IP:port"));
            }
        }
        Ok(())
    }
}

/// `[extractor]`: defaults for `etraq extract` (same names as its flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractorConfig {
    /// Parallel fetches.
    pub threads: usize,
    /// Retries per page.
    pub retries: u32,
    /// Pages fetched per domain at most.
    #[serde(alias = "links-per-domain")]
    pub links_per_domain: usize,
    /// Sites visited at most (0: unlimited).
    #[serde(alias = "max-sites")]
    pub max_sites: usize,
    /// Follow links to other sites.
    #[serde(alias = "follow-external")]
    pub follow_external: bool,
    /// URL path suffixes never fetched.
    #[serde(alias = "exclude-ext")]
    pub exclude_ext: Vec<String>,
    /// Link depth from the seeds.
    pub depth: u32,
    /// Ignore robots.txt.
    #[serde(alias = "no-robots")]
    pub no_robots: bool,
    /// Delay between requests to one host, in milliseconds.
    pub delay: u64,
    /// Timeout per request, in seconds.
    pub timeout: u64,
    /// Largest page read, in bytes; a larger page is skipped and reported.
    #[serde(alias = "max-page-bytes")]
    pub max_page_bytes: u64,
    /// Redirects followed per request; more is reported as a loop.
    #[serde(alias = "max-redirects")]
    pub max_redirects: usize,
}

impl ExtractorConfig {
    /// Checks the values a crawl cannot run with; the error names the key (as in the file and
    /// as the flag's name with `-`).
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: &str| Err((key.to_string(), why.to_string()));
        if !(1..=1024).contains(&self.threads) {
            return bad("threads", "must be between 1 and 1024");
        }
        if self.timeout == 0 {
            return bad("timeout", "must be at least 1 second");
        }
        if self.max_page_bytes < 1024 {
            return bad("max_page_bytes", "must be at least 1024");
        }
        if self.max_redirects > 100 {
            return bad("max_redirects", "must be at most 100");
        }
        if self.retries > 20 {
            return bad("retries", "must be at most 20");
        }
        Ok(())
    }
}

/// Link extensions the extractor skips by default: images, media, fonts, archives, documents,
/// scripts and styles never hold a page's addresses in a form it reads.
pub const DEFAULT_EXCLUDED_EXTENSIONS: &[&str] = &[
    ".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp", ".ico", ".bmp", ".css", ".js", ".pdf",
    ".zip", ".gz", ".tgz", ".rar", ".7z", ".exe", ".dmg", ".iso", ".mp3", ".mp4", ".avi", ".mov",
    ".webm", ".woff", ".woff2", ".ttf", ".eot",
];

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
            base_dir: PathBuf::from("."),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: "127.0.0.1:2525".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            relay_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            tls_cert: None,
            tls_key: None,
            hostname: String::new(),
            max_line_length: 4096,
            command_timeout: HumanDuration::from_secs(300),
            data_timeout: HumanDuration::from_secs(600),
            session_timeout: HumanDuration::from_secs(3600),
            max_header_bytes: 256 * 1024,
            max_header_line: 16 * 1024,
            max_connections: 1000,
            max_connections_per_ip: 20,
            max_errors: 10,
            shutdown_grace: HumanDuration::from_secs(30),
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            host: "127.0.0.1".into(),
            port: 25,
            helo: String::new(),
            data_timeout: HumanDuration::from_secs(600),
            starttls: false,
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            tls_cert: None,
            tls_key: None,
            session_lifetime: HumanDuration::from_secs(12 * 3600),
            remember_lifetime: HumanDuration::from_secs(30 * 86_400),
            login_attempts: 5,
            login_window: HumanDuration::from_secs(15 * 60),
        }
    }
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            interval_minutes: 15,
            warn_after: HumanDuration::from_secs(4 * 3600),
            escalate_after: HumanDuration::from_secs(24 * 3600),
            reescalate_every: None,
            business_hours: None,
            alerts_from: String::new(),
        }
    }
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            dr_prefix: "SUPP".into(),
            subject_tag: true,
            subject_tag_inbound: true,
            exclude_senders: Vec::new(),
            track_unregistered_users: true,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite:etraq-data/etraq.db".into(),
        }
    }
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            dns: Vec::new(),
            helo: "localhost".into(),
            mail_from: "postmaster@localhost".into(),
            smtp_port: 25,
            threads: 8,
            timeout: 20,
            per_domain: 20,
            top_mx_only: false,
            exclude_user: Vec::new(),
            exclude_keyword: Vec::new(),
            exclude: Vec::new(),
            recheck_after: None,
            per_mx: 2,
            allow_quoted: false,
        }
    }
}

impl Default for ExtractorConfig {
    fn default() -> Self {
        ExtractorConfig {
            threads: 8,
            retries: 2,
            links_per_domain: 200,
            max_sites: 10,
            follow_external: false,
            exclude_ext: DEFAULT_EXCLUDED_EXTENSIONS
                .iter()
                .map(|e| e.to_string())
                .collect(),
            depth: 3,
            no_robots: false,
            delay: 500,
            timeout: 20,
            max_page_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
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

/// Compiled forms of the config that tracking needs on every message: normalised local domains
/// and exclusions, the time zone. Built once by [`Config::tracking_rules`], so the hot path never
/// re-parses strings.
#[derive(Clone, Debug)]
pub struct TrackingRules {
    /// Normalised local domains.
    pub local_domains: Vec<String>,
    /// Excluded sender addresses.
    pub exclude_addresses: Vec<EmailAddress>,
    /// Excluded sender domains (normalised).
    pub exclude_domains: Vec<String>,
    /// The default DR prefix.
    pub dr_prefix: String,
    /// Department name → DR prefix.
    pub department_prefixes: BTreeMap<String, String>,
    /// See [`TrackingConfig::track_unregistered_users`].
    pub track_unregistered_users: bool,
    /// The zone DR id dates are taken in.
    pub time_zone: TimeZone,
}

impl TrackingRules {
    /// True when `addr` is in one of the company's domains.
    pub fn is_local(&self, addr: &EmailAddress) -> bool {
        self.local_domains.iter().any(|d| d == addr.domain())
    }

    /// True when mail from `addr` is never tracked.
    pub fn is_excluded_sender(&self, addr: &EmailAddress) -> bool {
        self.exclude_addresses.contains(addr)
            || self.exclude_domains.iter().any(|d| d == addr.domain())
    }

    /// The DR prefix for an owner in `department`.
    pub fn prefix_for(&self, department: Option<&str>) -> &str {
        department
            .and_then(|d| self.department_prefixes.get(d))
            .map(String::as_str)
            .unwrap_or(&self.dr_prefix)
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

    /// Checks values serde cannot: domains, time zone, prefixes, exclusions, the store URL.
    fn validate(&self) -> Result<(), (String, String)> {
        for (i, d) in self.local_domains.iter().enumerate() {
            normalize_domain(d).map_err(|e| (format!("local_domains[{i}]"), e.to_string()))?;
        }
        self.time_zone()
            .map_err(|e| ("timezone".to_string(), e.to_string()))?;
        if !dr_id::valid_prefix(&self.tracking.dr_prefix) {
            return Err((
                "tracking.dr_prefix".into(),
                format!(
                    "{:?} is not a valid prefix: use 1 to 16 ASCII letters or digits",
                    self.tracking.dr_prefix
                ),
            ));
        }
        for (name, dep) in &self.departments {
            if let Some(p) = &dep.prefix
                && !dr_id::valid_prefix(p)
            {
                return Err((
                    format!("departments.{name}.prefix"),
                    format!("{p:?} is not a valid prefix: use 1 to 16 ASCII letters or digits"),
                ));
            }
        }
        for (i, s) in self.tracking.exclude_senders.iter().enumerate() {
            parse_exclusion(s)
                .map_err(|e| (format!("tracking.exclude_senders[{i}]"), e.to_string()))?;
        }
        self.extractor
            .check()
            .map_err(|(key, e)| (format!("extractor.{key}"), e))?;
        self.validator
            .check()
            .map_err(|(key, e)| (format!("validator.{key}"), e))?;
        StoreUrl::parse(&self.store.url, Path::new("."))
            .map_err(|e| ("store.url".to_string(), e.to_string()))?;
        if self.escalation.interval_minutes == 0 {
            return Err((
                "escalation.interval_minutes".into(),
                "must be at least 1".into(),
            ));
        }
        crate::escalation::Policies::from_config(self).map_err(|(k, e)| (k, e.to_string()))?;
        if let Some(r) = self.escalation.reescalate_every
            && r.as_secs() == 0
        {
            return Err((
                "escalation.reescalate_every".into(),
                "must be longer than 0".into(),
            ));
        }
        if self.smtp.max_recipients == 0 {
            return Err(("smtp.max_recipients".into(), "must be at least 1".into()));
        }
        if !(512..=4096).contains(&self.smtp.max_line_length) {
            return Err((
                "smtp.max_line_length".into(),
                "must be between 512 (RFC 5321) and 4096".into(),
            ));
        }
        if self.smtp.max_connections == 0 {
            return Err(("smtp.max_connections".into(), "must be at least 1".into()));
        }
        if self.smtp.max_connections_per_ip == 0 {
            return Err((
                "smtp.max_connections_per_ip".into(),
                "must be at least 1".into(),
            ));
        }
        if self.smtp.max_header_bytes < 4096 {
            return Err((
                "smtp.max_header_bytes".into(),
                "must be at least 4096".into(),
            ));
        }
        if self.smtp.max_header_line < 998 {
            return Err((
                "smtp.max_header_line".into(),
                "must be at least 998 (RFC 5322)".into(),
            ));
        }
        if self.smtp.command_timeout.as_secs() < 1 || self.smtp.session_timeout.as_secs() < 1 {
            return Err((
                "smtp.session_timeout".into(),
                "command_timeout and session_timeout must be at least 1 second".into(),
            ));
        }
        if self.smtp.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "smtp.listen".into(),
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:2525",
                    self.smtp.listen
                ),
            ));
        }
        if self.web.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "web.listen".into(),
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:8080",
                    self.web.listen
                ),
            ));
        }
        for (i, n) in self.smtp.relay_networks.iter().enumerate() {
            if parse_network(n).is_none() {
                return Err((
                    format!("smtp.relay_networks[{i}]"),
                    format!("{n:?} is not an IP network such as 192.0.2.0/24 or ::1"),
                ));
            }
        }
        if self.smtp.tls_cert.is_some() != self.smtp.tls_key.is_some() {
            return Err((
                "smtp.tls_key".into(),
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if let Some(u) = &self.upstream
            && u.host.trim().is_empty()
        {
            return Err(("upstream.host".into(), "must not be empty".into()));
        }
        if self.web.tls_cert.is_some() != self.web.tls_key.is_some() {
            return Err((
                "web.tls_key".into(),
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if self.web.session_lifetime.as_secs() < 60 {
            return Err((
                "web.session_lifetime".into(),
                "must be at least 1 minute".into(),
            ));
        }
        if self.web.remember_lifetime.as_secs() < 60 {
            return Err((
                "web.remember_lifetime".into(),
                "must be at least 1 minute".into(),
            ));
        }
        if self.web.login_attempts == 0 {
            return Err(("web.login_attempts".into(), "must be at least 1".into()));
        }
        if self.web.login_window.as_secs() == 0 {
            return Err(("web.login_window".into(), "must be longer than 0".into()));
        }
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
    /// the store's directory (for SQLite, the database file's parent).
    pub fn data_dir(&self) -> Result<PathBuf, Error> {
        Ok(match self.store_url()? {
            StoreUrl::Sqlite(p) => p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.base_dir.clone()),
            StoreUrl::Sled(p) => p,
        })
    }

    /// Compiles the rules the tracker applies to every message.
    pub fn tracking_rules(&self) -> Result<TrackingRules, Error> {
        let mut local_domains = Vec::new();
        for d in &self.local_domains {
            local_domains.push(normalize_domain(d)?);
        }
        let mut exclude_addresses = Vec::new();
        let mut exclude_domains = Vec::new();
        for s in &self.tracking.exclude_senders {
            match parse_exclusion(s)? {
                Exclusion::Address(a) => exclude_addresses.push(a),
                Exclusion::Domain(d) => exclude_domains.push(d),
            }
        }
        let department_prefixes = self
            .departments
            .iter()
            .filter_map(|(n, d)| {
                d.prefix
                    .as_ref()
                    .map(|p| (n.clone(), p.to_ascii_uppercase()))
            })
            .collect();
        Ok(TrackingRules {
            local_domains,
            exclude_addresses,
            exclude_domains,
            dr_prefix: self.tracking.dr_prefix.to_ascii_uppercase(),
            department_prefixes,
            track_unregistered_users: self.tracking.track_unregistered_users,
            time_zone: self.time_zone()?,
        })
    }
}

/// Parses `IP/PREFIX` or a bare IP (a single host) into a network: its address and prefix
/// length. Used for `smtp.relay_networks`.
pub fn parse_network(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let s = s.trim();
    let (ip, prefix) = match s.split_once('/') {
        Some((ip, p)) => (
            ip.parse::<std::net::IpAddr>().ok()?,
            Some(p.parse::<u8>().ok()?),
        ),
        None => (s.parse::<std::net::IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((ip, prefix))
}

enum Exclusion {
    Address(EmailAddress),
    Domain(String),
}

fn parse_exclusion(s: &str) -> Result<Exclusion, Error> {
    let t = s.trim();
    if let Some(d) = t.strip_prefix('@') {
        Ok(Exclusion::Domain(normalize_domain(d)?))
    } else if t.contains('@') {
        Ok(Exclusion::Address(EmailAddress::parse(t)?))
    } else {
        Ok(Exclusion::Domain(normalize_domain(t)?))
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

/// The commented `etraq.toml` that `etraq init` writes. Every setting is shown with its default;
/// only `local_domains` (and `store.url` when given) is set. Parsing it yields those defaults.
pub fn default_config_toml(local_domains: &[String], store_url: Option<&str>) -> String {
    let domains = local_domains
        .iter()
        .map(|d| format!("{d:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let store = match store_url {
        Some(u) => format!("url = {u:?}"),
        None => {
            "# url = \"sqlite:etraq-data/etraq.db\"   # or \"sled:etraq-data/sled\"".to_string()
        }
    };
    format!(
        r#"# etraq.toml: configuration of etraq (see DESIGN §11 for every key).
# Every key has a default; uncomment a line to change it. Relative paths are
# resolved against the directory of this file.

# The company's own mail domains. Mail between these and any other domain is
# customer mail and is tracked.
local_domains = [{domains}]

# threads = 0             # server worker threads; 0 = one per CPU
# timeout_secs = 60       # general network timeout
# timezone = ""           # IANA zone for DR ids and times, e.g. "Asia/Kolkata"; "" = system

[smtp]
# listen = "127.0.0.1:2525"
# max_message_bytes = 26214400
# max_recipients = 100
# relay_networks = ["127.0.0.0/8", "::1/128"]   # clients allowed to send to other domains
# tls_cert = "cert.pem"   # enables STARTTLS
# tls_key = "key.pem"
# hostname = ""           # name in the greeting; "" = this host's name
# max_line_length = 4096
# command_timeout = "5m"  # time allowed for each command line, however slowly it arrives
# data_timeout = "10m"    # silence allowed while a message is sent
# session_timeout = "1h"  # longest a session may last in all
# max_header_bytes = 262144   # largest header section of a message
# max_header_line = 16384     # longest physical header line
# max_connections = 1000
# max_connections_per_ip = 20 # per client address outside relay_networks
# max_errors = 10
# shutdown_grace = "30s"  # how long in-flight sessions may finish on SIGTERM

# The company's mail server. Without this section `etraq serve` runs in
# evaluation mode and delivers into etraq-data/maildir instead of relaying.
# [upstream]
# host = "mail.example.com"
# port = 25
# helo = ""               # EHLO name towards the upstream; "" = smtp.hostname
# data_timeout = "10m"    # wait for the upstream's verdict after the data; if it
#                         # passes, the client gets 451 and retries, and a slow upstream
#                         # that did accept the mail then delivers it twice: keep it long
# starttls = false        # require STARTTLS for etraq's own mail (alerts) to the upstream

[web]
# listen = "127.0.0.1:8080"
# public_url = ""         # the console's address in alert mail links; "" = http://<listen>
# tls_cert = "cert.pem"   # with tls_key: HTTPS only, Secure cookies
# tls_key = "key.pem"
# session_lifetime = "12h"   # a sign-in without "remember me"
# remember_lifetime = "30d"  # a sign-in with "remember me"
# login_attempts = 5      # failed sign-ins per account within login_window before 429
# login_window = "15m"

[logs]
# retention_days = 30     # log files older than this are deleted; 0 keeps them

[escalation]
# interval_minutes = 15
# warn_after = "4h"
# escalate_after = "1d"
# reescalate_every = "1d"  # each further level goes one step up the supervisor chain
# alerts_from = ""         # sender of alert mail; "" = etraq@<first local domain>
# Count only business time (remove the section for wall-clock time):
# [escalation.business_hours]
# weekdays = ["mon", "tue", "wed", "thu", "fri"]
# start = "09:00"
# end = "17:00"
# timezone = ""           # "" = the global timezone
# holidays = ["2026-12-25"]

[tracking]
# dr_prefix = "SUPP"
# subject_tag = true      # add [SUPP-MMDDYYYY.N] to the subject of tracked mail
# subject_tag_inbound = true   # also on customer mail (breaks its DKIM signature; see README)
# exclude_senders = ["noreply@example.net", "@newsletters.example"]
# track_unregistered_users = true   # track local addresses not added with `etraq user add`

# Per-department DR prefixes and escalation overrides:
# [departments.sales]
# prefix = "SALE"
# warn_after = "2h"
# escalate_after = "8h"

[store]
{store}

[validator]
# dns = ["192.0.2.53"]
# helo = "localhost"
# mail_from = "postmaster@localhost"
# smtp_port = 25
# threads = 8
# timeout = 20
# per_domain = 20
# top_mx_only = false
# exclude_user = []
# exclude_keyword = []
# exclude = []
# recheck_after = "15m"   # check greylisted (4xx) addresses again after this, in the same run
# per_mx = 2              # sessions in flight to one mail exchanger
# allow_quoted = false    # accept "quoted local parts"@example.com

[extractor]
# threads = 8
# retries = 2
# links_per_domain = 200
# max_sites = 10
# follow_external = false
# exclude_ext = [".jpg", ".png", ".pdf", ".zip", ...]   # default: images, media, fonts, archives, PDFs, CSS, JS
# depth = 3
# no_robots = false
# delay = 500               # milliseconds between two requests to one site
# timeout = 20              # seconds per request
# max_page_bytes = 5242880  # larger pages are skipped and reported
# max_redirects = 5
"#
    )
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
        assert!(StoreUrl::parse("sqlite:", base).is_err());
        assert!(StoreUrl::parse("nocolon", base).is_err());
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
