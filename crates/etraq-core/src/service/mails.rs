//! The mail use cases: the Untracked Mails listing, a customer's history, and a recorded
//! message with its raw bytes — each within the actor's view.

use crate::access::Actor;
use crate::address::Party;
use crate::error::{Error, Result};
use crate::model::{MailRecord, Page};
use crate::service::{App, PageRequest};
use crate::store::MailQuery;

impl App {
    /// Untracked mail the actor sees, newest first unless `oldest_first`, optionally only with
    /// `party` on it.
    pub async fn untracked(
        &self,
        who: &Actor,
        party: Option<Party>,
        oldest_first: bool,
        at: &PageRequest,
    ) -> Result<Page<MailRecord>> {
        self.store
            .list_mails(&MailQuery {
                tracked: Some(false),
                party,
                involving: who.scope.involving(),
                oldest_first,
                after: at.after,
                limit: at.limit,
                ..MailQuery::default()
            })
            .await
    }

    /// Every mail with `party` (an address or `@domain`) on it that the actor sees, tracked or
    /// not, oldest first: a customer's full history.
    pub async fn history(
        &self,
        who: &Actor,
        party: Party,
        at: &PageRequest,
    ) -> Result<Page<MailRecord>> {
        self.store
            .list_mails(&MailQuery {
                party: Some(party),
                involving: who.scope.involving(),
                oldest_first: true,
                after: at.after,
                limit: at.limit,
                ..MailQuery::default()
            })
            .await
    }

    /// A mail the actor sees (on a DR they see, or with someone of their scope on it), with its
    /// raw message; else [`Error::NotFound`].
    pub async fn mail_with_raw(&self, who: &Actor, seq: u64) -> Result<(MailRecord, Vec<u8>)> {
        let not_found = || Error::NotFound {
            what: "mail",
            key: seq.to_string(),
        };
        let mail = self.store.get_mail(seq).await?.ok_or_else(not_found)?;
        let dr_visible = match &mail.dr {
            Some(id) => self
                .store
                .get_dr(id)
                .await?
                .is_some_and(|d| who.scope.sees_dr(&d)),
            None => false,
        };
        if !who.scope.sees_mail(&mail, dr_visible) {
            return Err(not_found());
        }
        let raw = self.store.raw_message(seq).await?.ok_or_else(not_found)?;
        Ok((mail, raw))
    }
}
