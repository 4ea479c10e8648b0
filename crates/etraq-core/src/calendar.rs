//! Business hours: which stretches of time count when a customer waits.
//!
//! A [`Calendar`] is a time zone, working weekdays, daily opening hours and holidays. Elapsed
//! business time between two instants adds up the opening hours of each working day in between,
//! in the calendar's zone, so a wait that spans a weekend, a holiday or a DST change counts only
//! what the team could actually have worked. (A DST change moves the clock at night; a day whose
//! opening hours are shortened or lengthened by it counts what the wall clock says.)

use std::collections::BTreeSet;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::error::Error;

/// The longest span business time is computed over; older waits are counted as this long. It
/// bounds the work per DR (one step per day).
const MAX_DAYS: i64 = 3 * 366;

/// Working weekdays, opening hours, holidays, in one time zone.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    weekdays: [bool; 7],
    open: Time,
    close: Time,
    holidays: BTreeSet<Date>,
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.tz.iana_name() == other.tz.iana_name()
            && self.weekdays == other.weekdays
            && self.open == other.open
            && self.close == other.close
            && self.holidays == other.holidays
    }
}

impl Calendar {
    /// A calendar. `weekdays` lists working days (`mon` … `sun`), `open` and `close` are local
    /// times (`09:00`, `17:30`), `holidays` are dates (`2026-12-25`).
    pub fn new(
        tz: TimeZone,
        weekdays: &[String],
        open: &str,
        close: &str,
        holidays: &[String],
    ) -> Result<Calendar, Error> {
        let mut days = [false; 7];
        for d in weekdays {
            let i = weekday_index(d).ok_or_else(|| {
                Error::Invalid(format!("{d:?} is not a weekday (mon, tue, … sun)"))
            })?;
            days[i] = true;
        }
        if !days.iter().any(|d| *d) {
            return Err(Error::Invalid(
                "at least one working weekday is needed".into(),
            ));
        }
        let parse_time = |s: &str| -> Result<Time, Error> {
            s.trim().parse::<Time>().map_err(|e| {
                Error::Invalid(format!("{s:?} is not a time of day such as 09:00: {e}"))
            })
        };
        let (open, close) = (parse_time(open)?, parse_time(close)?);
        if open >= close {
            return Err(Error::Invalid(format!(
                "opening time {open} is not before closing time {close}"
            )));
        }
        let mut hols = BTreeSet::new();
        for h in holidays {
            let d: Date = h.trim().parse().map_err(|e| {
                Error::Invalid(format!("{h:?} is not a date such as 2026-12-25: {e}"))
            })?;
            hols.insert(d);
        }
        Ok(Calendar {
            tz,
            weekdays: days,
            open,
            close,
            holidays: hols,
        })
    }

    fn is_working_day(&self, d: Date) -> bool {
        self.weekdays[d.weekday().to_monday_zero_offset() as usize] && !self.holidays.contains(&d)
    }

    /// The opening hours of date `d` as instants (DST-correct), or `None` on a day off.
    fn hours(&self, d: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.is_working_day(d) {
            return None;
        }
        let at = |t: Time| {
            d.to_datetime(t)
                .to_zoned_datetime(self.tz.clone())
                .ok()
                .map(|z| z.timestamp())
        };
        let (a, b) = (at(self.open)?, at(self.close)?);
        (a < b).then_some((a, b))
    }

    fn local_date(&self, t: Timestamp) -> Date {
        t.to_zoned_datetime(self.tz.clone()).date()
    }

    /// Business seconds between `from` and `to` (0 if `to` is not after `from`).
    pub fn business_seconds(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0i64;
        let mut day = self.local_date(from);
        let last = self.local_date(to);
        for _ in 0..=MAX_DAYS {
            if let Some((a, b)) = self.hours(day) {
                let (s, e) = (a.max(from), b.min(to));
                if e > s {
                    total += e.as_second() - s.as_second();
                }
            }
            if day >= last {
                break;
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        total
    }

    /// The instant at which `secs` business seconds have passed since `from`; `None` if that is
    /// more than three years away (a calendar with almost no working time).
    pub fn add_business(&self, from: Timestamp, secs: i64) -> Option<Timestamp> {
        let mut left = secs.max(0);
        let mut day = self.local_date(from);
        for _ in 0..=MAX_DAYS {
            if let Some((a, b)) = self.hours(day) {
                let s = a.max(from);
                if b > s {
                    let avail = b.as_second() - s.as_second();
                    if left <= avail {
                        return s.checked_add(SignedDuration::from_secs(left)).ok();
                    }
                    left -= avail;
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

fn weekday_index(s: &str) -> Option<usize> {
    let w = match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    Some(w.to_monday_zero_offset() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays() -> Vec<String> {
        ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn cal(tz: &str, holidays: &[&str]) -> Calendar {
        let h: Vec<String> = holidays.iter().map(|s| s.to_string()).collect();
        Calendar::new(
            TimeZone::get(tz).unwrap(),
            &weekdays(),
            "09:00",
            "17:00",
            &h,
        )
        .unwrap()
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn counts_only_opening_hours_across_a_weekend() {
        let c = cal("UTC", &[]);
        // Friday 16:00 → Monday 10:00: 1 h on Friday + 1 h on Monday.
        assert_eq!(
            c.business_seconds(t("2026-11-27T16:00:00Z"), t("2026-11-30T10:00:00Z")),
            2 * 3600
        );
        // Saturday to Sunday: nothing.
        assert_eq!(
            c.business_seconds(t("2026-11-28T09:00:00Z"), t("2026-11-29T20:00:00Z")),
            0
        );
        // 4 business hours after Friday 15:00 is Monday 11:00.
        assert_eq!(
            c.add_business(t("2026-11-27T15:00:00Z"), 4 * 3600),
            Some(t("2026-11-30T11:00:00Z"))
        );
        // A mail on Saturday starts counting on Monday at opening.
        assert_eq!(
            c.add_business(t("2026-11-28T12:00:00Z"), 3600),
            Some(t("2026-11-30T10:00:00Z"))
        );
    }

    #[test]
    fn skips_holidays() {
        let c = cal("UTC", &["2026-12-25"]);
        // Thursday 24 Dec 16:00 → Monday 28 Dec 10:00: Christmas Friday does not count.
        assert_eq!(
            c.business_seconds(t("2026-12-24T16:00:00Z"), t("2026-12-28T10:00:00Z")),
            2 * 3600
        );
    }

    #[test]
    fn follows_the_zone_through_dst() {
        let c = cal("Europe/Berlin", &[]);
        // Europe/Berlin leaves DST on Sunday 25 Oct 2026. Friday 23 Oct 16:00 local (14:00Z)
        // to Monday 26 Oct 10:00 local (09:00Z, UTC+1 now): 1 h + 1 h.
        assert_eq!(
            c.business_seconds(t("2026-10-23T14:00:00Z"), t("2026-10-26T09:00:00Z")),
            2 * 3600
        );
        // Opening hours are local: Monday opens at 08:00Z after the change.
        assert_eq!(
            c.add_business(t("2026-10-24T12:00:00Z"), 0),
            Some(t("2026-10-26T08:00:00Z"))
        );
    }

    #[test]
    fn refuses_bad_settings() {
        let tz = TimeZone::UTC;
        assert!(Calendar::new(tz.clone(), &[], "09:00", "17:00", &[]).is_err());
        assert!(Calendar::new(tz.clone(), &["funday".into()], "09:00", "17:00", &[]).is_err());
        assert!(Calendar::new(tz.clone(), &weekdays(), "17:00", "09:00", &[]).is_err());
        assert!(Calendar::new(tz.clone(), &weekdays(), "9am", "17:00", &[]).is_err());
        assert!(Calendar::new(tz, &weekdays(), "09:00", "17:00", &["Xmas".into()]).is_err());
    }
}
