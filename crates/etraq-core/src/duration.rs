//! Human durations (`90m`, `4h`, `2d 3h`) as used in config and CLI flags.
//!
//! Parsing is jiff's "friendly" format. A day counts as 24 hours here: escalation timers and
//! report filters measure elapsed time, not calendar days, so DST changes do not stretch a "1d"
//! threshold.

use std::fmt;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A non-negative elapsed-time duration, parsed from text such as `2d 3h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(SignedDuration);

impl HumanDuration {
    /// Parses `90m`, `4h`, `2d 3h`, `1 week`, or an ISO 8601 duration (`PT4H`).
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidDuration {
            input: input.chars().take(80).collect(),
            reason,
        };
        let span: Span = input
            .trim()
            .parse()
            .map_err(|e: jiff::Error| invalid(e.to_string()))?;
        let dur = span
            .to_duration(SpanRelativeTo::days_are_24_hours())
            .map_err(|e| invalid(e.to_string()))?;
        if dur.is_negative() {
            return Err(invalid("a duration cannot be negative".into()));
        }
        Ok(HumanDuration(dur))
    }

    /// Builds a duration from whole seconds.
    pub fn from_secs(secs: i64) -> Self {
        HumanDuration(SignedDuration::from_secs(secs.max(0)))
    }

    /// The duration as a jiff `SignedDuration`.
    pub fn as_duration(self) -> SignedDuration {
        self.0
    }

    /// Whole seconds.
    pub fn as_secs(self) -> i64 {
        self.0.as_secs()
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_secs(self.0.as_secs(), f)
    }
}

/// Formats whole seconds as `2d 3h 4m 5s`, leaving out zero units (`0s` for zero).
pub fn format_seconds(secs: i64) -> String {
    struct S(i64);
    impl fmt::Display for S {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            format_secs(self.0, f)
        }
    }
    S(secs).to_string()
}

fn format_secs(secs: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if secs < 0 {
        f.write_str("-")?;
    }
    let mut s = secs.unsigned_abs();
    if s == 0 {
        return f.write_str("0s");
    }
    let mut first = true;
    for (unit, size) in [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)] {
        let n = s / size;
        s %= size;
        if n > 0 {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{n}{unit}")?;
            first = false;
        }
    }
    Ok(())
}

impl std::str::FromStr for HumanDuration {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        HumanDuration::parse(s)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(HumanDuration::parse("90m").unwrap().as_secs(), 5400);
        assert_eq!(HumanDuration::parse("4h").unwrap().as_secs(), 14400);
        assert_eq!(
            HumanDuration::parse("2d 3h").unwrap().as_secs(),
            2 * 86400 + 3 * 3600
        );
        assert_eq!(HumanDuration::parse("1w").unwrap().as_secs(), 7 * 86400);
        assert_eq!(HumanDuration::parse("PT4H").unwrap().as_secs(), 14400);
        assert!(HumanDuration::parse("soon").is_err());
        assert!(HumanDuration::parse("-4h").is_err());
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_seconds(0), "0s");
        assert_eq!(format_seconds(2 * 86400 + 3 * 3600 + 5), "2d 3h 5s");
        assert_eq!(HumanDuration::parse("90m").unwrap().to_string(), "1h 30m");
    }
}
