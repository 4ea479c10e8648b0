//! The campaign area's trees: `lists`, `subscribers` (id → record, memberships included),
//! `subscribers_by_email`, `members` (list key, NUL, id → status) and `blocklist`.

use etraq_core::campaign::{
    BlockEntry, Blocked, Campaign, JoinAs, ListSummary, MailingList, MemberStatus, MergeOutcome,
    Recipient, RecipientCounts, RecipientState, Subscriber, SubscriberEvent, SubscriberInput,
    SubscriberQuery, campaign_key, list_key,
};
use etraq_core::store::{Page, page_size};
use etraq_core::{EmailAddress, Error, Result};
use jiff::Timestamp;

use crate::error::{Ctx, from_json};
use crate::keys::{be, text_prefix, trailing_number, with_number};
use crate::schema::{Inner, T, Tx, TxResult};
use crate::write::{abort, tx_from_json, tx_json};

fn not_found(what: &'static str, key: &str) -> Error {
    Error::NotFound {
        what,
        key: key.to_string(),
    }
}

pub(crate) fn status_byte(s: MemberStatus) -> u8 {
    match s {
        MemberStatus::Unconfirmed => 1,
        MemberStatus::Confirmed => 2,
        MemberStatus::Unsubscribed => 3,
    }
}

pub(crate) fn tx_create_list(t: &Tx<'_>, l: &MailingList) -> TxResult<()> {
    let key = l.key();
    if t[T::Lists].get(key.as_bytes())?.is_some() {
        return abort(Error::Conflict(format!("a list named {:?} exists", l.name)));
    }
    t[T::Lists].insert(key.as_bytes(), tx_json("lists", l)?)?;
    Ok(())
}

pub(crate) fn tx_update_list(t: &Tx<'_>, l: &MailingList) -> TxResult<()> {
    let key = l.key();
    if t[T::Lists].get(key.as_bytes())?.is_none() {
        return abort(not_found("list", &l.name));
    }
    t[T::Lists].insert(key.as_bytes(), tx_json("lists", l)?)?;
    Ok(())
}

/// Deletes a list; `ids` are its members, read before the transaction (sled transactions cannot
/// scan).
pub(crate) fn tx_delete_list(t: &Tx<'_>, name: &str, ids: &[u64]) -> TxResult<bool> {
    let key = list_key(name);
    for id in ids {
        t[T::Members].remove(with_number(&text_prefix(&key), *id))?;
        if let Some(v) = t[T::Subscribers].get(be(*id))? {
            let mut s: Subscriber = tx_from_json("subscribers", &v)?;
            s.lists.remove(&key);
            t[T::Subscribers].insert(&be(*id), tx_json("subscribers", &s)?)?;
        }
    }
    Ok(t[T::Lists].remove(key.as_bytes())?.is_some())
}

/// The ids of a list's members.
pub(crate) fn member_ids(inner: &Inner, name: &str) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for r in inner
        .tree(T::Members)
        .scan_prefix(text_prefix(&list_key(name)))
    {
        let (k, _) = r.ctx("reading a list's members")?;
        if let Some(id) = trailing_number(&k) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn tx_subscriber(t: &Tx<'_>, email: &EmailAddress) -> TxResult<Option<Subscriber>> {
    let Some(id) = t[T::SubscribersEmail].get(email.as_str().as_bytes())? else {
        return Ok(None);
    };
    let Some(v) = t[T::Subscribers].get(&id)? else {
        return Ok(None);
    };
    let mut s: Subscriber = tx_from_json("subscribers", &v)?;
    s.id = trailing_number(&id).unwrap_or(0);
    Ok(Some(s))
}

fn tx_blocked(t: &Tx<'_>, email: &EmailAddress) -> TxResult<bool> {
    for key in Blocked::keys_for(email) {
        if t[T::Blocklist].get(key.as_bytes())?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn tx_write_subscriber(t: &Tx<'_>, mut s: Subscriber, list: &str) -> TxResult<()> {
    if s.id == 0 {
        let last = t[T::Counters]
            .get("subscriber")?
            .and_then(|v| trailing_number(&v))
            .unwrap_or(0);
        s.id = last + 1;
        t[T::Counters].insert("subscriber", &be(s.id))?;
        t[T::SubscribersEmail].insert(s.email.as_str().as_bytes(), &be(s.id))?;
    }
    t[T::Subscribers].insert(&be(s.id), tx_json("subscribers", &s)?)?;
    let key = with_number(&text_prefix(list), s.id);
    match s.lists.get(list) {
        Some(m) => t[T::Members].insert(key, &[status_byte(m.status)])?,
        None => t[T::Members].remove(key)?,
    };
    Ok(())
}

pub(crate) fn tx_merge(
    t: &Tx<'_>,
    list: &str,
    confirmed: bool,
    inputs: &[SubscriberInput],
    now: Timestamp,
) -> TxResult<Vec<MergeOutcome>> {
    let Some(v) = t[T::Lists].get(list_key(list).as_bytes())? else {
        return abort(not_found("list", list));
    };
    let l: MailingList = tx_from_json("lists", &v)?;
    let join = JoinAs {
        opt_in: l.opt_in,
        confirmed,
    };
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let existing = tx_subscriber(t, &input.email)?;
        let blocked = tx_blocked(t, &input.email)?;
        let (next, outcome) = Subscriber::merge(existing, input, &l, join, blocked, now);
        if let Some(s) = next {
            tx_write_subscriber(t, s, &l.key())?;
        }
        out.push(outcome);
    }
    Ok(out)
}

pub(crate) fn tx_set_status(
    t: &Tx<'_>,
    email: &EmailAddress,
    list: &str,
    status: MemberStatus,
    now: Timestamp,
) -> TxResult<()> {
    let key = list_key(list);
    let Some(mut s) = tx_subscriber(t, email)? else {
        return abort(not_found("subscriber", email.as_str()));
    };
    let Some(m) = s.lists.get_mut(&key) else {
        return abort(not_found("membership", &format!("{email} on {list}")));
    };
    if m.status != status {
        m.status = status;
        m.updated_at = now;
        tx_write_subscriber(t, s, &key)?;
    }
    Ok(())
}

pub(crate) fn get_list(inner: &Inner, name: &str) -> Result<Option<MailingList>> {
    inner
        .tree(T::Lists)
        .get(list_key(name).as_bytes())
        .ctx("reading a list")?
        .map(|v| from_json("lists", &v))
        .transpose()
}

pub(crate) fn list_lists(inner: &Inner) -> Result<Vec<ListSummary>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Lists).iter() {
        let (k, v) = r.ctx("reading the lists")?;
        let list: MailingList = from_json("lists", &v)?;
        let mut summary = ListSummary {
            list,
            confirmed: 0,
            unconfirmed: 0,
            unsubscribed: 0,
        };
        let mut prefix = k.to_vec();
        prefix.push(0);
        for m in inner.tree(T::Members).scan_prefix(prefix) {
            let (_, st) = m.ctx("counting a list's members")?;
            match st.first() {
                Some(1) => summary.unconfirmed += 1,
                Some(2) => summary.confirmed += 1,
                _ => summary.unsubscribed += 1,
            }
        }
        out.push(summary);
    }
    Ok(out)
}

pub(crate) fn get_subscriber(inner: &Inner, email: &EmailAddress) -> Result<Option<Subscriber>> {
    let Some(id) = inner
        .tree(T::SubscribersEmail)
        .get(email.as_str().as_bytes())
        .ctx("reading a subscriber")?
    else {
        return Ok(None);
    };
    by_id(inner, trailing_number(&id).unwrap_or(0))
}

fn by_id(inner: &Inner, id: u64) -> Result<Option<Subscriber>> {
    let Some(v) = inner
        .tree(T::Subscribers)
        .get(be(id))
        .ctx("reading a subscriber")?
    else {
        return Ok(None);
    };
    let mut s: Subscriber = from_json("subscribers", &v)?;
    s.id = id;
    Ok(Some(s))
}

pub(crate) fn list_subscribers(inner: &Inner, q: &SubscriberQuery) -> Result<Page<Subscriber>> {
    let limit = page_size(q.limit);
    let after = q.after.unwrap_or(0);
    let mut items = Vec::with_capacity(limit + 1);
    let mut push = |s: Subscriber| {
        if q.matches(&s) {
            items.push(s);
        }
        items.len() > limit
    };
    match &q.list {
        Some(l) => {
            let prefix = text_prefix(&list_key(l));
            let start = with_number(&prefix, after.saturating_add(1));
            let end = with_number(&prefix, u64::MAX);
            for r in inner.tree(T::Members).range(start..=end) {
                let (k, _) = r.ctx("listing subscribers")?;
                let Some(s) = trailing_number(&k).map(|id| by_id(inner, id)).transpose()? else {
                    continue;
                };
                if let Some(s) = s
                    && push(s)
                {
                    break;
                }
            }
        }
        None => {
            for r in inner
                .tree(T::Subscribers)
                .range(be(after.saturating_add(1))..)
            {
                let (k, v) = r.ctx("listing subscribers")?;
                let mut s: Subscriber = from_json("subscribers", &v)?;
                s.id = trailing_number(&k).unwrap_or(0);
                if push(s) {
                    break;
                }
            }
        }
    }
    Ok(Page::from_overfetch(items, limit, |s| s.id))
}

pub(crate) fn blocked(inner: &Inner, email: &EmailAddress) -> Result<Option<BlockEntry>> {
    for key in Blocked::keys_for(email) {
        if let Some(v) = inner
            .tree(T::Blocklist)
            .get(key.as_bytes())
            .ctx("reading the blocklist")?
        {
            return from_json("blocklist", &v).map(Some);
        }
    }
    Ok(None)
}

pub(crate) fn blocklist(inner: &Inner) -> Result<Vec<BlockEntry>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Blocklist).iter() {
        let (_, v) = r.ctx("reading the blocklist")?;
        out.push(from_json("blocklist", &v)?);
    }
    Ok(out)
}

fn recipient_key(campaign: u64, id: u64) -> Vec<u8> {
    with_number(&be(campaign), id)
}

pub(crate) fn state_key(campaign: u64, state: RecipientState, id: u64) -> Vec<u8> {
    let mut prefix = be(campaign).to_vec();
    prefix.push(state.code());
    with_number(&prefix, id)
}

pub(crate) fn tx_create_campaign(t: &Tx<'_>, c: &Campaign) -> TxResult<Campaign> {
    let key = campaign_key(&c.name);
    if t[T::CampaignNames].get(key.as_bytes())?.is_some() {
        return abort(Error::Conflict(format!(
            "a campaign named {:?} exists",
            c.name
        )));
    }
    let last = t[T::Counters]
        .get("campaign")?
        .and_then(|v| trailing_number(&v))
        .unwrap_or(0);
    let mut c = c.clone();
    c.id = last + 1;
    t[T::Counters].insert("campaign", &be(c.id))?;
    t[T::CampaignNames].insert(key.as_bytes(), &be(c.id))?;
    t[T::Campaigns].insert(&be(c.id), tx_json("campaigns", &c)?)?;
    Ok(c)
}

pub(crate) fn tx_save_campaign(t: &Tx<'_>, c: &Campaign) -> TxResult<()> {
    if t[T::Campaigns].get(be(c.id))?.is_none() {
        return abort(not_found("campaign", &c.name));
    }
    t[T::Campaigns].insert(&be(c.id), tx_json("campaigns", c)?)?;
    Ok(())
}

/// Writes a recipient and moves its state index entry from `old` (if any).
pub(crate) fn tx_write_recipient(
    t: &Tx<'_>,
    r: &Recipient,
    old: Option<RecipientState>,
) -> TxResult<()> {
    if let Some(o) = old {
        t[T::RecipientsState].remove(state_key(r.campaign, o, r.id))?;
    }
    t[T::Recipients].insert(recipient_key(r.campaign, r.id), tx_json("recipients", r)?)?;
    t[T::RecipientsState].insert(state_key(r.campaign, r.state, r.id), &[])?;
    Ok(())
}

pub(crate) fn tx_recipient(t: &Tx<'_>, campaign: u64, id: u64) -> TxResult<Option<Recipient>> {
    match t[T::Recipients].get(recipient_key(campaign, id))? {
        Some(v) => Ok(Some(tx_from_json("recipients", &v)?)),
        None => Ok(None),
    }
}

/// The ids of a campaign's recipients in `state`, at most `n`, lowest first (read outside a
/// transaction: sled transactions cannot scan; the transaction checks each again).
pub(crate) fn ids_in_state(
    inner: &Inner,
    campaign: u64,
    state: RecipientState,
    n: usize,
) -> Result<Vec<u64>> {
    let mut prefix = be(campaign).to_vec();
    prefix.push(state.code());
    let mut ids = Vec::new();
    for r in inner.tree(T::RecipientsState).scan_prefix(prefix).take(n) {
        let (k, _) = r.ctx("reading recipients by state")?;
        if let Some(id) = trailing_number(&k) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Aborts with `Conflict` unless the stored campaign is still to be frozen (draft or
/// scheduled).
pub(crate) fn tx_not_frozen(t: &Tx<'_>, campaign: u64) -> TxResult<()> {
    let Some(v) = t[T::Campaigns].get(be(campaign))? else {
        return abort(not_found("campaign", &campaign.to_string()));
    };
    let c: Campaign = tx_from_json("campaigns", &v)?;
    match c.status {
        etraq_core::campaign::CampaignStatus::Draft
        | etraq_core::campaign::CampaignStatus::Scheduled => Ok(()),
        _ => abort(Error::Conflict(format!(
            "the recipients of {:?} are frozen already",
            c.name
        ))),
    }
}

/// Every recipient of a campaign as (record key, state index key), read outside a
/// transaction (sled transactions cannot scan).
pub(crate) fn recipient_keys(inner: &Inner, campaign: u64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Recipients).scan_prefix(be(campaign)) {
        let (k, v) = r.ctx("reading recipients")?;
        let rec: Recipient = from_json("recipients", &v)?;
        out.push((k.to_vec(), state_key(campaign, rec.state, rec.id)));
    }
    Ok(out)
}

pub(crate) fn get_campaign(inner: &Inner, name: &str) -> Result<Option<Campaign>> {
    let Some(id) = inner
        .tree(T::CampaignNames)
        .get(campaign_key(name).as_bytes())
        .ctx("reading a campaign")?
    else {
        return Ok(None);
    };
    inner
        .tree(T::Campaigns)
        .get(&id)
        .ctx("reading a campaign")?
        .map(|v| from_json("campaigns", &v))
        .transpose()
}

pub(crate) fn list_campaigns(inner: &Inner) -> Result<Vec<Campaign>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Campaigns).iter() {
        let (_, v) = r.ctx("reading the campaigns")?;
        out.push(from_json("campaigns", &v)?);
    }
    Ok(out)
}

pub(crate) fn list_recipients(
    inner: &Inner,
    campaign: u64,
    state: Option<RecipientState>,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<Recipient>> {
    let limit = page_size(limit);
    let start = recipient_key(campaign, after.unwrap_or(0).saturating_add(1));
    let end = recipient_key(campaign, u64::MAX);
    let mut items = Vec::with_capacity(limit + 1);
    for r in inner.tree(T::Recipients).range(start..=end) {
        let (_, v) = r.ctx("listing recipients")?;
        let rec: Recipient = from_json("recipients", &v)?;
        if state.is_none_or(|s| s == rec.state) {
            items.push(rec);
            if items.len() > limit {
                break;
            }
        }
    }
    Ok(Page::from_overfetch(items, limit, |r| r.id))
}

pub(crate) fn recipient_counts(inner: &Inner, campaign: u64) -> Result<RecipientCounts> {
    let mut counts = RecipientCounts::default();
    for state in RecipientState::ALL {
        let mut prefix = be(campaign).to_vec();
        prefix.push(state.code());
        let n = inner.tree(T::RecipientsState).scan_prefix(prefix).count() as u64;
        counts.add(state, n);
    }
    Ok(counts)
}

/// Adds a subscriber event under its subscriber (key: subscriber id, event id).
pub(crate) fn tx_add_event(t: &Tx<'_>, e: &SubscriberEvent) -> TxResult<()> {
    let id = t[T::Events].generate_id()? + 1;
    let mut key = be(e.subscriber).to_vec();
    key.extend_from_slice(&be(id));
    t[T::Events].insert(key, tx_json("events", e)?)?;
    Ok(())
}

/// A subscriber's events, newest first.
pub(crate) fn subscriber_events(
    inner: &Inner,
    subscriber: u64,
    limit: usize,
) -> Result<Vec<SubscriberEvent>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Events).scan_prefix(be(subscriber)).rev() {
        if out.len() >= limit {
            break;
        }
        let (_, v) = r.ctx("reading events")?;
        out.push(from_json("events", &v)?);
    }
    Ok(out)
}

pub(crate) fn two(a: u64, b: u64) -> Vec<u8> {
    let mut k = be(a).to_vec();
    k.extend_from_slice(&be(b));
    k
}

pub(crate) fn with_text(campaign: u64, text: &str) -> Vec<u8> {
    let mut k = be(campaign).to_vec();
    k.extend_from_slice(text.as_bytes());
    k
}

/// Puts URLs in a campaign's link book; the next number is the count of links so far, read
/// outside the transaction (sled transactions cannot scan) and checked inside it.
pub(crate) fn tx_add_links(
    t: &Tx<'_>,
    campaign: u64,
    urls: &[String],
    mut next: u64,
) -> TxResult<Vec<Option<u16>>> {
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        if let Some(n) = t[T::LinksUrl].get(with_text(campaign, url))? {
            out.push(trailing_number(&n).and_then(|n| u16::try_from(n).ok()));
            continue;
        }
        while t[T::Links].get(two(campaign, next))?.is_some() {
            next += 1;
        }
        if next as usize >= etraq_core::campaign::MAX_LINKS {
            out.push(None);
            continue;
        }
        t[T::Links].insert(two(campaign, next), url.as_bytes())?;
        t[T::LinksUrl].insert(with_text(campaign, url), &be(next))?;
        out.push(u16::try_from(next).ok());
        next += 1;
    }
    Ok(out)
}

/// The number of links in a campaign's book.
pub(crate) fn link_count(inner: &Inner, campaign: u64) -> Result<u64> {
    Ok(inner.tree(T::Links).scan_prefix(be(campaign)).count() as u64)
}

/// A campaign's link book, in number order.
pub(crate) fn links(inner: &Inner, campaign: u64) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for r in inner.tree(T::Links).scan_prefix(be(campaign)) {
        let (_, v) = r.ctx("reading the link book")?;
        out.push(String::from_utf8_lossy(&v).into_owned());
    }
    Ok(out)
}

/// Records a hit, its recipient index entry, its order and its subscriber event.
pub(crate) fn tx_record_hit(
    t: &Tx<'_>,
    hit: &etraq_core::campaign::Hit,
) -> TxResult<etraq_core::campaign::HitOutcome> {
    if let Some(order) = &hit.order_id {
        let key = with_text(hit.campaign, order);
        if t[T::HitsOrder].get(&key)?.is_some() {
            return Ok(etraq_core::campaign::HitOutcome::DuplicateOrder);
        }
        t[T::HitsOrder].insert(key, &[])?;
    }
    let id = t[T::Hits].generate_id()? + 1;
    t[T::Hits].insert(two(hit.campaign, id), tx_json("hits", hit)?)?;
    let mut rk = two(hit.campaign, hit.recipient);
    rk.extend_from_slice(&be(id));
    t[T::HitsRecipient].insert(rk, &[])?;
    tx_add_event(
        t,
        &SubscriberEvent {
            subscriber: hit.subscriber,
            campaign: hit.campaign,
            kind: hit.kind.event(),
            at: hit.at,
            detail: hit.detail.clone(),
        },
    )?;
    let points = etraq_core::campaign::hit_points(hit);
    if points > 0.0 {
        let before = t[T::Engagement]
            .get(be(hit.subscriber))?
            .and_then(|v| decode_engagement(&v));
        let after = etraq_core::campaign::Engagement::add(before, points, hit.at);
        let mut v = after.millis.to_be_bytes().to_vec();
        v.extend_from_slice(&after.at.as_second().to_be_bytes());
        t[T::Engagement].insert(&be(hit.subscriber), v)?;
    }
    Ok(etraq_core::campaign::HitOutcome::Recorded)
}

/// An engagement value as stored: 8 bytes of thousandths, 8 of Unix seconds.
fn decode_engagement(v: &[u8]) -> Option<etraq_core::campaign::Engagement> {
    let millis = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let at = i64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    Some(etraq_core::campaign::Engagement {
        millis,
        at: jiff::Timestamp::from_second(at).ok()?,
    })
}

/// A subscriber's stored engagement.
pub(crate) fn engagement(
    inner: &Inner,
    subscriber: u64,
) -> Result<Option<etraq_core::campaign::Engagement>> {
    Ok(inner
        .tree(T::Engagement)
        .get(be(subscriber))
        .ctx("reading an engagement score")?
        .and_then(|v| decode_engagement(&v)))
}

/// A campaign's hits (or one recipient's), in the order recorded.
pub(crate) fn hits(
    inner: &Inner,
    campaign: u64,
    recipient: Option<u64>,
) -> Result<Vec<etraq_core::campaign::Hit>> {
    let mut out = Vec::new();
    match recipient {
        None => {
            for r in inner.tree(T::Hits).scan_prefix(be(campaign)) {
                let (_, v) = r.ctx("reading hits")?;
                out.push(from_json("hits", &v)?);
            }
        }
        Some(rid) => {
            for r in inner.tree(T::HitsRecipient).scan_prefix(two(campaign, rid)) {
                let (k, _) = r.ctx("reading hits")?;
                let Some(id) = trailing_number(&k) else {
                    continue;
                };
                if let Some(v) = inner
                    .tree(T::Hits)
                    .get(two(campaign, id))
                    .ctx("reading a hit")?
                {
                    out.push(from_json("hits", &v)?);
                }
            }
        }
    }
    Ok(out)
}
