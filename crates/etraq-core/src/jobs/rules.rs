//! The pure decisions about jobs. Time comes in as `now`.

use std::time::Duration;

use jiff::Timestamp;

use super::model::{Job, JobSpec, JobState};
use crate::access::Actor;
use crate::error::{Error, Result};

/// Progress is written at most this often per job (the contract: at most one store write per
/// second per job).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The most addresses one validation job takes.
pub const MAX_ADDRESSES: usize = 100_000;

/// The most seed URLs one extraction job takes.
pub const MAX_SEEDS: usize = 1_000;

/// How often a validation job is resumed after restarts before it is left `interrupted`
/// (a job that takes `serve` down with it must not do so forever).
pub const MAX_RESUMES: u32 = 3;

/// Whether a running job's progress should be written now, its last write at `last`.
pub fn progress_due(last: Option<Timestamp>, now: Timestamp) -> bool {
    match last {
        None => true,
        Some(l) => now.duration_since(l).unsigned_abs() >= PROGRESS_EVERY,
    }
}

/// What becomes of a job found `running` when `serve` starts (it was running when the last
/// one stopped): a validation job is queued again and goes on with the addresses it has no
/// result for, at most [`MAX_RESUMES`] times; a crawl cannot be taken up where it stopped,
/// so it is `interrupted`, keeping what it found. Jobs in other states are left as they are.
pub fn after_restart(job: &Job, now: Timestamp) -> Option<Job> {
    if job.state != JobState::Running {
        return None;
    }
    let mut j = job.clone();
    let resumable = matches!(j.spec, JobSpec::Validate(_)) && j.resumed < MAX_RESUMES;
    if resumable && !j.cancel_requested {
        j.state = JobState::Queued;
        j.resumed += 1;
    } else if j.cancel_requested {
        j.state = JobState::Cancelled;
        j.finished_at = Some(now);
    } else {
        j.state = JobState::Interrupted;
        j.finished_at = Some(now);
    }
    Some(j)
}

/// Checks a spec before it becomes a job: something to do, not too much, and only web
/// addresses to crawl (nothing else is ever fetched or probed).
pub fn check_spec(spec: &JobSpec) -> Result<()> {
    match spec {
        JobSpec::Validate(v) => {
            if v.addresses.is_empty() {
                return Err(invalid("addresses", "no address to check"));
            }
            if v.addresses.len() > MAX_ADDRESSES {
                return Err(invalid(
                    "addresses",
                    &format!(
                        "{} addresses; one job checks at most {MAX_ADDRESSES}",
                        v.addresses.len()
                    ),
                ));
            }
            if v.threads == Some(0) {
                return Err(invalid("threads", "must be at least 1"));
            }
        }
        JobSpec::Extract(e) => {
            if e.seeds.is_empty() {
                return Err(invalid("seeds", "no seed URL to crawl"));
            }
            if e.seeds.len() > MAX_SEEDS {
                return Err(invalid(
                    "seeds",
                    &format!(
                        "{} seeds; one job crawls at most {MAX_SEEDS}",
                        e.seeds.len()
                    ),
                ));
            }
            for s in &e.seeds {
                match url::Url::parse(s.trim()) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                    Ok(u) => {
                        return Err(invalid(
                            "seeds",
                            &format!(
                                "{s:?} is a {} URL; only http and https are crawled",
                                u.scheme()
                            ),
                        ));
                    }
                    Err(e) => {
                        return Err(invalid("seeds", &format!("{s:?} is not a URL: {e}")));
                    }
                }
            }
        }
    }
    Ok(())
}

fn invalid(field: &'static str, reason: &str) -> Error {
    Error::InvalidField {
        field,
        reason: reason.to_string(),
    }
}

/// Whether `who` may see (and cancel) `job`: its owner and admins. Jobs are supervisors' and
/// admins' work; an agent sees none.
pub fn may_see(who: &Actor, job: &Job) -> bool {
    who.viewer.is_admin() || (who.viewer.is_supervisor() && who.viewer.login == job.owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::{ExtractSpec, ValidateSpec};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn job(spec: JobSpec) -> Job {
        let mut j = Job::new(1, "sue@example.com", spec, at("2026-12-04T10:00:00Z"));
        j.state = JobState::Running;
        j
    }

    fn validate() -> JobSpec {
        JobSpec::Validate(ValidateSpec {
            addresses: vec!["a@b.test".into()],
            ..ValidateSpec::default()
        })
    }

    fn extract(seeds: &[&str]) -> JobSpec {
        JobSpec::Extract(ExtractSpec {
            seeds: seeds.iter().map(|s| s.to_string()).collect(),
            ..ExtractSpec::default()
        })
    }

    #[test]
    fn progress_is_written_at_most_every_two_seconds() {
        let t = at("2026-12-04T10:00:00Z");
        assert!(progress_due(None, t));
        assert!(!progress_due(Some(t), at("2026-12-04T10:00:01.9Z")));
        assert!(progress_due(Some(t), at("2026-12-04T10:00:02Z")));
    }

    #[test]
    fn a_restart_resumes_validation_a_few_times_and_interrupts_a_crawl() {
        let now = at("2026-12-04T11:00:00Z");
        let v = after_restart(&job(validate()), now).unwrap_or_else(|| panic!("changed"));
        assert_eq!((v.state, v.resumed), (JobState::Queued, 1));
        let mut worn = job(validate());
        worn.resumed = MAX_RESUMES;
        assert_eq!(
            after_restart(&worn, now).map(|j| j.state),
            Some(JobState::Interrupted)
        );
        let e = after_restart(&job(extract(&["http://a.test/"])), now)
            .unwrap_or_else(|| panic!("changed"));
        assert_eq!((e.state, e.finished_at), (JobState::Interrupted, Some(now)));
        let mut asked = job(validate());
        asked.cancel_requested = true;
        assert_eq!(
            after_restart(&asked, now).map(|j| j.state),
            Some(JobState::Cancelled)
        );
        let mut done = job(validate());
        done.state = JobState::Done;
        assert_eq!(after_restart(&done, now), None);
    }

    #[test]
    fn specs_are_checked() {
        assert!(check_spec(&validate()).is_ok());
        assert!(check_spec(&JobSpec::Validate(ValidateSpec::default())).is_err());
        let many = JobSpec::Validate(ValidateSpec {
            addresses: vec!["a@b.test".into(); MAX_ADDRESSES + 1],
            ..ValidateSpec::default()
        });
        assert!(check_spec(&many).is_err());
        assert!(check_spec(&extract(&["https://shop.test/contact"])).is_ok());
        for bad in [
            "ftp://a.test/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
            "",
        ] {
            let e = check_spec(&extract(&[bad]))
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.to_string().contains("seeds"), "{bad}: {e}");
        }
        assert!(check_spec(&extract(&[])).is_err());
    }

    #[test]
    fn percent_reaches_100_only_when_done() {
        let mut j = job(validate());
        j.total = 4;
        j.done = 4;
        assert_eq!(j.percent(), 99);
        j.state = JobState::Done;
        assert_eq!(j.percent(), 100);
        j.state = JobState::Cancelled;
        j.done = 2;
        assert_eq!(j.percent(), 50);
    }
}
