//! Background jobs' use cases (supervisors and admins): start one, list and follow them, cancel
//! one, read its results, send an extraction's addresses to a validation, and import a
//! validation's safe addresses into a list. `serve`'s runner does the work; see
//! [`crate::jobs`].

use jiff::Timestamp;

use super::App;
use super::audience::ImportReport;
use crate::access::Actor;
use crate::error::{Error, Result};
use crate::jobs::rules::may_see;
use crate::jobs::{Job, JobBook, JobSpec, JobState, ResultRow, ValidateSpec, check_spec};

impl App {
    /// Starts a job (queued until the runner takes it).
    pub async fn start_job(&self, who: &Actor, spec: JobSpec, now: Timestamp) -> Result<Job> {
        who.require_supervisor()?;
        check_spec(&spec)?;
        let job = JobBook::new(self.store.as_ref())
            .create(&who.viewer.login, spec, now)
            .await?;
        tracing::info!(job = job.id, kind = job.spec.kind().label(), owner = %job.owner, "job queued");
        self.services.wake_jobs();
        Ok(job)
    }

    /// The jobs `who` may see, newest first.
    pub async fn jobs(&self, who: &Actor) -> Result<Vec<Job>> {
        who.require_supervisor()?;
        Ok(JobBook::new(self.store.as_ref())
            .list()
            .await?
            .into_iter()
            .filter(|j| may_see(who, j))
            .collect())
    }

    /// One job, if `who` may see it.
    pub async fn job(&self, who: &Actor, id: u64) -> Result<Job> {
        who.require_supervisor()?;
        let job = JobBook::new(self.store.as_ref())
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "job",
                key: id.to_string(),
            })?;
        if !may_see(who, &job) {
            return Err(Error::Forbidden(format!(
                "job {id} was started by {}; only they and administrators may see it",
                job.owner
            )));
        }
        Ok(job)
    }

    /// A job and its results so far.
    pub async fn job_results(&self, who: &Actor, id: u64) -> Result<(Job, Vec<ResultRow>)> {
        let job = self.job(who, id).await?;
        let rows = JobBook::new(self.store.as_ref()).results(&job).await?;
        Ok((job, rows))
    }

    /// Asks a job to stop: a queued one is cancelled at once, a running one at the runner's
    /// next progress write (its results so far are kept). A finished job is left as it is.
    pub async fn cancel_job(&self, who: &Actor, id: u64, now: Timestamp) -> Result<Job> {
        let mut job = self.job(who, id).await?;
        if job.state.is_final() {
            return Ok(job);
        }
        let book = JobBook::new(self.store.as_ref());
        book.request_cancel(id).await?;
        self.services.wake_jobs();
        job.cancel_requested = true;
        if job.state == JobState::Queued {
            job.state = JobState::Cancelled;
            job.finished_at = Some(now);
            book.save(&job).await?;
        }
        Ok(job)
    }

    /// Starts a validation of the addresses an extraction found (it may still be running: the
    /// addresses found so far).
    pub async fn validate_job_results(&self, who: &Actor, id: u64, now: Timestamp) -> Result<Job> {
        let (job, rows) = self.job_results(who, id).await?;
        if !matches!(job.spec, JobSpec::Extract(_)) {
            return Err(Error::InvalidField {
                field: "job",
                reason: format!("job {id} is not an extraction"),
            });
        }
        let addresses: Vec<String> = rows.into_iter().map(|r| r.address).collect();
        if addresses.is_empty() {
            return Err(Error::InvalidField {
                field: "job",
                reason: format!("job {id} has found no address yet"),
            });
        }
        self.start_job(
            who,
            JobSpec::Validate(ValidateSpec {
                addresses,
                ..ValidateSpec::default()
            }),
            now,
        )
        .await
    }

    /// Imports the addresses a validation found `safe` into `list`, through the same import
    /// as `subscriber import` (without `--confirmed`: a double opt-in list mails each new
    /// member a confirmation).
    pub async fn import_job_results(
        &self,
        who: &Actor,
        id: u64,
        list: &str,
        now: Timestamp,
    ) -> Result<ImportReport> {
        let (job, rows) = self.job_results(who, id).await?;
        if !matches!(job.spec, JobSpec::Validate(_)) {
            return Err(Error::InvalidField {
                field: "job",
                reason: format!("job {id} is not a validation; validate its addresses first"),
            });
        }
        let mut csv = String::from("email\n");
        for r in rows.iter().filter(|r| r.verdict.as_deref() == Some("safe")) {
            csv.push_str(&r.address);
            csv.push('\n');
        }
        self.import_csv(who, list, csv.as_bytes(), false, now).await
    }
}
