//! The use cases: every action a user or a schedule takes, as one function each. The web
//! pages, the JSON API and the CLI call these and only parse, call and format; the checks —
//! who may (through [`crate::access`]), within which limits, on which input — are made here,
//! once.

mod escalate;
mod queries;
mod stats;

pub use escalate::{CycleReport, Escalator, Notifier, NotifyReport};
pub use queries::{UnrepliedQuery, dr_detail, unreplied};
pub use stats::{DurationStats, UserResponses, VolumeDay, response_times, volume_by_day};
