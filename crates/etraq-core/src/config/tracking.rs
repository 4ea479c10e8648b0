//! `[tracking]`: DR prefixes, the subject tag, excluded senders; and [`TrackingRules`], the
//! compiled form the tracker applies to every message.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::address::{EmailAddress, normalize_domain};
use crate::config::{Config, DepartmentConfig};
use crate::error::Error;
use crate::model::valid_prefix;

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

impl TrackingConfig {
    /// Checks the prefixes (global and per department) and the excluded senders.
    pub(crate) fn check(
        &self,
        departments: &BTreeMap<String, DepartmentConfig>,
    ) -> Result<(), (String, String)> {
        if !valid_prefix(&self.dr_prefix) {
            return Err((
                "tracking.dr_prefix".into(),
                format!(
                    "{:?} is not a valid prefix: use 1 to 16 ASCII letters or digits",
                    self.dr_prefix
                ),
            ));
        }
        for (name, dep) in departments {
            if let Some(p) = &dep.prefix
                && !valid_prefix(p)
            {
                return Err((
                    format!("departments.{name}.prefix"),
                    format!("{p:?} is not a valid prefix: use 1 to 16 ASCII letters or digits"),
                ));
            }
        }
        for (i, s) in self.exclude_senders.iter().enumerate() {
            parse_exclusion(s)
                .map_err(|e| (format!("tracking.exclude_senders[{i}]"), e.to_string()))?;
        }
        Ok(())
    }
}

impl Config {
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
