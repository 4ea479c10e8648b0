//! The outbox trees: `outbox` (id → queued message) and `outbox_due` (due time, id → ()) for
//! the pending ones, so the notifier's question is a range scan.

use etraq_core::outbox::{Delivery, QueuedMail};
use etraq_core::{Error, Result};
use jiff::Timestamp;

use crate::error::{Ctx, from_json};
use crate::keys::{be, trailing_number, with_number};
use crate::schema::{Inner, T, Tx, TxResult};
use crate::write::{abort, micros_key, tx_from_json, tx_json};

/// Stores `mail` (new when `old` is `None`), keeping the due index in step.
fn tx_put(t: &Tx<'_>, mail: &QueuedMail, old: Option<&QueuedMail>) -> TxResult<()> {
    tx_put_stored(t, mail, tx_json("outbox", mail)?, old)
}

/// Writes queued message `mail`, stored as `data`, and its due-time entry (moved from `old`'s).
pub(crate) fn tx_put_stored(
    t: &Tx<'_>,
    mail: &QueuedMail,
    data: Vec<u8>,
    old: Option<&QueuedMail>,
) -> TxResult<()> {
    if let Some(at) = old.and_then(|o| o.delivery.due_at()) {
        t[T::MailqDue].remove(with_number(&micros_key(at), mail.id))?;
    }
    t[T::Mailq].insert(&be(mail.id), data)?;
    if let Some(at) = mail.delivery.due_at() {
        t[T::MailqDue].insert(with_number(&micros_key(at), mail.id), &[])?;
    }
    Ok(())
}

pub(crate) fn tx_queue(t: &Tx<'_>, mails: &[QueuedMail]) -> TxResult<Vec<u64>> {
    let mut ids = Vec::with_capacity(mails.len());
    for mail in mails {
        let mut mail = mail.clone();
        mail.id = t[T::Mailq].generate_id()? + 1;
        tx_put(t, &mail, None)?;
        ids.push(mail.id);
    }
    Ok(ids)
}

pub(crate) fn tx_set_delivery(t: &Tx<'_>, id: u64, delivery: &Delivery) -> TxResult<()> {
    let Some(v) = t[T::Mailq].get(be(id))? else {
        return abort(Error::NotFound {
            what: "queued message",
            key: id.to_string(),
        });
    };
    let mut old: QueuedMail = tx_from_json("outbox", &v)?;
    old.id = id;
    let mut new = old.clone();
    new.delivery = delivery.clone();
    tx_put(t, &new, Some(&old))
}

fn get(inner: &Inner, id: u64) -> Result<Option<QueuedMail>> {
    match inner
        .tree(T::Mailq)
        .get(be(id))
        .ctx("reading a queued message")?
    {
        Some(v) => {
            let mut m: QueuedMail = from_json("outbox", &v)?;
            m.id = id;
            Ok(Some(m))
        }
        None => Ok(None),
    }
}

pub(crate) fn due(inner: &Inner, now: Timestamp, limit: usize) -> Result<Vec<QueuedMail>> {
    let mut upper = micros_key(now).to_vec();
    upper.extend_from_slice(&[0xff; 8]);
    let mut out = Vec::new();
    for k in inner.tree(T::MailqDue).range(..=upper).keys() {
        if out.len() >= limit {
            break;
        }
        let k = k.ctx("scanning the outbox")?;
        if let Some(m) = trailing_number(&k)
            .map(|id| get(inner, id))
            .transpose()?
            .flatten()
        {
            out.push(m);
        }
    }
    Ok(out)
}

pub(crate) fn by_kind(inner: &Inner, kind: &str, limit: usize) -> Result<Vec<QueuedMail>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Mailq).iter().rev() {
        if out.len() >= limit {
            break;
        }
        let (k, v) = r.ctx("scanning the outbox")?;
        let mut m: QueuedMail = from_json("outbox", &v)?;
        if m.kind == kind {
            m.id = trailing_number(&k).unwrap_or(0);
            out.push(m);
        }
    }
    Ok(out)
}
