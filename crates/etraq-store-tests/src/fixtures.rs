//! Builders for test data: addresses, DRs, mail records, change sets and raw messages.

use etraq_core::store::{ChangeSet, DrWrite, FactsQuery};
use etraq_core::{
    Config, Decision, Direction, Dr, DrId, DrStatus, EmailAddress, MailRecord, MailType, MessageId,
    TrackingRules, UntrackedReason, User,
};
use jiff::Timestamp;

/// Parses an address that the test knows is valid.
pub fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("bad test address {s}: {e}"))
}

/// Parses a Message-ID that the test knows is valid (with or without brackets).
pub fn mid(s: &str) -> MessageId {
    MessageId::parse(s).unwrap_or_else(|| panic!("bad test Message-ID {s}"))
}

/// A facts query with nothing asked yet, to fill with `..facts_query()`.
pub fn facts_query() -> FactsQuery {
    FactsQuery::new(mid("unset@query.test"), Direction::Inbound)
}

/// An instant given as RFC 3339.
pub fn at(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
}

/// `base` plus `secs` seconds.
pub fn plus(base: Timestamp, secs: i64) -> Timestamp {
    base.checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or_else(|e| panic!("time overflow: {e}"))
}

/// A DR id with the given number, dated 2026-11-27.
pub fn dr_id(number: u64) -> DrId {
    DrId::new("SUPP", jiff::civil::date(2026, 11, 27), number)
        .unwrap_or_else(|e| panic!("bad test DR id: {e}"))
}

/// An open DR, version 1.
pub fn dr(number: u64, owner: &str, customer: &str) -> Dr {
    let t = at("2026-11-27T09:00:00Z");
    Dr {
        id: dr_id(number),
        owner: addr(owner),
        cc_users: vec![],
        customer: addr(customer),
        participants: vec![],
        subject: format!("Question {number}"),
        status: DrStatus::Open,
        assigned_on: t,
        first_response_at: None,
        awaiting_since: Some(t),
        last_activity: t,
        escalation_level: 0,
        last_sender: addr(customer),
        last_recipient: Some(addr(owner)),
        last_mail_type: MailType::Normal,
        last_customer_at: None,
        warned_at: None,
        remind_at: None,
        due_at: None,
        version: 1,
    }
}

/// An inbound mail record from `customer` to `owner`.
pub fn mail(message_id: &str, customer: &str, owner: &str, dr: Option<&DrId>) -> MailRecord {
    MailRecord {
        seq: 0,
        message_id: mid(message_id),
        derived_message_id: false,
        direction: Direction::Inbound,
        mail_from: Some(addr(customer)),
        rcpt_to: vec![addr(owner)],
        sender: Some(addr(customer)),
        sender_name: Some("A Customer".into()),
        to: vec![addr(owner)],
        cc: vec![],
        subject: format!("About {message_id}"),
        received_at: at("2026-11-27T09:00:00Z"),
        sent_at: None,
        decision: match dr {
            Some(_) => Decision::Tracked {
                mail_type: MailType::Normal,
            },
            None => Decision::Untracked {
                reason: UntrackedReason::LocalEmail,
            },
        },
        dr: dr.cloned(),
        parties: vec![addr(customer)],
        size: 42,
    }
}

/// A change set recording `mail` (indexed) and optionally creating or updating a DR.
pub fn change(mail: MailRecord, dr: Option<DrWrite>) -> ChangeSet {
    ChangeSet {
        raw: std::sync::Arc::new(
            format!("Message-ID: <{}>\r\n\r\nbody\r\n", mail.message_id).into_bytes(),
        ),
        mail,
        index_message_id: true,
        dr,
        link: vec![],
        response: None,
        pending: None,
        queue: Vec::new(),
    }
}

/// A change set creating DR `number` with its first mail.
pub fn new_dr_change(number: u64, message_id: &str, owner: &str, customer: &str) -> ChangeSet {
    let d = dr(number, owner, customer);
    let m = mail(message_id, customer, owner, Some(&d.id));
    change(
        m,
        Some(DrWrite {
            dr: d,
            expected_version: 0,
        }),
    )
}

/// A user with tracking on.
pub fn user(email: &str, name: &str) -> User {
    User::new(addr(email), name)
}

/// The tracking rules of the scenarios: local domain `example.com`, time zone UTC.
pub fn rules() -> TrackingRules {
    let c = Config {
        local_domains: vec!["example.com".into()],
        timezone: "UTC".into(),
        ..Config::default()
    };
    c.tracking_rules()
        .unwrap_or_else(|e| panic!("test rules: {e}"))
}

/// A raw RFC 5322 message with the given headers and a short body.
pub fn raw(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in headers {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    s.push_str("\r\nHello,\r\nthis is the body.\r\n");
    s.into_bytes()
}
