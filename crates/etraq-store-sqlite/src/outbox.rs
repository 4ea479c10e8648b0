//! The outbox table: etraq's own queued messages, indexed by when each is due. Writes run on
//! the writer thread ([`Op`]); reads on a reader connection.

use etraq_core::Error;
use etraq_core::outbox::{Delivery, QueuedMail};
use jiff::Timestamp;
use rusqlite::{Connection, params};

use crate::error::{Ctx, from_json, to_json};

/// An outbox write.
pub(crate) enum Op {
    Queue(Vec<QueuedMail>),
    SetDelivery(u64, Delivery),
}

pub(crate) fn due(d: &Delivery) -> (bool, Option<i64>) {
    match d.due_at() {
        Some(t) => (true, Some(t.as_microsecond())),
        None => (false, None),
    }
}

/// Runs an outbox write inside the writer's transaction; answers the ids it concerns.
pub(crate) fn execute(tx: &Connection, op: &Op) -> Result<Vec<u64>, Error> {
    match op {
        Op::Queue(mails) => {
            let mut ids = Vec::with_capacity(mails.len());
            for mail in mails {
                let (pending, next) = due(&mail.delivery);
                let data = to_json("outbox", mail)?;
                let id: i64 = tx
                    .prepare_cached(
                        "INSERT INTO outbox(kind, pending, next_attempt_at, data) VALUES (?1, ?2, ?3, ?4) RETURNING id",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![mail.kind, pending, next, data], |r| r.get(0))
                    })
                    .ctx("queueing a message")?;
                ids.push(id as u64);
            }
            Ok(ids)
        }
        Op::SetDelivery(id, delivery) => {
            let data: Option<String> = {
                use rusqlite::OptionalExtension;
                tx.prepare_cached("SELECT data FROM outbox WHERE id = ?1")
                    .and_then(|mut s| s.query_row(params![*id as i64], |r| r.get(0)).optional())
                    .ctx("reading a queued message")?
            };
            let Some(data) = data else {
                return Err(Error::NotFound {
                    what: "queued message",
                    key: id.to_string(),
                });
            };
            let mut mail: QueuedMail = from_json("outbox", &data)?;
            mail.id = *id;
            mail.delivery = delivery.clone();
            let (pending, next) = due(&mail.delivery);
            let data = to_json("outbox", &mail)?;
            tx.prepare_cached(
                "UPDATE outbox SET pending = ?1, next_attempt_at = ?2, data = ?3 WHERE id = ?4",
            )
            .and_then(|mut s| s.execute(params![pending, next, data, *id as i64]))
            .ctx("updating a queued message")?;
            Ok(vec![*id])
        }
    }
}

fn rows(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<QueuedMail>, Error> {
    let mut s = conn.prepare_cached(sql).ctx("preparing an outbox query")?;
    let rows = s
        .query_map(args, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .ctx("reading the outbox")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, data) = row.ctx("reading a queued message")?;
        let mut m: QueuedMail = from_json("outbox", &data)?;
        m.id = id as u64;
        out.push(m);
    }
    Ok(out)
}

/// Pending messages due at `now`, earliest first.
pub(crate) fn due_mail(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<QueuedMail>, Error> {
    rows(
        conn,
        "SELECT id, data FROM outbox WHERE pending = 1 AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        &[
            &now.as_microsecond(),
            &(limit.min(i64::MAX as usize) as i64),
        ],
    )
}

/// Messages of one kind, newest first.
pub(crate) fn by_kind(
    conn: &Connection,
    kind: &str,
    limit: usize,
) -> Result<Vec<QueuedMail>, Error> {
    rows(
        conn,
        "SELECT id, data FROM outbox WHERE kind = ?1 ORDER BY id DESC LIMIT ?2",
        &[&kind, &(limit.min(i64::MAX as usize) as i64)],
    )
}
