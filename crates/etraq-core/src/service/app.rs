//! [`App`]: what the use cases run against — the store, the tracker, the configuration in
//! effect and the log directory — built once by each frontend.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, LiveConfig};
use crate::store::Store;
use crate::switches::Services;
use crate::tracking::Tracker;

/// The use cases' shared state. Cheap to clone (everything is shared).
#[derive(Clone)]
pub struct App {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) config: LiveConfig,
    pub(crate) logs_dir: PathBuf,
    pub(crate) services: Services,
    /// The campaign token signer once read (the stored secret never changes once made, and
    /// every tracking request needs it).
    pub(crate) signer: Arc<std::sync::OnceLock<crate::campaign::Signer>>,
    /// What sends replies written in etraq (the relay; the Maildir in evaluation mode).
    pub(crate) mailer: Option<Arc<dyn crate::outbox::Outbound>>,
}

impl App {
    /// The use cases over `store`, applying `config` (the tracker's rules come from it).
    pub fn new(
        store: Arc<dyn Store>,
        tracker: Arc<Tracker>,
        config: LiveConfig,
        logs_dir: PathBuf,
    ) -> App {
        tracker
            .acknowledger()
            .set_settings(crate::support::acknowledger::AckSettings::of(&config.get()));
        App {
            store,
            tracker,
            config,
            logs_dir,
            services: Services::new(),
            signer: Arc::default(),
            mailer: None,
        }
    }

    /// Shares a running server's pause switches (the gateway and the schedules read them).
    pub fn with_services(mut self, services: Services) -> App {
        self.services = services;
        self
    }

    /// The pause switches.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The store (for the frontends' own plumbing: sign-in records, statistics caches).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The tracker.
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// The configuration in effect now.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// The live configuration (to watch or replace it).
    pub fn live_config(&self) -> &LiveConfig {
        &self.config
    }

    /// The log directory.
    pub fn logs_dir(&self) -> &std::path::Path {
        &self.logs_dir
    }

    /// The display time zone (UTC when the configured one is unusable).
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.config().time_zone().unwrap_or(jiff::tz::TimeZone::UTC)
    }
}
