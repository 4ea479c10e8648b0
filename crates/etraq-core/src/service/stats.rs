//! Reports, computed from what the store recorded: response times per user and mail
//! volume per day. Response durations were written when each reply happened (with both ends
//! kept), so business-time figures are exact, not reconstructed from logs.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::address::EmailAddress;
use crate::escalation::{Directory, Policies};
use crate::model::{Direction, ResponseTime};
use crate::store::VolumeBucket;

/// Count, median, 90th percentile and maximum of a set of durations, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DurationStats {
    /// How many.
    pub count: u64,
    /// Median (the mean of the two middle values for an even count).
    pub median: i64,
    /// 90th percentile (nearest rank).
    pub p90: i64,
    /// Longest.
    pub max: i64,
}

impl DurationStats {
    /// Statistics of `values` (seconds).
    pub fn of(mut values: Vec<i64>) -> DurationStats {
        if values.is_empty() {
            return DurationStats::default();
        }
        values.sort_unstable();
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2
        };
        let rank = (n * 9).div_ceil(10).max(1);
        DurationStats {
            count: n as u64,
            median,
            p90: values[rank - 1],
            max: values[n - 1],
        }
    }
}

/// One user's response times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserResponses {
    /// The employee.
    pub user: EmailAddress,
    /// First responses on DRs.
    pub first: DurationStats,
    /// Every response to a waiting customer.
    pub all: DurationStats,
}

/// Response times per user. With `business`, each duration is counted in the business hours of
/// the responder's department policy (users without a calendar count wall-clock time).
pub fn response_times(
    responses: &[ResponseTime],
    business: Option<(&Policies, &Directory)>,
) -> Vec<UserResponses> {
    let mut by_user: BTreeMap<EmailAddress, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for r in responses {
        let secs = match business {
            Some((policies, users)) => {
                let dept = users.get(&r.user).and_then(|u| u.department.as_deref());
                policies
                    .for_department(dept)
                    .elapsed(r.awaiting_since, r.responded_at)
            }
            None => r.seconds,
        };
        let e = by_user.entry(r.user.clone()).or_default();
        if r.first {
            e.0.push(secs);
        }
        e.1.push(secs);
    }
    by_user
        .into_iter()
        .map(|(user, (first, all))| UserResponses {
            user,
            first: DurationStats::of(first),
            all: DurationStats::of(all),
        })
        .collect()
}

/// Mail of one day, one direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeDay {
    /// The local date.
    pub day: Date,
    /// Direction.
    pub direction: Direction,
    /// Tracked mails.
    pub tracked: u64,
    /// Untracked mails.
    pub untracked: u64,
}

/// Folds volume buckets (e.g. of 15 minutes) into local days of `tz`.
pub fn volume_by_day(buckets: &[VolumeBucket], tz: &TimeZone) -> Vec<VolumeDay> {
    let mut days: BTreeMap<(Date, Direction), (u64, u64)> = BTreeMap::new();
    for b in buckets {
        let Ok(ts) = jiff::Timestamp::from_second(b.start) else {
            continue;
        };
        let day = ts.to_zoned_datetime(tz.clone()).date();
        let e = days.entry((day, b.direction)).or_default();
        if b.tracked {
            e.0 += b.count;
        } else {
            e.1 += b.count;
        }
    }
    days.into_iter()
        .map(|((day, direction), (tracked, untracked))| VolumeDay {
            day,
            direction,
            tracked,
            untracked,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_durations() {
        assert_eq!(DurationStats::of(vec![]), DurationStats::default());
        let s = DurationStats::of(vec![5, 1, 3]);
        assert_eq!((s.count, s.median, s.p90, s.max), (3, 3, 5, 5));
        let s = DurationStats::of((1..=10).collect());
        assert_eq!((s.median, s.p90, s.max), (5, 9, 10));
        let s = DurationStats::of(vec![10, 20]);
        assert_eq!((s.median, s.p90), (15, 20));
    }

    #[test]
    fn volume_folds_into_local_days() {
        let b = |start: &str, tracked, count| VolumeBucket {
            start: start.parse::<jiff::Timestamp>().unwrap().as_second(),
            direction: Direction::Inbound,
            tracked,
            count,
        };
        let buckets = vec![
            b("2026-11-27T22:45:00Z", true, 2),
            b("2026-11-27T23:15:00Z", false, 1),
        ];
        let utc = volume_by_day(&buckets, &TimeZone::UTC);
        assert_eq!(utc.len(), 1);
        assert_eq!((utc[0].tracked, utc[0].untracked), (2, 1));
        // In UTC+1 the second bucket is already the next day.
        let berlin = volume_by_day(&buckets, &TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!(berlin.len(), 2);
    }
}
