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

    /// Full-text search (see [`crate::archive::parse_query`] for the language): the mails the
    /// actor may open that match, best first, at most `limit` (1–100), each with a snippet. A
    /// query that does not parse is `InvalidField` (`q`) in words. At most
    /// [`MAX_SEARCH_SCAN`] matches are looked at for the actor's scope.
    pub async fn search(
        &self,
        who: &Actor,
        text: &str,
        limit: usize,
    ) -> Result<Vec<crate::views::SearchRow>> {
        let q = crate::archive::parse_query(text, &self.time_zone()).map_err(|e| {
            Error::InvalidField {
                field: "q",
                reason: e.to_string(),
            }
        })?;
        let limit = limit.clamp(1, 100);
        let words = q.words();
        let mut out = Vec::new();
        let mut offset = 0;
        while out.len() < limit && offset < MAX_SEARCH_SCAN {
            let batch = (limit * 3).max(30);
            let hits = self.store.search_mails(&q, offset, batch).await?;
            offset += batch;
            let done = hits.len() < batch;
            for (seq, score) in hits {
                if out.len() == limit {
                    break;
                }
                let Ok((mail, raw)) = self.mail_with_raw(who, seq).await else {
                    continue; // outside the actor's scope (or gone)
                };
                let body = crate::archive::read_message(&raw);
                let text = body.text.unwrap_or_default();
                out.push(crate::views::SearchRow {
                    seq,
                    message_id: mail.message_id.to_string(),
                    dr: mail.dr.as_ref().map(|d| d.to_string()),
                    date: mail.sent_at.unwrap_or(mail.received_at),
                    direction: mail.direction.as_str().to_string(),
                    from: mail.sender.as_ref().map(|a| a.to_string()),
                    to: mail.to.iter().map(|a| a.to_string()).collect(),
                    subject: mail.subject.clone(),
                    snippet: crate::archive::snippet(&text, &words, 160),
                    score: (score * 1000.0).round() / 1000.0,
                });
            }
            if done {
                break;
            }
        }
        Ok(out)
    }
}

/// Which mail `archive export` writes.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    /// Only mail received at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Only mail received before this time.
    pub until: Option<jiff::Timestamp>,
    /// Only mail with this address or domain on it.
    pub party: Option<Party>,
}

impl App {
    /// Writes the raw messages the actor sees that pass `filter` to `out` as an mbox (mboxrd),
    /// oldest first, reading 200 at a time, so an archive of any size streams through. Calls
    /// `progress` with the count after every page. Returns how many were written.
    pub async fn export_mbox<W: std::io::Write + Send>(
        &self,
        who: &Actor,
        filter: &ExportFilter,
        out: &mut W,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<u64> {
        let io = |e: std::io::Error| Error::Io {
            path: "the mbox output".into(),
            source: e,
        };
        let mut after = None;
        let mut written = 0;
        loop {
            let page = self
                .store
                .list_mails(&MailQuery {
                    party: filter.party.clone(),
                    involving: who.scope.involving(),
                    oldest_first: true,
                    after,
                    limit: 200,
                    ..MailQuery::default()
                })
                .await?;
            for m in &page.items {
                if filter.since.is_some_and(|s| m.received_at < s)
                    || filter.until.is_some_and(|u| m.received_at >= u)
                {
                    continue;
                }
                let Some(raw) = self.store.raw_message(m.seq).await? else {
                    continue;
                };
                let sender = m.mail_from.as_ref().map(|a| a.as_str());
                out.write_all(crate::archive::mbox::from_line(sender, m.received_at).as_bytes())
                    .map_err(io)?;
                out.write_all(&crate::archive::mbox::entry_body(&raw))
                    .map_err(io)?;
                written += 1;
            }
            progress(written);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        out.flush().map_err(io)?;
        Ok(written)
    }
}

/// The most matches one search looks at for the actor's scope (an agent whose mail is rare
/// among many matches gets fewer results rather than a slow page).
pub const MAX_SEARCH_SCAN: usize = 5_000;
