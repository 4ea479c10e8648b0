//! The store's logical tables for `etraq migrate` ([`etraq_core::copy`]): each table is one
//! tree whose keys map to the logical keys; an import writes a page's records with all their
//! index entries in one transaction, the way the normal write path does, keeping documents
//! byte for byte. Afterwards the id generators are moved past the ids copied and the search
//! index takes the imported mail.

use etraq_core::campaign::{Campaign, Recipient, Subscriber};
use etraq_core::copy::{self, COUNTERS, Key, Row, Table};
use etraq_core::model::Alert;
use etraq_core::outbox::QueuedMail;
use etraq_core::{Direction, Dr, Error, MailRecord, Result};
use sled::Tree;

use crate::campaign::{state_key, status_byte, two, with_text};
use crate::error::Ctx;
use crate::keys::*;
use crate::schema::{Inner, T, Tx, TxResult};
use crate::write::{abort, tx_put_alert_stored, tx_put_dr, tx_put_mail};

/// The tree holding a table's records.
fn tree_of(table: Table) -> T {
    match table {
        Table::Counters => T::Counters,
        Table::Kv => T::Kv,
        Table::Users => T::Users,
        Table::Drs => T::Drs,
        Table::Mails => T::Mails,
        Table::MessageIds => T::Msgids,
        Table::Responses => T::Responses,
        Table::Cycles => T::Cycles,
        Table::Alerts => T::Alerts,
        Table::Pending => T::Pending,
        Table::Outbox => T::Mailq,
        Table::Lists => T::Lists,
        Table::Subscribers => T::Subscribers,
        Table::Blocklist => T::Blocklist,
        Table::Campaigns => T::Campaigns,
        Table::Recipients => T::Recipients,
        Table::Events => T::Events,
        Table::Links => T::Links,
        Table::Hits => T::Hits,
        Table::Engagement => T::Engagement,
        Table::KbArticles => T::Kb,
        Table::KbHistory => T::KbHistory,
    }
}

fn direction_of(code: u8) -> Option<Direction> {
    [
        Direction::Inbound,
        Direction::Outbound,
        Direction::Internal,
        Direction::External,
    ]
    .into_iter()
    .find(|d| direction_code(*d) == code)
}

fn bad_key(table: Table) -> Error {
    Error::Invalid(format!("a key in the {} tree is malformed", table.name()))
}

/// A tree key as the logical key of `table`.
fn logical(table: Table, k: &[u8]) -> Result<Key> {
    let num = |b: &[u8]| -> Option<u64> { Some(u64::from_be_bytes(b.try_into().ok()?)) };
    match table {
        Table::Counters | Table::Kv | Table::Users | Table::Lists | Table::Blocklist => {
            String::from_utf8(k.to_vec())
                .map(Key::Text)
                .map_err(|_| bad_key(table))
        }
        Table::MessageIds => {
            let (code, rest) = k.split_last().ok_or_else(|| bad_key(table))?;
            let mid = rest.strip_suffix(&[0]).ok_or_else(|| bad_key(table))?;
            let mid = std::str::from_utf8(mid).map_err(|_| bad_key(table))?;
            let dir = direction_of(*code).ok_or_else(|| bad_key(table))?;
            Ok(Key::Text(copy::message_id_key(mid, dir)))
        }
        Table::Responses
        | Table::Recipients
        | Table::Events
        | Table::Links
        | Table::Hits
        | Table::KbHistory => match (k.get(..8).and_then(num), k.get(8..).and_then(num)) {
            (Some(a), Some(b)) => Ok(Key::Pair(a, b)),
            _ => Err(bad_key(table)),
        },
        _ => num(k).map(Key::Num).ok_or_else(|| bad_key(table)),
    }
}

/// The tree key of a logical key.
fn native(table: Table, key: &Key) -> Result<Vec<u8>> {
    Ok(match (table, key) {
        (Table::MessageIds, Key::Text(t)) => {
            let (mid, dir) = copy::split_message_id_key(t)?;
            message_id_key(mid, dir)
        }
        (_, Key::Text(t)) => t.as_bytes().to_vec(),
        (_, Key::Num(n)) => be(*n).to_vec(),
        (_, Key::Pair(a, b)) => two(*a, *b),
    })
}

/// A stored value as a row's document.
fn doc_of(table: Table, v: &[u8]) -> Result<String> {
    match table {
        Table::Counters => Ok(trailing_number(v).unwrap_or(0).to_string()),
        Table::MessageIds => trailing_number(v)
            .map(|n| n.to_string())
            .ok_or_else(|| bad_key(table)),
        Table::Engagement => {
            let millis = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            let at = v
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes);
            match (millis, at) {
                (Some(m), Some(a)) => Ok(copy::engagement_doc(m, a)),
                _ => Err(bad_key(table)),
            }
        }
        _ => String::from_utf8(v.to_vec())
            .map_err(|_| Error::Invalid(format!("a record in {} is not UTF-8", table.name()))),
    }
}

/// Up to `limit` rows of `table` after `after`, in tree order.
pub(crate) fn export(
    inner: &Inner,
    table: Table,
    after: Option<Key>,
    limit: usize,
) -> Result<Vec<Row>> {
    let tree = inner.tree(tree_of(table));
    let start = after.as_ref().map(|k| native(table, k)).transpose()?;
    let iter = match &start {
        Some(s) => tree.range::<&[u8], _>((
            std::ops::Bound::Excluded(s.as_slice()),
            std::ops::Bound::Unbounded,
        )),
        None => tree.iter(),
    };
    let mut out = Vec::new();
    for kv in iter {
        if out.len() >= limit {
            break;
        }
        let (k, v) = kv.ctx("exporting")?;
        if table == Table::Counters && !COUNTERS.iter().any(|c| c.as_bytes() == &k[..]) {
            continue;
        }
        let key = logical(table, &k)?;
        let mut row = Row::new(key, doc_of(table, &v)?);
        if table == Table::Mails {
            row.raw = Some(
                inner
                    .tree(T::Raw)
                    .get(&k)
                    .ctx("reading a raw message")?
                    .map(|r| r.to_vec())
                    .unwrap_or_default(),
            );
        }
        out.push(row);
    }
    Ok(out)
}

/// A result inside a transaction: an error aborts it.
fn lift<V>(r: Result<V>) -> TxResult<V> {
    r.or_else(abort)
}

/// Writes one row of `table` with its index entries.
fn put(t: &Tx<'_>, table: Table, r: &Row) -> TxResult<()> {
    let key = lift(native(table, &r.key))?;
    let doc = r.doc.as_bytes();
    let tree = &t[tree_of(table)];
    match table {
        Table::Counters => {
            tree.insert(key, &be(lift(r.doc_number(table))?))?;
        }
        Table::MessageIds => {
            tree.insert(key, &be(lift(r.doc_number(table))?))?;
        }
        Table::Engagement => {
            let (millis, at) = lift(copy::parse_engagement_doc(&r.doc))?;
            let mut v = millis.to_be_bytes().to_vec();
            v.extend_from_slice(&at.to_be_bytes());
            tree.insert(key, v)?;
        }
        Table::Drs => {
            let dr: Dr = lift(copy::decode(table, r))?;
            if dr.id.number() != lift(r.key.num(table))? {
                return abort(Error::Invalid(format!(
                    "DR row {:?} holds DR {}",
                    r.key, dr.id
                )));
            }
            tx_put_dr(t, &dr, doc.to_vec())?;
        }
        Table::Mails => {
            let m: MailRecord = lift(copy::decode(table, r))?;
            let raw = r.raw.as_deref().unwrap_or_default();
            tx_put_mail(t, lift(r.key.num(table))?, &m, doc.to_vec(), raw)?;
        }
        Table::Alerts => {
            let mut a: Alert = lift(copy::decode(table, r))?;
            a.id = lift(r.key.num(table))?;
            tx_put_alert_stored(t, &a, doc.to_vec(), None)?;
        }
        Table::Outbox => {
            let mut m: QueuedMail = lift(copy::decode(table, r))?;
            m.id = lift(r.key.num(table))?;
            crate::outbox::tx_put_stored(t, &m, doc.to_vec(), None)?;
        }
        Table::Subscribers => {
            let s: Subscriber = lift(copy::decode(table, r))?;
            let id = lift(r.key.num(table))?;
            tree.insert(key, doc)?;
            t[T::SubscribersEmail].insert(s.email.as_str().as_bytes(), &be(id))?;
            for (list, m) in &s.lists {
                t[T::Members].insert(
                    with_number(&text_prefix(list), id),
                    &[status_byte(m.status)],
                )?;
            }
        }
        Table::Campaigns => {
            let c: Campaign = lift(copy::decode(table, r))?;
            let id = lift(r.key.num(table))?;
            tree.insert(key, doc)?;
            let k = etraq_core::campaign::campaign_key(&c.name);
            t[T::CampaignNames].insert(k.as_bytes(), &be(id))?;
        }
        Table::Recipients => {
            let rec: Recipient = lift(copy::decode(table, r))?;
            let (c, id) = lift(r.key.pair(table))?;
            tree.insert(key, doc)?;
            t[T::RecipientsState].insert(state_key(c, rec.state, id), &[])?;
        }
        Table::Links => {
            let (c, n) = lift(r.key.pair(table))?;
            tree.insert(key, doc)?;
            t[T::LinksUrl].insert(with_text(c, &r.doc), &be(n))?;
        }
        Table::Hits => {
            let h: etraq_core::campaign::Hit = lift(copy::decode(table, r))?;
            let (c, n) = lift(r.key.pair(table))?;
            tree.insert(key, doc)?;
            let mut rk = two(c, h.recipient);
            rk.extend_from_slice(&be(n));
            t[T::HitsRecipient].insert(rk, &[])?;
            if let Some(order) = &h.order_id {
                t[T::HitsOrder].insert(with_text(c, order), &[])?;
            }
        }
        Table::Kv
        | Table::Users
        | Table::Responses
        | Table::Cycles
        | Table::Pending
        | Table::Lists
        | Table::Blocklist
        | Table::Events
        | Table::KbArticles
        | Table::KbHistory => {
            tree.insert(key, doc)?;
        }
    }
    Ok(())
}

/// Imports one page of `table` in one transaction; answers the search entries of imported
/// mail.
pub(crate) fn import(
    inner: &Inner,
    table: Table,
    rows: &[Row],
) -> Result<Vec<crate::search::Entry>> {
    inner.transaction(|t| {
        for r in rows {
            put(t, table, r)?;
        }
        Ok(())
    })?;
    if table != Table::Mails {
        return Ok(Vec::new());
    }
    rows.iter()
        .map(|r| {
            let m: MailRecord = copy::decode(table, r)?;
            let seq = r.key.num(table)?;
            Ok(crate::search::Entry::new(
                seq,
                &m,
                r.raw.as_deref().unwrap_or_default(),
            ))
        })
        .collect()
}

/// The highest key number of a tree of numbered records.
fn last_number(tree: &Tree, pair: bool) -> Result<u64> {
    let Some((k, _)) = tree.last().ctx("reading the last id")? else {
        return Ok(0);
    };
    let part = if pair { k.get(8..16) } else { k.get(..8) };
    Ok(part
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// Moves the id generator (one for the whole database) past every id copied, and the counters
/// of subscriber and campaign ids to the highest copied.
pub(crate) fn finish(inner: &Inner) -> Result<()> {
    let mut top = 0;
    for (t, pair) in [
        (T::Mails, false),
        (T::Alerts, false),
        (T::Cycles, false),
        (T::Pending, false),
        (T::Mailq, false),
        (T::Kb, false),
        (T::Events, true),
        (T::Hits, true),
    ] {
        top = top.max(last_number(inner.tree(t), pair)?);
    }
    // The responses tree is keyed by time, then the seq of the mail that answered.
    for kv in inner.tree(T::Responses).iter().keys() {
        let k = kv.ctx("reading response times")?;
        top = top.max(trailing_number(&k).unwrap_or(0));
    }
    while inner.db.generate_id().ctx("moving the id generator")? < top {}
    for (counter, t) in [("subscriber", T::Subscribers), ("campaign", T::Campaigns)] {
        let last = last_number(inner.tree(t), false)?;
        if last > 0 {
            inner
                .tree(T::Counters)
                .insert(counter, &be(last))
                .ctx("setting an id counter")?;
        }
    }
    Ok(())
}
