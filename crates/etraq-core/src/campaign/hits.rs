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
    pub bot: Option<crate::campaign::BotFlag>,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// The counts of a campaign's hits (every store counts through this one function, so the
/// figures never differ by backend). `links` is the campaign's link book. Unique and human
/// counts are recipients; a recipient whose clicks a honeypot or a burst flagged has no human
/// click in the campaign at all.
pub fn count_hits(hits: &[Hit], links: &[String]) -> TrackingCounts {
    use std::collections::{BTreeMap, HashSet};
    let mut c = TrackingCounts::default();
    let flagged: HashSet<u64> = hits
        .iter()
        .filter(|h| h.kind == HitKind::Click)
        .filter(|h| h.bot.as_ref().is_some_and(|b| b.rule.flags_recipient()))
        .map(|h| h.recipient)
        .collect();
    let mut sets: BTreeMap<&'static str, HashSet<u64>> = BTreeMap::new();
    // Every link of the book is listed, those nobody clicked with zeros (a report that
    // left them out would hide which links did not work).
    let mut per_link: BTreeMap<u16, (LinkStats, HashSet<u64>, HashSet<u64>)> = links
        .iter()
        .enumerate()
        .filter_map(|(i, url)| u16::try_from(i).ok().map(|link| (link, url)))
        .map(|(link, url)| {
            (
                link,
                (
                    LinkStats {
                        link,
                        url: url.clone(),
                        ..LinkStats::default()
                    },
                    HashSet::new(),
                    HashSet::new(),
                ),
            )
        })
        .collect();
    let mut orders = HashSet::new();
    for h in hits {
        let human =
            h.bot.is_none() && !(h.kind == HitKind::Click && flagged.contains(&h.recipient));
        match h.kind {
            HitKind::Open => {
                c.opens += 1;
                sets.entry("open").or_default().insert(h.recipient);
                if human {
                    sets.entry("human_open").or_default().insert(h.recipient);
                }
            }
            HitKind::Click => {
                let Some(link) = h.link.filter(|l| *l != crate::campaign::HONEYPOT) else {
                    continue;
                };
                c.clicks += 1;
                sets.entry("click").or_default().insert(h.recipient);
                if human {
                    sets.entry("human_click").or_default().insert(h.recipient);
                }
                let e = per_link.entry(link).or_insert_with(|| {
                    (
                        LinkStats {
                            link,
                            url: links.get(link as usize).cloned().unwrap_or_default(),
                            ..LinkStats::default()
                        },
                        HashSet::new(),
                        HashSet::new(),
                    )
                });
                e.0.clicks += 1;
                e.1.insert(h.recipient);
                if human {
                    e.2.insert(h.recipient);
                }
            }
            HitKind::Conversion => {
                if let Some(o) = &h.order_id
                    && !orders.insert(o.clone())
                {
                    continue;
                }
                c.conversions += 1;
                c.revenue += h.value.unwrap_or(0.0);
                if let Some(link) = h.link
                    && let Some(e) = per_link.get_mut(&link)
                {
                    e.0.conversions += 1;
                    e.0.revenue += h.value.unwrap_or(0.0);
                }
            }
            other => {
                sets.entry(other.as_str()).or_default().insert(h.recipient);
            }
        }
    }
    let n = |k: &str| sets.get(k).map_or(0, |s| s.len() as u64);
    c.unique_opens = n("open");
    c.human_opens = n("human_open");
    c.unique_clicks = n("click");
    c.human_clicks = n("human_click");
    c.bounced_hard = n("bounce_hard");
    c.bounced_soft = n("bounce_soft");
    c.complaints = n("complaint");
    c.unsubscribed = n("unsubscribe");
    c.replies = n("reply");
    c.revenue = (c.revenue * 100.0).round() / 100.0;
    c.links = per_link
        .into_values()
        .map(|(mut l, u, h)| {
            l.unique_clicks = u.len() as u64;
            l.human_clicks = h.len() as u64;
            l.revenue = (l.revenue * 100.0).round() / 100.0;
            l
        })
        .collect();
    c
}

/// Opens and clicks per bucket of `bucket_secs` seconds, all and human, oldest first.
pub fn hit_series(hits: &[Hit], bucket_secs: i64) -> Vec<HitBucket> {
    use std::collections::{BTreeMap, HashSet};
    let bucket_secs = bucket_secs.max(60);
    let flagged: HashSet<u64> = hits
        .iter()
        .filter(|h| h.kind == HitKind::Click)
        .filter(|h| h.bot.as_ref().is_some_and(|b| b.rule.flags_recipient()))
        .map(|h| h.recipient)
        .collect();
    let mut out: BTreeMap<i64, HitBucket> = BTreeMap::new();
    for h in hits {
        let key = h.at.as_second().div_euclid(bucket_secs) * bucket_secs;
        let human =
            h.bot.is_none() && !(h.kind == HitKind::Click && flagged.contains(&h.recipient));
        let b = out.entry(key).or_insert_with(|| HitBucket {
            at: Timestamp::from_second(key).unwrap_or(h.at),
            ..HitBucket::default()
        });
        match h.kind {
            HitKind::Open => {
                b.opens += 1;
                b.human_opens += u64::from(human);
            }
            HitKind::Click if h.link != Some(crate::campaign::HONEYPOT) => {
                b.clicks += 1;
                b.human_clicks += u64::from(human);
            }
            _ => {}
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{BotFlag, BotRule, HONEYPOT};

    fn hit(recipient: u64, kind: HitKind, link: Option<u16>, bot: Option<BotRule>) -> Hit {
        Hit {
            campaign: 1,
            recipient,
            subscriber: recipient,
            kind,
            link,
            at: Timestamp::from_second(1_800_000_000 + recipient as i64 * 60).unwrap(),
            user_agent: None,
            ip: None,
            bot: bot.map(|rule| BotFlag {
                rule,
                reason: "test".into(),
            }),
            value: None,
            currency: None,
            order_id: None,
            detail: None,
        }
    }

    #[test]
    fn counts_all_unique_and_human() {
        let links = vec![
            "https://a.example/".to_string(),
            "https://b.example/".to_string(),
        ];
        let mut hits = vec![
            hit(1, HitKind::Open, None, None),
            hit(1, HitKind::Open, None, None),
            hit(2, HitKind::Open, None, Some(BotRule::Agent)),
            hit(1, HitKind::Click, Some(0), None),
            hit(1, HitKind::Click, Some(0), None),
            hit(2, HitKind::Click, Some(1), None),
            // Recipient 3: a scanner that also followed the honeypot; its first click looked human.
            hit(3, HitKind::Click, Some(0), None),
            hit(3, HitKind::Click, Some(HONEYPOT), Some(BotRule::Honeypot)),
            hit(4, HitKind::BounceHard, None, None),
            hit(5, HitKind::Reply, None, None),
            hit(5, HitKind::Reply, None, None),
        ];
        let mut order = hit(1, HitKind::Conversion, Some(0), None);
        order.value = Some(49.9);
        order.order_id = Some("A1".into());
        hits.push(order.clone());
        hits.push(order); // the same order again counts once
        let c = count_hits(&hits, &links);
        assert_eq!((c.opens, c.unique_opens, c.human_opens), (3, 2, 1));
        assert_eq!(
            (c.clicks, c.unique_clicks, c.human_clicks),
            (4, 3, 2),
            "the honeypot is no click; recipient 3 is no human"
        );
        assert_eq!((c.bounced_hard, c.replies), (1, 1));
        assert_eq!((c.conversions, c.revenue), (1, 49.9));
        assert_eq!(c.links.len(), 2);
        assert_eq!(
            (
                c.links[0].url.as_str(),
                c.links[0].clicks,
                c.links[0].unique_clicks,
                c.links[0].human_clicks
            ),
            ("https://a.example/", 3, 2, 1)
        );
        assert_eq!((c.links[0].conversions, c.links[0].revenue), (1, 49.9));
        let series = hit_series(&hits, 3600);
        let opens: u64 = series.iter().map(|b| b.opens).sum();
        let human: u64 = series.iter().map(|b| b.human_clicks).sum();
        assert_eq!((opens, human), (3, 3));
    }
}
