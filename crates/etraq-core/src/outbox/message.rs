//! A message etraq sends itself, and the seam through which it is sent.

use async_trait::async_trait;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;

/// A message etraq composes itself, ready for an [`Outbound`] mailer to format (RFC 2047 for the
/// subject and names, `multipart/alternative` when there is an HTML part) and send. Pure data, so
/// the core can compose it and a store can keep it in the outbox. etraq's own mail always carries
/// `Auto-Submitted` and `X-Etraq-Loop` in `headers`, so no auto-responder answers it and etraq
/// never tracks it as a customer's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMessage {
    /// Sender (the envelope sender too).
    pub from: EmailAddress,
    /// The sender's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// Recipient.
    pub to: EmailAddress,
    /// Copies (a reply's Cc); etraq's automatic mail has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<EmailAddress>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// An HTML alternative to `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Message-ID (without brackets).
    pub message_id: String,
    /// Extra header fields, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// Sends etraq's own mail: towards the upstream with lettre, or into the evaluation Maildir.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// Sends one message. An error is a reason in words; the notifier retries later.
    async fn send(&self, message: &OutMessage) -> std::result::Result<(), String>;

    /// The message as it is sent, header and body (a reply from etraq is recorded from these
    /// bytes, exactly as if it had passed the gateway).
    fn format(&self, message: &OutMessage) -> std::result::Result<Vec<u8>, String>;

    /// Sends bytes [`Outbound::format`] made for `message`, so what is recorded is what left.
    async fn send_formatted(
        &self,
        message: &OutMessage,
        formatted: &[u8],
    ) -> std::result::Result<(), String>;
}

/// The delay before attempt `n + 1` after `n` failed attempts: 1 minute, doubling, at most 1 hour.
pub fn backoff(attempts: u32) -> SignedDuration {
    let secs = 60u64
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(10))
        .min(3600);
    SignedDuration::from_secs(secs as i64)
}
