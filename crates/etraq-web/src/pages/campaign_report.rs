//! The report parts of the Campaigns tab: a campaign's results table and charts (opens and
//! clicks over time, all against human; clicks per link; what came back), the comparison table
//! across campaigns, and a list's growth chart. Pure: they take the figures the service
//! computed and give sections and SVG; the handlers in [`crate::pages::campaigns`] and
//! [`crate::pages::lists`] fetch.

use etraq_core::campaign::{GrowthDay, HitBucket};
use etraq_core::views::CampaignView;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::chart::{self, Series};
use crate::html::{self, Cell, Column, Table};
use crate::pages::area::{Section, path};

/// Five-minute buckets up to this span, hourly up to [`HOURLY_UP_TO_SECS`], daily beyond (so a
/// fresh campaign draws its first hours in detail and a week-old one ~7 points, not ~170).
pub(crate) const FIVE_MINUTES_UP_TO_SECS: i64 = 2 * 3600;

/// See [`FIVE_MINUTES_UP_TO_SECS`].
pub(crate) const HOURLY_UP_TO_SECS: i64 = 72 * 3600;

/// `part` of `whole` as a percentage with one decimal, or `–` when `whole` is 0.
fn rate(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn num(n: u64) -> Cell {
    Cell::text(n.to_string()).class("num")
}

/// The results table of one campaign: every contract count with its share of the mails sent.
pub(crate) fn results(v: &CampaignView) -> Section {
    let rows: Vec<(&str, u64, String)> = vec![
        ("Sent", v.sent, String::new()),
        ("Opens (all)", v.opens, String::new()),
        (
            "Recipients who opened",
            v.unique_opens,
            rate(v.unique_opens, v.sent),
        ),
        (
            "…machines left out",
            v.human_opens,
            rate(v.human_opens, v.sent),
        ),
        ("Clicks (all)", v.clicks, String::new()),
        (
            "Recipients who clicked",
            v.unique_clicks,
            rate(v.unique_clicks, v.sent),
        ),
        (
            "…machines left out",
            v.human_clicks,
            rate(v.human_clicks, v.sent),
        ),
        ("Hard bounces", v.bounced_hard, rate(v.bounced_hard, v.sent)),
        ("Soft bounces", v.bounced_soft, rate(v.bounced_soft, v.sent)),
        ("Complaints", v.complaints, rate(v.complaints, v.sent)),
        ("Unsubscribed", v.unsubscribed, rate(v.unsubscribed, v.sent)),
        ("Replies", v.replies, rate(v.replies, v.sent)),
        ("Conversions", v.conversions, rate(v.conversions, v.sent)),
    ];
    let mut rows: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|(label, n, r)| vec![Cell::text(label), num(n), Cell::text(r).class("num")])
        .collect();
    rows.push(vec![
        Cell::text("Revenue"),
        Cell::text(format!("{:.2}", v.revenue)).class("num"),
        Cell::text(""),
    ]);
    Section {
        title: "Results".into(),
        id: "results".into(),
        table: Table {
            columns: ["", "Count", "Of sent"]
                .iter()
                .map(|c| Column::new(c))
                .collect(),
            rows,
            empty: String::new(),
            note: Some(
                "Opens and clicks are counted three ways: every request, each recipient once, \
                 and each recipient once with machines left out (mail-privacy proxies, link \
                 scanners, requests within seconds of the send, HEAD requests, bursts and the \
                 hidden honeypot link)."
                    .into(),
            ),
            ..Table::default()
        },
    }
}

/// The bucket size for a campaign's chart over `from..=to` (its start to now, or to its last
/// hit): five minutes, an hour or a day.
pub(crate) fn bucket_secs(from: Timestamp, to: Timestamp) -> i64 {
    match to.as_second() - from.as_second() {
        s if s <= FIVE_MINUTES_UP_TO_SECS => 300,
        s if s <= HOURLY_UP_TO_SECS => 3_600,
        _ => 86_400,
    }
}

/// The campaign's charts, each with its element id. The time chart is left out while there
/// are no opens or clicks; the link chart while the mail had no links.
pub(crate) fn charts(
    v: &CampaignView,
    buckets: &[HitBucket],
    span: (Timestamp, Timestamp),
    bucket_secs: i64,
    tz: &TimeZone,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !buckets.is_empty() {
        let filled = fill(buckets, span, bucket_secs);
        let fmt = match bucket_secs {
            86_400.. => "%Y-%m-%d",
            3_600.. => "%m-%d %H:00",
            _ => "%H:%M",
        };
        let labels: Vec<String> = filled
            .iter()
            .map(|b| b.at.to_zoned_datetime(tz.clone()).strftime(fmt).to_string())
            .collect();
        let pick =
            |f: fn(&HitBucket) -> u64| -> Vec<f64> { filled.iter().map(|b| f(b) as f64).collect() };
        out.push((
            "chart-over-time".into(),
            chart::lines(
                match bucket_secs {
                    86_400.. => "Opens and clicks per day",
                    3_600.. => "Opens and clicks per hour",
                    _ => "Opens and clicks per 5 minutes",
                },
                &[
                    Series {
                        name: "opens by people",
                        class: "s1",
                    },
                    Series {
                        name: "clicks by people",
                        class: "s2",
                    },
                    Series {
                        name: "all opens",
                        class: "s3",
                    },
                    Series {
                        name: "all clicks",
                        class: "s4",
                    },
                ],
                &labels,
                &[
                    pick(|b| b.human_opens),
                    pick(|b| b.human_clicks),
                    pick(|b| b.opens),
                    pick(|b| b.clicks),
                ],
            ),
        ));
    }
    if !v.links.is_empty() {
        let rows: Vec<(String, Vec<f64>)> = v
            .links
            .iter()
            .map(|l| {
                (
                    html::short(&l.url, 34),
                    vec![
                        l.clicks as f64,
                        l.unique_clicks as f64,
                        l.human_clicks as f64,
                    ],
                )
            })
            .collect();
        out.push((
            "chart-links".into(),
            chart::horizontal_bars(
                "Clicks per link",
                &[
                    Series {
                        name: "all",
                        class: "s3",
                    },
                    Series {
                        name: "recipients",
                        class: "s1",
                    },
                    Series {
                        name: "people",
                        class: "s2",
                    },
                ],
                &rows,
                &|x| format!("{x:.0}"),
            ),
        ));
    }
    if v.sent > 0 {
        let rows: Vec<(String, Vec<f64>)> = [
            ("Hard bounces", v.bounced_hard),
            ("Soft bounces", v.bounced_soft),
            ("Complaints", v.complaints),
            ("Unsubscribed", v.unsubscribed),
            ("Replies", v.replies),
            ("Conversions", v.conversions),
        ]
        .into_iter()
        .map(|(l, n)| (l.to_string(), vec![n as f64]))
        .collect();
        out.push((
            "chart-came-back".into(),
            chart::horizontal_bars(
                "What came back",
                &[Series {
                    name: "recipients",
                    class: "s1",
                }],
                &rows,
                &|x| format!("{x:.0}"),
            ),
        ));
    }
    out
}

/// The buckets from `span`'s start to its end with the empty ones put back (a line chart must
/// not join two busy hours across a quiet one, and the quiet time since the send is part of
/// the story). At least two buckets (one alone draws no line); at most 500, the latest kept.
fn fill(buckets: &[HitBucket], span: (Timestamp, Timestamp), bucket_secs: i64) -> Vec<HitBucket> {
    let step = bucket_secs.max(60);
    let key = |t: Timestamp| t.as_second().div_euclid(step) * step;
    let first = buckets.first().map_or(key(span.0), |b| b.at.as_second());
    let last = buckets.last().map_or(key(span.1), |b| b.at.as_second());
    let end = key(span.1).max(last);
    let start = key(span.0).min(first).min(end - step);
    let count = ((end - start) / step + 1).clamp(2, 500);
    let start = end - (count - 1) * step;
    let mut out = Vec::with_capacity(count as usize);
    let mut given = buckets.iter().peekable();
    for i in 0..count {
        let at = start + i * step;
        while given.peek().is_some_and(|b| b.at.as_second() < at) {
            given.next();
        }
        match given.peek() {
            Some(b) if b.at.as_second() == at => {
                out.push(**b);
                given.next();
            }
            _ => out.push(HitBucket {
                at: Timestamp::from_second(at).unwrap_or(span.0),
                ..HitBucket::default()
            }),
        }
    }
    out
}

/// The comparison table: one row per campaign (newest first), its rates against the mails sent.
pub(crate) fn comparison(views: &[CampaignView]) -> Section {
    Section {
        title: "Compare campaigns".into(),
        id: "compare".into(),
        table: Table {
            columns: [
                "Campaign",
                "Sent",
                "Opened",
                "Opened (people)",
                "Clicked (people)",
                "Click-to-open",
                "Bounced",
                "Complaints",
                "Unsubscribed",
                "Replies",
                "Conversions",
                "Revenue",
            ]
            .iter()
            .map(|c| Column::new(c))
            .collect(),
            rows: views
                .iter()
                .rev()
                .map(|v| {
                    vec![
                        Cell::link(v.name.clone(), path("/campaigns", &v.name)),
                        num(v.sent),
                        Cell::text(rate(v.unique_opens, v.sent)).class("num"),
                        Cell::text(rate(v.human_opens, v.sent)).class("num"),
                        Cell::text(rate(v.human_clicks, v.sent)).class("num"),
                        Cell::text(rate(v.human_clicks, v.human_opens)).class("num"),
                        Cell::text(rate(v.bounced_hard + v.bounced_soft, v.sent)).class("num"),
                        Cell::text(rate(v.complaints, v.sent)).class("num"),
                        Cell::text(rate(v.unsubscribed, v.sent)).class("num"),
                        num(v.replies),
                        num(v.conversions),
                        Cell::text(format!("{:.2}", v.revenue)).class("num"),
                    ]
                })
                .collect(),
            empty: "No campaigns yet.".into(),
            note: Some(
                "Rates are of the mails sent; \"people\" leaves machines out; click-to-open is \
                 people who clicked of people who opened."
                    .into(),
            ),
            ..Table::default()
        },
    }
}

/// A list's growth chart, or `None` while it has no members.
pub(crate) fn growth_chart(days: &[GrowthDay]) -> Option<(String, String)> {
    if days.is_empty() {
        return None;
    }
    let labels: Vec<String> = days
        .iter()
        .map(|d| d.day.strftime("%m-%d").to_string())
        .collect();
    let pick =
        |f: fn(&GrowthDay) -> u64| -> Vec<f64> { days.iter().map(|d| f(d) as f64).collect() };
    Some((
        "chart-growth".into(),
        chart::lines(
            "Members per day",
            &[
                Series {
                    name: "confirmed",
                    class: "s5",
                },
                Series {
                    name: "unsubscribed",
                    class: "s2",
                },
                Series {
                    name: "blocklisted",
                    class: "s6",
                },
            ],
            &labels,
            &[
                pick(|d| d.confirmed),
                pick(|d| d.unsubscribed),
                pick(|d| d.blocklisted),
            ],
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(at: i64, opens: u64) -> HitBucket {
        HitBucket {
            at: Timestamp::from_second(at).unwrap(),
            opens,
            human_opens: opens,
            ..HitBucket::default()
        }
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn quiet_hours_are_put_back_as_zero() {
        let b = [bucket(0, 3), bucket(3 * 3600, 1)];
        let f = fill(&b, (ts(0), ts(3 * 3600)), 3600);
        let opens: Vec<u64> = f.iter().map(|b| b.opens).collect();
        assert_eq!(opens, vec![3, 0, 0, 1]);
        assert_eq!(f[1].at.as_second(), 3600);
        // From the send to now, quiet hours at both ends included.
        let f = fill(&b, (ts(-3600), ts(5 * 3600)), 3600);
        let opens: Vec<u64> = f.iter().map(|b| b.opens).collect();
        assert_eq!(opens, vec![0, 3, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn one_bucket_still_draws_a_line() {
        let f = fill(&[bucket(600, 2)], (ts(610), ts(620)), 300);
        let opens: Vec<u64> = f.iter().map(|b| b.opens).collect();
        assert_eq!(opens, vec![0, 2]);
    }

    #[test]
    fn the_bucket_grows_with_the_span_and_the_chart_is_capped() {
        assert_eq!(bucket_secs(ts(0), ts(3600)), 300);
        assert_eq!(bucket_secs(ts(0), ts(10 * 3600)), 3600);
        assert_eq!(bucket_secs(ts(0), ts(80 * 3600)), 86_400);
        let far = [bucket(0, 1), bucket(10_000 * 3600, 2)];
        let f = fill(&far, (ts(0), ts(10_000 * 3600)), 3600);
        assert_eq!(f.len(), 500);
        assert_eq!(f.last().map(|b| b.opens), Some(2));
    }

    #[test]
    fn rates_say_when_nothing_was_sent() {
        assert_eq!(rate(1, 0), "–");
        assert_eq!(rate(1, 3), "33.3%");
    }
}
