//! Mail to etraq's own addresses: a campaign's VERP return path `bounce+TOKEN@bounce_domain`
//! and its mailto unsubscribe `unsubscribe+TOKEN@bounce_domain`. The gateway accepts a RCPT to
//! one only with a valid token (else `550 5.1.1`), and hands the message here instead of
//! relaying it: it is recorded (untracked, reason `Bounce`, the raw message kept for audit)
//! and acted on. A hard bounce blocklists the address; soft bounces do when they reach
//! `campaigns.soft_bounce_limit` of the address's last `soft_bounce_window` sends; a feedback
//! report (a spam complaint) unsubscribes it from every list and blocklists it; `Action:
//! delayed`, an out-of-office reply or anything else is recorded and changes nothing. A message
//! seen before (the same Message-ID: a retried delivery) is not acted on twice.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::campaign::{
    BlockEntry, BlockReason, Blocked, Bounce, Hit, HitKind, MemberStatus, Recipient, Report, Token,
    TokenKind, classify_bounce, read_report,
};
use crate::error::{Error, Result};
use crate::mail::{Envelope, ParsedMail};
use crate::model::{Decision, Direction, MailRecord, UntrackedReason};
use crate::service::{App, SendSettings};

/// What a message to etraq's own addresses led to, in words (for the log and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnMailOutcome {
    /// A bounce that counted: hard or soft, for this address.
    Bounced {
        /// The address.
        email: EmailAddress,
        /// Whether it was hard.
        hard: bool,
        /// Whether the address is on the blocklist now.
        blocklisted: bool,
    },
    /// A complaint: the address left every list and is blocklisted.
    Complaint(EmailAddress),
    /// An unsubscribe through the mailto link.
    Unsubscribed(EmailAddress),
    /// Recorded, nothing else: why.
    Ignored(String),
}

/// The gateway's view of etraq's own addresses (implemented by [`App`]).
#[async_trait]
pub trait OwnMail: Send + Sync {
    /// `None` when `to` is no address of etraq's own (it is relayed as usual); `Some(true)`
    /// when it is one with a valid token; `Some(false)` when it looks like one but its token
    /// does not verify (the gateway answers `550 5.1.1`).
    async fn own_address(&self, to: &EmailAddress) -> Result<Option<bool>>;

    /// Takes a message for etraq's own addresses `own` (never relayed): records it and acts on
    /// it.
    async fn take_own_mail(
        &self,
        envelope: &Envelope,
        own: &[EmailAddress],
        raw: Vec<u8>,
        now: Timestamp,
    ) -> Result<Vec<OwnMailOutcome>>;
}

/// Which of etraq's own addresses an address is, and its token text.
fn own_kind<'a>(to: &'a EmailAddress, bounce_domain: &str) -> Option<(TokenKind, &'a str)> {
    if !to.domain().eq_ignore_ascii_case(bounce_domain) {
        return None;
    }
    let local = to.local_part();
    if let Some(t) = local.strip_prefix("bounce+") {
        Some((TokenKind::Bounce, t))
    } else {
        local
            .strip_prefix("unsubscribe+")
            .map(|t| (TokenKind::Unsubscribe, t))
    }
}

#[async_trait]
impl OwnMail for App {
    async fn own_address(&self, to: &EmailAddress) -> Result<Option<bool>> {
        let settings = SendSettings::from_config(&self.config());
        let Some((kind, text)) = own_kind(to, &settings.bounce_domain) else {
            return Ok(None);
        };
        let valid = self
            .token_signer()
            .await?
            .verify(text)
            .is_some_and(|t| t.kind == kind);
        Ok(Some(valid))
    }

    async fn take_own_mail(
        &self,
        envelope: &Envelope,
        own: &[EmailAddress],
        raw: Vec<u8>,
        now: Timestamp,
    ) -> Result<Vec<OwnMailOutcome>> {
        // Recorded first, with the raw message: a retried delivery of the same message finds
        // its Message-ID taken and is not acted on twice.
        if !self.record_own_mail(envelope, &raw, now).await? {
            return Ok(vec![OwnMailOutcome::Ignored(
                "seen before (the same Message-ID)".into(),
            )]);
        }
        let settings = SendSettings::from_config(&self.config());
        let signer = self.token_signer().await?;
        let mut out = Vec::new();
        for to in own {
            let Some((kind, text)) = own_kind(to, &settings.bounce_domain) else {
                continue;
            };
            let Some(t) = signer.verify(text).filter(|t| t.kind == kind) else {
                out.push(OwnMailOutcome::Ignored(format!(
                    "{to}: the token does not verify"
                )));
                continue;
            };
            let outcome = match kind {
                TokenKind::Unsubscribe => self.mailto_unsubscribe(text, now).await?,
                _ => self.bounce(&t, &raw, now).await?,
            };
            tracing::info!(to = %to, outcome = ?outcome, "mail to a campaign address");
            out.push(outcome);
        }
        Ok(out)
    }
}

impl App {
    /// Records a message taken for etraq's own addresses: inbound, untracked, reason
    /// `Bounce`, the raw message kept. False when its Message-ID was recorded already.
    async fn record_own_mail(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<bool> {
        let parsed = ParsedMail::parse(raw);
        let parties: Vec<EmailAddress> = parsed
            .from
            .iter()
            .chain(envelope.mail_from.as_ref().and_then(|p| p.address()))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let change = crate::tracking::ChangeSet {
            mail: MailRecord {
                seq: 0,
                message_id: parsed.message_id.clone(),
                derived_message_id: parsed.derived_message_id,
                direction: Direction::Inbound,
                mail_from: envelope
                    .mail_from
                    .as_ref()
                    .and_then(|p| p.address())
                    .cloned(),
                rcpt_to: envelope.rcpt_to.clone(),
                sender: parsed.from.clone().or_else(|| {
                    envelope
                        .mail_from
                        .as_ref()
                        .and_then(|p| p.address())
                        .cloned()
                }),
                sender_name: parsed.from_name.clone(),
                to: parsed.to.clone(),
                cc: parsed.cc.clone(),
                subject: parsed.subject.clone(),
                received_at: now,
                sent_at: parsed.date,
                decision: Decision::Untracked {
                    reason: UntrackedReason::Bounce,
                },
                dr: None,
                parties,
                size: raw.len() as u64,
            },
            raw: std::sync::Arc::new(raw.to_vec()),
            index_message_id: true,
            dr: None,
            link: Vec::new(),
            response: None,
            pending: None,
            queue: Vec::new(),
        };
        match self.store.apply(change).await {
            Ok(_) => Ok(true),
            Err(Error::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The recipient a campaign token names, if the campaign and the row exist.
    async fn token_recipient(&self, t: &Token) -> Result<Option<Recipient>> {
        if t.recipient == 0 {
            return Ok(None);
        }
        Ok(self
            .store
            .list_recipients(t.campaign, None, Some(t.recipient - 1), 1)
            .await?
            .items
            .into_iter()
            .find(|r| r.id == t.recipient))
    }

    async fn mailto_unsubscribe(&self, token: &str, now: Timestamp) -> Result<OwnMailOutcome> {
        match self.unsubscribe_by_token(token, now).await {
            Ok(t) => Ok(OwnMailOutcome::Unsubscribed(t.email)),
            Err(Error::NotFound { .. }) => Ok(OwnMailOutcome::Ignored(
                "an unsubscribe for a campaign or recipient etraq does not know".into(),
            )),
            Err(e) => Err(e),
        }
    }

    async fn bounce(&self, t: &Token, raw: &[u8], now: Timestamp) -> Result<OwnMailOutcome> {
        let Some(r) = self.token_recipient(t).await? else {
            return Ok(OwnMailOutcome::Ignored(
                "a bounce for a campaign or recipient etraq does not know".into(),
            ));
        };
        let hit = |kind, detail: String| Hit {
            campaign: r.campaign,
            recipient: r.id,
            subscriber: r.subscriber,
            kind,
            link: None,
            at: now,
            user_agent: None,
            ip: None,
            bot: None,
            value: None,
            currency: None,
            order_id: None,
            detail: Some(detail),
        };
        match read_report(raw) {
            Report::Dsn(blocks) => {
                // The block about this recipient; else the first one that is a bounce.
                let mine = blocks
                    .iter()
                    .find(|b| {
                        b.final_recipient
                            .as_deref()
                            .is_some_and(|f| f.eq_ignore_ascii_case(r.email.as_str()))
                    })
                    .or_else(|| blocks.iter().find(|b| classify_bounce(b) != Bounce::None))
                    .or(blocks.first());
                let Some(b) = mine else {
                    return Ok(OwnMailOutcome::Ignored("a DSN with no recipient".into()));
                };
                let what = format!(
                    "{} {}",
                    b.status.as_deref().unwrap_or("no status"),
                    b.diagnostic.as_deref().unwrap_or("")
                )
                .trim()
                .to_string();
                match classify_bounce(b) {
                    Bounce::None => Ok(OwnMailOutcome::Ignored(format!(
                        "a DSN saying {:?}, which is no bounce",
                        b.action
                    ))),
                    Bounce::Hard => {
                        self.store
                            .record_hit(hit(HitKind::BounceHard, format!("hard bounce: {what}")))
                            .await?;
                        self.block_address(&r.email, BlockReason::HardBounce, now)
                            .await?;
                        Ok(OwnMailOutcome::Bounced {
                            email: r.email,
                            hard: true,
                            blocklisted: true,
                        })
                    }
                    Bounce::Soft => {
                        self.store
                            .record_hit(hit(HitKind::BounceSoft, format!("soft bounce: {what}")))
                            .await?;
                        let blocklisted = self.soft_bounce_limit_reached(r.subscriber).await?;
                        if blocklisted {
                            self.block_address(&r.email, BlockReason::SoftBounces, now)
                                .await?;
                        }
                        Ok(OwnMailOutcome::Bounced {
                            email: r.email,
                            hard: false,
                            blocklisted,
                        })
                    }
                }
            }
            Report::Feedback(f) if f.feedback_type == "not-spam" => Ok(OwnMailOutcome::Ignored(
                "a feedback report of type not-spam".into(),
            )),
            Report::Feedback(f) => {
                self.store
                    .record_hit(hit(
                        HitKind::Complaint,
                        format!("complaint ({})", f.feedback_type),
                    ))
                    .await?;
                if let Some(s) = self.store.get_subscriber(&r.email).await? {
                    for m in s.lists.values() {
                        if m.status != MemberStatus::Unsubscribed {
                            self.store
                                .set_member_status(
                                    &r.email,
                                    &m.list,
                                    MemberStatus::Unsubscribed,
                                    now,
                                )
                                .await?;
                        }
                    }
                }
                self.block_address(&r.email, BlockReason::Complaint, now)
                    .await?;
                Ok(OwnMailOutcome::Complaint(r.email))
            }
            Report::Other(why) => Ok(OwnMailOutcome::Ignored(format!(
                "not a bounce or a complaint ({why})"
            ))),
        }
    }

    /// Whether the subscriber's soft bounces within their last `soft_bounce_window` sends
    /// reach `soft_bounce_limit`.
    async fn soft_bounce_limit_reached(&self, subscriber: u64) -> Result<bool> {
        let cfg = self.config();
        let (limit, window) = (
            cfg.campaigns.soft_bounce_limit.max(1) as usize,
            cfg.campaigns.soft_bounce_window.max(1) as usize,
        );
        let events = self.store.subscriber_events(subscriber, 1000).await?;
        let recent: std::collections::HashSet<u64> = events
            .iter()
            .filter(|e| e.kind == crate::campaign::EventKind::Sent)
            .take(window)
            .map(|e| e.campaign)
            .collect();
        let soft: std::collections::HashSet<u64> = events
            .iter()
            .filter(|e| e.kind == crate::campaign::EventKind::Bounce)
            .filter(|e| {
                e.detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("soft bounce"))
            })
            .filter(|e| recent.contains(&e.campaign))
            .map(|e| e.campaign)
            .collect();
        Ok(soft.len() >= limit)
    }

    /// Puts an address on the blocklist unless it (or its domain) is there already.
    async fn block_address(
        &self,
        email: &EmailAddress,
        reason: BlockReason,
        now: Timestamp,
    ) -> Result<()> {
        if self.store.blocked(email).await?.is_none() {
            self.store
                .block(BlockEntry {
                    address: Blocked::Address(email.clone()),
                    reason,
                    created_at: now,
                })
                .await?;
        }
        Ok(())
    }
}
