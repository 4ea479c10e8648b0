//! Background jobs: long work started from the console or the API (validating a list,
//! crawling sites for addresses) that `etraq serve` runs while people do other things.
//!
//! - [`model`]: what a job is ([`Job`], its [`JobSpec`], [`JobState`], result [`ResultRow`]s).
//! - [`rules`]: the pure decisions (when progress is written, what a restart does to a job that
//!   was running, what a spec may ask for, who may see a job), each taking `now` where time
//!   matters.
//! - [`book`]: where jobs live: the store's key-value space (`job:ID` for the job,
//!   `jobres:ID:CHUNK` for its results, appended a chunk per progress write), so every backend
//!   keeps jobs without a table of its own.
//!
//! The runner that executes jobs is `serve`'s (it owns the network clients); the console, the
//! API and the CLI go through [`crate::service::App`]'s job use cases.

pub mod book;
pub mod model;
pub mod rules;

pub use book::JobBook;
pub use model::{ExtractSpec, Job, JobKind, JobSpec, JobState, ResultRow, ValidateSpec};
pub use rules::{
    MAX_ADDRESSES, MAX_SEEDS, PROGRESS_EVERY, after_restart, check_spec, progress_due,
};
