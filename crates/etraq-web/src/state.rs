//! What every request handler shares: the store, the tracker, the live configuration, the
//! service switches, and a little in-memory state (sign-in throttle, cached counts).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etraq_core::service::App;
use etraq_core::store::StoreStats;
use etraq_core::switches::Services;
use etraq_core::{Config, LiveConfig, Store, Tracker};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::throttle::Throttle;

/// How the server is reachable and runs, for the status page and the status bar.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// The SMTP listener's address, when the gateway runs in this process.
    pub smtp: Option<String>,
    /// The console's own address.
    pub web: String,
    /// `evaluation` or `relaying to HOST:PORT`.
    pub mode: String,
    /// When the server started.
    pub started_at: Timestamp,
    /// The store, described for people (`sqlite:/path/etraq.db`).
    pub store: String,
}

/// Everything the console is built from (given by `etraq serve`).
pub struct WebDeps {
    /// What sends replies written in the console (the relay; the Maildir in evaluation mode).
    /// Without one, replying answers "the relay is unavailable".
    pub mailer: Option<Arc<dyn etraq_core::outbox::Outbound>>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The tracker (for DR actions and to apply new tracking rules).
    pub tracker: Arc<Tracker>,
    /// The configuration in effect.
    pub config: LiveConfig,
    /// Where the Configuration page saves `etraq.toml`.
    pub config_path: PathBuf,
    /// The pause switches.
    pub services: Services,
    /// The log directory (Log Files).
    pub logs_dir: PathBuf,
    /// How the server runs.
    pub server: ServerInfo,
    /// Whether the console is served over TLS (session cookies are then `Secure`).
    pub tls: bool,
}

/// Shared request state.
pub struct AppState {
    /// The use cases every page and API route calls; it also holds the store, the tracker, the
    /// live configuration, the pause switches and the log directory, so they live in one place.
    pub app: App,
    /// Where the configuration is saved.
    pub config_path: PathBuf,
    /// How the server runs.
    pub server: ServerInfo,
    /// Cookies get `Secure` (the console is served over TLS).
    pub secure_cookies: bool,
    throttle: Mutex<Throttle>,
    public_rate: Mutex<crate::public_rate::PublicRate>,
    stats: Mutex<Option<(Instant, StoreStats)>>,
    /// Serialises configuration saves (read, edit, write, apply).
    pub config_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    /// The state for `deps`.
    pub fn new(deps: WebDeps) -> Arc<AppState> {
        let cfg = deps.config.get();
        let throttle = Throttle::new(cfg.web.login_attempts, cfg.web.login_window.as_secs());
        let mut app = App::new(deps.store, deps.tracker, deps.config, deps.logs_dir)
            .with_services(deps.services);
        if let Some(m) = deps.mailer {
            app = app.with_mailer(m);
        }
        Arc::new(AppState {
            app,
            config_path: deps.config_path,
            server: deps.server,
            secure_cookies: deps.tls,
            throttle: Mutex::new(throttle),
            public_rate: Mutex::new(crate::public_rate::PublicRate::new(
                cfg.web.public_rate_per_ip,
            )),
            stats: Mutex::new(None),
            config_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether a public request from `ip` may go on now (see [`crate::public_rate`]); the
    /// seconds to wait otherwise.
    pub fn public_request(&self, ip: std::net::IpAddr) -> Result<(), u64> {
        let now = jiff::Timestamp::now().as_microsecond() as f64 / 1e6;
        match self.public_rate.lock() {
            Ok(mut r) => r.check(ip, now).map_err(|w| w.ceil().max(1.0) as u64),
            Err(_) => Ok(()),
        }
    }

    /// The configuration now.
    pub fn config(&self) -> Arc<Config> {
        self.app.config()
    }

    /// The store (sign-in records and statistics; the use cases go through [`AppState::app`]).
    pub fn store(&self) -> &Arc<dyn Store> {
        self.app.store()
    }

    /// The pause switches.
    pub fn services(&self) -> &Services {
        self.app.services()
    }

    /// The display time zone (UTC when the configured one is unusable).
    pub fn time_zone(&self) -> TimeZone {
        self.config().time_zone().unwrap_or(TimeZone::UTC)
    }

    /// Runs `f` on the sign-in throttle.
    pub fn with_throttle<T>(&self, f: impl FnOnce(&mut Throttle) -> T) -> T {
        match self.throttle.lock() {
            Ok(mut t) => f(&mut t),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The counts of the status bar and tabs, as last refreshed (counting a million mails takes
    /// longer than a page may, so a background task refreshes them; see [`AppState::refresh_stats`]).
    pub fn cached_stats(&self) -> Option<StoreStats> {
        match self.stats.lock() {
            Ok(s) => s.as_ref().map(|(_, st)| st.clone()),
            Err(_) => None,
        }
    }

    /// Recounts now.
    pub async fn refresh_stats(&self) {
        match self.store().stats().await {
            Ok(st) => {
                if let Ok(mut s) = self.stats.lock() {
                    *s = Some((Instant::now(), st));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot count for the status bar"),
        }
    }

    /// Keeps the counts fresh until `stop` turns true.
    pub async fn stats_loop(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            self.refresh_stats().await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
