//! [`OutboxStore`]: the durable queue of etraq's own messages.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::outbox::message::{OutMessage, backoff};

/// Attempts before a queued message is given up (`failed`): with the backoff of
/// [`backoff`], about a day of trying.
pub const MAX_OUTBOX_ATTEMPTS: u32 = 30;

/// Where a queued message is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Delivery {
    /// Waiting to be mailed.
    Pending {
        /// Attempts made so far.
        attempts: u32,
        /// When to try next.
        next_attempt_at: Timestamp,
        /// Why the last attempt failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
    },
    /// Handed to the mail server.
    Sent {
        /// When.
        at: Timestamp,
        /// Attempts it took.
        attempts: u32,
    },
    /// Claimed by a notifier and being handed to the mail server; never taken again (a node
    /// that dies meanwhile leaves it in doubt rather than sending it twice).
    Sending {
        /// The attempt this is.
        attempts: u32,
        /// When it was claimed.
        since: Timestamp,
    },
    /// Given up after [`MAX_OUTBOX_ATTEMPTS`].
    Failed {
        /// When.
        at: Timestamp,
        /// The last reason.
        error: String,
    },
}

impl Delivery {
    /// A new message's state: due at `now`.
    pub fn due(now: Timestamp) -> Delivery {
        Delivery::Pending {
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
        }
    }

    /// When it is due, if it is pending.
    pub fn due_at(&self) -> Option<Timestamp> {
        match self {
            Delivery::Pending {
                next_attempt_at, ..
            } => Some(*next_attempt_at),
            _ => None,
        }
    }
}

impl Delivery {
    /// The state of a message claimed for sending at `now` (its attempt counted).
    pub fn claimed(&self, now: Timestamp) -> Delivery {
        Delivery::Sending {
            attempts: self.attempts_made() + 1,
            since: now,
        }
    }

    /// Attempts made before this state: a claim's attempt is in progress, not made.
    fn attempts_made(&self) -> u32 {
        match self {
            Delivery::Pending { attempts, .. } => *attempts,
            Delivery::Sending { attempts, .. } => attempts.saturating_sub(1),
            Delivery::Sent { attempts, .. } => *attempts,
            Delivery::Failed { .. } => 0,
        }
    }
}

/// The state after a failed attempt: pending again after a backoff, or failed for good.
pub fn after_failure(previous: &Delivery, error: String, now: Timestamp) -> Delivery {
    let attempts = previous.attempts_made() + 1;
    if attempts >= MAX_OUTBOX_ATTEMPTS {
        Delivery::Failed { at: now, error }
    } else {
        Delivery::Pending {
            attempts,
            next_attempt_at: now.checked_add(backoff(attempts)).unwrap_or(now),
            last_error: Some(error),
        }
    }
}

/// A message in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMail {
    /// Store-assigned id; 0 before insertion.
    #[serde(default)]
    pub id: u64,
    /// What it is, for listings and logs (`confirm`, `autoreply`, `transcript`, …).
    pub kind: String,
    /// The message.
    pub message: OutMessage,
    /// When it was queued.
    pub created_at: Timestamp,
    /// Where it is.
    pub delivery: Delivery,
}

/// Serialises the default (read, then mark) claims of this process.
pub(crate) static CLAIMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The outbox's part of the [`Store`](crate::store::Store). Object-safe.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Stores messages (their `id`s are assigned) durably, in one transaction, and returns
    /// the ids in order.
    async fn queue_mails(&self, mails: Vec<QueuedMail>) -> Result<Vec<u64>>;

    /// Pending messages due at `now`, earliest due first, at most `limit`.
    async fn due_mail(&self, now: Timestamp, limit: usize) -> Result<Vec<QueuedMail>>;

    /// Records a message's new state. `NotFound` when the id is unknown.
    async fn set_delivery(&self, id: u64, delivery: Delivery) -> Result<()>;

    /// Messages of one kind, newest first, at most `limit` (for listings and tests).
    async fn queued_mail(&self, kind: &str, limit: usize) -> Result<Vec<QueuedMail>>;

    /// Claims the messages due at `now` (at most `limit`) for sending: each becomes
    /// [`Delivery::Sending`] and is answered, and no other claim takes it. The default reads
    /// then marks under a lock of this process (exact for the embedded stores, which one
    /// process serves); a store several nodes share claims in one statement that skips what
    /// another node is claiming.
    async fn claim_due_mail(&self, now: Timestamp, limit: usize) -> Result<Vec<QueuedMail>> {
        let _one_at_a_time = CLAIMS.lock().await;
        let mut out = Vec::new();
        for mut m in self.due_mail(now, limit).await? {
            m.delivery = m.delivery.claimed(now);
            self.set_delivery(m.id, m.delivery.clone()).await?;
            out.push(m);
        }
        Ok(out)
    }
}
