//! The outbox on PostgreSQL: etraq's own queued messages, as JSON documents, with the columns
//! the notifier's question needs (pending, due time in microseconds) beside them.

use etraq_core::outbox::{Delivery, OutboxStore, QueuedMail};
use etraq_core::store::record;
use jiff::Timestamp;

use crate::PgStore;
use crate::error::Ctx;

const BACKEND: &str = "postgres";

fn due(d: &Delivery) -> (bool, Option<i64>) {
    match d.due_at() {
        Some(t) => (true, Some(t.as_microsecond())),
        None => (false, None),
    }
}

fn limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

fn rows(rows: Vec<tokio_postgres::Row>) -> etraq_core::Result<Vec<QueuedMail>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        let data: String = r.get(1);
        let mut m: QueuedMail = record::decode(BACKEND, "outbox", data.as_bytes())?;
        m.id = id as u64;
        out.push(m);
    }
    Ok(out)
}

/// Queues `mails` inside the caller's transaction (an acknowledgement joins its mail's change
/// set this way); answers their ids.
pub(crate) async fn queue<C: deadpool_postgres::GenericClient>(
    c: &C,
    mails: &[QueuedMail],
) -> etraq_core::Result<Vec<u64>> {
    let mut ids = Vec::with_capacity(mails.len());
    for mail in mails {
        let (pending, next) = due(&mail.delivery);
        let data = crate::rows::enc("outbox", mail)?;
        let row = crate::rows::query_one(
            c,
            "INSERT INTO outbox(kind, pending, next_attempt_at, data) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&mail.kind, &pending, &next, &data],
            "queueing a message",
        )
        .await?;
        ids.push(crate::rows::unsigned(row.get::<_, i64>(0)));
    }
    Ok(ids)
}

#[async_trait::async_trait]
impl OutboxStore for PgStore {
    async fn queue_mails(&self, mails: Vec<QueuedMail>) -> etraq_core::Result<Vec<u64>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.ctx("starting a transaction")?;
        let ids = queue(&tx, &mails).await?;
        tx.commit().await.ctx("committing queued messages")?;
        Ok(ids)
    }

    async fn due_mail(&self, now: Timestamp, n: usize) -> etraq_core::Result<Vec<QueuedMail>> {
        let c = self.client().await?;
        let r = c
            .query(
                "SELECT id, data FROM outbox WHERE pending AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT $2",
                &[&now.as_microsecond(), &limit(n)],
            )
            .await
            .ctx("reading the outbox")?;
        rows(r)
    }

    async fn set_delivery(&self, id: u64, delivery: Delivery) -> etraq_core::Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.ctx("starting a transaction")?;
        let row = tx
            .query_opt(
                "SELECT data FROM outbox WHERE id = $1 FOR UPDATE",
                &[&(id as i64)],
            )
            .await
            .ctx("reading a queued message")?;
        let Some(row) = row else {
            return Err(etraq_core::Error::NotFound {
                what: "queued message",
                key: id.to_string(),
            });
        };
        let data: String = row.get(0);
        let mut mail: QueuedMail = record::decode(BACKEND, "outbox", data.as_bytes())?;
        mail.id = id;
        mail.delivery = delivery;
        let (pending, next) = due(&mail.delivery);
        let data = String::from_utf8(record::encode(BACKEND, "outbox", &mail)?)
            .map_err(|e| etraq_core::Error::Internal(format!("a record is not UTF-8: {e}")))?;
        tx.execute(
            "UPDATE outbox SET pending = $1, next_attempt_at = $2, data = $3 WHERE id = $4",
            &[&pending, &next, &data, &(id as i64)],
        )
        .await
        .ctx("updating a queued message")?;
        tx.commit().await.ctx("committing a delivery")?;
        Ok(())
    }

    async fn claim_due_mail(
        &self,
        now: Timestamp,
        n: usize,
    ) -> etraq_core::Result<Vec<QueuedMail>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.ctx("starting a transaction")?;
        // SKIP LOCKED: two notifiers (two nodes) never take the same message.
        let r = tx
            .query(
                "SELECT id, data FROM outbox WHERE pending AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&now.as_microsecond(), &limit(n)],
            )
            .await
            .ctx("claiming queued messages")?;
        let mut claimed = rows(r)?;
        for m in &mut claimed {
            m.delivery = m.delivery.claimed(now);
            let data = crate::rows::enc("outbox", m)?;
            tx.execute(
                "UPDATE outbox SET pending = FALSE, next_attempt_at = NULL, data = $1 WHERE id = $2",
                &[&data, &crate::rows::big(m.id)?],
            )
            .await
            .ctx("claiming a queued message")?;
        }
        tx.commit().await.ctx("committing claims")?;
        Ok(claimed)
    }

    async fn queued_mail(&self, kind: &str, n: usize) -> etraq_core::Result<Vec<QueuedMail>> {
        let c = self.client().await?;
        let r = c
            .query(
                "SELECT id, data FROM outbox WHERE kind = $1 ORDER BY id DESC LIMIT $2",
                &[&kind, &limit(n)],
            )
            .await
            .ctx("listing the outbox")?;
        rows(r)
    }
}
