//! Classification (docs/tracking.md#the-one-decision-every-mail-gets): the one decision every mail gets, as a pure function.
//!
//! [`classify`] reads the compiled config, the envelope, the parsed headers and the
//! [`ThreadFacts`] the store returned, and says what the mail is and what should happen to which
//! DR. It reads no clock, socket or disk, so every rule is unit-testable and the same inputs always
//! give the same decision. Applying the decision to DR state is [`crate::transition`]'s job.
//!
//! The order is the contract's: duplicate, automatic mail, excluded sender, then by direction.

use std::collections::HashSet;

use crate::address::EmailAddress;
use crate::config::TrackingRules;
use crate::mail::ParsedMail;
use crate::mail::{self as subject, MessageId};
use crate::mail::{ResolvedEnvelope, ReversePath};
use crate::model::DrId;
use crate::model::{Decision, Direction, Dr, MailType, UntrackedReason};
use crate::tracking::facts::{CampaignRef, MailRef, ThreadFacts};

/// What happens to a DR because of this mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrAction {
    /// Nothing: the mail is about no DR.
    None,
    /// Recorded in the DR's history only; the DR itself does not change (automatic mail,
    /// forwards to untracked colleagues).
    Attach(DrId),
    /// A new DR.
    Create {
        /// Its owner.
        owner: EmailAddress,
        /// The owner's department (for the id prefix).
        department: Option<String>,
        /// Other local recipients.
        cc_users: Vec<EmailAddress>,
        /// The customer.
        customer: EmailAddress,
        /// An employee's earlier untracked mail this one answers; it joins the new DR.
        answers: Option<(MessageId, Direction)>,
    },
    /// The customer wrote again: the DR is (re)opened.
    CustomerWrote(DrId),
    /// An employee replied to the customer.
    Replied {
        /// The DR.
        dr: DrId,
        /// Who replied.
        responder: EmailAddress,
    },
    /// Forwarded internally: the owner changes.
    Forwarded {
        /// The DR.
        dr: DrId,
        /// The new owner.
        new_owner: EmailAddress,
        /// Other local recipients.
        cc_users: Vec<EmailAddress>,
    },
    /// An internal mail about the DR; timers unchanged.
    Note(DrId),
}

impl DrAction {
    /// The existing DR this action touches, if any.
    pub fn dr(&self) -> Option<&DrId> {
        match self {
            DrAction::None | DrAction::Create { .. } => None,
            DrAction::Attach(d)
            | DrAction::CustomerWrote(d)
            | DrAction::Note(d)
            | DrAction::Replied { dr: d, .. }
            | DrAction::Forwarded { dr: d, .. } => Some(d),
        }
    }
}

/// The outcome of [`classify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// Which way the mail goes.
    pub direction: Direction,
    /// Tracked with a type, or untracked with a reason.
    pub decision: Decision,
    /// What happens to which DR.
    pub action: DrAction,
    /// A customer's reply to a campaign mail: it counts in the campaign's `replies`.
    pub campaign_reply: Option<CampaignRef>,
}

/// The addresses of a mail, sorted into the roles classification uses. Computed once per mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parties {
    /// The author: From, else the envelope sender.
    pub sender: Option<EmailAddress>,
    /// Direction.
    pub direction: Direction,
    /// Local recipients in the order that decides ownership: To (header order), then Cc, then the
    /// remaining envelope recipients.
    pub local_recipients: Vec<EmailAddress>,
    /// External recipients.
    pub external_recipients: Vec<EmailAddress>,
    /// External addresses on the mail (sender and recipients); the customer side.
    pub external: Vec<EmailAddress>,
}

/// Sorts the addresses of a mail into [`Parties`].
pub fn parties(rules: &TrackingRules, env: &ResolvedEnvelope, mail: &ParsedMail) -> Parties {
    let sender = mail
        .from
        .clone()
        .or_else(|| env.mail_from.address().cloned());
    // Sets beside the lists: a mail may name tens of thousands of addresses, and a membership
    // test per address must not scan them all.
    let rcpts = &env.rcpt_to;
    let rcpt_set: HashSet<&EmailAddress> = rcpts.iter().collect();
    let mut local_recipients: Vec<EmailAddress> = Vec::new();
    let mut local_seen: HashSet<&EmailAddress> = HashSet::new();
    for a in mail.to.iter().chain(&mail.cc).chain(rcpts) {
        if rules.is_local(a) && rcpt_set.contains(a) && local_seen.insert(a) {
            local_recipients.push(a.clone());
        }
    }
    let external_recipients: Vec<EmailAddress> = rcpts
        .iter()
        .filter(|a| !rules.is_local(a))
        .cloned()
        .collect();
    let sender_local = sender.as_ref().is_some_and(|s| rules.is_local(s));
    let direction = match (
        sender_local,
        local_recipients.is_empty(),
        external_recipients.is_empty(),
    ) {
        (true, _, false) => Direction::Outbound,
        (true, _, true) => Direction::Internal,
        (false, false, _) => Direction::Inbound,
        (false, true, _) => Direction::External,
    };
    let mut external: Vec<EmailAddress> = Vec::new();
    let mut external_seen: HashSet<&EmailAddress> = HashSet::new();
    let header_external = mail
        .to
        .iter()
        .chain(&mail.cc)
        .filter(|a| !rules.is_local(a));
    for a in sender
        .iter()
        .filter(|s| !sender_local && !s.domain().ends_with(".invalid"))
        .chain(&external_recipients)
        .chain(header_external)
    {
        if external_seen.insert(a) {
            external.push(a.clone());
        }
    }
    Parties {
        sender,
        direction,
        local_recipients,
        external_recipients,
        external,
    }
}

/// Classifies one mail (docs/tracking.md#the-one-decision-every-mail-gets). Pure: same inputs, same answer.
pub fn classify(
    rules: &TrackingRules,
    env: &ResolvedEnvelope,
    mail: &ParsedMail,
    parties: &Parties,
    facts: &ThreadFacts,
) -> Classification {
    let direction = parties.direction;
    let untracked = |reason, action| Classification {
        direction,
        decision: Decision::Untracked { reason },
        action,
        campaign_reply: None,
    };
    let tracked = |mail_type, action| Classification {
        direction,
        decision: Decision::Tracked { mail_type },
        action,
        campaign_reply: None,
    };

    // 1. Duplicate: a retried delivery must be idempotent.
    if facts.duplicate {
        return untracked(UntrackedReason::Duplicate, DrAction::None);
    }

    let found = find_thread(mail, parties, facts);

    // 2. Automatic mail: attached to a DR's history at most, never changes it.
    let null_sender = env.mail_from == ReversePath::Null;
    if mail.is_dsn || mail.auto.is_some() || null_sender {
        let reason = if mail.is_dsn {
            UntrackedReason::Bounce
        } else {
            UntrackedReason::AutoGenerated
        };
        let action = match &found {
            Found::Dr(dr) => DrAction::Attach(dr.id.clone()),
            _ => DrAction::None,
        };
        return untracked(reason, action);
    }

    // 3. Excluded sender.
    if parties
        .sender
        .as_ref()
        .is_some_and(|s| rules.is_excluded_sender(s))
    {
        return untracked(UntrackedReason::ExcludedSender, DrAction::None);
    }

    // 4. By direction.
    match direction {
        Direction::Inbound => match found {
            Found::Dr(dr) => tracked(MailType::Normal, DrAction::CustomerWrote(dr.id.clone())),
            // Replies are leads: a customer answering a campaign mail gets a DR owned by the
            // campaign's owner (when tracked; else the usual rule among the recipients), the
            // campaign mail joins it, and the reply counts for the campaign.
            Found::Campaign(cref, answered) => {
                let customer = customer_of(parties);
                let action = match cref
                    .owner
                    .as_ref()
                    .filter(|o| is_tracked_user(rules, facts, o))
                {
                    Some(owner) => Some(DrAction::Create {
                        department: department_of(facts, owner),
                        owner: owner.clone(),
                        cc_users: parties
                            .local_recipients
                            .iter()
                            .filter(|a| *a != owner)
                            .cloned()
                            .collect(),
                        customer,
                        answers: Some(answered),
                    }),
                    None => new_dr_for_recipients(rules, facts, parties, customer, Some(answered)),
                };
                let mut c = match action {
                    Some(a) => tracked(MailType::Normal, a),
                    None => untracked(UntrackedReason::TrackingDisabled, DrAction::None),
                };
                c.campaign_reply = Some(cref.clone());
                c
            }
            Found::EmployeeMail(employee) => {
                let customer = customer_of(parties);
                // The employee who wrote first owns the DR, if they are tracked; otherwise the
                // usual rule picks an owner among the recipients.
                if is_tracked_user(rules, facts, &employee.0) {
                    let cc_users = parties
                        .local_recipients
                        .iter()
                        .filter(|a| **a != employee.0)
                        .cloned()
                        .collect();
                    tracked(
                        MailType::Normal,
                        DrAction::Create {
                            department: department_of(facts, &employee.0),
                            owner: employee.0,
                            cc_users,
                            customer,
                            answers: Some(employee.1),
                        },
                    )
                } else {
                    new_dr_for_recipients(rules, facts, parties, customer, Some(employee.1))
                        .map(|a| tracked(MailType::Normal, a))
                        .unwrap_or_else(|| {
                            untracked(UntrackedReason::TrackingDisabled, DrAction::None)
                        })
                }
            }
            Found::Nothing => {
                new_dr_for_recipients(rules, facts, parties, customer_of(parties), None)
                    .map(|a| tracked(MailType::Normal, a))
                    .unwrap_or_else(|| untracked(UntrackedReason::TrackingDisabled, DrAction::None))
            }
        },
        Direction::Outbound => match found {
            Found::Dr(dr) => {
                let responder = parties.sender.clone().unwrap_or_else(|| dr.owner.clone());
                tracked(
                    MailType::Replied,
                    DrAction::Replied {
                        dr: dr.id.clone(),
                        responder,
                    },
                )
            }
            _ => untracked(UntrackedReason::OutboundNewMail, DrAction::None),
        },
        Direction::Internal => match found {
            Found::Dr(dr) => {
                let forward =
                    subject::is_forward_subject(&mail.subject) || mail.has_attached_message;
                if !forward {
                    return tracked(MailType::InternalNote, DrAction::Note(dr.id.clone()));
                }
                let candidates: Vec<&EmailAddress> = parties
                    .local_recipients
                    .iter()
                    .filter(|a| Some(*a) != parties.sender.as_ref())
                    .collect();
                match candidates.iter().find(|a| is_tracked_user(rules, facts, a)) {
                    Some(new_owner) => {
                        let new_owner = (*new_owner).clone();
                        let cc_users = candidates
                            .iter()
                            .filter(|a| ***a != new_owner)
                            .map(|a| (*a).clone())
                            .collect();
                        tracked(
                            MailType::Forwarded,
                            DrAction::Forwarded {
                                dr: dr.id.clone(),
                                new_owner,
                                cc_users,
                            },
                        )
                    }
                    // Forwarded only to colleagues who are not tracked: kept in the DR's history,
                    // the owner stays.
                    None => untracked(
                        UntrackedReason::TrackingDisabled,
                        DrAction::Attach(dr.id.clone()),
                    ),
                }
            }
            _ => untracked(UntrackedReason::LocalEmail, DrAction::None),
        },
        Direction::External => untracked(UntrackedReason::NotLocal, DrAction::None),
    }
}

/// Where the thread search ended.
enum Found<'a> {
    /// A DR.
    Dr(&'a Dr),
    /// No DR, but a campaign's mail that this one answers: the campaign, and the mail's id.
    Campaign(&'a CampaignRef, (MessageId, Direction)),
    /// No DR, but a recorded mail from an employee that this one answers: (employee, its id).
    EmployeeMail((EmailAddress, (MessageId, Direction))),
    /// Nothing recorded.
    Nothing,
}

/// Thread matching (docs/tracking.md#threading-which-dr-a-mail-belongs-to): In-Reply-To, then References newest first, against recorded
/// Message-IDs; then a subject tag, accepted only when the sender is allowed to use it.
fn find_thread<'a>(mail: &ParsedMail, parties: &Parties, facts: &'a ThreadFacts) -> Found<'a> {
    let mut employee_mail = None;
    let mut campaign = None;
    for id in mail.thread_candidates() {
        // A Message-ID can be recorded in two directions; prefer the one with a DR.
        let mut refs: Vec<&MailRef> = facts
            .referenced
            .iter()
            .filter(|r| r.message_id == *id)
            .collect();
        if refs.is_empty() {
            continue;
        }
        refs.sort_by_key(|r| r.dr.is_none());
        for r in refs {
            if let Some(dr) = r.dr.as_ref().and_then(|d| facts.dr(d)) {
                return Found::Dr(dr);
            }
            if campaign.is_none()
                && r.campaign_mail
                && let Some(c) = facts
                    .campaigns
                    .iter()
                    .find(|c| c.message_id == r.message_id)
            {
                campaign = Some((c, (r.message_id.clone(), r.direction)));
            }
            if employee_mail.is_none()
                && r.direction == Direction::Outbound
                && let Some(sender) = &r.sender
            {
                employee_mail = Some((sender.clone(), (r.message_id.clone(), r.direction)));
            }
        }
    }
    for tag in subject::find_tags(&mail.subject) {
        if let Some(dr) = facts.dr(&tag)
            && may_use_tag(dr, parties)
        {
            return Found::Dr(dr);
        }
    }
    match (campaign, employee_mail) {
        (Some((c, id)), _) => Found::Campaign(c, id),
        (None, Some(e)) => Found::EmployeeMail(e),
        (None, None) => Found::Nothing,
    }
}

/// The participant check (docs/tracking.md#threading-which-dr-a-mail-belongs-to): a subject tag is honoured only from someone who is part
/// of the conversation. A stranger quoting a tag gets a new DR instead of joining another
/// customer's.
fn may_use_tag(dr: &Dr, parties: &Parties) -> bool {
    let participant = |a: &EmailAddress| *a == dr.customer || dr.participants.contains(a);
    match parties.direction {
        Direction::Inbound => parties.sender.as_ref().is_some_and(participant),
        // An employee's mail joins a DR by tag only when it goes to the DR's customer side.
        Direction::Outbound => parties.external_recipients.iter().any(participant),
        // Internal mail (forwards, notes) comes from colleagues: trusted.
        Direction::Internal => true,
        Direction::External => false,
    }
}

/// The customer of an inbound mail: its sender.
fn customer_of(parties: &Parties) -> EmailAddress {
    parties
        .sender
        .clone()
        .unwrap_or_else(crate::mail::unknown_sender)
}

fn is_tracked_user(rules: &TrackingRules, facts: &ThreadFacts, addr: &EmailAddress) -> bool {
    match facts.user(addr) {
        Some(u) => u.tracking,
        None => rules.is_local(addr) && rules.track_unregistered_users,
    }
}

fn department_of(facts: &ThreadFacts, addr: &EmailAddress) -> Option<String> {
    facts.user(addr).and_then(|u| u.department.clone())
}

/// A new DR owned by the first local recipient with tracking on; the other local recipients are
/// CC users. `None` when no local recipient is tracked.
fn new_dr_for_recipients(
    rules: &TrackingRules,
    facts: &ThreadFacts,
    parties: &Parties,
    customer: EmailAddress,
    answers: Option<(MessageId, Direction)>,
) -> Option<DrAction> {
    let owner = parties
        .local_recipients
        .iter()
        .find(|a| is_tracked_user(rules, facts, a))?
        .clone();
    let cc_users = parties
        .local_recipients
        .iter()
        .filter(|a| **a != owner)
        .cloned()
        .collect();
    Some(DrAction::Create {
        department: department_of(facts, &owner),
        owner,
        cc_users,
        customer,
        answers,
    })
}

/// The store lookups classification needs for this mail: its Message-ID (duplicate check), the
/// thread candidates, the DRs named by subject tags and the local addresses whose user records
/// matter.
pub fn facts_query(
    mail: &ParsedMail,
    parties: &Parties,
    rules: &TrackingRules,
) -> crate::store::FactsQuery {
    let mut users: Vec<EmailAddress> = parties.local_recipients.clone();
    if let Some(s) = &parties.sender
        && rules.is_local(s)
        && !users.contains(s)
    {
        users.push(s.clone());
    }
    crate::store::FactsQuery {
        message_id: mail.message_id.clone(),
        direction: parties.direction,
        candidates: mail.thread_candidates().into_iter().cloned().collect(),
        tags: subject::find_tags(&mail.subject),
        users,
    }
}
