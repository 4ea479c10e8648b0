//! DR state changes: what a classified mail, or a user's action, does to a DR. Pure functions of
//! the old state and `now`.
//!
//! The rules that make response times honest live here:
//! - the wait starts when the customer writes to a DR that was not waiting on us, and a second
//!   customer mail while already waiting does **not** restart it (a customer's "any news?" must not
//!   hide how long they have waited);
//! - only a reply to a waiting customer records a response time, once per wait;
//! - automatic mail never reaches these functions (it is only attached to the history).

use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::model::DrId;
use crate::model::{Dr, DrStatus, MailType, ResponseTime};
use crate::tracking::{DrAction, Parties};

/// Facts about the mail being applied that a DR keeps for its listing.
#[derive(Clone, Debug)]
pub struct MailSummary<'a> {
    /// Its sorted addresses.
    pub parties: &'a Parties,
    /// Its subject.
    pub subject: &'a str,
    /// Its first To address (else first envelope recipient).
    pub recipient: Option<&'a EmailAddress>,
    /// Its mail type.
    pub mail_type: MailType,
}

/// A brand-new DR as created by [`DrAction::Create`].
pub fn new_dr(
    id: DrId,
    owner: EmailAddress,
    cc_users: Vec<EmailAddress>,
    customer: EmailAddress,
    mail: &MailSummary<'_>,
    now: Timestamp,
) -> Dr {
    let participants = mail
        .parties
        .external
        .iter()
        .filter(|a| **a != customer)
        .cloned()
        .collect();
    Dr {
        id,
        cc_users: without(cc_users, &owner),
        owner,
        last_sender: mail
            .parties
            .sender
            .clone()
            .unwrap_or_else(|| customer.clone()),
        customer,
        participants,
        subject: mail.subject.to_string(),
        status: DrStatus::Open,
        assigned_on: now,
        first_response_at: None,
        awaiting_since: Some(now),
        last_activity: now,
        escalation_level: 0,
        last_recipient: mail.recipient.cloned(),
        last_mail_type: mail.mail_type,
        last_customer_at: Some(now),
        warned_at: None,
        remind_at: None,
        // The next escalation cycle works out when it is really due.
        due_at: Some(now),
        version: 1,
    }
}

/// The due time after the DR stopped waiting on us: only a reminder can fire.
fn idle_due(dr: &Dr) -> Option<Timestamp> {
    dr.remind_at
}

/// Starts a new wait at `now` (the customer wrote to a DR that was not waiting on us, or a user
/// reopened it).
fn start_wait(dr: &mut Dr, now: Timestamp) {
    dr.status = DrStatus::Open;
    dr.awaiting_since = Some(now);
    dr.last_customer_at = Some(now);
    dr.escalation_level = 0;
    dr.warned_at = None;
    dr.due_at = Some(now);
}

/// Ends the wait (a reply or a close): the clock stops.
fn end_wait(dr: &mut Dr) {
    dr.awaiting_since = None;
    dr.last_customer_at = None;
    dr.escalation_level = 0;
    dr.warned_at = None;
    dr.due_at = idle_due(dr);
}

/// The DR after a tracked mail on it, and the response time it records (if any).
///
/// `action` must be one of the actions that change a DR (`CustomerWrote`, `Replied`,
/// `Forwarded`, `Note`); other actions return the DR unchanged.
pub fn apply_mail(
    dr: &Dr,
    action: &DrAction,
    mail: &MailSummary<'_>,
    now: Timestamp,
) -> (Dr, Option<ResponseTime>) {
    let mut next = dr.clone();
    let mut response = None;
    match action {
        DrAction::CustomerWrote(_) => {
            if dr.status == DrStatus::Open {
                // Still the same wait; a follow-up re-arms the warning, so look again.
                next.last_customer_at = Some(now);
                next.due_at = Some(now);
            } else {
                start_wait(&mut next, now);
            }
            add_participants(&mut next, &mail.parties.external);
        }
        DrAction::Replied { responder, .. } => {
            if dr.status == DrStatus::Open {
                let since = dr.awaiting_since.unwrap_or(dr.assigned_on);
                let seconds = (now.as_second() - since.as_second()).max(0);
                response = Some(ResponseTime {
                    dr: dr.id.clone(),
                    user: responder.clone(),
                    awaiting_since: since,
                    responded_at: now,
                    seconds,
                    first: dr.first_response_at.is_none(),
                });
                next.status = DrStatus::Replied;
                end_wait(&mut next);
                if next.first_response_at.is_none() {
                    next.first_response_at = Some(now);
                }
            }
            add_participants(&mut next, &mail.parties.external_recipients);
        }
        DrAction::Forwarded {
            new_owner,
            cc_users,
            ..
        } => {
            // The previous owner keeps sight of the DR as a CC user.
            let mut cc = next.cc_users.clone();
            let mut seen: std::collections::HashSet<EmailAddress> = cc.iter().cloned().collect();
            for a in cc_users.iter().chain(std::iter::once(&dr.owner)) {
                if seen.insert(a.clone()) {
                    cc.push(a.clone());
                }
            }
            next.cc_users = without(cc, new_owner);
            next.owner = new_owner.clone();
            // A new owner may have another policy (department) and another supervisor.
            if next.status == DrStatus::Open {
                next.due_at = Some(now);
            }
        }
        DrAction::Note(_) => {}
        DrAction::None | DrAction::Attach(_) | DrAction::Create { .. } => return (next, None),
    }
    next.last_activity = now.max(dr.last_activity);
    if let Some(s) = &mail.parties.sender {
        next.last_sender = s.clone();
    }
    next.last_recipient = mail.recipient.cloned();
    next.last_mail_type = mail.mail_type;
    (next, response)
}

/// The DR closed by a user: the clock stops.
pub fn close(dr: &Dr, now: Timestamp) -> Dr {
    let mut next = dr.clone();
    next.status = DrStatus::Closed;
    end_wait(&mut next);
    next.last_activity = now.max(dr.last_activity);
    next
}

/// The DR reopened by a user: the customer is waiting again from `now`.
pub fn reopen(dr: &Dr, now: Timestamp) -> Dr {
    let mut next = dr.clone();
    if dr.status != DrStatus::Open {
        start_wait(&mut next, now);
    }
    next.last_activity = now.max(dr.last_activity);
    next
}

/// A reminder set by a user: the escalation server raises a Reminder alert at `at`.
pub fn remind(dr: &Dr, at: Timestamp) -> Dr {
    let mut next = dr.clone();
    next.remind_at = Some(at);
    next.due_at = Some(next.due_at.map_or(at, |d| d.min(at)));
    next
}

/// The DR given to another owner by a user. The previous owner becomes a CC user.
pub fn assign(dr: &Dr, new_owner: &EmailAddress, now: Timestamp) -> Dr {
    let mut next = dr.clone();
    if dr.owner != *new_owner {
        let mut cc = next.cc_users.clone();
        if !cc.contains(&dr.owner) {
            cc.push(dr.owner.clone());
        }
        next.cc_users = without(cc, new_owner);
        next.owner = new_owner.clone();
        if next.status == DrStatus::Open {
            next.due_at = Some(now);
        }
    }
    next.last_activity = now.max(dr.last_activity);
    next
}

fn add_participants(dr: &mut Dr, addrs: &[EmailAddress]) {
    // A set of what is there, so adding N addresses to P participants costs N + P, not N × P.
    let known: std::collections::HashSet<EmailAddress> = dr
        .participants
        .iter()
        .chain(std::iter::once(&dr.customer))
        .cloned()
        .collect();
    let mut added = std::collections::HashSet::new();
    for a in addrs {
        if !known.contains(a) && added.insert(a) {
            dr.participants.push(a.clone());
        }
    }
}

fn without(mut v: Vec<EmailAddress>, a: &EmailAddress) -> Vec<EmailAddress> {
    v.retain(|x| x != a);
    v
}
