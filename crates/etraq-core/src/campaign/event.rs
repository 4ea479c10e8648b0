//! What happened between a subscriber and a campaign: sent (and, with tracking, opened,
//! clicked, bounced, complained, unsubscribed, replied, converted). The subscriber page and
//! `subscriber show` list them; campaign reports count them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The kind of a [`SubscriberEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The relay accepted the campaign's mail for them.
    Sent,
    /// The relay refused it for good (5xx), or a bounce came back.
    Bounce,
    /// They opened it (the pixel).
    Open,
    /// They followed a link.
    Click,
    /// They reported it as spam (a feedback report).
    Complaint,
    /// They left a list through it.
    Unsubscribe,
    /// They answered it.
    Reply,
    /// A purchase was reported for them.
    Conversion,
}

impl EventKind {
    /// The name shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Sent => "sent",
            EventKind::Bounce => "bounce",
            EventKind::Open => "open",
            EventKind::Click => "click",
            EventKind::Complaint => "complaint",
            EventKind::Unsubscribe => "unsubscribe",
            EventKind::Reply => "reply",
            EventKind::Conversion => "conversion",
        }
    }
}

/// One thing that happened between a subscriber and a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberEvent {
    /// The subscriber's id.
    pub subscriber: u64,
    /// The campaign's id.
    pub campaign: u64,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: Timestamp,
    /// More words (a bounce's reply, a link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Whether a relay's permanent refusal (its reply text, `550 5.1.1 …`) says the address itself
/// is bad, so the campaign counts a hard bounce and the address goes on the blocklist: an
/// enhanced status of 5.1.x (no such mailbox or domain) or 5.2.1 (mailbox disabled), or, without
/// one, 550, 551 or 553. A policy refusal (5.7.x: the relay objected to the mail, not the
/// address) fails the recipient without blocklisting them.
pub fn is_hard_bounce(reply: &str) -> bool {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    let code = code.get(..3).unwrap_or("");
    if !code.starts_with('5') {
        return false;
    }
    match words.next().filter(|w| w.starts_with("5.")) {
        Some(enhanced) => {
            let mut parts = enhanced.split('.').skip(1);
            matches!(
                (parts.next(), parts.next()),
                (Some("1"), _) | (Some("2"), Some("1"))
            )
        }
        None => matches!(code, "550" | "551" | "553"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_problems_are_hard_bounces_and_policy_refusals_are_not() {
        for hard in [
            "550 5.1.1 <x@y>: Recipient address rejected: User unknown",
            "550 5.1.10 no such domain",
            "554 5.2.1 mailbox disabled",
            "550 no such user",
            "553 sorry, that domain isn't in my list",
        ] {
            assert!(is_hard_bounce(hard), "{hard}");
        }
        for soft in [
            "554 5.7.1 message refused by policy",
            "552 5.2.2 mailbox full",
            "554 transaction failed",
            "451 4.1.1 try later",
            "421 closing",
            "",
            "garbage",
        ] {
            assert!(!is_hard_bounce(soft), "{soft}");
        }
    }
}
