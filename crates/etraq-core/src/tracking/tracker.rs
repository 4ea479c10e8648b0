//! The `Tracker`: raw bytes in, a recorded decision out.
//!
//! For each mail it parses (mail-parser 0.11), asks the store for the thread facts, classifies
//! (pure), computes the DR change (pure) and applies everything in one atomic, durable write. A
//! write that loses a race ([`Error::Conflict`]) is decided again from fresh facts, so concurrent
//! gateway sessions never create two DRs for one thread nor lose a reply.
//!
//! [`Tracker::track_batch`] does the same for many mails with one commit: later mails of the batch
//! see the DRs and Message-IDs of earlier ones through an in-memory overlay, so an mbox imported in
//! one batch threads exactly as if it had been fed mail by mail. New DRs get provisional numbers
//! while the batch is classified; the store then reserves exactly as many real numbers as were
//! used, so DR numbers stay dense.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::config::TrackingRules;
use crate::error::{Error, Result};
use crate::mail::MessageId;
use crate::mail::ParsedMail;
use crate::mail::{Envelope, ResolvedEnvelope};
use crate::model::DrId;
use crate::model::{Decision, Direction, Dr, MailRecord, MailType, UntrackedReason};
use crate::store::{ChangeSet, DrWrite, FactsQuery, Store};
use crate::tracking::classify::{self, Classification, DrAction, Parties};
use crate::tracking::facts::{CampaignRef, MailRef, ThreadFacts, campaign_of_message_id};
use crate::tracking::transition::{self, MailSummary};

/// How often a write that lost a race is decided again before giving up.
const MAX_ATTEMPTS: usize = 16;

/// Provisional DR numbers used inside a batch start here; real numbers never get this large.
const PROVISIONAL_BASE: u64 = 1 << 62;

/// When a mail counts as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceivedAt {
    /// At this instant (the gateway: now; `ingest --now`).
    At(Timestamp),
    /// At the mail's Date header when it has one no later than the given instant, else at that
    /// instant. Importing an archive this way rebuilds its history with the real times.
    DateHeaderOr(Timestamp),
}

/// One mail to track.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The raw message.
    pub raw: Vec<u8>,
    /// Its envelope; unset parts come from the headers.
    pub envelope: Envelope,
    /// When it counts as received.
    pub received: ReceivedAt,
}

/// The recorded outcome for one mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// The mail record's sequence number in the store.
    pub seq: u64,
    /// The Message-ID used (derived when the mail had none).
    pub message_id: MessageId,
    /// True when the Message-ID was derived.
    pub derived_message_id: bool,
    /// Which way it went.
    pub direction: Direction,
    /// Tracked or untracked.
    pub decision: Decision,
    /// The DR it belongs to (for untracked mail: the DR whose history it joined, if any).
    pub dr: Option<DrId>,
    /// When it counted as received.
    pub received_at: Timestamp,
    /// The campaign mail this one answers as a customer's reply (counted in `replies`).
    pub campaign_reply: Option<CampaignRef>,
}

/// A mail decided but not yet recorded. The gateway relays it between [`Tracker::prepare`] and
/// [`Tracker::commit`], so the DR id can go into the relayed mail and nothing is recorded for a
/// mail the upstream refuses.
pub struct Prepared {
    changes: ChangeSet,
    /// The acknowledgement of a customer's mail that opens a DR, recorded and queued with it,
    /// and its claim on the sender.
    ack: Option<(ChangeSet, crate::support::acknowledger::AckClaim)>,
    tracked: Tracked,
    envelope: Envelope,
    received: ReceivedAt,
}

impl Prepared {
    /// The decision (its `seq` is 0 until committed).
    pub fn tracked(&self) -> &Tracked {
        &self.tracked
    }

    /// The raw message.
    pub fn raw(&self) -> &[u8] {
        &self.changes.raw
    }

    /// The mail's subject as parsed.
    pub fn subject(&self) -> &str {
        &self.changes.mail.subject
    }
}

/// How a decision gets real DR numbers for the DRs it creates.
#[derive(Clone, Copy)]
enum Numbering {
    /// Reserve exactly as many as were used, after deciding (dense numbers for batches).
    Exact,
    /// Take them from the tracker's pool, reserved in blocks (the gateway, where every mail would
    /// otherwise pay a durable write for one number).
    Pool,
}

/// Numbers reserved in blocks for [`Numbering::Pool`].
const POOL_BLOCK: u64 = 16;

/// One mail to decide, borrowed.
struct Item<'a> {
    raw: &'a [u8],
    envelope: &'a Envelope,
    received: ReceivedAt,
}

/// Tracks mail into a store. Cheap to share behind an `Arc`.
pub struct Tracker {
    store: Arc<dyn Store>,
    /// Swappable, so the console can apply new tracking settings without a restart; each batch
    /// decides with one snapshot.
    rules: std::sync::RwLock<Arc<TrackingRules>>,
    pool: std::sync::Mutex<Vec<std::ops::Range<u64>>>,
    /// Automatic acknowledgements of mail passing the gateway (never of imported mail).
    acknowledger: crate::support::acknowledger::Acknowledger,
}

impl Tracker {
    /// A tracker applying `rules` (from [`Config::tracking_rules`](crate::Config::tracking_rules))
    /// to `store`.
    pub fn new(store: Arc<dyn Store>, rules: TrackingRules) -> Self {
        Tracker {
            store,
            rules: std::sync::RwLock::new(Arc::new(rules)),
            pool: std::sync::Mutex::new(Vec::new()),
            acknowledger: Default::default(),
        }
    }

    /// The acknowledgements' settings and rule cache.
    pub fn acknowledger(&self) -> &crate::support::acknowledger::Acknowledger {
        &self.acknowledger
    }

    /// The acknowledgement for a prepared change set, if its mail gets one.
    async fn acknowledgement(
        &self,
        changes: &ChangeSet,
        received: ReceivedAt,
    ) -> Option<(ChangeSet, crate::support::acknowledger::AckClaim)> {
        self.acknowledger
            .plan(
                self.store.as_ref(),
                &self.rules(),
                changes,
                &changes.raw,
                now_of(received),
            )
            .await
    }

    /// The store this tracker writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The rules this tracker applies now.
    pub fn rules(&self) -> Arc<TrackingRules> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            // A writer panicked mid-swap; the value is still a whole `Arc`.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the rules; mail decided from now on uses them (a batch in progress finishes
    /// with the rules it started with).
    pub fn set_rules(&self, rules: TrackingRules) {
        let rules = Arc::new(rules);
        match self.rules.write() {
            Ok(mut r) => *r = rules,
            Err(poisoned) => *poisoned.into_inner() = rules,
        }
    }

    /// Tracks one mail received at `now`.
    pub async fn track(&self, raw: &[u8], envelope: &Envelope, now: Timestamp) -> Result<Tracked> {
        let incoming = Incoming {
            raw: raw.to_vec(),
            envelope: envelope.clone(),
            received: ReceivedAt::At(now),
        };
        let mut out = self.track_batch(vec![incoming]).await?;
        out.pop()
            .ok_or_else(|| Error::Invalid("internal: empty tracking result".into()))
    }

    /// Tracks several mails in order with one durable commit. Mails later in the batch thread to
    /// earlier ones exactly as if tracked one by one. If another writer interferes, the batch
    /// falls back to one-by-one tracking, so the outcome is the same either way.
    pub async fn track_batch(&self, items: Vec<Incoming>) -> Result<Vec<Tracked>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let borrowed: Vec<Item<'_>> = items
            .iter()
            .map(|i| Item {
                raw: &i.raw,
                envelope: &i.envelope,
                received: i.received,
            })
            .collect();
        match self.attempt(&borrowed, &items).await {
            Err(e) if e.is_conflict() => {}
            other => return other,
        }
        let mut out = Vec::with_capacity(items.len());
        for (item, incoming) in borrowed.iter().zip(&items) {
            let mut attempt = 1;
            loop {
                match self
                    .attempt(std::slice::from_ref(item), std::slice::from_ref(incoming))
                    .await
                {
                    Ok(mut t) => {
                        out.append(&mut t);
                        break;
                    }
                    Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => attempt += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// One attempt at a batch: decide every mail, then write all of it in one commit.
    async fn attempt(&self, items: &[Item<'_>], owned: &[Incoming]) -> Result<Vec<Tracked>> {
        let decided = self.decide(items, Numbering::Exact).await?;
        let (mut changes, mut outs): (Vec<ChangeSet>, Vec<Tracked>) = decided.into_iter().unzip();
        for (cs, incoming) in changes.iter_mut().zip(owned) {
            cs.raw = Arc::new(incoming.raw.clone());
        }
        let seqs = if changes.len() == 1 {
            let cs = changes
                .pop()
                .ok_or_else(|| Error::Invalid("internal: no change".into()))?;
            vec![self.store.apply(cs).await?]
        } else {
            self.store.apply_batch(changes).await?
        };
        for (t, seq) in outs.iter_mut().zip(seqs) {
            t.seq = seq;
        }
        for t in &outs {
            self.count_reply(t).await;
        }
        Ok(outs)
    }

    /// Counts a recorded customer reply to a campaign mail as the campaign's `Reply` hit. The
    /// mail is recorded already, so a failure here is logged, not returned: answering the
    /// client with an error would only bring the same mail again.
    async fn count_reply(&self, t: &Tracked) {
        let Some(c) = &t.campaign_reply else {
            return;
        };
        if t.decision.reason() == Some(UntrackedReason::Duplicate) {
            return;
        }
        let hit = crate::campaign::Hit {
            campaign: c.campaign,
            recipient: c.recipient,
            subscriber: c.subscriber,
            kind: crate::campaign::HitKind::Reply,
            link: None,
            at: t.received_at,
            user_agent: None,
            ip: None,
            bot: None,
            value: None,
            currency: None,
            order_id: None,
            detail: Some(match &t.dr {
                Some(d) => format!("reply {} in {d}", t.message_id.as_str()),
                None => format!("reply {}", t.message_id.as_str()),
            }),
        };
        if let Err(e) = self.store.record_hit(hit).await {
            tracing::warn!(campaign = c.campaign, message_id = %t.message_id.as_str(), error = %e, "a reply to a campaign was recorded but could not be counted");
        }
    }

    /// Adds to `facts` the campaign of every referenced campaign mail, with its owner's user
    /// record, for the reply rule. Nothing is looked up for mail that references none.
    async fn campaign_facts(&self, facts: &mut ThreadFacts) -> Result<()> {
        let wanted: Vec<(MessageId, u64, u64)> = facts
            .referenced
            .iter()
            .filter(|r| r.campaign_mail)
            .filter(|r| !facts.campaigns.iter().any(|c| c.message_id == r.message_id))
            .filter_map(|r| {
                campaign_of_message_id(&r.message_id).map(|(c, n)| (r.message_id.clone(), c, n))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let campaigns = self.store.list_campaigns().await?;
        for (message_id, campaign, recipient) in wanted {
            let Some(c) = campaigns.iter().find(|c| c.id == campaign) else {
                continue;
            };
            let Some(row) = self
                .store
                .list_recipients(campaign, None, Some(recipient.saturating_sub(1)), 1)
                .await?
                .items
                .into_iter()
                .find(|r| r.id == recipient)
            else {
                continue;
            };
            if let Some(owner) = &c.owner
                && facts.user(owner).is_none()
                && let Some(u) = self.store.get_user(owner).await?
            {
                facts.users.push(u);
            }
            facts.campaigns.push(CampaignRef {
                message_id,
                campaign,
                recipient,
                subscriber: row.subscriber,
                owner: c.owner.clone(),
            });
        }
        Ok(())
    }

    /// Decides one mail without recording it (the gateway's first step). DR numbers for a new
    /// DR are already reserved, so the id can be put in the relayed mail.
    pub async fn prepare(&self, incoming: Incoming) -> Result<Prepared> {
        let Incoming {
            raw,
            envelope,
            received,
        } = incoming;
        let item = Item {
            raw: &raw,
            envelope: &envelope,
            received,
        };
        let (mut changes, tracked) = self
            .decide(std::slice::from_ref(&item), Numbering::Pool)
            .await?
            .pop()
            .ok_or_else(|| Error::Invalid("internal: no decision".into()))?;
        changes.raw = Arc::new(raw);
        let ack = self.acknowledgement(&changes, received).await;
        Ok(Prepared {
            changes,
            ack,
            tracked,
            envelope,
            received,
        })
    }

    /// Records a prepared mail (the gateway's last step, once the upstream accepted it), removing
    /// its journal entry `pending` in the same transaction. If the DR changed meanwhile, the mail
    /// is decided again from fresh facts; the returned [`Tracked`] is what was recorded.
    pub async fn commit(&self, mut prepared: Prepared, pending: Option<u64>) -> Result<Tracked> {
        let mut attempt = 1;
        loop {
            let mut cs = prepared.changes.clone();
            cs.pending = pending;
            let written = match &prepared.ack {
                // One transaction: the acknowledgement exists exactly when its DR does.
                Some((ack, _)) => self
                    .store
                    .apply_batch(vec![cs, ack.clone()])
                    .await
                    .and_then(|seqs| {
                        seqs.first()
                            .copied()
                            .ok_or_else(|| Error::Invalid("internal: no seq".into()))
                    }),
                None => self.store.apply(cs).await,
            };
            match written {
                Ok(seq) => {
                    if let Some((_, claim)) = &prepared.ack {
                        self.acknowledger.recorded(claim, now_of(prepared.received));
                        tracing::info!(dr = ?prepared.tracked.dr.as_ref().map(|d| d.to_string()), "acknowledgement queued");
                    }
                    let mut t = prepared.tracked;
                    t.seq = seq;
                    self.count_reply(&t).await;
                    return Ok(t);
                }
                Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    let raw = prepared.changes.raw.clone();
                    let item = Item {
                        raw: &raw,
                        envelope: &prepared.envelope,
                        received: prepared.received,
                    };
                    let (mut changes, tracked) = self
                        .decide(std::slice::from_ref(&item), Numbering::Pool)
                        .await?
                        .pop()
                        .ok_or_else(|| Error::Invalid("internal: no decision".into()))?;
                    changes.raw = raw;
                    // The old claim goes first, so the new decision may claim the sender again.
                    prepared.ack = None;
                    prepared.ack = self.acknowledgement(&changes, prepared.received).await;
                    prepared.changes = changes;
                    prepared.tracked = tracked;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Decides mails in order: parse, look up facts for all at once, classify each with the
    /// batch's earlier decisions laid over the store's answers. The change sets carry no raw
    /// message yet; their DR numbers are real.
    async fn decide(
        &self,
        items: &[Item<'_>],
        numbering: Numbering,
    ) -> Result<Vec<(ChangeSet, Tracked)>> {
        let rules = self.rules();
        let mut overlay = Overlay::default();
        let mut out: Vec<(ChangeSet, Tracked)> = Vec::with_capacity(items.len());
        let mut provisional = PROVISIONAL_BASE;
        // Parse everything first, then ask the store about the whole batch in one call: the
        // store does not change until the batch commits, and what earlier mails of the batch
        // change is laid over the answers by the overlay.
        let mut prepared = Vec::with_capacity(items.len());
        let mut queries = Vec::with_capacity(items.len());
        for item in items {
            let mail = ParsedMail::parse(item.raw);
            let env = item.envelope.resolve(&mail);
            let parties = classify::parties(&rules, &env, &mail);
            queries.push(classify::facts_query(&mail, &parties, &rules));
            prepared.push((mail, env, parties));
        }
        let answers = self.store.thread_facts_batch(&queries).await?;
        if answers.len() != items.len() {
            return Err(Error::Invalid(
                "internal: the store answered a different number of queries".into(),
            ));
        }
        // User records seen anywhere in the batch, for the overlay's references.
        let batch_users: Vec<crate::model::User> = if items.len() > 1 {
            answers
                .iter()
                .flat_map(|a| a.users.iter().cloned())
                .collect()
        } else {
            Vec::new()
        };
        for (((item, (mail, env, parties)), query), mut facts) in
            items.iter().zip(prepared).zip(&queries).zip(answers)
        {
            let now = match item.received {
                ReceivedAt::At(t) => t,
                ReceivedAt::DateHeaderOr(latest) => {
                    mail.date.filter(|d| *d <= latest).unwrap_or(latest)
                }
            };
            overlay.merge_into(query, &mut facts, &batch_users, &rules);
            self.campaign_facts(&mut facts).await?;
            let c = classify::classify(&rules, &env, &mail, &parties, &facts);
            let cs = self.change_set(
                &rules,
                &mail,
                &env,
                &parties,
                &c,
                &facts,
                now,
                &mut provisional,
            )?;
            overlay.record(&cs);
            let t = Tracked {
                seq: 0,
                message_id: cs.mail.message_id.clone(),
                derived_message_id: cs.mail.derived_message_id,
                direction: cs.mail.direction,
                decision: cs.mail.decision,
                dr: cs.mail.dr.clone(),
                received_at: now,
                campaign_reply: c.campaign_reply.clone(),
            };
            out.push((cs, t));
        }

        let used = provisional - PROVISIONAL_BASE;
        if used > 0 {
            let numbers = match numbering {
                Numbering::Exact => {
                    let first = self.store.reserve_dr_numbers(used).await?;
                    (first..first + used).collect::<Vec<u64>>()
                }
                Numbering::Pool => {
                    let mut v = Vec::with_capacity(used as usize);
                    for _ in 0..used {
                        v.push(self.pooled_number().await?);
                    }
                    v
                }
            };
            let real = |id: &mut DrId| {
                if id.number() >= PROVISIONAL_BASE {
                    let i = (id.number() - PROVISIONAL_BASE) as usize;
                    if let Some(n) = numbers.get(i) {
                        *id = id.with_number(*n);
                    }
                }
            };
            for (cs, t) in &mut out {
                if let Some(d) = cs.mail.dr.as_mut() {
                    real(d);
                }
                if let Some(w) = cs.dr.as_mut() {
                    real(&mut w.dr.id);
                }
                if let Some(r) = cs.response.as_mut() {
                    real(&mut r.dr);
                }
                if let Some(d) = t.dr.as_mut() {
                    real(d);
                }
            }
        }
        Ok(out)
    }

    /// One DR number from the pool, reserving a new block when it is empty.
    async fn pooled_number(&self) -> Result<u64> {
        loop {
            if let Some(n) = take_from_pool(&mut self.pool_guard()) {
                return Ok(n);
            }
            let first = self.store.reserve_dr_numbers(POOL_BLOCK).await?;
            self.pool_guard().push(first..first + POOL_BLOCK);
        }
    }

    /// The number pool, even after a panic elsewhere while it was held: its ranges are
    /// reserved numbers that are never handed out twice whatever state the panic left, so a
    /// poisoned lock is safe to take over (and refusing it would stop tracking for good).
    fn pool_guard(&self) -> std::sync::MutexGuard<'_, Vec<std::ops::Range<u64>>> {
        lock_pool(&self.pool)
    }

    /// Turns a classification into the writes that record it.
    #[allow(clippy::too_many_arguments)]
    fn change_set(
        &self,
        rules: &TrackingRules,
        mail: &ParsedMail,
        env: &ResolvedEnvelope,
        parties: &Parties,
        c: &Classification,
        facts: &ThreadFacts,
        now: Timestamp,
        provisional: &mut u64,
    ) -> Result<ChangeSet> {
        let recipient = mail.to.first().or_else(|| env.rcpt_to.first());
        let summary = MailSummary {
            parties,
            subject: &mail.subject,
            recipient,
            mail_type: c.decision.mail_type().unwrap_or(MailType::Normal),
        };
        let mut dr_write = None;
        let mut response = None;
        let mut link = Vec::new();
        let dr_id = match &c.action {
            DrAction::None => None,
            DrAction::Attach(id) => Some(id.clone()),
            DrAction::Create {
                owner,
                department,
                cc_users,
                customer,
                answers,
            } => {
                let number = *provisional;
                *provisional += 1;
                let date = now.to_zoned_datetime(rules.time_zone.clone()).date();
                let id = DrId::new(rules.prefix_for(department.as_deref()), date, number)?;
                let dr = transition::new_dr(
                    id.clone(),
                    owner.clone(),
                    cc_users.clone(),
                    customer.clone(),
                    &summary,
                    now,
                );
                dr_write = Some(DrWrite::create(dr));
                link.extend(answers.iter().cloned());
                Some(id)
            }
            action => {
                let id = action
                    .dr()
                    .ok_or_else(|| Error::Invalid("internal: action without DR".into()))?;
                let current = facts
                    .drs
                    .iter()
                    .find(|d| &d.id == id)
                    .ok_or_else(|| Error::Conflict(format!("DR {id} vanished")))?;
                let (next, resp) = transition::apply_mail(current, action, &summary, now);
                response = resp;
                dr_write = Some(DrWrite::replace(current, next));
                Some(id.clone())
            }
        };
        let record = MailRecord {
            seq: 0,
            message_id: mail.message_id.clone(),
            derived_message_id: mail.derived_message_id,
            direction: parties.direction,
            mail_from: env.mail_from.address().cloned(),
            rcpt_to: env.rcpt_to.clone(),
            sender: parties.sender.clone(),
            sender_name: mail.from_name.clone(),
            to: mail.to.clone(),
            cc: mail.cc.clone(),
            subject: mail.subject.clone(),
            received_at: now,
            sent_at: mail.date,
            decision: c.decision,
            dr: dr_id,
            parties: parties.external.clone(),
            size: mail.size,
        };
        Ok(ChangeSet {
            index_message_id: c.decision.reason() != Some(UntrackedReason::Duplicate),
            mail: record,
            raw: Arc::new(Vec::new()),
            dr: dr_write,
            link,
            response,
            pending: None,
            queue: Vec::new(),
        })
    }

    /// Closes a DR (a user's action): the clock stops.
    pub async fn close_dr(&self, id: &DrId, now: Timestamp) -> Result<Dr> {
        self.update_dr(id, |dr| Ok(transition::close(dr, now)))
            .await
    }

    /// Reopens a DR (a user's action): the customer waits again from `now`.
    pub async fn reopen_dr(&self, id: &DrId, now: Timestamp) -> Result<Dr> {
        self.update_dr(id, |dr| Ok(transition::reopen(dr, now)))
            .await
    }

    /// Sets a reminder on a DR: a Reminder alert to its owner at `at`.
    pub async fn remind_dr(&self, id: &DrId, at: Timestamp) -> Result<Dr> {
        self.update_dr(id, |dr| Ok(transition::remind(dr, at)))
            .await
    }

    /// Gives a DR to another owner, who must be a local address.
    pub async fn assign_dr(&self, id: &DrId, owner: &EmailAddress, now: Timestamp) -> Result<Dr> {
        let rules = self.rules();
        if !rules.is_local(owner) {
            return Err(Error::Invalid(format!(
                "{owner} is not in a local domain ({}); a DR owner must be an employee",
                rules.local_domains.join(", ")
            )));
        }
        self.update_dr(id, |dr| Ok(transition::assign(dr, owner, now)))
            .await
    }

    /// Read-modify-write of one DR with conflict retries.
    async fn update_dr(&self, id: &DrId, change: impl Fn(&Dr) -> Result<Dr>) -> Result<Dr> {
        let mut attempt = 1;
        loop {
            let current = self
                .store
                .get_dr(id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "DR",
                    key: id.to_string(),
                })?;
            let write = DrWrite::replace(&current, change(&current)?);
            let next = write.dr.clone();
            match self.store.save_dr(write).await {
                Ok(()) => return Ok(next),
                Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The instant a mail counts as received, for what is decided about it after its decision.
fn now_of(received: ReceivedAt) -> Timestamp {
    match received {
        ReceivedAt::At(t) | ReceivedAt::DateHeaderOr(t) => t,
    }
}

/// Locks the number pool, taking it over if a panic poisoned it (see [`Tracker::pool_guard`]).
fn lock_pool(
    pool: &std::sync::Mutex<Vec<std::ops::Range<u64>>>,
) -> std::sync::MutexGuard<'_, Vec<std::ops::Range<u64>>> {
    pool.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The next unused number of the pool, dropping the ranges it has used up.
fn take_from_pool(pool: &mut Vec<std::ops::Range<u64>>) -> Option<u64> {
    while let Some(range) = pool.first_mut() {
        if let Some(n) = range.next() {
            return Some(n);
        }
        pool.remove(0);
    }
    None
}

/// What earlier mails of the current batch wrote, for the mails after them.
#[derive(Default)]
struct Overlay {
    mails: HashMap<MessageId, Vec<MailRef>>,
    drs: HashMap<u64, Dr>,
    linked: HashMap<(MessageId, Direction), DrId>,
}

impl Overlay {
    /// Lays the batch's own writes over what the store answered. `users` are the user records
    /// known anywhere in the batch: the "employee wrote first" rule needs the record of a batch
    /// mail's sender, which the store answered for that earlier mail.
    fn merge_into(
        &self,
        query: &FactsQuery,
        facts: &mut ThreadFacts,
        users: &[crate::model::User],
        rules: &TrackingRules,
    ) {
        if self.mails.is_empty() && self.drs.is_empty() {
            return;
        }
        if self
            .mails
            .get(&query.message_id)
            .is_some_and(|v| v.iter().any(|r| r.direction == query.direction))
        {
            facts.duplicate = true;
        }
        for id in &query.candidates {
            for r in self.mails.get(id).into_iter().flatten() {
                if let Some(s) = &r.sender
                    && rules.is_local(s)
                    && !facts.users.iter().any(|u| &u.email == s)
                    && let Some(u) = users.iter().find(|u| &u.email == s)
                {
                    facts.users.push(u.clone());
                }
                facts.referenced.push(r.clone());
            }
        }
        for r in &mut facts.referenced {
            if r.dr.is_none()
                && let Some(d) = self.linked.get(&(r.message_id.clone(), r.direction))
            {
                r.dr = Some(d.clone());
            }
        }
        let wanted: Vec<DrId> = facts
            .referenced
            .iter()
            .filter_map(|r| r.dr.clone())
            .chain(query.tags.iter().cloned())
            .collect();
        for id in wanted {
            if let Some(d) = self.drs.get(&id.number()).filter(|d| d.id == id) {
                match facts.drs.iter_mut().find(|x| x.id == id) {
                    Some(slot) => *slot = d.clone(),
                    None => facts.drs.push(d.clone()),
                }
            }
        }
    }

    /// Remembers what a change set writes.
    fn record(&mut self, cs: &ChangeSet) {
        if cs.index_message_id {
            self.mails
                .entry(cs.mail.message_id.clone())
                .or_default()
                .push(MailRef {
                    message_id: cs.mail.message_id.clone(),
                    direction: cs.mail.direction,
                    dr: cs.mail.dr.clone(),
                    sender: cs.mail.sender.clone(),
                    campaign_mail: cs.mail.decision.reason() == Some(UntrackedReason::CampaignMail),
                });
        }
        if let Some(w) = &cs.dr {
            self.drs.insert(w.dr.id.number(), w.dr.clone());
        }
        if let Some(d) = &cs.mail.dr {
            for l in &cs.link {
                self.linked.insert(l.clone(), d.clone());
                if let Some(v) = self.mails.get_mut(&l.0) {
                    for r in v
                        .iter_mut()
                        .filter(|r| r.direction == l.1 && r.dr.is_none())
                    {
                        r.dr = Some(d.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_out_every_reserved_number_once_in_order() {
        let mut pool = vec![1..3, 3..3, 10..12];
        let got: Vec<u64> = std::iter::from_fn(|| take_from_pool(&mut pool)).collect();
        assert_eq!(got, [1, 2, 10, 11]);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_poisoned_pool_still_gives_numbers_instead_of_looping() {
        let pool = std::sync::Arc::new(std::sync::Mutex::new(vec![5..7, 9..9]));
        let p = pool.clone();
        let _ = std::thread::spawn(move || {
            let _held = p.lock();
            panic!("poison the pool on purpose");
        })
        .join();
        assert!(pool.is_poisoned());
        // Before: `lock()` failed for ever, so the tracker reserved block after block in a loop.
        assert_eq!(take_from_pool(&mut lock_pool(&pool)), Some(5));
        assert_eq!(take_from_pool(&mut lock_pool(&pool)), Some(6));
        assert_eq!(take_from_pool(&mut lock_pool(&pool)), None);
    }
}
