//! Running-server control (admins): pausing and resuming services, and applying a new
//! configuration.

use crate::access::Actor;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::App;
use crate::switches::{Service, ServiceStates};

/// What changes to a running server take effect only at its next start, as the settings are
/// named to the user.
pub fn restart_keys(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.web.listen != new.web.listen {
        keys.push("console address");
    }
    if old.smtp.listen != new.smtp.listen {
        keys.push("SMTP listener");
    }
    if old.upstream != new.upstream {
        keys.push("upstream mail server");
    }
    if old.threads != new.threads {
        keys.push("threads");
    }
    if old.timeout_secs != new.timeout_secs {
        keys.push("timeout");
    }
    keys
}

impl App {
    /// Pauses or resumes `service` (`smtp`, `escalation`, `notifications` or `all`; admins).
    /// While the SMTP listener is paused new connections get 421, so nothing is refused for
    /// good.
    pub fn set_paused(&self, who: &Actor, service: &str, paused: bool) -> Result<ServiceStates> {
        who.require_admin()?;
        if service == "all" {
            self.services.set_all_paused(paused);
        } else {
            let s = Service::parse(service).ok_or_else(|| Error::InvalidField {
                field: "service",
                reason: format!("must be smtp, escalation, notifications or all, not {service:?}"),
            })?;
            self.services.set_paused(s, paused);
        }
        tracing::warn!(by = %who.viewer.login, service, paused, "services changed");
        Ok(self.services.states())
    }

    /// Puts a new, already validated configuration into effect (admins): the tracking rules at
    /// once, escalation and reports from the next use. Returns what waits for a restart.
    pub fn apply_config(&self, who: &Actor, new: Config) -> Result<Vec<&'static str>> {
        who.require_admin()?;
        let rules = new.tracking_rules()?;
        let old = self.config();
        let restart = restart_keys(&old, &new);
        self.tracker.set_rules(rules);
        self.tracker
            .acknowledger()
            .set_settings(crate::support::acknowledger::AckSettings::of(&new));
        self.config.set(new);
        tracing::warn!(by = %who.viewer.login, restart = ?restart, "configuration applied");
        Ok(restart)
    }
}
