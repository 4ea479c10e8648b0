//! What a job is. Stored as JSON in the key-value space; every field has a default so a job
//! written by an older etraq still reads.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What kind of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Check addresses (the `validate` command's work).
    Validate,
    /// Crawl sites for addresses (the `extract` command's work).
    Extract,
}

impl JobKind {
    /// The word shown in listings.
    pub fn label(self) -> &'static str {
        match self {
            JobKind::Validate => "validate",
            JobKind::Extract => "extract",
        }
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a free runner slot.
    Queued,
    /// Being worked on.
    Running,
    /// Finished: every input was handled.
    Done,
    /// Stopped by an error (in `Job::error`).
    Failed,
    /// Stopped because someone asked; the results so far are kept.
    Cancelled,
    /// Stopped by a restart of `serve` and not resumable; the results so far are kept.
    Interrupted,
}

impl JobState {
    /// The word shown in listings.
    pub fn label(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A validation job's input and options (a subset of the `validate` flags; the rest come from
/// `[validator]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidateSpec {
    /// The addresses, each once, in the order given.
    pub addresses: Vec<String>,
    /// Syntax and DNS only, no SMTP probe (`--no-smtp`).
    pub no_smtp: bool,
    /// SMTP sessions at once (`--threads`); `None`: the configured number.
    pub threads: Option<usize>,
    /// Ask only the most preferred MX (`--top-mx-only`).
    pub top_mx_only: bool,
}

/// An extraction job's input and options (a subset of the `extract` flags; the rest come from
/// `[extractor]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtractSpec {
    /// The seed URLs (http or https only).
    pub seeds: Vec<String>,
    /// Link depth from a seed (`--depth`); `None`: configured.
    pub depth: Option<u32>,
    /// Pages per site at most (`--links-per-domain`); `None`: configured.
    pub links_per_domain: Option<usize>,
    /// Follow links to other sites (`--follow-external`).
    pub follow_external: bool,
}

/// A job's input: its kind and what it works on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Validate addresses.
    Validate(ValidateSpec),
    /// Extract addresses from sites.
    Extract(ExtractSpec),
}

impl JobSpec {
    /// Moves the input list (addresses or seeds) out, leaving the options: the job record
    /// stays small, and the input is stored once beside it.
    pub fn take_inputs(&mut self) -> Vec<String> {
        match self {
            JobSpec::Validate(v) => std::mem::take(&mut v.addresses),
            JobSpec::Extract(e) => std::mem::take(&mut e.seeds),
        }
    }

    /// The kind of work.
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Validate(_) => JobKind::Validate,
            JobSpec::Extract(_) => JobKind::Extract,
        }
    }
}

/// One line of a job's results: an address and what the job learned about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResultRow {
    /// The address (as given, for validation; normalised, for extraction).
    pub address: String,
    /// Validation: `safe`, `risky`, `invalid` or `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Validation: why, in words.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Extraction: the page it was first seen on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Extraction: on how many pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
}

/// A job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its number.
    pub id: u64,
    /// Who started it (a login); they and admins may see it.
    pub owner: String,
    /// What it does.
    pub spec: JobSpec,
    /// Where it is.
    pub state: JobState,
    /// Inputs handled (addresses checked, pages fetched).
    pub done: u64,
    /// Inputs known so far (addresses given; pages fetched plus queued).
    pub total: u64,
    /// Inputs per second over the last stretch of work.
    #[serde(default)]
    pub rate: f64,
    /// Results found (rows stored).
    #[serde(default)]
    pub results: u64,
    /// Result chunks stored (`jobres:ID:0` … `jobres:ID:N-1`).
    #[serde(default)]
    pub chunks: u64,
    /// Asked to stop: the runner stops it at its next progress write.
    #[serde(default)]
    pub cancel_requested: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How often `serve` resumed it after a restart.
    #[serde(default)]
    pub resumed: u32,
    /// When it was created.
    pub created_at: Timestamp,
    /// When a runner last started on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it reached a final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// When its progress was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl Job {
    /// A new queued job.
    pub fn new(id: u64, owner: &str, spec: JobSpec, now: Timestamp) -> Job {
        let total = match &spec {
            JobSpec::Validate(v) => v.addresses.len() as u64,
            JobSpec::Extract(e) => e.seeds.len() as u64,
        };
        Job {
            id,
            owner: owner.to_string(),
            spec,
            state: JobState::Queued,
            done: 0,
            total,
            rate: 0.0,
            results: 0,
            chunks: 0,
            cancel_requested: false,
            error: None,
            resumed: 0,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: None,
        }
    }

    /// Progress for people: `7/10 (70%)`, or `7 done` while the total is unknown.
    pub fn progress_text(&self) -> String {
        if self.total == 0 {
            format!("{} done", self.done)
        } else {
            format!("{}/{} ({}%)", self.done, self.total, self.percent())
        }
    }

    /// Progress in percent: 100 once done, below 100 until then.
    pub fn percent(&self) -> u64 {
        if self.state == JobState::Done {
            return 100;
        }
        (self.done.saturating_mul(100))
            .checked_div(self.total)
            .unwrap_or(0)
            .min(99)
    }
}
