//! A campaign and its frozen recipients: the records that make every campaign mail accounted
//! for exactly, even across a crash.
//!
//! At start the recipient set is frozen into one row per recipient. A row goes
//! `queued → sending → sent | failed`; it is durably `sending` before its message is handed to
//! the relay and `sent` only after the relay's 250. A row a crash left `sending` becomes
//! `in_doubt` (or `queued` again with `on_restart = "resend"`), so nobody gets a mail twice and
//! nobody is silently skipped.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;
use crate::error::{Error, Result};

/// Where a campaign is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Being prepared; nothing frozen.
    Draft,
    /// Waiting for its send time.
    Scheduled,
    /// Recipients frozen, mail going out.
    Running,
    /// Stopped by a person; resumable.
    Paused,
    /// Every recipient has an outcome.
    Finished,
    /// Stopped for good.
    Cancelled,
}

impl CampaignStatus {
    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Finished => "finished",
            CampaignStatus::Cancelled => "cancelled",
        }
    }
}

/// A campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// The store's number (0 until stored).
    #[serde(default)]
    pub id: u64,
    /// Unique whatever its case; it appears in `X-Etraq-Campaign` and Message-IDs.
    pub name: String,
    /// The user whose DRs replies become.
    pub owner: Option<EmailAddress>,
    /// The lists it goes to, in order.
    pub lists: Vec<String>,
    /// The template's name.
    pub template: String,
    /// A subject replacing the template's.
    pub subject: Option<String>,
    /// The From mailbox.
    pub from: String,
    /// Where replies go, when not the From address.
    pub reply_to: Option<String>,
    /// The segment (`--where`).
    pub segment: Option<String>,
    /// Mails per second; `None`: `campaigns.rate_per_second`.
    pub rate: Option<u32>,
    /// Where it is.
    pub status: CampaignStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When a running `etraq serve` is to start sending it (`scheduled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<Timestamp>,
    /// When its recipients were frozen.
    pub started_at: Option<Timestamp>,
    /// When the last recipient got an outcome.
    pub finished_at: Option<Timestamp>,
    /// The sender running it now, if any: one sender at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// A sender's claim on a campaign, renewed while it sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The host the sender runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When the claim lapses unless renewed.
    pub expires_at: Timestamp,
}

impl Lease {
    /// Whether this lease and `other` are the same sender.
    pub fn same_holder(&self, other: &Lease) -> bool {
        self.host == other.host && self.pid == other.pid
    }
}

/// How long a lease lasts unless renewed: a sender that died is replaced within a minute.
pub const LEASE_SECONDS: i64 = 60;

/// The one rule for claiming a campaign, applied by every store inside its transaction: the
/// claim succeeds when there is no lease, the lease is the claimant's own, it has lapsed, or it
/// is `gone` (a holder the claimant saw to be dead). Otherwise the current lease is returned.
pub fn claim(
    current: Option<&Lease>,
    mine: &Lease,
    gone: Option<&Lease>,
    now: Timestamp,
) -> Option<Lease> {
    match current {
        Some(l)
            if !l.same_holder(mine)
                && l.expires_at > now
                && gone.is_none_or(|g| !g.same_holder(l)) =>
        {
            Some(l.clone())
        }
        _ => None,
    }
}

/// The longest campaign name.
pub const MAX_CAMPAIGN_NAME: usize = 100;

/// Checks a campaign name: 1 to 100 letters, digits, `-`, `_`, `.` or spaces (it goes into
/// headers and Message-IDs).
pub fn check_campaign_name(name: &str) -> Result<&str> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_CAMPAIGN_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidField {
            field: "name",
            reason: format!(
                "{name:?}: a campaign name has 1 to 100 ASCII letters, digits, spaces, '-', '_' or '.'"
            ),
        })
    }
}

/// The key a campaign name is unique under.
pub fn campaign_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Where one recipient's mail is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// Not sent yet.
    Queued,
    /// Handed to the relay, its answer not yet recorded.
    Sending,
    /// The relay accepted it.
    Sent,
    /// The relay refused it, or it could not be rendered.
    Failed,
    /// A crash came while it was `sending`: it may or may not have gone out.
    InDoubt,
    /// Unsubscribed or blocklisted after the freeze.
    Skipped,
}

impl RecipientState {
    /// Every state.
    pub const ALL: [RecipientState; 6] = [
        RecipientState::Queued,
        RecipientState::Sending,
        RecipientState::Sent,
        RecipientState::Failed,
        RecipientState::InDoubt,
        RecipientState::Skipped,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Queued => "queued",
            RecipientState::Sending => "sending",
            RecipientState::Sent => "sent",
            RecipientState::Failed => "failed",
            RecipientState::InDoubt => "in_doubt",
            RecipientState::Skipped => "skipped",
        }
    }

    /// Parses a contract name.
    pub fn parse(s: &str) -> Result<RecipientState> {
        RecipientState::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::InvalidField {
                field: "state",
                reason: format!(
                    "{s:?} is not one of queued, sending, sent, failed, in_doubt, skipped"
                ),
            })
    }

    /// A one-byte code for store indexes.
    pub fn code(self) -> u8 {
        match self {
            RecipientState::Queued => 1,
            RecipientState::Sending => 2,
            RecipientState::Sent => 3,
            RecipientState::Failed => 4,
            RecipientState::InDoubt => 5,
            RecipientState::Skipped => 6,
        }
    }
}

/// One frozen recipient of a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The campaign's id.
    pub campaign: u64,
    /// The recipient's number in the campaign (1, 2, …), in freeze order.
    pub id: u64,
    /// The address.
    pub email: EmailAddress,
    /// The subscriber's id.
    pub subscriber: u64,
    /// The list it came through.
    pub list: String,
    /// Where its mail is.
    pub state: RecipientState,
    /// The Message-ID of its mail, once made.
    pub message_id: Option<String>,
    /// When the relay accepted it.
    pub sent_at: Option<Timestamp>,
    /// Why it failed.
    pub error: Option<String>,
    /// Relay attempts so far.
    #[serde(default)]
    pub attempts: u32,
}

/// A recipient a sender is done with, for [`CampaignStore::settle_and_take`]
/// (crate::campaign::CampaignStore::settle_and_take): its final row and, when its mail went
/// out, the mail's record, written in the same commit so the Message-ID is known to the
/// tracker (a reply threads to it) and the subscriber's `sent` event is kept.
#[derive(Clone, Debug)]
pub struct Settled {
    /// The row as it ends (or stays, `sending`, during retries).
    pub recipient: Recipient,
    /// The mail's record: its Message-ID indexed like any mail the gateway sees.
    pub mail: Option<crate::tracking::ChangeSet>,
}

impl Settled {
    /// A row settled with no mail to record.
    pub fn row(recipient: Recipient) -> Settled {
        Settled {
            recipient,
            mail: None,
        }
    }
}

/// Per-state counts of a campaign's recipients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientCounts {
    /// Every recipient.
    pub recipients: u64,
    /// `queued`.
    pub queued: u64,
    /// `sending`.
    pub sending: u64,
    /// `sent`.
    pub sent: u64,
    /// `failed`.
    pub failed: u64,
    /// `in_doubt`.
    pub in_doubt: u64,
    /// `skipped`.
    pub skipped: u64,
}

impl RecipientCounts {
    /// Adds `n` recipients in `state`.
    pub fn add(&mut self, state: RecipientState, n: u64) {
        self.recipients += n;
        match state {
            RecipientState::Queued => self.queued += n,
            RecipientState::Sending => self.sending += n,
            RecipientState::Sent => self.sent += n,
            RecipientState::Failed => self.failed += n,
            RecipientState::InDoubt => self.in_doubt += n,
            RecipientState::Skipped => self.skipped += n,
        }
    }
}

/// How a relay's answer to one recipient's mail is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx: sent.
    Accepted,
    /// 4xx or no answer: try again later (the row stays `sending` meanwhile).
    Retry(String),
    /// 5xx, or a message that cannot be made: failed, for good.
    Refused(String),
    /// The relay itself could not take mail (no connection, or a 421 / 4.4.x answer) before
    /// the message was handed over, so it surely was not sent: the recipient is not at fault
    /// and goes back to the queue; a sender that keeps meeting this stops and tries later.
    Unavailable(String),
}

/// The most relay attempts per recipient (the first and 3 retries).
pub const MAX_ATTEMPTS: u32 = 4;

/// The pause before retry `attempt` (1-based) after a temporary refusal: 1 s, 4 s, 16 s.
pub fn retry_delay(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_secs(4u64.saturating_pow(attempt.saturating_sub(1)).min(60))
}

/// What becomes of a recipient after a relay answer on attempt `attempts` (1-based): its next
/// state and error. A temporary refusal is retried until [`MAX_ATTEMPTS`], then it fails.
pub fn after_attempt(outcome: &SendOutcome, attempts: u32) -> (RecipientState, Option<String>) {
    match outcome {
        SendOutcome::Accepted => (RecipientState::Sent, None),
        SendOutcome::Retry(e) if attempts < MAX_ATTEMPTS => {
            (RecipientState::Sending, Some(e.clone()))
        }
        SendOutcome::Retry(e) => (
            RecipientState::Failed,
            Some(format!("{e} (after {attempts} attempts)")),
        ),
        SendOutcome::Refused(e) => (RecipientState::Failed, Some(e.clone())),
        SendOutcome::Unavailable(e) => (RecipientState::Queued, Some(e.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_refusals_are_retried_then_fail_and_permanent_ones_fail_at_once() {
        let t = SendOutcome::Retry("451 busy".into());
        assert_eq!(after_attempt(&t, 1).0, RecipientState::Sending);
        assert_eq!(after_attempt(&t, 3).0, RecipientState::Sending);
        let (s, e) = after_attempt(&t, 4);
        assert_eq!(s, RecipientState::Failed);
        assert!(e.unwrap().contains("after 4 attempts"));
        let p = SendOutcome::Refused("550 no such user".into());
        assert_eq!(
            after_attempt(&p, 1),
            (RecipientState::Failed, Some("550 no such user".into()))
        );
        assert_eq!(
            after_attempt(&SendOutcome::Accepted, 2),
            (RecipientState::Sent, None)
        );
        assert_eq!(retry_delay(1).as_secs(), 1);
        assert_eq!(retry_delay(3).as_secs(), 16);
    }

    #[test]
    fn a_lease_is_taken_when_free_own_lapsed_or_its_holder_is_gone() {
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let me = Lease {
            host: "h".into(),
            pid: 1,
            expires_at: t(60),
        };
        let other = Lease {
            host: "h".into(),
            pid: 2,
            expires_at: t(60),
        };
        assert_eq!(claim(None, &me, None, t(0)), None);
        assert_eq!(claim(Some(&me), &me, None, t(0)), None);
        assert_eq!(claim(Some(&other), &me, None, t(0)), Some(other.clone()));
        assert_eq!(claim(Some(&other), &me, None, t(61)), None, "lapsed");
        assert_eq!(
            claim(Some(&other), &me, Some(&other), t(0)),
            None,
            "seen dead"
        );
        assert_eq!(
            claim(Some(&other), &me, Some(&me), t(0)),
            Some(other.clone())
        );
    }

    #[test]
    fn names_and_states() {
        assert!(check_campaign_name("Spring sale 2026").is_ok());
        assert!(check_campaign_name("spring<sale>").is_err());
        assert!(check_campaign_name("").is_err());
        assert_eq!(
            RecipientState::parse("IN_DOUBT").unwrap(),
            RecipientState::InDoubt
        );
        let mut c = RecipientCounts::default();
        c.add(RecipientState::Sent, 3);
        c.add(RecipientState::InDoubt, 1);
        assert_eq!((c.recipients, c.sent, c.in_doubt), (4, 3, 1));
    }
}
