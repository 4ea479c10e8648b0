//! [`EscalationStore`]: what the escalation area keeps — the due index read, cycles applied
//! atomically with their alerts and counters, and the alert outbox.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::error::Result;
use crate::model::{Alert, AlertMail, CycleRecord, Dr, DrId, Page};
use crate::tracking::DrWrite;

/// Filters of [`EscalationStore::list_alerts`]. Alerts come newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only alerts to this user.
    pub user: Option<EmailAddress>,
    /// Only alerts about this DR.
    pub dr: Option<DrId>,
    /// Only alerts to one of these users. `Some(vec![])` matches nothing.
    pub involving: Option<Vec<EmailAddress>>,
    /// Continue after this cursor.
    pub after: Option<u64>,
    /// Page size (0: [`DEFAULT_PAGE_SIZE`]).
    pub limit: usize,
}

/// Everything one escalation cycle writes, applied atomically by [`EscalationStore::apply_cycle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleWrite {
    /// The cycle's record (its id is assigned by the store).
    pub record: CycleRecord,
    /// DR state changes (each conditional on its version).
    pub drs: Vec<DrWrite>,
    /// Alerts raised (ids and their `cycle` are assigned by the store).
    pub alerts: Vec<Alert>,
}

/// The escalation area's part of the [`Store`](crate::store::Store). Object-safe.
#[async_trait]
pub trait EscalationStore: Send + Sync {
    /// DRs whose due time is at or before `now`, earliest first, at most `limit`.
    async fn due_drs(&self, now: Timestamp, limit: usize) -> Result<Vec<Dr>>;

    /// Applies an escalation cycle atomically: DR changes (conditional on their versions),
    /// alerts, the cycle's record, and the `WARNED`/`ESCALATED` counters. On a conflict nothing
    /// is written. Returns the record with its id.
    async fn apply_cycle(&self, write: CycleWrite) -> Result<CycleRecord>;

    /// Escalation cycles, newest first.
    async fn list_cycles(&self, after: Option<u64>, limit: usize) -> Result<Page<CycleRecord>>;

    /// Alerts, newest first.
    async fn list_alerts(&self, query: &AlertQuery) -> Result<Page<Alert>>;

    /// Alerts whose mail is pending and due at or before `now`, oldest first, at most `limit`.
    async fn outbox(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>>;

    /// Records what happened to an alert's mail.
    async fn update_alert_mail(&self, id: u64, mail: AlertMail) -> Result<()>;

    /// Claims the alerts whose mail is due at `now` (at most `limit`) for sending: each one's
    /// mail becomes [`AlertMail::Sending`] and it is answered, and no other claim takes it.
    /// The default reads then marks under a lock of this process (exact for the embedded
    /// stores, which one process serves); a store several nodes share claims in one statement
    /// that skips what another node is claiming.
    async fn claim_alerts(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        let _one_at_a_time = crate::outbox::CLAIMS.lock().await;
        let mut out = Vec::new();
        for mut a in self.outbox(now, limit).await? {
            let AlertMail::Pending { attempts, .. } = a.mail else {
                continue;
            };
            a.mail = AlertMail::Sending {
                attempts: attempts + 1,
                since: now,
            };
            self.update_alert_mail(a.id, a.mail.clone()).await?;
            out.push(a);
        }
        Ok(out)
    }
}
