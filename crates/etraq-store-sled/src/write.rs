//! Writes, each inside one transaction over every tree: a record and all its index entries
//! change together or not at all, and a stale version aborts with `Error::Conflict`.

use etraq_core::model::{Alert, AlertMail, CycleRecord};
use etraq_core::store::{ChangeSet, CycleWrite, DrWrite};
use etraq_core::{Dr, Error, MailRecord};
use jiff::Timestamp;
use sled::transaction::ConflictableTransactionError;

use crate::error::{from_json, to_json};
use crate::keys::*;
use crate::schema::{T, Tx, TxResult};

pub(crate) fn abort<T>(e: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

pub(crate) fn tx_json<T: serde::Serialize>(tree: &'static str, v: &T) -> TxResult<Vec<u8>> {
    to_json(tree, v).map_err(ConflictableTransactionError::Abort)
}

pub(crate) fn tx_from_json<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    b: &[u8],
) -> TxResult<T> {
    from_json(tree, b).map_err(ConflictableTransactionError::Abort)
}

/// Writes a DR and its index entries inside a transaction, after checking its version.
pub(crate) fn tx_write_dr(t: &Tx<'_>, w: &DrWrite) -> TxResult<()> {
    let key = be(w.dr.id.number());
    let current: Option<Dr> = match t[T::Drs].get(key)? {
        Some(v) => Some(tx_from_json("drs", &v)?),
        None => None,
    };
    let stored_id = current.as_ref().map(|c| c.id.to_string());
    if let Err(e) = w.check(
        current
            .as_ref()
            .zip(stored_id.as_deref())
            .map(|(c, id)| (id, c.version)),
    ) {
        return abort(e);
    }
    let n = w.dr.id.number();
    if let Some(c) = &current {
        if let Some(d) = c.due_at {
            t[T::DrsDue].remove(with_number(&micros_key(d), n))?;
        }
        t[T::DrsStatus].remove(with_number(&[status_code(c.status)], n))?;
        t[T::DrsOwner].remove(with_number(&text_prefix(c.owner.as_str()), n))?;
        t[T::DrsCustomer].remove(with_number(&text_prefix(c.customer.as_str()), n))?;
        t[T::DrsDomain].remove(with_number(&text_prefix(c.customer.domain()), n))?;
        for u in c.users() {
            t[T::DrsUser].remove(with_number(&text_prefix(u.as_str()), n))?;
        }
    }
    tx_put_dr(t, &w.dr, tx_json("drs", &w.dr)?)
}

/// Writes DR `d`, stored as `data`, and its index entries (over none: a new DR, or one whose
/// old entries are gone).
pub(crate) fn tx_put_dr(t: &Tx<'_>, d: &Dr, data: Vec<u8>) -> TxResult<()> {
    let n = d.id.number();
    t[T::Drs].insert(&be(n), data)?;
    t[T::DrsStatus].insert(with_number(&[status_code(d.status)], n), &[])?;
    t[T::DrsOwner].insert(with_number(&text_prefix(d.owner.as_str()), n), &[])?;
    t[T::DrsCustomer].insert(with_number(&text_prefix(d.customer.as_str()), n), &[])?;
    t[T::DrsDomain].insert(with_number(&text_prefix(d.customer.domain()), n), &[])?;
    for u in d.users() {
        t[T::DrsUser].insert(with_number(&text_prefix(u.as_str()), n), &[])?;
    }
    if let Some(due) = d.due_at {
        t[T::DrsDue].insert(with_number(&micros_key(due), n), &[])?;
    }
    Ok(())
}

/// An instant as an order-preserving 8-byte key (microseconds).
pub(crate) fn micros_key(t: Timestamp) -> [u8; 8] {
    time_key(t.as_microsecond())
}

pub(crate) fn tx_bump(t: &Tx<'_>, name: &str, by: u64) -> TxResult<()> {
    if by == 0 {
        return Ok(());
    }
    let cur = t[T::Counters]
        .get(name)?
        .and_then(|v| trailing_number(&v))
        .unwrap_or(0);
    t[T::Counters].insert(name, &be(cur.saturating_add(by)))?;
    Ok(())
}

/// Writes an alert and its index entries, replacing `old` (the stored version) if any.
pub(crate) fn tx_put_alert(t: &Tx<'_>, a: &Alert, old: Option<&Alert>) -> TxResult<()> {
    tx_put_alert_stored(t, a, tx_json("alerts", a)?, old)
}

/// [`tx_put_alert`] with the record stored as `data`.
pub(crate) fn tx_put_alert_stored(
    t: &Tx<'_>,
    a: &Alert,
    data: Vec<u8>,
    old: Option<&Alert>,
) -> TxResult<()> {
    if let Some(AlertMail::Pending {
        next_attempt_at, ..
    }) = old.map(|o| &o.mail)
    {
        t[T::Outbox].remove(with_number(&micros_key(*next_attempt_at), a.id))?;
    }
    t[T::Alerts].insert(&be(a.id), data)?;
    if let AlertMail::Pending {
        next_attempt_at, ..
    } = &a.mail
    {
        t[T::Outbox].insert(with_number(&micros_key(*next_attempt_at), a.id), &[])?;
    }
    if old.is_none() {
        t[T::AlertsUser].insert(with_number(&text_prefix(a.user.as_str()), a.id), &[])?;
    }
    Ok(())
}

pub(crate) fn tx_apply_cycle(t: &Tx<'_>, w: &CycleWrite) -> TxResult<CycleRecord> {
    for d in &w.drs {
        tx_write_dr(t, d)?;
    }
    let mut record = w.record.clone();
    record.id = t[T::Cycles].generate_id()? + 1;
    t[T::Cycles].insert(&be(record.id), tx_json("cycles", &record)?)?;
    for a in &w.alerts {
        let mut a = a.clone();
        a.cycle = record.id;
        a.id = t[T::Alerts].generate_id()? + 1;
        tx_put_alert(t, &a, None)?;
    }
    tx_bump(t, "warned", record.warned)?;
    tx_bump(t, "escalated", record.escalated)?;
    Ok(record)
}

/// Whether a change set's Message-ID is indexed already (in its direction).
pub(crate) fn tx_message_id_known(t: &Tx<'_>, cs: &ChangeSet) -> TxResult<bool> {
    let m = &cs.mail;
    Ok(cs.index_message_id
        && t[T::Msgids]
            .get(message_id_key(m.message_id.as_str(), m.direction))?
            .is_some())
}

/// Applies one change set inside a transaction; returns the mail's seq.
pub(crate) fn tx_apply(t: &Tx<'_>, cs: &ChangeSet) -> TxResult<u64> {
    let m = &cs.mail;
    let mid_key = message_id_key(m.message_id.as_str(), m.direction);
    if cs.index_message_id && t[T::Msgids].get(&mid_key)?.is_some() {
        return abort(Error::Conflict(format!(
            "Message-ID {} is already recorded ({})",
            m.message_id, m.direction
        )));
    }
    if let Some(w) = &cs.dr {
        tx_write_dr(t, w)?;
    }
    let seq = t[T::Mails].generate_id()? + 1;
    tx_put_mail(t, seq, m, tx_json("mails", m)?, &cs.raw)?;
    if cs.index_message_id {
        t[T::Msgids].insert(mid_key, &be(seq))?;
    }
    if let Some(dr) = &m.dr {
        for (mid, dir) in &cs.link {
            let Some(target) = t[T::Msgids].get(message_id_key(mid.as_str(), *dir))? else {
                continue;
            };
            let Some(target_seq) = trailing_number(&target) else {
                continue;
            };
            let Some(v) = t[T::Mails].get(be(target_seq))? else {
                continue;
            };
            let mut rec: MailRecord = tx_from_json("mails", &v)?;
            if rec.dr.is_some() {
                continue;
            }
            rec.dr = Some(dr.clone());
            t[T::Mails].insert(&be(target_seq), tx_json("mails", &rec)?)?;
            t[T::MailsDr].insert(with_number(&be(dr.number()), target_seq), &[])?;
        }
    }
    if let Some(id) = cs.pending {
        t[T::Pending].remove(&be(id))?;
    }
    if !cs.queue.is_empty() {
        crate::outbox::tx_queue(t, &cs.queue)?;
    }
    if let Some(r) = &cs.response {
        let mut key = time_key(r.responded_at.as_second()).to_vec();
        key.extend_from_slice(&be(seq));
        t[T::Responses].insert(key, tx_json("responses", r)?)?;
    }
    Ok(seq)
}

/// Writes mail record `m` under `seq`, stored as `data`, with its index entries, raw message
/// and a place in the search queue.
pub(crate) fn tx_put_mail(
    t: &Tx<'_>,
    seq: u64,
    m: &MailRecord,
    data: Vec<u8>,
    raw: &[u8],
) -> TxResult<()> {
    t[T::Mails].insert(&be(seq), data)?;
    t[T::MailsMid].insert(with_number(&text_prefix(m.message_id.as_str()), seq), &[])?;
    t[T::MailsTracked].insert(with_number(&[m.decision.is_tracked() as u8], seq), &[])?;
    if let Some(dr) = &m.dr {
        t[T::MailsDr].insert(with_number(&be(dr.number()), seq), &[])?;
    }
    for p in m.addresses() {
        t[T::PartyAddr].insert(with_number(&text_prefix(p.as_str()), seq), &[])?;
        t[T::PartyDomain].insert(with_number(&text_prefix(p.domain()), seq), &[])?;
    }
    t[T::Raw].insert(&be(seq), raw)?;
    t[T::SearchPending].insert(&be(seq), &[])?;
    Ok(())
}
