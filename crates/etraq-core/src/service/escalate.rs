//! Running escalation cycles and mailing alerts: orchestration over the store and an
//! [`Outbound`] mailer.
//!
//! A cycle ([`Escalator::run_cycle`]) fetches the DRs that are due (by the due index), plans them
//! ([`crate::escalation::plan`]), and applies everything in one atomic write: DR states, alerts,
//! the cycle's record and the counters. Running it again at the same `now` adds nothing, because
//! the planned states are no longer due. Alerts are stored first; the [`Notifier`] mails them
//! from the outbox with retries and backoff, and a mail that fails never loses its alert.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::tz::TimeZone;

use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::error::{Error, Result};
use crate::escalation::{self, CycleWrite, Outbound, Policies, alert_message, backoff};
use crate::model::{Alert, AlertKind, AlertMail, CycleAction, CycleDecision, CycleRecord, Dr};
use crate::outbox::{Delivery, after_failure};
use crate::store::Store;
use crate::tracking::DrWrite;

/// How often a cycle that lost a race against a concurrent DR update is planned again.
const MAX_ATTEMPTS: usize = 8;

/// What a cycle did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleReport {
    /// The stored record (counts and decisions).
    pub record: CycleRecord,
    /// The alerts raised.
    pub alerts: Vec<Alert>,
    /// The `EscWarnings-…` log written for it, when the escalator keeps logs.
    pub log: Option<PathBuf>,
}

/// Runs escalation cycles.
pub struct Escalator {
    store: Arc<dyn Store>,
    policies: Policies,
    log: Option<(PathBuf, TimeZone)>,
}

impl Escalator {
    /// An escalator applying `policies` to `store`.
    pub fn new(store: Arc<dyn Store>, policies: Policies) -> Self {
        Escalator {
            store,
            policies,
            log: None,
        }
    }

    /// Also writes each cycle's `EscWarnings-YYYYMMDDHHMMSS.log` into `dir`, named and dated in
    /// `tz`: whoever runs cycles (the server, `etraq escalate --once`) gets the same logs.
    pub fn with_log(mut self, dir: PathBuf, tz: TimeZone) -> Self {
        self.log = Some((dir, tz));
        self
    }

    /// One cycle at `now`. The cycle is applied atomically first; its log follows (a log that
    /// cannot be written is reported, and the cycle stands).
    pub async fn run_cycle(&self, now: Timestamp) -> Result<CycleReport> {
        let mut attempt = 1;
        let mut report = loop {
            match self.attempt(now).await {
                Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => attempt += 1,
                other => break other?,
            }
        };
        // One line per cycle, not one per DR: a company without supervisors would otherwise
        // get a line for every overdue DR every cycle. Each problem is in the cycle's log.
        let problems: Vec<_> = report
            .record
            .decisions
            .iter()
            .filter(|d| d.action == CycleAction::Problem)
            .collect();
        for d in &problems {
            tracing::debug!(dr = %d.dr, "{}", d.detail);
        }
        match problems.as_slice() {
            [] => {}
            [one] => tracing::warn!(dr = %one.dr, "{}", one.detail),
            [first, rest @ ..] => tracing::warn!(
                problems = problems.len(),
                "{} (and {} more this cycle; each is in the cycle's EscWarnings log)",
                first.detail,
                rest.len()
            ),
        }
        if let Some((dir, tz)) = &self.log {
            // A few hundred bytes, once per cycle: written in place.
            let written = crate::logs::write_cycle_log(dir, &report.record, tz);
            match written {
                Ok(p) => report.log = Some(p),
                Err(e) => {
                    tracing::error!(cycle = report.record.id, error = %e, "cannot write the cycle's EscWarnings log")
                }
            }
        }
        Ok(report)
    }

    async fn attempt(&self, now: Timestamp) -> Result<CycleReport> {
        let users = escalation::directory(self.store.list_users().await?);
        let due = self.store.due_drs(now, usize::MAX).await?;
        let outcomes = escalation::plan(&self.policies, now, &due, &users);
        let mut drs = Vec::new();
        let mut alerts = Vec::new();
        let mut decisions = Vec::new();
        let (mut warned, mut escalated, mut reminded) = (0u64, 0u64, 0u64);
        let mut bypassed = 0u64;
        for (before, outcome) in due.iter().zip(outcomes) {
            if outcome.bypassed() {
                bypassed += 1;
            }
            for p in &outcome.problems {
                decisions.push(CycleDecision {
                    dr: before.id.clone(),
                    action: CycleAction::Problem,
                    detail: p.clone(),
                });
            }
            for n in &outcome.notices {
                match n.kind {
                    AlertKind::Warning => warned += 1,
                    AlertKind::Escalated => escalated += 1,
                    AlertKind::Reminder => reminded += 1,
                }
                decisions.push(CycleDecision {
                    dr: before.id.clone(),
                    action: CycleAction::of(n.kind),
                    detail: escalation::describe(&before.id, n),
                });
                for to in &n.to {
                    let mail = match users.get(to) {
                        Some(u) if !u.alerts => AlertMail::Disabled,
                        _ => AlertMail::Pending {
                            attempts: 0,
                            next_attempt_at: now,
                            last_error: None,
                        },
                    };
                    alerts.push(new_alert(
                        before,
                        n.kind,
                        n.level,
                        n.waited_secs,
                        to,
                        now,
                        mail,
                    ));
                }
            }
            if outcome.changed(before) {
                drs.push(DrWrite::replace(before, outcome.next));
            }
        }
        // Bypassed: DRs the cycle examined (the due index offered them) that needed nothing. A
        // cycle never scans all open DRs, so its cost follows what is due, not the store's size.
        let record = CycleRecord {
            id: 0,
            at: now,
            warned,
            escalated,
            reminded,
            bypassed,
            decisions,
        };
        let stored = self
            .store
            .apply_cycle(CycleWrite {
                record,
                drs,
                alerts: alerts.clone(),
            })
            .await?;
        for a in &mut alerts {
            a.cycle = stored.id;
        }
        Ok(CycleReport {
            record: stored,
            alerts,
            log: None,
        })
    }
}

fn new_alert(
    dr: &Dr,
    kind: AlertKind,
    level: u32,
    waited: i64,
    to: &EmailAddress,
    now: Timestamp,
    mail: AlertMail,
) -> Alert {
    Alert {
        id: 0,
        event_type: kind,
        user: to.clone(),
        date_time: now,
        source_dr: dr.id.clone(),
        assigned_on: dr.assigned_on,
        dr_owner: dr.owner.clone(),
        level,
        customer: dr.customer.clone(),
        subject: dr.subject.clone(),
        waited_secs: waited,
        cycle: 0,
        mail,
    }
}

/// Mails what waits in the outbox: pending alerts, then queued messages (double opt-in
/// confirmations and the like), each with retries and backoff.
pub struct Notifier {
    store: Arc<dyn Store>,
    outbound: Arc<dyn Outbound>,
    from: EmailAddress,
    console: String,
    host: String,
}

/// What one notifier pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyReport {
    /// Mails sent.
    pub sent: u64,
    /// Attempts that failed (to be retried).
    pub failed: u64,
    /// Queued messages given up after their last attempt.
    pub given_up: u64,
}

impl Notifier {
    /// A notifier mailing from `from`, linking to `console`, naming itself `host`.
    pub fn new(
        store: Arc<dyn Store>,
        outbound: Arc<dyn Outbound>,
        from: EmailAddress,
        console: String,
        host: String,
    ) -> Self {
        Notifier {
            store,
            outbound,
            from,
            console,
            host,
        }
    }

    /// Sends every alert whose mail is due at `now` (at most `limit`).
    pub async fn run_once(&self, now: Timestamp, limit: usize) -> Result<NotifyReport> {
        let mut report = NotifyReport::default();
        // Claimed before sending: a node that dies mid-send leaves its alerts in doubt, and
        // no other notifier ever sends them a second time.
        for alert in self.store.claim_alerts(now, limit).await? {
            let attempts = match &alert.mail {
                AlertMail::Sending { attempts, .. } => *attempts,
                _ => continue,
            };
            let msg = alert_message(&alert, &self.from, &self.console, &self.host);
            let state = match self.outbound.send(&msg).await {
                Ok(()) => {
                    report.sent += 1;
                    AlertMail::Sent { at: now, attempts }
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(alert = alert.id, to = %alert.user, attempts, error = %e, "alert mail failed; will retry");
                    AlertMail::Pending {
                        attempts,
                        next_attempt_at: now.checked_add(backoff(attempts)).unwrap_or(now),
                        last_error: Some(e),
                    }
                }
            };
            match self.store.update_alert_mail(alert.id, state).await {
                Ok(()) => {}
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.send_queued(now, limit, &mut report).await?;
        Ok(report)
    }

    /// Sends the queued messages due at `now` (at most `limit`).
    async fn send_queued(
        &self,
        now: Timestamp,
        limit: usize,
        report: &mut NotifyReport,
    ) -> Result<()> {
        for mail in self.store.claim_due_mail(now, limit).await? {
            let delivery = match self.outbound.send(&mail.message).await {
                Ok(()) => {
                    report.sent += 1;
                    let attempts = match &mail.delivery {
                        Delivery::Sending { attempts, .. } => *attempts,
                        _ => 1,
                    };
                    Delivery::Sent { at: now, attempts }
                }
                Err(e) => {
                    let next = after_failure(&mail.delivery, e.clone(), now);
                    if matches!(next, Delivery::Failed { .. }) {
                        report.given_up += 1;
                        tracing::error!(id = mail.id, kind = %mail.kind, to = %mail.message.to, error = %e, "giving up a queued message after its last attempt");
                    } else {
                        report.failed += 1;
                        tracing::warn!(id = mail.id, kind = %mail.kind, to = %mail.message.to, error = %e, "queued message failed; will retry");
                    }
                    next
                }
            };
            match self.store.set_delivery(mail.id, delivery).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
