//! Discussion Report ids (docs/tracking.md#discussion-reports, contract): `{PREFIX}-{MMDDYYYY}.{N}`.
//!
//! The prefix is the owner's department prefix, the date is the assignment date in the configured
//! time zone, and `N` is a number the store hands out, unique in that store even under concurrent
//! assignment. `N` alone identifies a DR inside a store; the prefix and date make the id readable
//! and are checked on lookup so a mistyped id is not silently accepted.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The longest department prefix accepted.
pub const MAX_PREFIX_LEN: usize = 16;

/// A DR id such as `SUPP-11102003.2512242023`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DrId {
    prefix: String,
    date: Date,
    number: u64,
}

impl DrId {
    /// Builds an id from its parts. The prefix is upper-cased; it must be 1–16 ASCII letters or
    /// digits.
    pub fn new(prefix: &str, date: Date, number: u64) -> Result<Self, Error> {
        if !valid_prefix(prefix) {
            return Err(Error::Invalid(format!(
                "invalid DR prefix {prefix:?}: use 1 to {MAX_PREFIX_LEN} ASCII letters or digits"
            )));
        }
        Ok(DrId {
            prefix: prefix.to_ascii_uppercase(),
            date,
            number,
        })
    }

    /// Parses `PREFIX-MMDDYYYY.N` (the prefix in any case).
    pub fn parse(input: &str) -> Result<Self, Error> {
        parse_parts(input.trim()).ok_or_else(|| Error::InvalidDrId {
            input: input.chars().take(80).collect(),
        })
    }

    /// The department prefix, upper-case.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The assignment date.
    pub fn date(&self) -> Date {
        self.date
    }

    /// The store-unique number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The subject tag the gateway adds: `[SUPP-11102003.2512]`.
    pub fn tag(&self) -> String {
        format!("[{self}]")
    }

    /// A copy of this id with another number (used when provisional numbers from a batch are
    /// replaced by the ones the store reserved).
    pub fn with_number(&self, number: u64) -> DrId {
        DrId {
            number,
            ..self.clone()
        }
    }
}

/// True when `p` is an acceptable department prefix.
pub fn valid_prefix(p: &str) -> bool {
    !p.is_empty() && p.len() <= MAX_PREFIX_LEN && p.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse_parts(s: &str) -> Option<DrId> {
    let (prefix, rest) = s.split_once('-')?;
    let (date, number) = rest.split_once('.')?;
    if !valid_prefix(prefix) || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if number.is_empty() || number.len() > 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: i8 = date[0..2].parse().ok()?;
    let day: i8 = date[2..4].parse().ok()?;
    let year: i16 = date[4..8].parse().ok()?;
    let date = Date::new(year, month, day).ok()?;
    let number: u64 = number.parse().ok()?;
    Some(DrId {
        prefix: prefix.to_ascii_uppercase(),
        date,
        number,
    })
}

impl fmt::Display for DrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:02}{:02}{:04}.{}",
            self.prefix,
            self.date.month(),
            self.date.day(),
            self.date.year(),
            self.number
        )
    }
}

impl fmt::Debug for DrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DrId({self})")
    }
}

impl std::str::FromStr for DrId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DrId::parse(s)
    }
}

impl Serialize for DrId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DrId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DrId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_seed_example() {
        let id = DrId::parse("SUPP-11102003.2512242023").unwrap();
        assert_eq!(id.prefix(), "SUPP");
        assert_eq!(id.date(), jiff::civil::date(2003, 11, 10));
        assert_eq!(id.number(), 2512242023);
        assert_eq!(id.to_string(), "SUPP-11102003.2512242023");
        assert_eq!(id.tag(), "[SUPP-11102003.2512242023]");
        assert_eq!(
            DrId::parse("supp-11102003.7").unwrap().to_string(),
            "SUPP-11102003.7"
        );
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "",
            "SUPP",
            "SUPP-1110203.1",
            "SUPP-13102003.1",
            "SUPP-11102003.",
            "SUPP-11102003.x",
            "-11102003.1",
            "SU PP-11102003.1",
            "SUPP-11102003.123456789012345678901",
        ] {
            assert!(DrId::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
