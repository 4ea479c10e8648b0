//! `[escalation]` and `[departments.NAME]`: when a waiting customer produces a warning and an
//! escalation, with optional business hours; and how they compile into the escalation area's
//! [`Policies`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::config::Config;
use crate::duration::HumanDuration;
use crate::error::Error;
use crate::escalation::{Policies, Policy};

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

fn calendar(cfg: &Config, bh: &BusinessHoursConfig) -> Result<Calendar, Error> {
    let tz = if bh.timezone.trim().is_empty() {
        cfg.time_zone()?
    } else {
        jiff::tz::TimeZone::get(bh.timezone.trim()).map_err(|e| Error::InvalidTimeZone {
            name: bh.timezone.clone(),
            reason: e.to_string(),
        })?
    };
    Calendar::new(tz, &bh.weekdays, &bh.start, &bh.end, &bh.holidays)
}

fn check(p: &Policy, section: &str) -> Result<(), (String, Error)> {
    if p.escalate_after < p.warn_after {
        return Err((
            format!("{section}.escalate_after"),
            Error::Invalid("must not be shorter than warn_after".into()),
        ));
    }
    Ok(())
}

impl Config {
    /// The escalation policies this configuration defines (the default and each department's). Errors name the key at fault.
    pub fn policies(&self) -> Result<Policies, (String, Error)> {
        let cfg = self;
        let e = &cfg.escalation;
        let default_cal = match &e.business_hours {
            Some(bh) => Some(
                calendar(cfg, bh).map_err(|err| ("escalation.business_hours".to_string(), err))?,
            ),
            None => None,
        };
        let default = Policy {
            warn_after: e.warn_after.as_secs(),
            escalate_after: e.escalate_after.as_secs(),
            reescalate_every: e.reescalate_every.map(|d| d.as_secs()),
            calendar: default_cal,
        };
        check(&default, "escalation")?;
        let mut departments = HashMap::new();
        for (name, d) in &cfg.departments {
            if d.warn_after.is_none()
                && d.escalate_after.is_none()
                && d.reescalate_every.is_none()
                && d.business_hours.is_none()
            {
                continue;
            }
            let cal = match &d.business_hours {
                Some(bh) => Some(
                    calendar(cfg, bh)
                        .map_err(|err| (format!("departments.{name}.business_hours"), err))?,
                ),
                None => default.calendar.clone(),
            };
            let p = Policy {
                warn_after: d.warn_after.map_or(default.warn_after, |x| x.as_secs()),
                escalate_after: d
                    .escalate_after
                    .map_or(default.escalate_after, |x| x.as_secs()),
                reescalate_every: d
                    .reescalate_every
                    .map(|x| x.as_secs())
                    .or(default.reescalate_every),
                calendar: cal,
            };
            check(&p, &format!("departments.{name}"))?;
            departments.insert(name.clone(), p);
        }
        Ok(Policies {
            default,
            departments,
        })
    }

    /// Checks the escalation settings: the interval, the level spacing and every policy.
    pub(crate) fn check_escalation(&self) -> Result<(), (String, String)> {
        if self.escalation.interval_minutes == 0 {
            return Err((
                "escalation.interval_minutes".into(),
                "must be at least 1".into(),
            ));
        }
        self.policies().map_err(|(k, e)| (k, e.to_string()))?;
        if let Some(r) = self.escalation.reescalate_every
            && r.as_secs() == 0
        {
            return Err((
                "escalation.reescalate_every".into(),
                "must be longer than 0".into(),
            ));
        }
        Ok(())
    }
}
