//! Alerts and escalation cycles, as the actor may see them.

use crate::access::Actor;
use crate::address::EmailAddress;
use crate::error::Result;
use crate::model::{Alert, CycleRecord, DrId, Page};
use crate::service::{App, PageRequest};
use crate::store::AlertQuery;

impl App {
    /// Alerts to users in the actor's view, newest first, optionally to one user or about one
    /// DR.
    pub async fn alerts(
        &self,
        who: &Actor,
        user: Option<EmailAddress>,
        dr: Option<DrId>,
        at: &PageRequest,
    ) -> Result<Page<Alert>> {
        self.store
            .list_alerts(&AlertQuery {
                user,
                dr,
                involving: who.scope.involving(),
                after: at.after,
                limit: at.limit,
            })
            .await
    }

    /// Escalation cycles, newest first (supervisors and admins). A supervisor sees only the
    /// decisions about DRs in their view.
    pub async fn cycles(&self, who: &Actor, at: &PageRequest) -> Result<Page<CycleRecord>> {
        who.require_supervisor()?;
        let mut page = self.store.list_cycles(at.after, at.limit).await?;
        if !who.viewer.is_admin() {
            for c in &mut page.items {
                self.scope_decisions(who, c).await?;
            }
        }
        Ok(page)
    }

    /// One escalation cycle by id (supervisors and admins), scoped like [`App::cycles`]; with
    /// how many of its decisions were left out of the actor's view.
    pub async fn cycle(&self, who: &Actor, id: u64) -> Result<(CycleRecord, usize)> {
        who.require_supervisor()?;
        // Cycles are listed newest first with ids as cursors: the page after id+1 starts at id.
        let page = self
            .store
            .list_cycles(Some(id.saturating_add(1)), 1)
            .await?;
        let Some(mut c) = page.items.into_iter().find(|c| c.id == id) else {
            return Err(crate::error::Error::NotFound {
                what: "escalation cycle",
                key: id.to_string(),
            });
        };
        let hidden = if who.viewer.is_admin() {
            0
        } else {
            self.scope_decisions(who, &mut c).await?
        };
        Ok((c, hidden))
    }

    /// Drops the decisions about DRs outside the actor's view; returns how many.
    async fn scope_decisions(&self, who: &Actor, c: &mut CycleRecord) -> Result<usize> {
        let before = c.decisions.len();
        let mut kept = Vec::new();
        for d in std::mem::take(&mut c.decisions) {
            if let Some(dr) = self.store.get_dr(&d.dr).await?
                && who.scope.sees_dr(&dr)
            {
                kept.push(d);
            }
        }
        c.decisions = kept;
        Ok(before - c.decisions.len())
    }
}
