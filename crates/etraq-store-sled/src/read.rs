//! Reads: single records, keyset listings over the index trees (merged across a scope's
//! users), thread facts, counts.

use etraq_core::store::{DrQuery, DrSort, FactsQuery, MailQuery, Page, page_size};
use etraq_core::tracking::{MailRef, ThreadFacts};
use etraq_core::{Dr, DrId, DrStatus, EmailAddress, MailRecord, Party, Result, User};
use sled::{IVec, Tree};

use crate::error::{Ctx, SledError, from_json};
use crate::keys::*;
use crate::schema::{Inner, T};

impl Inner {
    pub(crate) fn get_dr(&self, id: &DrId) -> Result<Option<Dr>> {
        match self.tree(T::Drs).get(be(id.number())).ctx("reading a DR")? {
            Some(v) => {
                let dr: Dr = from_json("drs", &v)?;
                Ok((dr.id == *id).then_some(dr))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn get_dr_by_number(&self, n: u64) -> Result<Option<Dr>> {
        self.tree(T::Drs)
            .get(be(n))
            .ctx("reading a DR")?
            .map(|v| from_json("drs", &v))
            .transpose()
    }

    pub(crate) fn get_mail(&self, seq: u64) -> Result<Option<MailRecord>> {
        match self
            .tree(T::Mails)
            .get(be(seq))
            .ctx("reading a mail record")?
        {
            Some(v) => {
                let mut m: MailRecord = from_json("mails", &v)?;
                m.seq = seq;
                Ok(Some(m))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn get_user(&self, email: &EmailAddress) -> Result<Option<User>> {
        self.tree(T::Users)
            .get(email.as_str())
            .ctx("reading a user")?
            .map(|v| from_json("users", &v))
            .transpose()
    }
}

/// Numbers (trailing 8 bytes) of the keys under `prefix`, newest first or oldest first, strictly
pub(crate) fn keyset(
    tree: &Tree,
    prefix: &[u8],
    after: Option<u64>,
    oldest_first: bool,
) -> Box<dyn Iterator<Item = Result<u64>>> {
    let map = |r: std::result::Result<(IVec, IVec), sled::Error>| -> Result<u64> {
        let (k, _) = r.ctx("scanning an index")?;
        trailing_number(&k).ok_or_else(|| SledError::BadKey("index").into())
    };
    match (after, oldest_first) {
        (None, false) => Box::new(tree.scan_prefix(prefix).rev().map(map)),
        (None, true) => Box::new(tree.scan_prefix(prefix).map(map)),
        (Some(a), false) => Box::new(
            tree.range(prefix.to_vec()..with_number(prefix, a))
                .rev()
                .map(map),
        ),
        (Some(a), true) => {
            let start = with_number(prefix, a.saturating_add(1));
            let mut end = prefix.to_vec();
            end.extend_from_slice(&[0xff; 9]);
            Box::new(tree.range(start..end).map(map))
        }
    }
}

/// Merges ordered key streams (descending, or ascending with `oldest_first`) into one, each key
/// once: a scoped listing walks one index range per user of the scope at the same time.
pub(crate) struct Merged {
    streams: Vec<std::iter::Peekable<KeyStream>>,
    oldest_first: bool,
}

pub(crate) type KeyStream = Box<dyn Iterator<Item = Result<u64>>>;

impl Iterator for Merged {
    type Item = Result<u64>;

    fn next(&mut self) -> Option<Result<u64>> {
        let mut best: Option<u64> = None;
        for s in &mut self.streams {
            match s.peek() {
                Some(Err(_)) => return s.next(),
                Some(Ok(k)) => {
                    let better = match best {
                        None => true,
                        Some(b) if self.oldest_first => *k < b,
                        Some(b) => *k > b,
                    };
                    if better {
                        best = Some(*k);
                    }
                }
                None => {}
            }
        }
        let best = best?;
        for s in &mut self.streams {
            if matches!(s.peek(), Some(Ok(k)) if *k == best) {
                s.next();
            }
        }
        Some(Ok(best))
    }
}

/// The keys of `tree` under one prefix per user (scoped listings), else under `prefix`.
pub(crate) fn scoped_keys(
    inner: &Inner,
    involving: Option<&[EmailAddress]>,
    user_tree: T,
    (tree, prefix): (T, Vec<u8>),
    after: Option<u64>,
    oldest_first: bool,
) -> Merged {
    let streams = match involving {
        Some(users) => users
            .iter()
            .map(|u| {
                keyset(
                    inner.tree(user_tree),
                    &text_prefix(u.as_str()),
                    after,
                    oldest_first,
                )
                .peekable()
            })
            .collect(),
        None => vec![keyset(inner.tree(tree), &prefix, after, oldest_first).peekable()],
    };
    Merged {
        streams,
        oldest_first,
    }
}

/// Open DRs, longest wait first: sled has no index on waiting time, so this reads every open DR
/// in scope (the SQLite store answers from an index).
pub(crate) fn longest_waiting(inner: &Inner, q: &DrQuery) -> Result<Page<Dr>> {
    let limit = page_size(q.limit);
    let sub = DrQuery {
        status: Some(DrStatus::Open),
        sort: DrSort::Number,
        longest_waiting_first: false,
        after: None,
        limit: usize::MAX,
        ..q.clone()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = list_drs(
            inner,
            &DrQuery {
                after,
                limit: etraq_core::store::MAX_PAGE_SIZE,
                ..sub.clone()
            },
        )?;
        all.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    // Whole seconds, as the SQLite store keeps them, so both order ties the same way.
    all.sort_by_key(|d| {
        (
            d.awaiting_since.map_or(i64::MAX, |t| t.as_second()),
            d.id.number(),
        )
    });
    all.truncate(limit);
    Ok(Page {
        items: all,
        next: None,
    })
}

/// Whether a DR passes a listing's filters (the scope is applied by the index walked).
pub(crate) fn dr_matches(q: &DrQuery, dr: &Dr) -> bool {
    !(q.status.is_some_and(|s| s != dr.status)
        || q.awaiting_before.is_some_and(|b| {
            dr.status != DrStatus::Open || dr.awaiting_since.is_none_or(|s| s >= b)
        })
        || q.owner.as_ref().is_some_and(|o| *o != dr.owner)
        || q.customer
            .as_ref()
            .is_some_and(|p| !p.matches(&dr.customer)))
}

/// The index key of a sort key: `text` NUL for addresses, the status code for statuses.
pub(crate) fn sort_index_prefix(sort: DrSort, key: &str) -> Vec<u8> {
    match sort {
        DrSort::Status => DrStatus::parse(key)
            .map(|s| vec![status_code(s)])
            .unwrap_or_default(),
        _ => text_prefix(key),
    }
}

/// A listing ordered by a column, then by number. Unscoped, it walks the column's index tree
/// from the cursor; scoped, it reads the scope's DRs and sorts them (sled keeps no per-user
/// index by column).
pub(crate) fn keyed_order(inner: &Inner, q: &DrQuery, sort: DrSort) -> Result<Page<Dr>> {
    use std::ops::Bound;
    let limit = page_size(q.limit);
    let cursor = q
        .after
        .map(|n| (q.after_key.clone().unwrap_or_default(), n));
    let mut items: Vec<Dr> = Vec::new();
    match &q.involving {
        None => {
            let tree = inner.tree(match sort {
                DrSort::Owner => T::DrsOwner,
                DrSort::Customer => T::DrsCustomer,
                _ => T::DrsStatus,
            });
            let start = cursor
                .as_ref()
                .map(|(k, n)| with_number(&sort_index_prefix(sort, k), *n));
            let iter: Box<dyn Iterator<Item = sled::Result<(IVec, IVec)>>> =
                match (q.ascending, start) {
                    (true, Some(s)) => {
                        Box::new(tree.range::<Vec<u8>, _>((Bound::Excluded(s), Bound::Unbounded)))
                    }
                    (true, None) => Box::new(tree.iter()),
                    (false, Some(s)) => Box::new(tree.range(..s).rev()),
                    (false, None) => Box::new(tree.iter().rev()),
                };
            for r in iter {
                let (k, _) = r.ctx("scanning a sort index")?;
                let n = trailing_number(&k).ok_or(SledError::BadKey("sort index"))?;
                let Some(dr) = inner.get_dr_by_number(n)? else {
                    continue;
                };
                if dr_matches(q, &dr) {
                    items.push(dr);
                    if items.len() > limit {
                        break;
                    }
                }
            }
        }
        Some(_) => {
            let keys = scoped_keys(
                inner,
                q.involving.as_deref(),
                T::DrsUser,
                (T::Drs, Vec::new()),
                None,
                true,
            );
            let mut all: Vec<(String, u64, Dr)> = Vec::new();
            for n in keys {
                let n = n?;
                if let Some(dr) = inner.get_dr_by_number(n)?
                    && dr_matches(q, &dr)
                {
                    all.push((sort.key(&dr).unwrap_or_default(), n, dr));
                }
            }
            all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            if !q.ascending {
                all.reverse();
            }
            for (k, n, dr) in all {
                let past = match &cursor {
                    None => true,
                    Some((ck, cn)) if q.ascending => (&k, n) > (ck, *cn),
                    Some((ck, cn)) => (&k, n) < (ck, *cn),
                };
                if past {
                    items.push(dr);
                    if items.len() > limit {
                        break;
                    }
                }
            }
        }
    }
    Ok(Page::from_overfetch(items, limit, |d| d.id.number()))
}

pub(crate) fn list_drs(inner: &Inner, q: &DrQuery) -> Result<Page<Dr>> {
    if q.longest_waiting_first {
        return longest_waiting(inner, q);
    }
    let sort = DrSort::effective(q);
    if sort != DrSort::Number {
        return keyed_order(inner, q, sort);
    }
    let limit = page_size(q.limit);
    let index = if let Some(o) = &q.owner {
        (T::DrsOwner, text_prefix(o.as_str()))
    } else if let Some(Party::Address(a)) = &q.customer {
        (T::DrsCustomer, text_prefix(a.as_str()))
    } else if let Some(Party::Domain(d)) = &q.customer {
        (T::DrsDomain, text_prefix(d))
    } else if let Some(s) = q.status {
        (T::DrsStatus, vec![status_code(s)])
    } else if q.awaiting_before.is_some() {
        (T::DrsStatus, vec![status_code(DrStatus::Open)])
    } else {
        (T::Drs, Vec::new())
    };
    let keys = scoped_keys(
        inner,
        q.involving.as_deref(),
        T::DrsUser,
        index,
        q.after,
        q.ascending,
    );
    page_from_keys(
        keys,
        limit,
        |n| Ok(inner.get_dr_by_number(n)?.filter(|dr| dr_matches(q, dr))),
        |d| d.id.number(),
    )
}

pub(crate) fn list_mails(inner: &Inner, q: &MailQuery) -> Result<Page<MailRecord>> {
    let limit = page_size(q.limit);
    let index = if let Some(dr) = &q.dr {
        (T::MailsDr, be(dr.number()).to_vec())
    } else if let Some(Party::Address(a)) = &q.party {
        (T::PartyAddr, text_prefix(a.as_str()))
    } else if let Some(Party::Domain(d)) = &q.party {
        (T::PartyDomain, text_prefix(d))
    } else if let Some(t) = q.tracked {
        (T::MailsTracked, vec![t as u8])
    } else {
        (T::Mails, Vec::new())
    };
    let keys = scoped_keys(
        inner,
        q.involving.as_deref(),
        T::PartyAddr,
        index,
        q.after,
        q.oldest_first,
    );
    let keep = |m: &MailRecord| {
        !(q.tracked.is_some_and(|t| t != m.decision.is_tracked())
            || q.dr.as_ref().is_some_and(|d| m.dr.as_ref() != Some(d))
            || q.party
                .as_ref()
                .is_some_and(|p| !m.addresses().into_iter().any(|a| p.matches(a))))
    };
    page_from_keys(
        keys,
        limit,
        |seq| Ok(inner.get_mail(seq)?.filter(keep)),
        |m| m.seq,
    )
}

/// The page of the records behind `keys` (in index order) that `fetch` finds and keeps. It
/// reads one record past `limit` to learn whether a next page exists: the paging step of every
/// listing of this store.
pub(crate) fn page_from_keys<V>(
    keys: impl Iterator<Item = Result<u64>>,
    limit: usize,
    mut fetch: impl FnMut(u64) -> Result<Option<V>>,
    key: impl Fn(&V) -> u64,
) -> Result<Page<V>> {
    let mut items = Vec::new();
    for k in keys {
        if let Some(v) = fetch(k?)? {
            items.push(v);
            if items.len() > limit {
                break;
            }
        }
    }
    Ok(Page::from_overfetch(items, limit, key))
}

pub(crate) fn thread_facts(inner: &Inner, q: &FactsQuery) -> Result<ThreadFacts> {
    let msgids = inner.tree(T::Msgids);
    let mut facts = ThreadFacts {
        duplicate: msgids
            .contains_key(message_id_key(q.message_id.as_str(), q.direction))
            .ctx("checking for a duplicate")?,
        ..ThreadFacts::default()
    };
    for id in &q.candidates {
        for entry in msgids.scan_prefix(text_prefix(id.as_str())) {
            let (_, v) = entry.ctx("looking up a referenced Message-ID")?;
            let Some(seq) = trailing_number(&v) else {
                continue;
            };
            if let Some(m) = inner.get_mail(seq)? {
                facts.referenced.push(MailRef {
                    message_id: id.clone(),
                    direction: m.direction,
                    campaign_mail: m.decision.reason()
                        == Some(etraq_core::UntrackedReason::CampaignMail),
                    dr: m.dr,
                    sender: m.sender,
                });
            }
        }
    }
    for id in q.drs_to_read(&facts.referenced) {
        if let Some(d) = inner.get_dr(&id)? {
            facts.drs.push(d);
        }
    }
    for u in &q.users_to_read(&facts.referenced) {
        if let Some(user) = inner.get_user(u)? {
            facts.users.push(user);
        }
    }
    Ok(facts)
}

pub(crate) fn counter(inner: &Inner, name: &str) -> Result<u64> {
    Ok(inner
        .tree(T::Counters)
        .get(name)
        .ctx("reading a counter")?
        .and_then(|v| trailing_number(&v))
        .unwrap_or(0))
}

pub(crate) fn count_prefix(tree: &Tree, prefix: &[u8]) -> u64 {
    tree.scan_prefix(prefix).keys().count() as u64
}
