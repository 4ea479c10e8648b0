//! Customer service's use cases: the knowledge base (`kb_*`), suggested answers for a DR,
//! transcripts, and replies written in etraq.
//!
//! Any signed-in user may read and write articles (agents write most of them); deleting one
//! takes a supervisor. Suggestions, transcripts and replies are about a DR, so they are scoped
//! like the DR itself.

use std::sync::Arc;

use jiff::Timestamp;

use crate::access::Actor;
use crate::address::EmailAddress;
use crate::error::{Error, Result};
use crate::mail::{Envelope, ReversePath};
use crate::model::{Direction, Dr, DrId, DrStatus, MailRecord};
use crate::outbox::{Delivery, QueuedMail};
use crate::service::App;
use crate::support::autoreply::{
    AckData, AckRenderer, AutoReplyRule, BUILTIN_TEMPLATE, MAX_RULES, RULE_PREFIX, builtin_template,
};
use crate::support::kb::{self, Article, ArticleInput, KbHit};
use crate::support::reply::{Answered, MAX_REPLY, reply_message};
use crate::support::transcript::{self, Entry, Transcript};
use crate::tracking::Tracked;

/// Suggestions shown for a DR.
pub const SUGGESTIONS: usize = 3;

/// An article with every version, for its page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleDetail {
    /// The article now.
    pub article: Article,
    /// Every version, oldest first.
    pub history: Vec<Article>,
}

/// The reply form's starting point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyDraft {
    /// The customer.
    pub to: EmailAddress,
    /// `Re: … [TAG]`.
    pub subject: String,
    /// The customer's last message (quoted under the reply when it is sent).
    pub quoted: String,
    /// The DR's owner (the default sender).
    pub owner: EmailAddress,
}

/// What the DR page shows for answering the customer.
#[derive(Clone, Debug)]
pub struct SupportPanel {
    /// The suggested articles, best first, with their hits.
    pub suggestions: Vec<(KbHit, Article)>,
    /// The reply form, unless the DR is closed or has no customer.
    pub reply: Option<ReplyDraft>,
    /// Whether closing sends the transcript by default.
    pub transcript_on_close: bool,
}

/// A reply to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyInput {
    /// What to say (plain text).
    pub body: String,
    /// Copies.
    pub cc: Vec<EmailAddress>,
    /// Send as this user (default: the DR's owner).
    pub as_user: Option<EmailAddress>,
}

/// A reply sent and recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplySent {
    /// What the tracker recorded (the DR, `Replied Mail`).
    pub tracked: Tracked,
    /// Who it went to.
    pub to: EmailAddress,
    /// Its subject.
    pub subject: String,
}

impl App {
    /// Writes a new article as the actor.
    pub async fn kb_add(
        &self,
        who: &Actor,
        input: &ArticleInput,
        now: Timestamp,
    ) -> Result<Article> {
        let a = input.apply(kb::blank(now), &who.viewer.login, now)?;
        let a = self.store.kb_put(a).await?;
        tracing::info!(article = a.id, by = %who.viewer.login, "article added");
        Ok(a)
    }

    /// Changes an article (a new version).
    pub async fn kb_set(
        &self,
        who: &Actor,
        id: u64,
        input: &ArticleInput,
        now: Timestamp,
    ) -> Result<Article> {
        let current = self.kb_article(id).await?;
        let a = input.apply(current, &who.viewer.login, now)?;
        let a = self.store.kb_put(a).await?;
        tracing::info!(article = a.id, version = a.version, by = %who.viewer.login, "article changed");
        Ok(a)
    }

    async fn kb_article(&self, id: u64) -> Result<Article> {
        self.store.kb_get(id).await?.ok_or_else(|| Error::NotFound {
            what: "article",
            key: id.to_string(),
        })
    }

    /// Every article, by id.
    pub async fn kb_list(&self, _who: &Actor) -> Result<Vec<Article>> {
        self.store.kb_list().await
    }

    /// One article with its history.
    pub async fn kb_show(&self, _who: &Actor, id: u64) -> Result<ArticleDetail> {
        let article = self.kb_article(id).await?;
        let history = self.store.kb_history(id).await?;
        Ok(ArticleDetail { article, history })
    }

    /// Deletes an article (supervisors and administrators).
    pub async fn kb_delete(&self, who: &Actor, id: u64) -> Result<()> {
        who.require_supervisor()?;
        self.store.kb_delete(id).await?;
        tracing::info!(article = id, by = %who.viewer.login, "article deleted");
        Ok(())
    }

    /// The articles best matching `query` (any words; see [`kb::query`]), at most `limit`.
    pub async fn kb_search(&self, _who: &Actor, query: &str, limit: usize) -> Result<Vec<KbHit>> {
        let terms = kb::query(query, &self.config().support.thesaurus());
        self.store
            .kb_search(&terms, false, limit.clamp(1, 100))
            .await
    }

    /// The articles suggested for a DR: the best matches for its customer's latest message
    /// (subject and own words), at most [`SUGGESTIONS`].
    pub async fn suggest(&self, who: &Actor, id: &DrId) -> Result<Vec<KbHit>> {
        let dr = self.visible_dr(who, id).await?;
        let thread = self.thread(&dr).await?;
        let last = self.last_customer_in(&thread).await?;
        self.suggest_for(
            &dr.subject,
            last.as_ref().map_or("", |(_, t)| t.as_str()),
            false,
        )
        .await
    }

    /// What the DR page shows beside the thread it has already read: the suggested articles
    /// (whole, to insert), and the reply form's draft unless the DR cannot be answered.
    pub async fn support_panel(
        &self,
        who: &Actor,
        dr: &Dr,
        thread: &[MailRecord],
    ) -> Result<SupportPanel> {
        let dr = self.visible_dr(who, &dr.id).await?;
        let last = self.last_customer_in(thread).await?;
        let text = last.as_ref().map_or("", |(_, t)| t.as_str());
        let mut suggestions = Vec::new();
        for hit in self.suggest_for(&dr.subject, text, false).await? {
            if let Some(a) = self.store.kb_get(hit.id).await? {
                suggestions.push((hit, a));
            }
        }
        let reply = (dr.status != DrStatus::Closed && !self.tracker.rules().is_local(&dr.customer))
            .then(|| ReplyDraft {
                to: dr.customer.clone(),
                subject: crate::support::reply::reply_subject(&dr),
                quoted: last.map(|(_, t)| t).unwrap_or_default(),
                owner: dr.owner.clone(),
            });
        Ok(SupportPanel {
            suggestions,
            reply,
            transcript_on_close: self.config().support.transcript_on_close,
        })
    }

    /// Suggestions for a message with this subject and text (public articles only when they
    /// are for the customer).
    pub(crate) async fn suggest_for(
        &self,
        subject: &str,
        text: &str,
        public_only: bool,
    ) -> Result<Vec<KbHit>> {
        let question = format!("{}\n{text}", crate::mail::base_subject(subject));
        let terms = kb::query(&question, &self.config().support.thesaurus());
        self.store.kb_search(&terms, public_only, SUGGESTIONS).await
    }

    /// The DR's mails, oldest first (at most the thread limit).
    async fn thread(&self, dr: &Dr) -> Result<Vec<MailRecord>> {
        let admin = Actor::admin();
        Ok(self.dr_detail(&admin, &dr.id).await?.1)
    }

    /// The text of a recorded mail, without what it quoted.
    async fn own_text(&self, m: &MailRecord) -> Result<String> {
        let raw = self.store.raw_message(m.seq).await?.unwrap_or_default();
        let body = crate::archive::read_message(&raw);
        let text = body.text.unwrap_or_default();
        Ok(crate::archive::quoted_blocks(&text)
            .into_iter()
            .filter(|b| !b.quoted)
            .map(|b| b.text)
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// The customer's latest mail on the DR, with its own text.
    async fn last_customer_message(&self, dr: &Dr) -> Result<Option<(MailRecord, String)>> {
        let mails = self.thread(dr).await?;
        self.last_customer_in(&mails).await
    }

    /// The customer's latest mail of a thread, with its own text.
    async fn last_customer_in(
        &self,
        thread: &[MailRecord],
    ) -> Result<Option<(MailRecord, String)>> {
        let Some(m) = thread
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound && m.decision.is_tracked())
        else {
            return Ok(None);
        };
        let text = self.own_text(m).await?;
        Ok(Some((m.clone(), text)))
    }

    /// The DR's transcript: its customer-visible messages in order (see
    /// [`transcript::customer_visible`]).
    pub async fn transcript(&self, who: &Actor, id: &DrId) -> Result<Transcript> {
        let dr = self.visible_dr(who, id).await?;
        self.transcript_of(&dr).await
    }

    async fn transcript_of(&self, dr: &Dr) -> Result<Transcript> {
        let tz = self.time_zone();
        let mut entries = Vec::new();
        for m in self.thread(dr).await? {
            if transcript::customer_visible(&m) {
                let text = self.own_text(&m).await?;
                entries.push(Entry::of(&m, &text, &tz));
            }
        }
        Ok(transcript::transcript(dr, &entries))
    }

    /// Closes a DR; with `send_transcript` (default: `support.transcript_on_close`), its
    /// transcript is queued for the customer in the outbox.
    pub async fn close_dr_with(
        &self,
        who: &Actor,
        id: &DrId,
        send_transcript: Option<bool>,
        now: Timestamp,
    ) -> Result<Dr> {
        let send = send_transcript.unwrap_or(self.config().support.transcript_on_close);
        if send {
            let dr = self.visible_dr(who, id).await?;
            if self.tracker.rules().is_local(&dr.customer) {
                return Err(Error::Invalid(format!(
                    "DR {} has no customer to send a transcript to ({} is a local address)",
                    dr.id, dr.customer
                )));
            }
        }
        let dr = self.close_dr(who, id, now).await?;
        if send {
            self.queue_transcript(&dr, now).await?;
        }
        Ok(dr)
    }

    async fn queue_transcript(&self, dr: &Dr, now: Timestamp) -> Result<()> {
        let t = self.transcript_of(dr).await?;
        let owner = self.store.get_user(&dr.owner).await?;
        let message_id = format!(
            "transcript.{}.{}@{}",
            dr.id,
            crate::campaign::random_hex(6)
                .map_err(|e| Error::Internal(format!("no randomness: {e}")))?,
            dr.owner.domain()
        );
        let msg = transcript::transcript_message(
            &t,
            &dr.owner,
            owner.map(|u| u.name).filter(|n| !n.trim().is_empty()),
            &dr.customer,
            message_id,
        );
        self.store
            .queue_mails(vec![QueuedMail {
                id: 0,
                kind: "transcript".into(),
                message: msg,
                created_at: now,
                delivery: Delivery::due(now),
            }])
            .await?;
        tracing::info!(dr = %dr.id, to = %dr.customer, "transcript queued");
        Ok(())
    }

    /// Replies to a DR's customer from etraq: sends the reply through the relay as the DR's
    /// owner (or `input.as_user`), then records exactly those bytes through the tracker, as
    /// if the mail had passed the gateway (`Replied Mail`, first response, response time). If
    /// the same mail later passes the gateway, it is a duplicate and changes nothing.
    pub async fn reply_dr(
        &self,
        who: &Actor,
        id: &DrId,
        input: &ReplyInput,
        now: Timestamp,
    ) -> Result<ReplySent> {
        let dr = self.visible_dr(who, id).await?;
        if input.body.trim().is_empty() {
            return Err(Error::InvalidField {
                field: "body",
                reason: "a reply needs a text".into(),
            });
        }
        if input.body.len() > MAX_REPLY {
            return Err(Error::InvalidField {
                field: "body",
                reason: format!(
                    "the reply is {} bytes; at most {MAX_REPLY}",
                    input.body.len()
                ),
            });
        }
        if dr.status == DrStatus::Closed {
            return Err(Error::Invalid(format!(
                "DR {} is closed; reopen it before replying",
                dr.id
            )));
        }
        let rules = self.tracker.rules();
        if rules.is_local(&dr.customer) {
            return Err(Error::Invalid(format!(
                "DR {} has no customer to reply to ({} is a local address)",
                dr.id, dr.customer
            )));
        }
        let from = input.as_user.clone().unwrap_or_else(|| dr.owner.clone());
        let user = self
            .store
            .get_user(&from)
            .await?
            .ok_or_else(|| Error::InvalidField {
                field: "as",
                reason: format!("{from} is not a registered user"),
            })?;
        if !rules.is_local(&from) {
            return Err(Error::InvalidField {
                field: "as",
                reason: format!("{from} is not in a local domain"),
            });
        }
        for cc in &input.cc {
            if cc == &dr.customer {
                return Err(Error::InvalidField {
                    field: "cc",
                    reason: format!("{cc} is the customer, already in To"),
                });
            }
        }
        let Some(mailer) = self.mailer.clone() else {
            return Err(Error::Unavailable {
                what: "the relay".into(),
                reason: "this etraq has no mailer configured".into(),
            });
        };
        let last = self.last_customer_message(&dr).await?;
        let message_id = format!(
            "{}.{}@{}",
            now.as_millisecond(),
            crate::campaign::random_hex(8)
                .map_err(|e| Error::Internal(format!("no randomness: {e}")))?,
            from.domain()
        );
        let msg = reply_message(
            &dr,
            last.as_ref().map(|(m, text)| Answered { mail: m, text }),
            &from,
            Some(user.name.clone()).filter(|n| !n.trim().is_empty()),
            &input.body,
            &input.cc,
            message_id,
            &self.time_zone(),
        );
        let raw = mailer.format(&msg).map_err(|reason| Error::InvalidField {
            field: "reply",
            reason,
        })?;
        mailer
            .send_formatted(&msg, &raw)
            .await
            .map_err(|reason| Error::Unavailable {
                what: "the relay".into(),
                reason,
            })?;
        let mut rcpt = vec![msg.to.clone()];
        rcpt.extend(msg.cc.iter().cloned());
        let envelope = Envelope::new(ReversePath::Address(from.clone()), rcpt);
        let tracked = self.tracker.track(&raw, &envelope, now).await?;
        tracing::info!(dr = %dr.id, by = %who.viewer.login, from = %from, "reply sent from etraq");
        Ok(ReplySent {
            tracked,
            to: msg.to,
            subject: msg.subject,
        })
    }

    /// Uses `mailer` to send replies (the relay, or the evaluation Maildir).
    pub fn with_mailer(mut self, mailer: Arc<dyn crate::outbox::Outbound>) -> App {
        self.mailer = Some(mailer);
        self
    }
}

/// A rule to add (`autoreply add`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleInput {
    /// Its name.
    pub name: String,
    /// Its template.
    pub template: String,
    /// Only mail to these addresses.
    pub to: Vec<EmailAddress>,
    /// Only DRs of this department.
    pub department: Option<String>,
    /// Only subjects matching this pattern.
    pub subject_matches: Option<String>,
    /// The window (default one day).
    pub window: Option<jiff::SignedDuration>,
}

impl App {
    /// The acknowledgement rules, in the order they are tried.
    pub async fn autoreplies(&self, _who: &Actor) -> Result<Vec<AutoReplyRule>> {
        let mut rules = Vec::new();
        for (k, v) in self.store.kv_scan(RULE_PREFIX).await? {
            let r: AutoReplyRule = serde_json::from_str(&v)
                .map_err(|e| Error::Invalid(format!("the stored rule {k} cannot be read: {e}")))?;
            rules.push(r);
        }
        rules.sort_by_key(|r| (r.position, r.name.clone()));
        Ok(rules)
    }

    /// One rule by name.
    pub async fn autoreply(&self, who: &Actor, name: &str) -> Result<AutoReplyRule> {
        self.autoreplies(who)
            .await?
            .into_iter()
            .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| Error::NotFound {
                what: "acknowledgement rule",
                key: name.to_string(),
            })
    }

    /// Checks that a rule's template exists and compiles with the acknowledgement's fields.
    async fn check_ack_template(&self, who: &Actor, name: &str) -> Result<()> {
        let t = if name.eq_ignore_ascii_case(BUILTIN_TEMPLATE)
            && self.template(who, name).await.is_err()
        {
            builtin_template()
        } else {
            self.template(who, name).await?
        };
        AckRenderer::new(&t)?.render(&AckData::default())?;
        Ok(())
    }

    /// Adds a rule (supervisors), tried after the existing ones.
    pub async fn add_autoreply(
        &self,
        who: &Actor,
        input: &RuleInput,
        now: Timestamp,
    ) -> Result<AutoReplyRule> {
        who.require_supervisor()?;
        let existing = self.autoreplies(who).await?;
        if existing.len() >= MAX_RULES {
            return Err(Error::Invalid(format!("at most {MAX_RULES} rules")));
        }
        if existing
            .iter()
            .any(|r| r.name.eq_ignore_ascii_case(input.name.trim()))
        {
            return Err(Error::InvalidField {
                field: "name",
                reason: format!("a rule named {:?} exists; delete it first", input.name),
            });
        }
        let rule = AutoReplyRule {
            name: input.name.trim().to_string(),
            template: input.template.trim().to_string(),
            to: input.to.clone(),
            department: input.department.clone().filter(|d| !d.trim().is_empty()),
            subject_matches: input.subject_matches.clone().filter(|p| !p.is_empty()),
            window_secs: input
                .window
                .unwrap_or(jiff::SignedDuration::from_hours(24))
                .as_secs(),
            position: existing
                .iter()
                .map(|r| r.position)
                .max()
                .map_or(1, |p| p + 1),
            created_at: now,
            author: who.viewer.login.clone(),
            error: None,
        };
        rule.check()?;
        self.check_ack_template(who, &rule.template).await?;
        self.save_rule(&rule).await?;
        tracing::info!(rule = %rule.name, by = %who.viewer.login, "acknowledgement rule added");
        Ok(rule)
    }

    /// Enables a rule that a failing template disabled, once its template works again.
    pub async fn enable_autoreply(&self, who: &Actor, name: &str) -> Result<AutoReplyRule> {
        who.require_supervisor()?;
        let mut rule = self.autoreply(who, name).await?;
        self.check_ack_template(who, &rule.template).await?;
        rule.error = None;
        self.save_rule(&rule).await?;
        Ok(rule)
    }

    /// Deletes a rule (supervisors).
    pub async fn delete_autoreply(&self, who: &Actor, name: &str) -> Result<()> {
        who.require_supervisor()?;
        let rule = self.autoreply(who, name).await?;
        self.store.kv_put(&rule.key(), None).await?;
        self.tracker.acknowledger().forget_rules();
        tracing::info!(rule = %rule.name, by = %who.viewer.login, "acknowledgement rule deleted");
        Ok(())
    }

    async fn save_rule(&self, rule: &AutoReplyRule) -> Result<()> {
        let json = serde_json::to_string(rule)
            .map_err(|e| Error::Internal(format!("cannot encode a rule: {e}")))?;
        self.store.kv_put(&rule.key(), Some(&json)).await?;
        self.tracker.acknowledger().forget_rules();
        Ok(())
    }
}
