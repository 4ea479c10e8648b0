//! A subscriber's engagement score: what they did with campaign mail, weighted and decaying.
//!
//! A human open is worth 1 point, a human click 3, a reply 5 and a conversion 10; bots (and the
//! honeypot) are worth nothing. Points halve every [`HALF_LIFE_DAYS`], so a reader who clicked
//! every week last year scores below one who clicked yesterday. The score is kept as an
//! exponentially decaying sum — one number and the time it was last brought up to date — so
//! adding a hit and reading the score are O(1) whatever the subscriber's history, and the same
//! hits give the same score in any store. Pure; `now` is an argument.

use jiff::Timestamp;

use crate::campaign::{HONEYPOT, Hit, HitKind};

/// Days after which a point counts half.
pub const HALF_LIFE_DAYS: f64 = 30.0;

/// Points are stored in thousandths, so the stored value is an integer.
const MILLIS: f64 = 1000.0;

/// A subscriber's engagement as stored: the score in thousandths of a point as of `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Engagement {
    /// The score at `at`, in thousandths of a point.
    pub millis: u64,
    /// When the score was last brought up to date.
    pub at: Timestamp,
}

/// What a hit adds to the score, in points: human opens 1, human clicks 3, replies 5,
/// conversions 10; anything flagged as a bot, a honeypot click, a bounce or an unsubscribe 0.
pub fn hit_points(hit: &Hit) -> f64 {
    if hit.bot.is_some() {
        return 0.0;
    }
    match hit.kind {
        HitKind::Open => 1.0,
        HitKind::Click if hit.link == Some(HONEYPOT) => 0.0,
        HitKind::Click => 3.0,
        HitKind::Reply => 5.0,
        HitKind::Conversion => 10.0,
        _ => 0.0,
    }
}

/// How much of a point is left after `secs` seconds.
fn decay(secs: i64) -> f64 {
    let days = secs.max(0) as f64 / 86_400.0;
    0.5f64.powf(days / HALF_LIFE_DAYS)
}

impl Engagement {
    /// The score at `now`, in points, rounded to one decimal.
    pub fn score(&self, now: Timestamp) -> f64 {
        let v = self.millis as f64 / MILLIS * decay(now.as_second() - self.at.as_second());
        (v * 10.0).round() / 10.0
    }

    /// `previous` (none for a subscriber who never engaged) with `points` added at `at`. A hit
    /// older than the stored time (a late report) decays the points instead of the score, so the
    /// order hits arrive in does not change the result.
    pub fn add(previous: Option<Engagement>, points: f64, at: Timestamp) -> Engagement {
        let Some(p) = previous else {
            return Engagement {
                millis: (points * MILLIS).round() as u64,
                at,
            };
        };
        let (base, extra, when) = if at >= p.at {
            (
                p.millis as f64 * decay(at.as_second() - p.at.as_second()),
                points * MILLIS,
                at,
            )
        } else {
            (
                p.millis as f64,
                points * MILLIS * decay(p.at.as_second() - at.as_second()),
                p.at,
            )
        };
        Engagement {
            millis: (base + extra).round() as u64,
            at: when,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{BotFlag, BotRule};

    fn hit(kind: HitKind) -> Hit {
        Hit {
            campaign: 1,
            recipient: 1,
            subscriber: 1,
            kind,
            link: Some(0),
            at: Timestamp::UNIX_EPOCH,
            user_agent: None,
            ip: None,
            bot: None,
            value: None,
            currency: None,
            order_id: None,
            detail: None,
        }
    }

    fn day(n: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + n * 86_400).unwrap()
    }

    #[test]
    fn humans_count_by_kind_and_bots_not_at_all() {
        assert_eq!(hit_points(&hit(HitKind::Open)), 1.0);
        assert_eq!(hit_points(&hit(HitKind::Click)), 3.0);
        assert_eq!(hit_points(&hit(HitKind::Reply)), 5.0);
        assert_eq!(hit_points(&hit(HitKind::Conversion)), 10.0);
        assert_eq!(hit_points(&hit(HitKind::Unsubscribe)), 0.0);
        assert_eq!(hit_points(&hit(HitKind::BounceHard)), 0.0);
        let mut bot = hit(HitKind::Click);
        bot.bot = Some(BotFlag {
            rule: BotRule::Head,
            reason: String::new(),
        });
        assert_eq!(hit_points(&bot), 0.0);
        let mut trap = hit(HitKind::Click);
        trap.link = Some(HONEYPOT);
        assert_eq!(hit_points(&trap), 0.0);
    }

    #[test]
    fn points_halve_every_half_life() {
        let e = Engagement::add(None, 10.0, day(0));
        assert_eq!(e.score(day(0)), 10.0);
        assert_eq!(e.score(day(30)), 5.0);
        assert_eq!(e.score(day(60)), 2.5);
        // A clock that went back does not inflate it.
        assert_eq!(e.score(day(-5)), 10.0);
    }

    #[test]
    fn a_recent_clicker_outscores_an_old_one() {
        let old = (0..10).fold(None, |e, i| Some(Engagement::add(e, 3.0, day(i * 7))));
        let recent = Engagement::add(None, 3.0, day(400));
        let (old, recent) = (old.unwrap(), recent);
        assert!(recent.score(day(401)) > old.score(day(401)));
    }

    #[test]
    fn the_order_hits_arrive_in_does_not_matter() {
        let a = Engagement::add(Some(Engagement::add(None, 1.0, day(0))), 3.0, day(10));
        let b = Engagement::add(Some(Engagement::add(None, 3.0, day(10))), 1.0, day(0));
        assert!((a.score(day(20)) - b.score(day(20))).abs() < 0.05);
        // 1 point ten days old (0.79) and 3 new ones.
        assert_eq!(a.score(day(10)), 3.8);
    }
}
