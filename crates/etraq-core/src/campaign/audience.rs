//! Who campaigns go to: mailing lists, subscribers with a status per list, and the blocklist.
//!
//! The rules here are pure and shared by every store: a store calls [`Subscriber::merge`] inside
//! the transaction that writes, the way the tracking area's conditional writes work, so an import
//! means the same on SQLite and sled.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;
use crate::error::{Error, Result};

/// The longest list name: it appears in `List-Id` headers and URLs.
pub const MAX_LIST_NAME: usize = 100;

/// How people join a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptIn {
    /// Added means subscribed: every member who has not unsubscribed receives campaigns.
    #[default]
    Single,
    /// A new member is `unconfirmed` until they follow the link of a confirmation mail.
    Double,
}

impl OptIn {
    /// The contract name (`single`, `double`).
    pub fn as_str(self) -> &'static str {
        match self {
            OptIn::Single => "single",
            OptIn::Double => "double",
        }
    }
}

/// A mailing list. Its name is unique without regard to case ([`list_key`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailingList {
    /// The name as created (its case kept for display).
    pub name: String,
    /// What the list is for, shown on the console and the subscribe form.
    #[serde(default)]
    pub description: String,
    /// Single or double opt-in.
    pub opt_in: OptIn,
    /// Whether the public subscribe form serves it.
    pub public: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

impl MailingList {
    /// A new list; the name is checked ([`check_list_name`]).
    pub fn new(name: &str, now: Timestamp) -> Result<MailingList> {
        Ok(MailingList {
            name: check_list_name(name)?.to_string(),
            description: String::new(),
            opt_in: OptIn::Single,
            public: false,
            created_at: now,
        })
    }

    /// The key the list is stored and looked up under.
    pub fn key(&self) -> String {
        list_key(&self.name)
    }
}

/// The case-insensitive key of a list name.
pub fn list_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Checks a list name: 1 to [`MAX_LIST_NAME`] characters, no control characters, no `/` (it is a
/// path segment of the subscribe form) and not only spaces. Returns it trimmed.
pub fn check_list_name(name: &str) -> Result<&str> {
    let name = name.trim();
    let bad = |reason: &str| Error::InvalidField {
        field: "name",
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(bad("a list needs a name"));
    }
    if name.chars().count() > MAX_LIST_NAME {
        return Err(bad("longer than 100 characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err(bad("contains a control character or '/'"));
    }
    Ok(name)
}

/// A subscriber's standing on one list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    /// Waiting for the double opt-in confirmation.
    Unconfirmed,
    /// Receives the list's campaigns.
    Confirmed,
    /// Left the list; never re-added by an import.
    Unsubscribed,
}

impl MemberStatus {
    /// Every status, in display order.
    pub const ALL: [MemberStatus; 3] = [
        MemberStatus::Confirmed,
        MemberStatus::Unconfirmed,
        MemberStatus::Unsubscribed,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Unconfirmed => "unconfirmed",
            MemberStatus::Confirmed => "confirmed",
            MemberStatus::Unsubscribed => "unsubscribed",
        }
    }

    /// Parses a contract name (as a `--status` flag gives it).
    pub fn parse(s: &str) -> Result<MemberStatus> {
        MemberStatus::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::InvalidField {
                field: "status",
                reason: format!("{s:?} is not one of confirmed, unconfirmed, unsubscribed"),
            })
    }

    /// Whether a member with this status receives campaigns of a list with `opt_in`.
    pub fn receives(self, opt_in: OptIn) -> bool {
        matches!(
            (self, opt_in),
            (MemberStatus::Confirmed, _) | (MemberStatus::Unconfirmed, OptIn::Single)
        )
    }
}

/// A subscriber's membership of one list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The list's name as created.
    pub list: String,
    /// The standing.
    pub status: MemberStatus,
    /// When the status last changed.
    pub updated_at: Timestamp,
}

/// One person campaigns can go to: one record per address (case-insensitive: the address is
/// normalised), with memberships keyed by [`list_key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    /// The store's number for the record (listings page by it); 0 until stored.
    #[serde(default)]
    pub id: u64,
    /// The normalised address.
    pub email: EmailAddress,
    /// The display name, possibly empty.
    #[serde(default)]
    pub name: String,
    /// Free attributes (CSV columns, `--attr`), for merge fields and segments.
    #[serde(default)]
    pub attribs: serde_json::Map<String, serde_json::Value>,
    /// Memberships by list key.
    #[serde(default)]
    pub lists: BTreeMap<String, Membership>,
    /// When the record was created.
    pub created_at: Timestamp,
}

/// What an import or an add brings for one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberInput {
    /// The address.
    pub email: EmailAddress,
    /// A name, when the input has one (an empty one leaves the stored name alone).
    pub name: Option<String>,
    /// Attributes to set; others already stored are kept.
    pub attribs: serde_json::Map<String, serde_json::Value>,
}

/// What [`Subscriber::merge`] did with one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeOutcome {
    /// The address joined the list (a new subscriber, or a known one new to this list).
    Imported,
    /// Already on the list: name, attributes or status brought up to date.
    Updated,
    /// Not added: the address unsubscribed from this list (an import never re-subscribes
    /// anyone) or is blocklisted.
    Skipped,
}

/// How a merge sets the status of a new member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinAs {
    /// The list's opt-in mode.
    pub opt_in: OptIn,
    /// The admin vouches for consent (`--confirmed`): members are confirmed at once, and an
    /// `unconfirmed` one is confirmed.
    pub confirmed: bool,
}

impl JoinAs {
    fn status(self) -> MemberStatus {
        if self.confirmed || self.opt_in == OptIn::Single {
            MemberStatus::Confirmed
        } else {
            MemberStatus::Unconfirmed
        }
    }
}

impl Subscriber {
    /// The one rule for adding an address to a list, used by `subscriber add`, `subscriber
    /// import` and the subscribe form, in every store. `existing` is the stored record, if any;
    /// `blocked` whether the blocklist holds the address. Returns the record to store (`None`
    /// when nothing changes) and the outcome.
    ///
    /// An unsubscribed member stays unsubscribed and a blocklisted address is not added: consent
    /// withdrawn is never overridden by someone's old spreadsheet.
    pub fn merge(
        existing: Option<Subscriber>,
        input: &SubscriberInput,
        list: &MailingList,
        join: JoinAs,
        blocked: bool,
        now: Timestamp,
    ) -> (Option<Subscriber>, MergeOutcome) {
        let key = list.key();
        if let Some(m) = existing.as_ref().and_then(|s| s.lists.get(&key))
            && m.status == MemberStatus::Unsubscribed
        {
            return (None, MergeOutcome::Skipped);
        }
        if blocked
            && existing
                .as_ref()
                .is_none_or(|s| !s.lists.contains_key(&key))
        {
            return (None, MergeOutcome::Skipped);
        }
        let mut s = existing.unwrap_or_else(|| Subscriber {
            id: 0,
            email: input.email.clone(),
            name: String::new(),
            attribs: serde_json::Map::new(),
            lists: BTreeMap::new(),
            created_at: now,
        });
        if let Some(n) = input
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            s.name = n.to_string();
        }
        for (k, v) in &input.attribs {
            s.attribs.insert(k.clone(), v.clone());
        }
        let outcome = match s.lists.get_mut(&key) {
            Some(m) => {
                if join.confirmed && m.status == MemberStatus::Unconfirmed {
                    m.status = MemberStatus::Confirmed;
                    m.updated_at = now;
                }
                MergeOutcome::Updated
            }
            None => {
                s.lists.insert(
                    key,
                    Membership {
                        list: list.name.clone(),
                        status: join.status(),
                        updated_at: now,
                    },
                );
                MergeOutcome::Imported
            }
        };
        (Some(s), outcome)
    }

    /// The membership of a list, by name (any case).
    pub fn membership(&self, list: &str) -> Option<&Membership> {
        self.lists.get(&list_key(list))
    }
}

/// The list a subscriber receives a campaign through: the first of `lists` (in the campaign's
/// order) whose membership receives mail ([`MemberStatus::receives`]). `None`: not a
/// recipient. Each address is one recipient, however many of the lists it is on.
pub fn receiving_list<'a>(s: &Subscriber, lists: &'a [MailingList]) -> Option<&'a MailingList> {
    lists.iter().find(|l| {
        s.lists
            .get(&l.key())
            .is_some_and(|m| m.status.receives(l.opt_in))
    })
}

/// Whether `entries` block `addr` (its own entry or its domain's).
pub fn is_blocked(addr: &EmailAddress, entries: &[BlockEntry]) -> bool {
    let keys = Blocked::keys_for(addr);
    entries.iter().any(|e| keys.contains(&e.address.key()))
}

/// Why an address is on the blocklist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockReason {
    /// Added by a person.
    #[default]
    Manual,
    /// A permanent delivery failure.
    HardBounce,
    /// Too many temporary failures in a row.
    SoftBounces,
    /// The recipient reported a campaign as spam.
    Complaint,
}

impl BlockReason {
    /// Every reason.
    pub const ALL: [BlockReason; 4] = [
        BlockReason::Manual,
        BlockReason::HardBounce,
        BlockReason::SoftBounces,
        BlockReason::Complaint,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::Manual => "manual",
            BlockReason::HardBounce => "hard-bounce",
            BlockReason::SoftBounces => "soft-bounces",
            BlockReason::Complaint => "complaint",
        }
    }

    /// Parses a contract name.
    pub fn parse(s: &str) -> Result<BlockReason> {
        BlockReason::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::InvalidField {
                field: "reason",
                reason: format!("{s:?} is not one of manual, hard-bounce, soft-bounces, complaint"),
            })
    }
}

/// An address (`ann@example.com`) or a whole domain (`@example.com`) nothing is ever sent to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Blocked {
    /// One address.
    Address(EmailAddress),
    /// Every address of a domain (normalised, without the `@`).
    Domain(String),
}

impl Blocked {
    /// Parses `ADDRESS` or `@DOMAIN`.
    pub fn parse(s: &str) -> Result<Blocked> {
        let s = s.trim();
        match s.strip_prefix('@') {
            Some(d) => Ok(Blocked::Domain(crate::address::normalize_domain(d)?)),
            None => Ok(Blocked::Address(EmailAddress::parse(s)?)),
        }
    }

    /// The stored form: the address, or `@domain`.
    pub fn key(&self) -> String {
        match self {
            Blocked::Address(a) => a.as_str().to_string(),
            Blocked::Domain(d) => format!("@{d}"),
        }
    }

    /// The two keys that block `addr`: itself and its domain.
    pub fn keys_for(addr: &EmailAddress) -> [String; 2] {
        [addr.as_str().to_string(), format!("@{}", addr.domain())]
    }
}

impl TryFrom<String> for Blocked {
    type Error = Error;
    fn try_from(s: String) -> Result<Blocked> {
        Blocked::parse(&s)
    }
}

impl From<Blocked> for String {
    fn from(b: Blocked) -> String {
        b.key()
    }
}

/// One blocklist entry (contract row: `address, reason, created_at`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    /// What is blocked.
    pub address: Blocked,
    /// Why.
    pub reason: BlockReason,
    /// Since when.
    pub created_at: Timestamp,
}

/// A list with its member counts (contract: `confirmed, unconfirmed, unsubscribed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSummary {
    /// The list.
    #[serde(flatten)]
    pub list: MailingList,
    /// Members who receive campaigns (on a double opt-in list: confirmed ones).
    pub confirmed: u64,
    /// Members waiting for their confirmation.
    pub unconfirmed: u64,
    /// Members who left.
    pub unsubscribed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn input(email: &str, name: Option<&str>) -> SubscriberInput {
        SubscriberInput {
            email: EmailAddress::parse(email).unwrap(),
            name: name.map(str::to_string),
            attribs: serde_json::Map::new(),
        }
    }

    fn list(opt_in: OptIn) -> MailingList {
        MailingList {
            opt_in,
            ..MailingList::new("News", t(0)).unwrap()
        }
    }

    const SINGLE: JoinAs = JoinAs {
        opt_in: OptIn::Single,
        confirmed: false,
    };

    #[test]
    fn a_new_address_joins_confirmed_on_single_and_unconfirmed_on_double_opt_in() {
        let (s, o) = Subscriber::merge(
            None,
            &input("A@X.test", None),
            &list(OptIn::Single),
            SINGLE,
            false,
            t(1),
        );
        assert_eq!(o, MergeOutcome::Imported);
        let s = s.unwrap();
        assert_eq!(s.email.as_str(), "a@x.test");
        assert_eq!(
            s.membership("NEWS").unwrap().status,
            MemberStatus::Confirmed
        );
        let double = JoinAs {
            opt_in: OptIn::Double,
            confirmed: false,
        };
        let (s, _) = Subscriber::merge(
            None,
            &input("a@x.test", None),
            &list(OptIn::Double),
            double,
            false,
            t(1),
        );
        assert_eq!(
            s.unwrap().membership("news").unwrap().status,
            MemberStatus::Unconfirmed
        );
        let vouched = JoinAs {
            opt_in: OptIn::Double,
            confirmed: true,
        };
        let (s, _) = Subscriber::merge(
            None,
            &input("a@x.test", None),
            &list(OptIn::Double),
            vouched,
            false,
            t(1),
        );
        assert_eq!(
            s.unwrap().membership("news").unwrap().status,
            MemberStatus::Confirmed
        );
    }

    #[test]
    fn a_second_import_updates_and_keeps_what_it_does_not_bring() {
        let l = list(OptIn::Single);
        let mut first = input("a@x.test", Some("Ann"));
        first.attribs.insert("country".into(), "DE".into());
        first.attribs.insert("plan".into(), "pro".into());
        let (s, _) = Subscriber::merge(None, &first, &l, SINGLE, false, t(1));
        let mut again = input("a@x.test", Some(""));
        again.attribs.insert("plan".into(), "free".into());
        let (s, o) = Subscriber::merge(s, &again, &l, SINGLE, false, t(2));
        assert_eq!(o, MergeOutcome::Updated);
        let s = s.unwrap();
        assert_eq!(s.name, "Ann", "an empty name leaves the stored one");
        assert_eq!(s.attribs["country"], "DE");
        assert_eq!(s.attribs["plan"], "free");
        assert_eq!(s.created_at, t(1));
    }

    #[test]
    fn an_unsubscribed_or_blocklisted_address_is_never_added_back() {
        let l = list(OptIn::Single);
        let (s, _) = Subscriber::merge(None, &input("a@x.test", None), &l, SINGLE, false, t(1));
        let mut s = s.unwrap();
        s.lists.get_mut("news").unwrap().status = MemberStatus::Unsubscribed;
        let vouched = JoinAs {
            opt_in: OptIn::Single,
            confirmed: true,
        };
        let (none, o) = Subscriber::merge(
            Some(s),
            &input("a@x.test", Some("Ann")),
            &l,
            vouched,
            false,
            t(2),
        );
        assert_eq!((none, o), (None, MergeOutcome::Skipped));
        let (none, o) = Subscriber::merge(None, &input("b@x.test", None), &l, SINGLE, true, t(2));
        assert_eq!((none, o), (None, MergeOutcome::Skipped));
    }

    #[test]
    fn a_recipient_comes_through_the_first_list_that_mails_them() {
        let single = list(OptIn::Single);
        let double = MailingList {
            opt_in: OptIn::Double,
            ..MailingList::new("Beta", t(0)).unwrap()
        };
        let lists = [double.clone(), single.clone()];
        let double_join = JoinAs {
            opt_in: OptIn::Double,
            confirmed: false,
        };
        let (s, _) = Subscriber::merge(
            None,
            &input("a@x.test", None),
            &double,
            double_join,
            false,
            t(1),
        );
        let s = s.unwrap();
        assert!(
            receiving_list(&s, &lists).is_none(),
            "unconfirmed on a double opt-in list"
        );
        let (s, _) = Subscriber::merge(
            Some(s),
            &input("a@x.test", None),
            &single,
            SINGLE,
            false,
            t(1),
        );
        let mut s = s.unwrap();
        assert_eq!(receiving_list(&s, &lists).unwrap().name, "News");
        s.lists.get_mut("beta").unwrap().status = MemberStatus::Confirmed;
        assert_eq!(receiving_list(&s, &lists).unwrap().name, "Beta");
        s.lists.get_mut("beta").unwrap().status = MemberStatus::Unsubscribed;
        s.lists.get_mut("news").unwrap().status = MemberStatus::Unsubscribed;
        assert!(receiving_list(&s, &lists).is_none());
        let entries = [BlockEntry {
            address: Blocked::parse("@x.test").unwrap(),
            reason: BlockReason::Manual,
            created_at: t(0),
        }];
        assert!(is_blocked(&s.email, &entries));
        assert!(!is_blocked(
            &EmailAddress::parse("a@y.test").unwrap(),
            &entries
        ));
    }

    #[test]
    fn list_names_and_blocklist_entries_are_checked() {
        assert!(check_list_name("  ").is_err());
        assert!(check_list_name("a/b").is_err());
        assert!(check_list_name(&"x".repeat(101)).is_err());
        assert_eq!(
            check_list_name(" Customers 2026 ").unwrap(),
            "Customers 2026"
        );
        assert_eq!(list_key("Customers"), list_key("CUSTOMERS"));
        assert_eq!(
            Blocked::parse("@Example.COM").unwrap().key(),
            "@example.com"
        );
        assert_eq!(
            Blocked::parse("Ann@Example.com").unwrap().key(),
            "ann@example.com"
        );
        assert!(Blocked::parse("@").is_err());
        assert!(Blocked::parse("nobody").is_err());
        let a = EmailAddress::parse("ann@example.com").unwrap();
        assert_eq!(
            Blocked::keys_for(&a),
            ["ann@example.com".to_string(), "@example.com".into()]
        );
        assert_eq!(
            BlockReason::parse("HARD-BOUNCE").unwrap(),
            BlockReason::HardBounce
        );
        assert!(BlockReason::parse("spam").is_err());
        assert_eq!(
            MemberStatus::parse("Confirmed").unwrap(),
            MemberStatus::Confirmed
        );
    }
}
