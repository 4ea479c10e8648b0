//! The [`Acknowledger`]: what the tracker asks, for a customer's mail that opens a DR at the
//! gateway, whether and how to acknowledge it. It reads the rules (cached for a few seconds,
//! so a rule added from the CLI beside a running server applies within them), the sender's
//! standing and history, asks the loop guard, renders the rule's template (with suggestions
//! when the template names them) and answers the change set that records the acknowledgement
//! on the DR and queues it in the outbox. The tracker applies that change set in the same
//! transaction as the DR, so an acknowledgement exists exactly when its DR does.
//!
//! Nothing here fails a mail: a store that cannot answer, or a rule whose template fails,
//! means no acknowledgement (the rule is disabled with its error shown), never a refused mail.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::address::{EmailAddress, Party};
use crate::config::{Config, TrackingRules};
use crate::error::Result;
use crate::model::{Dr, MailType};
use crate::outbox::{Delivery, QueuedMail};
use crate::store::{ChangeSet, MailQuery, Store};
use crate::support::ack::{AckHeaders, AckHistory, AckLimits, may_acknowledge};
use crate::support::autoreply::{
    AckData, AckRenderer, AutoReplyRule, BUILTIN_TEMPLATE, DrFields, OwnerFields, RULE_PREFIX,
    SuggestionField, ack_message, ack_record, builtin_template, choose, history as history_of,
    summary,
};

/// A lock, taken over if a panic poisoned it: what it guards (sets and maps of senders, the
/// rule cache) is whole at every step, and refusing it would stop acknowledgements for good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many of a sender's latest mails are read for their acknowledgement history.
const HISTORY_MAILS: usize = 25;

/// How long the rules are cached.
const RULES_TTL: Duration = Duration::from_secs(3);

/// The settings of acknowledgements from the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckSettings {
    /// `support.autoreply_per_sender_per_day`.
    pub per_sender_per_day: u32,
    /// Business hours in words: by department, and `""` for the default.
    pub business_hours: BTreeMap<String, String>,
    /// `support.synonyms`.
    pub thesaurus: Vec<(Vec<String>, Vec<String>)>,
}

impl AckSettings {
    /// The settings of `config`.
    pub fn of(config: &Config) -> AckSettings {
        let words = |b: &crate::config::BusinessHoursConfig| {
            let days = b
                .weekdays
                .iter()
                .map(|d| title_case(d))
                .collect::<Vec<_>>()
                .join(", ");
            let tz = if b.timezone.trim().is_empty() {
                config.timezone.trim().to_string()
            } else {
                b.timezone.trim().to_string()
            };
            let tz = if tz.is_empty() {
                String::new()
            } else {
                format!(" ({tz})")
            };
            format!("{days} {}–{}{tz}", b.start, b.end)
        };
        let mut business_hours = BTreeMap::new();
        if let Some(b) = &config.escalation.business_hours {
            business_hours.insert(String::new(), words(b));
        }
        for (name, d) in &config.departments {
            if let Some(b) = &d.business_hours {
                business_hours.insert(name.to_lowercase(), words(b));
            }
        }
        AckSettings {
            per_sender_per_day: config.support.autoreply_per_sender_per_day.max(1),
            business_hours,
            thesaurus: config.support.thesaurus(),
        }
    }
}

fn title_case(s: &str) -> String {
    let mut c = s.trim().chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Plans acknowledgements. One per tracker.
///
/// Besides the store's history, it remembers the senders it acknowledged itself and those
/// with an acknowledgement in flight (planned, not yet recorded), so two mails from one sender
/// arriving at once, on two gateway sessions, get one acknowledgement, not two.
#[derive(Default)]
pub struct Acknowledger {
    settings: RwLock<Arc<AckSettings>>,
    rules: Mutex<Option<(Instant, Arc<Vec<AutoReplyRule>>)>>,
    in_flight: Arc<Mutex<HashSet<EmailAddress>>>,
    recent: Mutex<HashMap<EmailAddress, Timestamp>>,
}

/// An acknowledgement in flight for a sender: while it lives, no other mail of that sender is
/// acknowledged. Dropped when its mail is recorded (after [`Acknowledger::recorded`]) or
/// given up (the upstream refused it, the client went away).
pub struct AckClaim {
    set: Arc<Mutex<HashSet<EmailAddress>>>,
    sender: EmailAddress,
}

impl AckClaim {
    /// The sender it holds.
    pub fn sender(&self) -> &EmailAddress {
        &self.sender
    }
}

impl Drop for AckClaim {
    fn drop(&mut self) {
        let mut g = lock(&self.set);
        g.remove(&self.sender);
    }
}

impl Acknowledger {
    /// Applies new settings.
    pub fn set_settings(&self, settings: AckSettings) {
        let s = Arc::new(settings);
        match self.settings.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    fn settings(&self) -> Arc<AckSettings> {
        match self.settings.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Notes that the acknowledgement held by `claim` was recorded at `now`.
    pub fn recorded(&self, claim: &AckClaim, now: Timestamp) {
        let mut g = lock(&self.recent);
        if g.len() > 100_000 {
            let day_ago = now - jiff::SignedDuration::from_hours(24);
            g.retain(|_, t| *t > day_ago);
        }
        g.insert(claim.sender.clone(), now);
    }

    /// Claims `sender` for an acknowledgement, unless one is in flight or this process
    /// recorded one within `window` of `now`. Both are checked under the in-flight lock, and
    /// [`Acknowledger::recorded`] notes an acknowledgement before its claim is dropped, so a
    /// mail whose history was read while another's acknowledgement was being committed cannot
    /// slip between the two.
    fn claim(
        &self,
        sender: &EmailAddress,
        window: jiff::SignedDuration,
        now: Timestamp,
    ) -> Option<AckClaim> {
        let mut g = lock(&self.in_flight);
        if g.contains(sender) {
            return None;
        }
        if let Some(t) = lock(&self.recent).get(sender)
            && now.duration_since(*t) < window
        {
            return None;
        }
        g.insert(sender.clone());
        Some(AckClaim {
            set: self.in_flight.clone(),
            sender: sender.clone(),
        })
    }

    /// Forgets the cached rules (after a change through this process).
    pub fn forget_rules(&self) {
        *lock(&self.rules) = None;
    }

    async fn rules(&self, store: &dyn Store) -> Result<Arc<Vec<AutoReplyRule>>> {
        if let Some((at, rules)) = lock(&self.rules).as_ref()
            && at.elapsed() < RULES_TTL
        {
            return Ok(rules.clone());
        }
        let mut rules = Vec::new();
        for (key, value) in store.kv_scan(RULE_PREFIX).await? {
            match serde_json::from_str::<AutoReplyRule>(&value) {
                Ok(r) => rules.push(r),
                Err(e) => {
                    tracing::warn!(%key, error = %e, "an acknowledgement rule does not read; skipped")
                }
            }
        }
        let rules = Arc::new(rules);
        *lock(&self.rules) = Some((Instant::now(), rules.clone()));
        Ok(rules)
    }

    /// The acknowledgement of the mail recorded by `cs` (raw bytes `raw`), if it gets one: the
    /// change set to apply with it. Only a customer's mail that opens a DR is acknowledged.
    pub async fn plan(
        &self,
        store: &dyn Store,
        rules: &TrackingRules,
        cs: &ChangeSet,
        raw: &[u8],
        now: Timestamp,
    ) -> Option<(ChangeSet, AckClaim)> {
        match self.try_plan(store, rules, cs, raw, now).await {
            Ok(plan) => plan,
            Err(e) => {
                tracing::warn!(message_id = %cs.mail.message_id.as_str(), error = %e, "no acknowledgement: the store did not answer");
                None
            }
        }
    }

    async fn try_plan(
        &self,
        store: &dyn Store,
        rules: &TrackingRules,
        cs: &ChangeSet,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<Option<(ChangeSet, AckClaim)>> {
        let Some(w) = &cs.dr else { return Ok(None) };
        if w.expected_version != 0
            || cs.mail.direction != crate::model::Direction::Inbound
            || cs.mail.decision.mail_type() != Some(MailType::Normal)
        {
            return Ok(None);
        }
        let all = self.rules(store).await?;
        if all.is_empty() {
            return Ok(None);
        }
        let dr = &w.dr;
        let owner = store.get_user(&dr.owner).await?;
        let department = owner.as_ref().and_then(|u| u.department.clone());
        let mut recipients: Vec<EmailAddress> = cs.mail.to.clone();
        recipients.extend(cs.mail.cc.iter().cloned());
        recipients.extend(cs.mail.rcpt_to.iter().cloned());
        let Some(rule) = choose(&all, &recipients, department.as_deref(), &cs.mail.subject) else {
            return Ok(None);
        };
        let settings = self.settings();
        let sender = cs.mail.sender.as_ref();
        let excluded = sender.is_some_and(|s| rules.is_excluded_sender(s));
        let limits = AckLimits {
            window: rule.window(),
            per_sender_per_day: settings.per_sender_per_day,
            per_dr: 1,
        };
        let headers = AckHeaders::read(raw);
        // What needs no store read first (the headers, the address, this process's own recent
        // acknowledgements): a flood from one sender is refused before any history is read.
        let mut history = AckHistory {
            last_to_sender: sender.and_then(|s| lock(&self.recent).get(s).copied()),
            ..AckHistory::default()
        };
        let refused = |history: &AckHistory, blocked: bool| {
            may_acknowledge(
                sender, false, blocked, excluded, &headers, history, &limits, now,
            )
        };
        if let Err(refusal) = refused(&history, false) {
            tracing::info!(dr = %dr.id, rule = %rule.name, reason = %refusal, "no acknowledgement");
            return Ok(None);
        }
        let Some(s) = sender else { return Ok(None) };
        let blocked = store.blocked(s).await?.is_some();
        // The sender's latest mails hold the acknowledgements that count (a day's cap is a few);
        // a longer flood since is refused by this process's memory above.
        let recent = store
            .list_mails(&MailQuery {
                party: Some(Party::Address(s.clone())),
                limit: HISTORY_MAILS,
                ..MailQuery::default()
            })
            .await?
            .items;
        let stored = history_of(&recent, now);
        history.last_to_sender = history.last_to_sender.max(stored.last_to_sender);
        history.to_sender_last_day = stored.to_sender_last_day;
        if let Err(refusal) = refused(&history, blocked) {
            tracing::info!(dr = %dr.id, rule = %rule.name, reason = %refusal, "no acknowledgement");
            return Ok(None);
        }
        let template = match store
            .kv_get(&format!("template:{}", rule.template.to_lowercase()))
            .await?
        {
            Some(json) => serde_json::from_str(&json).ok(),
            None if rule.template.eq_ignore_ascii_case(BUILTIN_TEMPLATE) => {
                Some(builtin_template())
            }
            None => None,
        };
        let rendered = match template {
            None => Err(format!("its template {:?} does not exist", rule.template)),
            Some(t) => match AckRenderer::new(&t) {
                Err(e) => Err(e.to_string()),
                Ok(r) => {
                    let suggestions = if r.needs_suggestions {
                        self.suggestions(store, &cs.mail.subject, raw, &settings)
                            .await?
                    } else {
                        Vec::new()
                    };
                    let data = AckData {
                        dr: DrFields {
                            id: dr.id.to_string(),
                            subject: dr.subject.clone(),
                        },
                        customer: dr.customer.to_string(),
                        owner: OwnerFields {
                            name: owner.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
                            email: dr.owner.to_string(),
                        },
                        department: department.clone().unwrap_or_default(),
                        business_hours: department
                            .as_ref()
                            .and_then(|d| settings.business_hours.get(&d.to_lowercase()))
                            .or_else(|| settings.business_hours.get(""))
                            .cloned()
                            .unwrap_or_default(),
                        suggestions,
                    };
                    r.render(&data).map_err(|e| e.to_string())
                }
            },
        };
        let rendered = match rendered {
            Ok(r) => r,
            Err(error) => {
                self.disable(store, rule, &error).await;
                return Ok(None);
            }
        };
        // One acknowledgement in flight per sender: a second mail arriving meanwhile gets none.
        let Some(claim) = sender.and_then(|s| self.claim(s, rule.window(), now)) else {
            tracing::info!(dr = %dr.id, rule = %rule.name, "no acknowledgement: another one to this sender is on its way");
            return Ok(None);
        };
        let from = recipients
            .iter()
            .find(|r| rules.is_local(r))
            .cloned()
            .unwrap_or_else(|| dr.owner.clone());
        let message_id = format!(
            "ack.{}.{}@{}",
            dr.id,
            crate::campaign::random_hex(6).unwrap_or_else(|_| now.as_nanosecond().to_string()),
            from.domain()
        );
        let msg = ack_message(
            dr,
            cs.mail.message_id.as_str(),
            rendered,
            &from,
            owner.map(|u| u.name).filter(|n| !n.trim().is_empty()),
            message_id,
        );
        Ok(Some((self.change_set(dr, msg, now), claim)))
    }

    fn change_set(&self, dr: &Dr, msg: crate::outbox::OutMessage, now: Timestamp) -> ChangeSet {
        let (record, raw) = ack_record(dr, &msg, now);
        ChangeSet {
            mail: record,
            raw: Arc::new(raw),
            index_message_id: true,
            dr: None,
            link: Vec::new(),
            response: None,
            pending: None,
            queue: vec![QueuedMail {
                id: 0,
                kind: "autoreply".into(),
                message: msg,
                created_at: now,
                delivery: Delivery::due(now),
            }],
        }
    }

    async fn suggestions(
        &self,
        store: &dyn Store,
        subject: &str,
        raw: &[u8],
        settings: &AckSettings,
    ) -> Result<Vec<SuggestionField>> {
        let text = crate::archive::read_message(raw).text.unwrap_or_default();
        let question = format!("{}\n{text}", crate::mail::base_subject(subject));
        let terms = crate::support::kb::query(&question, &settings.thesaurus);
        let mut out = Vec::new();
        for hit in store.kb_search(&terms, true, 3).await? {
            if let Some(a) = store.kb_get(hit.id).await? {
                out.push(SuggestionField {
                    id: a.id,
                    title: a.title,
                    summary: summary(&a.body),
                });
            }
        }
        Ok(out)
    }

    /// Disables a rule whose template failed, with the error on the rule for people to see.
    async fn disable(&self, store: &dyn Store, rule: &AutoReplyRule, error: &str) {
        tracing::warn!(rule = %rule.name, error, "acknowledgement rule disabled: its template failed");
        let mut r = rule.clone();
        r.error = Some(error.to_string());
        if let Ok(json) = serde_json::to_string(&r)
            && let Err(e) = store.kv_put(&r.key(), Some(&json)).await
        {
            tracing::warn!(rule = %rule.name, error = %e, "cannot record the rule's error");
        }
        self.forget_rules();
    }
}
