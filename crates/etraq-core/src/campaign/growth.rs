//! A list's growth for the chart on its page: per day, how many members were confirmed,
//! unsubscribed and blocklisted at the day's end.
//!
//! The store keeps each membership's current status and when it last changed, not every past
//! change, so the history is rebuilt from today's state: a member counts as confirmed from the
//! day they were confirmed, as unsubscribed from the day they left, and as blocklisted from the
//! day their address (or its domain) went on the blocklist. Someone who was confirmed last month
//! and left yesterday shows only as unsubscribed since yesterday. The totals for today are
//! exact; earlier days are a lower bound of the confirmed count.

use jiff::civil::Date;
use jiff::{Timestamp, tz::TimeZone};

use crate::campaign::MemberStatus;

/// The longest history drawn (days).
pub const MAX_GROWTH_DAYS: usize = 90;

/// One member as the chart needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberFact {
    /// Their status on the list.
    pub status: MemberStatus,
    /// When that status began.
    pub since: Timestamp,
    /// When their address or domain went on the blocklist, if it is on it.
    pub blocked_at: Option<Timestamp>,
}

/// The counts at the end of one day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrowthDay {
    /// The day (in the time zone asked for).
    pub day: Date,
    /// Members who receive the list's mail.
    pub confirmed: u64,
    /// Members who left.
    pub unsubscribed: u64,
    /// Members whose address is blocklisted.
    pub blocklisted: u64,
}

/// The daily counts from the day before the first member's (at most [`MAX_GROWTH_DAYS`] back)
/// to `now`'s day in `tz`. A blocklisted member counts only as blocklisted from the day they were blocked.
/// Empty when there are no members.
pub fn growth(members: &[MemberFact], now: Timestamp, tz: &TimeZone) -> Vec<GrowthDay> {
    let day_of = |t: Timestamp| t.to_zoned_datetime(tz.clone()).date();
    let today = day_of(now);
    let Some(first) = members
        .iter()
        .flat_map(|m| [Some(m.since), m.blocked_at])
        .flatten()
        .map(day_of)
        .min()
    else {
        return Vec::new();
    };
    // From the day before the first member (nobody yet), so even a list made today draws a
    // line, not a dot.
    let first = first.min(today);
    let mut start = first.yesterday().unwrap_or(first);
    if let Ok(limit) = today.checked_sub(jiff::Span::new().days(MAX_GROWTH_DAYS as i64 - 1))
        && start < limit
    {
        start = limit;
    }
    let mut out = Vec::new();
    let mut day = start;
    while day <= today && out.len() < MAX_GROWTH_DAYS {
        let mut g = GrowthDay {
            day,
            ..GrowthDay::default()
        };
        for m in members {
            if m.blocked_at.is_some_and(|b| day_of(b) <= day) {
                g.blocklisted += 1;
            } else if day_of(m.since) <= day {
                match m.status {
                    MemberStatus::Confirmed => g.confirmed += 1,
                    MemberStatus::Unsubscribed => g.unsubscribed += 1,
                    MemberStatus::Unconfirmed => {}
                }
            }
        }
        out.push(g);
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn fact(status: MemberStatus, since: &str, blocked: Option<&str>) -> MemberFact {
        MemberFact {
            status,
            since: at(since),
            blocked_at: blocked.map(at),
        }
    }

    #[test]
    fn counts_accumulate_day_by_day() {
        let members = [
            fact(MemberStatus::Confirmed, "2026-12-01T10:00:00Z", None),
            fact(MemberStatus::Confirmed, "2026-12-02T10:00:00Z", None),
            fact(MemberStatus::Unsubscribed, "2026-12-03T10:00:00Z", None),
            fact(
                MemberStatus::Confirmed,
                "2026-12-01T09:00:00Z",
                Some("2026-12-03T12:00:00Z"),
            ),
            fact(MemberStatus::Unconfirmed, "2026-12-01T09:00:00Z", None),
        ];
        let g = growth(&members, at("2026-12-04T08:00:00Z"), &TimeZone::UTC);
        let rows: Vec<(String, u64, u64, u64)> = g
            .iter()
            .map(|d| {
                (
                    d.day.to_string(),
                    d.confirmed,
                    d.unsubscribed,
                    d.blocklisted,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("2026-11-30".into(), 0, 0, 0),
                ("2026-12-01".into(), 2, 0, 0),
                ("2026-12-02".into(), 3, 0, 0),
                ("2026-12-03".into(), 2, 1, 1),
                ("2026-12-04".into(), 2, 1, 1),
            ]
        );
    }

    #[test]
    fn no_members_no_days_and_history_is_capped() {
        assert!(growth(&[], at("2026-12-04T08:00:00Z"), &TimeZone::UTC).is_empty());
        let old = [fact(MemberStatus::Confirmed, "2020-01-01T00:00:00Z", None)];
        let g = growth(&old, at("2026-12-04T08:00:00Z"), &TimeZone::UTC);
        assert_eq!(g.len(), MAX_GROWTH_DAYS);
        assert_eq!(
            g.last().map(|d| d.day.to_string()).as_deref(),
            Some("2026-12-04")
        );
        assert!(g.iter().all(|d| d.confirmed == 1));
    }

    #[test]
    fn days_follow_the_time_zone() {
        // 23:30 UTC on the 1st is already the 2nd in Berlin.
        let m = [fact(MemberStatus::Confirmed, "2026-12-01T23:30:00Z", None)];
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let g = growth(&m, at("2026-12-02T12:00:00Z"), &tz);
        let days: Vec<String> = g.iter().map(|d| d.day.to_string()).collect();
        assert_eq!(days, ["2026-12-01", "2026-12-02"]);
        assert_eq!((g[0].confirmed, g[1].confirmed), (0, 1));
    }
}
