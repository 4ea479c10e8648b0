//! What happens to a campaign's mail after it is sent, one row each: opens and clicks (with
//! their user agent, address and bot flag), conversions, bounces, complaints, unsubscribes
//! and replies. Reports count them three ways: all, unique (recipients) and human.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a [`Hit`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// The open pixel was fetched.
    Open,
    /// A tracked link was followed.
    Click,
    /// A purchase was reported.
    Conversion,
    /// A permanent failure came back (DSN `failed` with 5.x.x, or a 5xx at send time).
    BounceHard,
    /// A temporary failure came back (4.x.x, or 5.2.2 mailbox full).
    BounceSoft,
    /// The recipient reported the mail as spam (a feedback report).
    Complaint,
    /// The recipient left the list through the mail.
    Unsubscribe,
    /// The recipient answered the mail.
    Reply,
}

impl HitKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Open => "open",
            HitKind::Click => "click",
            HitKind::Conversion => "conversion",
            HitKind::BounceHard => "bounce_hard",
            HitKind::BounceSoft => "bounce_soft",
            HitKind::Complaint => "complaint",
            HitKind::Unsubscribe => "unsubscribe",
            HitKind::Reply => "reply",
        }
    }

    /// The subscriber event it also is.
    pub fn event(self) -> crate::campaign::EventKind {
        use crate::campaign::EventKind as E;
        match self {
            HitKind::Open => E::Open,
            HitKind::Click => E::Click,
            HitKind::Conversion => E::Conversion,
            HitKind::BounceHard | HitKind::BounceSoft => E::Bounce,
            HitKind::Complaint => E::Complaint,
            HitKind::Unsubscribe => E::Unsubscribe,
            HitKind::Reply => E::Reply,
        }
    }
}

/// One thing that happened to one recipient's mail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The campaign.
    pub campaign: u64,
    /// The recipient's number in it.
    pub recipient: u64,
    /// The subscriber's id (for their events).
    pub subscriber: u64,
    /// What happened.
    pub kind: HitKind,
    /// The link (clicks, and conversions after a click).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<u16>,
    /// When.
    pub at: Timestamp,
    /// The request's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Why it is a machine's, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<String>,
    /// A conversion's value, in the currency's units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A conversion's currency (ISO 4217).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A conversion's order number: one order counts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// More words (a bounce's status and diagnostic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What [`CampaignStore::record_hit`](crate::campaign::CampaignStore::record_hit) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitOutcome {
    /// Stored.
    Recorded,
    /// A conversion whose order was counted already: nothing changed.
    DuplicateOrder,
}

/// One link's counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkStats {
    /// The link's number in the campaign.
    pub link: u16,
    /// Its URL.
    pub url: String,
    /// Every click.
    pub clicks: u64,
    /// Recipients who clicked it.
    pub unique_clicks: u64,
    /// Recipients who clicked it, machines left out.
    pub human_clicks: u64,
    /// Conversions after a click on it.
    pub conversions: u64,
    /// Their value.
    pub revenue: f64,
}

/// A campaign's tracking counts (the contract fields of `campaign show`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackingCounts {
    /// Every open.
    pub opens: u64,
    /// Recipients who opened.
    pub unique_opens: u64,
    /// Recipients who opened, machines left out.
    pub human_opens: u64,
    /// Every click (the honeypot's left out).
    pub clicks: u64,
    /// Recipients who clicked.
    pub unique_clicks: u64,
    /// Recipients who clicked, machines (and recipients caught by the honeypot or in a burst)
    /// left out.
    pub human_clicks: u64,
    /// Recipients whose mail bounced for good.
    pub bounced_hard: u64,
    /// Recipients whose mail bounced for now.
    pub bounced_soft: u64,
    /// Recipients who complained.
    pub complaints: u64,
    /// Recipients who unsubscribed through the mail.
    pub unsubscribed: u64,
    /// Recipients who answered.
    pub replies: u64,
    /// Orders reported.
    pub conversions: u64,
    /// Their total value.
    pub revenue: f64,
    /// Per link.
    pub links: Vec<LinkStats>,
}

/// Opens and clicks in one time bucket, all and human, for the report's chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HitBucket {
    /// The bucket's start.
    pub at: Timestamp,
    /// Opens.
    pub opens: u64,
    /// Opens no machine made.
    pub human_opens: u64,
    /// Clicks.
    pub clicks: u64,
    /// Clicks no machine made.
    pub human_clicks: u64,
}
