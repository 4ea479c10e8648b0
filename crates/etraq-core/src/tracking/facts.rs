//! What classification asks the store ([`FactsQuery`]) and what the store answers
//! ([`ThreadFacts`]). Both sides import these types from here, so the decision and the store
//! contract do not depend on each other.

use crate::address::EmailAddress;
use crate::mail::MessageId;
use crate::model::{Direction, Dr, DrId, User};

/// What classification needs to know from the store about one mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactsQuery {
    /// The mail's Message-ID: is it already recorded in `direction`?
    pub message_id: MessageId,
    /// The mail's direction.
    pub direction: Direction,
    /// Thread candidates (In-Reply-To, References …): which are recorded, and in which DR?
    pub candidates: Vec<MessageId>,
    /// DR ids from subject tags: which exist?
    pub tags: Vec<DrId>,
    /// Local addresses whose user records matter. The store also returns the users who sent the
    /// referenced mails.
    pub users: Vec<EmailAddress>,
}

/// A recorded mail that this one references, as the store reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailRef {
    /// Its Message-ID.
    pub message_id: MessageId,
    /// Its direction.
    pub direction: Direction,
    /// The DR it belongs to, if any.
    pub dr: Option<DrId>,
    /// Its author.
    pub sender: Option<EmailAddress>,
    /// Whether it is a campaign's mail to a subscriber (untracked, reason `Campaign Mail`).
    pub campaign_mail: bool,
}

/// A campaign mail that this one references, with what the reply rule needs: whose lead a
/// reply to it is. Looked up by the tracker for referenced mails that are campaign mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignRef {
    /// The campaign mail's Message-ID.
    pub message_id: MessageId,
    /// The campaign.
    pub campaign: u64,
    /// The recipient's row in the campaign.
    pub recipient: u64,
    /// The subscriber it went to.
    pub subscriber: u64,
    /// The campaign's owner, who gets the replies as DRs.
    pub owner: Option<EmailAddress>,
}

/// What the store knows that classification needs: whether this Message-ID was seen, which
/// referenced mails are recorded (and their DRs), the DRs named by subject tags, and the
/// registered users among the mail's local addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadFacts {
    /// The Message-ID is already recorded in the same direction.
    pub duplicate: bool,
    /// Recorded mails whose Message-ID is a thread candidate (any order).
    pub referenced: Vec<MailRef>,
    /// DRs of the referenced mails and of the subject tags that exist.
    pub drs: Vec<Dr>,
    /// Registered users among the addresses asked for.
    pub users: Vec<User>,
    /// The campaigns of referenced campaign mail.
    pub campaigns: Vec<CampaignRef>,
}

impl ThreadFacts {
    pub(crate) fn dr(&self, id: &DrId) -> Option<&Dr> {
        self.drs.iter().find(|d| &d.id == id)
    }

    pub(crate) fn user(&self, addr: &EmailAddress) -> Option<&User> {
        self.users.iter().find(|u| &u.email == addr)
    }
}

impl FactsQuery {
    /// The DRs a store reads once it found the `referenced` mails: theirs, then the tagged ones,
    /// each number once. Said here so every store reads the same ones.
    pub fn drs_to_read(&self, referenced: &[MailRef]) -> Vec<DrId> {
        let mut out: Vec<DrId> = Vec::new();
        for id in referenced
            .iter()
            .filter_map(|r| r.dr.as_ref())
            .chain(self.tags.iter())
        {
            if !out.iter().any(|d| d.number() == id.number()) {
                out.push(id.clone());
            }
        }
        out
    }

    /// The users a store reads once it found the `referenced` mails: the asked-for local
    /// addresses, then the referenced mails' senders, each once.
    pub fn users_to_read(&self, referenced: &[MailRef]) -> Vec<EmailAddress> {
        let mut out = self.users.clone();
        for s in referenced.iter().filter_map(|r| r.sender.as_ref()) {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    /// The lookups for a mail with this Message-ID in this direction, and nothing else yet.
    pub fn new(message_id: MessageId, direction: Direction) -> FactsQuery {
        FactsQuery {
            message_id,
            direction,
            candidates: Vec::new(),
            tags: Vec::new(),
            users: Vec::new(),
        }
    }
}

/// The campaign and recipient a campaign mail's Message-ID names (`CAMPAIGN.RECIPIENT.RANDOM@`
/// as the sender writes it); `None` for any other id, and for a test send (`CAMPAIGN.test.…`).
/// Only trusted for a recorded mail whose reason is `Campaign Mail`.
pub fn campaign_of_message_id(id: &MessageId) -> Option<(u64, u64)> {
    let left = id.as_str().split('@').next()?;
    let mut parts = left.split('.');
    let campaign = parts.next()?.parse().ok()?;
    let recipient = parts.next()?.parse().ok()?;
    let random = parts.next()?;
    (parts.next().is_none() && !random.is_empty()).then_some((campaign, recipient))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_campaign_message_id_names_its_campaign_and_recipient() {
        let id = |s: &str| MessageId::parse(s).unwrap();
        assert_eq!(
            campaign_of_message_id(&id("<12.345.6275c4f31940@example.com>")),
            Some((12, 345))
        );
        for other in [
            "<12.test.6275c4f31940@example.com>",
            "<12.345@example.com>",
            "<12.345.a.b@example.com>",
            "<CAF=abc@mail.gmail.com>",
            "<-1.2.x@example.com>",
        ] {
            assert_eq!(campaign_of_message_id(&id(other)), None, "{other}");
        }
    }
}
